//! Looking at a deployment from outside (`ratings-stream verify`): which topics exist with how
//! many partitions, where their partitions end, and what a consumer group committed — without
//! joining the group or reading a record.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::health::{consumer_first_contact, HealthContext};
use super::offsets::{committed_offsets, group_consumer, resolve, watermarks, StartFrom};
use super::settings::KafkaSettings;

/// How long one question to the broker may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A client that asks the broker about topics and groups.
pub struct Inspector {
    consumer: BaseConsumer<HealthContext>,
    settings: KafkaSettings,
}

impl Inspector {
    /// Connects as (but never joins) group `group_id`; a clear error when the broker does not
    /// answer within a few seconds.
    pub fn connect(settings: &KafkaSettings, group_id: &str) -> anyhow::Result<Inspector> {
        let consumer = group_consumer(settings, group_id)?;
        consumer_first_contact(&consumer, &consumer.context().0, settings, None, TIMEOUT)?;
        Ok(Inspector {
            consumer,
            settings: settings.clone(),
        })
    }

    /// Every topic with its partition count.
    pub fn topics(&self) -> anyhow::Result<BTreeMap<String, usize>> {
        let metadata = self
            .consumer
            .fetch_metadata(None, TIMEOUT)
            .map_err(|error| self.settings.unreachable(TIMEOUT, None, error))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_string(), t.partitions().len()))
            .collect())
    }

    /// (low, high) offsets of each partition of `topic`.
    pub fn ends(&self, topic: &str, partitions: usize) -> anyhow::Result<Vec<(i64, i64)>> {
        watermarks(&self.consumer, topic, partitions, TIMEOUT)
    }

    /// Per partition of `topic`, the offset of the first record at or after `millis` (epoch
    /// milliseconds), or its end when there is none.
    pub fn offsets_at(
        &self,
        topic: &str,
        partitions: usize,
        millis: i64,
    ) -> anyhow::Result<Vec<i64>> {
        resolve(
            &self.consumer,
            topic,
            partitions,
            StartFrom::Timestamp(millis),
        )
    }

    /// The group's committed offset of each partition of `topic` (`None`: nothing committed).
    pub fn committed(&self, topic: &str, partitions: usize) -> anyhow::Result<Vec<Option<i64>>> {
        Ok(committed_offsets(&self.consumer, topic, partitions)?
            .into_iter()
            .map(|c| c.map(|(offset, _)| offset))
            .collect())
    }
}
