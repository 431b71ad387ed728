//! A Kafka producer for the processor's outputs and the generator: idempotent, with a background
//! polling thread; deliveries that fail are counted and turn the next flush into an error, so
//! nothing is lost silently.

use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer as _, ThreadedProducer};

use super::health::{Health, HealthContext};
use super::settings::KafkaSettings;
use std::sync::Arc;

/// See the module documentation.
pub struct Producer {
    inner: ThreadedProducer<HealthContext>,
    health: Arc<Health>,
}

impl Producer {
    /// Creates the producer (librdkafka connects lazily; errors surface on send or flush).
    pub fn connect(settings: &KafkaSettings) -> anyhow::Result<Producer> {
        let config = settings.client_config(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
            ("compression.type", "lz4"),
            ("queue.buffering.max.messages", "1000000"),
        ]);
        let context = HealthContext::default();
        let health = Arc::clone(&context.0);
        let inner = config
            .create_with_context(context)
            .context("cannot create the Kafka producer")?;
        Ok(Producer { inner, health })
    }

    /// Client errors and failed deliveries.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Queues one record; waits while librdkafka's queue is full.
    pub fn send(&self, topic: &str, key: Option<&[u8]>, payload: &[u8]) -> anyhow::Result<()> {
        self.send_to(topic, None, key, payload)
    }

    /// Like [`Producer::send`], to a chosen partition (`None`: by key, or spread without one).
    pub fn send_to(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        payload: &[u8],
    ) -> anyhow::Result<()> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        loop {
            match self.inner.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => {
                    return Err(error).with_context(|| format!("cannot send to topic {topic}"))
                }
            }
        }
    }

    /// Waits until every queued record is delivered; fails if any delivery failed.
    pub fn flush(&self, timeout: Duration) -> anyhow::Result<()> {
        if !self.flush_within(timeout)? {
            bail!("Kafka producer flush timed out after {timeout:?} (is the broker reachable?)");
        }
        Ok(())
    }

    /// Waits up to `timeout` for every queued record to be delivered: `Ok(false)` if some are
    /// still in flight (librdkafka keeps retrying them), an error if any delivery failed.
    pub fn flush_within(&self, timeout: Duration) -> anyhow::Result<bool> {
        let flushed = self.inner.flush(timeout).is_ok();
        let failed = self.health.failed_deliveries();
        if failed > 0 {
            bail!(
                "{failed} records could not be delivered to Kafka (first error: {})",
                self.health.first_failed_delivery().unwrap_or_default()
            );
        }
        Ok(flushed)
    }
}
