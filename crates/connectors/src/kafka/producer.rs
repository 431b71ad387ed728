//! A Kafka producer for the processor's outputs and the generator: idempotent, with a background
//! polling thread; deliveries that fail are counted and turn the next flush into an error, so
//! nothing is lost silently. Exactly-once runs make it transactional: a stable
//! `transactional.id` fences any earlier producer with the same id (aborting its open
//! transaction), and each epoch's records and input offsets commit together.

use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer as _, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::health::{first_contact, Health, HealthContext};
use super::settings::KafkaSettings;
use std::sync::Arc;

/// How long registering a transactional id may take (the broker first settles the open
/// transaction of the processor it fences).
const INIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Producer::wait_delivered`] naps between two looks.
const DELIVERY_NAP: Duration = Duration::from_micros(200);
/// How long start-up waits for the broker to answer at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a transaction step failed, and what the caller may do about it.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// Try the same step again (e.g. the broker is unreachable for now).
    #[error("{0} (retriable)")]
    Retriable(String),
    /// The transaction cannot commit (e.g. the broker aborted it after its timeout): abort it
    /// and redo the epoch from the last checkpoint.
    #[error("{0} (the transaction must be aborted)")]
    Abortable(String),
    /// The producer cannot go on (e.g. another processor with the same transactional id took
    /// over).
    #[error("{0}")]
    Fatal(String),
}

/// The producer hit a fatal error and cannot send again — typically it was fenced: another
/// processor registered the same transactional id.
#[derive(Debug, thiserror::Error)]
#[error("the producer cannot go on: {0}")]
pub struct ProducerFatal(pub String);

impl TxnError {
    fn of(step: &str, error: KafkaError) -> TxnError {
        let text = format!("{step}: {error}");
        match &error {
            KafkaError::Transaction(e) if e.is_fatal() => TxnError::Fatal(text),
            KafkaError::Transaction(e) if e.txn_requires_abort() => TxnError::Abortable(text),
            KafkaError::Transaction(e) if e.is_retriable() => TxnError::Retriable(text),
            // rust-rdkafka's commit first flushes: records still in flight when the step's
            // timeout ends (the broker is away) are not a failure; librdkafka keeps sending them
            KafkaError::Flush(_) => TxnError::Retriable(text),
            _ => TxnError::Fatal(text),
        }
    }
}

/// See the module documentation.
pub struct Producer {
    inner: ThreadedProducer<HealthContext>,
    health: Arc<Health>,
}

impl Producer {
    /// Creates the producer once the broker answers (an error naming the cause when it does
    /// not within 10 s, or at once when it refuses the credentials or certificate).
    pub fn connect(settings: &KafkaSettings) -> anyhow::Result<Producer> {
        Producer::create(settings, &[])
    }

    /// A transactional producer with this `transactional.id`: registers it with the broker,
    /// which fences any earlier producer with the same id and completes or aborts its open
    /// transaction. `timeout` is the transaction timeout (the broker aborts a transaction
    /// left open longer; it caps this at its `transaction.max.timeout.ms`).
    pub fn transactional(
        settings: &KafkaSettings,
        transactional_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<Producer> {
        let millis = timeout.as_millis().to_string();
        let producer = Producer::create(
            settings,
            &[
                ("transactional.id", transactional_id),
                ("transaction.timeout.ms", &millis),
            ],
        )?;
        producer
            .inner
            .init_transactions(INIT_TIMEOUT)
            .with_context(|| {
                format!("cannot register transactional id {transactional_id} with Kafka (is the broker reachable? is transaction.timeout.ms {millis} above the broker's transaction.max.timeout.ms?)")
            })?;
        Ok(producer)
    }

    /// Creates a producer with `extra` properties and makes the first contact with the broker.
    fn create(settings: &KafkaSettings, extra: &[(&str, &str)]) -> anyhow::Result<Producer> {
        let mut properties = vec![
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
            ("compression.type", "lz4"),
            ("queue.buffering.max.messages", "1000000"),
        ];
        properties.extend_from_slice(extra);
        let config = settings.client_config(&properties);
        let context = HealthContext::default();
        let health = Arc::clone(&context.0);
        let inner: ThreadedProducer<HealthContext> = config
            .create_with_context(context)
            .context("cannot create the Kafka producer")?;
        // the producer's own thread serves its events
        first_contact(
            inner.client(),
            &health,
            &|| {},
            settings,
            None,
            CONNECT_TIMEOUT,
        )?;
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
        self.produce(topic, partition, key, Some(payload))
    }

    /// Queues a record without a value (a tombstone).
    pub fn send_tombstone(&self, topic: &str, key: Option<&[u8]>) -> anyhow::Result<()> {
        self.produce(topic, None, key, None)
    }

    /// Queues one record (`payload` `None`: without a value); waits while the queue is full.
    fn produce(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
    ) -> anyhow::Result<()> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic);
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
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
                    let error = match self.inner.client().fatal_error() {
                        Some((_, reason)) => anyhow::Error::new(ProducerFatal(reason)),
                        None => anyhow::Error::new(error),
                    };
                    return Err(error).with_context(|| format!("cannot send to topic {topic}"));
                }
            }
        }
    }

    /// Waits up to `timeout` until librdkafka holds nothing more to deliver or report; whether
    /// it got there. rust-rdkafka's own flush polls the delivery reports itself, in turns of
    /// up to 100 ms; but they are served by this producer's polling thread, so each turn
    /// sleeps until its end (a commit took 100 ms instead of 5). This waits in short naps.
    fn wait_delivered(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.inner.in_flight_count() > 0 {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(DELIVERY_NAP);
        }
        true
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
        let flushed = self.wait_delivered(timeout);
        let failed = self.health.failed_deliveries();
        if failed > 0 {
            bail!(
                "{failed} records could not be delivered to Kafka (first error: {})",
                self.health.first_failed_delivery().unwrap_or_default()
            );
        }
        Ok(flushed)
    }

    /// Starts a transaction: records sent from now on commit or abort together.
    pub fn begin_transaction(&self) -> Result<(), TxnError> {
        self.inner
            .begin_transaction()
            .map_err(|e| TxnError::of("cannot begin a Kafka transaction", e))
    }

    /// Adds the input positions to the open transaction: committed to `group` with it, each
    /// with the `metadata` string.
    pub fn send_offsets(
        &self,
        topic: &str,
        next_offsets: &std::collections::BTreeMap<i32, i64>,
        metadata: &str,
        group: &ConsumerGroupMetadata,
        timeout: Duration,
    ) -> Result<(), TxnError> {
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in next_offsets {
            let mut entry = offsets.add_partition(topic, *partition);
            entry
                .set_offset(Offset::Offset(*offset))
                .map_err(|e| TxnError::of("bad offset", e))?;
            entry.set_metadata(metadata);
        }
        self.inner
            .send_offsets_to_transaction(&offsets, group, timeout)
            .map_err(|e| TxnError::of("cannot add the input offsets to the transaction", e))
    }

    /// Commits the open transaction (delivering what is queued first).
    pub fn commit_transaction(&self, timeout: Duration) -> Result<(), TxnError> {
        // what is still in flight after the timeout is left to the commit's own flush
        self.wait_delivered(timeout);
        self.inner
            .commit_transaction(timeout)
            .map_err(|e| TxnError::of("cannot commit the Kafka transaction", e))
    }

    /// Aborts the open transaction: nothing sent in it becomes visible to read_committed
    /// consumers.
    pub fn abort_transaction(&self, timeout: Duration) -> Result<(), TxnError> {
        self.inner
            .abort_transaction(timeout)
            .map_err(|e| TxnError::of("cannot abort the Kafka transaction", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_whose_flush_timed_out_is_retried_and_other_client_errors_are_fatal() {
        let timed_out = KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut);
        let judged = TxnError::of("cannot commit the Kafka transaction", timed_out);
        assert!(matches!(judged, TxnError::Retriable(_)), "{judged:?}");
        let other = KafkaError::ClientCreation("no".into());
        assert!(matches!(TxnError::of("x", other), TxnError::Fatal(_)));
    }
}
