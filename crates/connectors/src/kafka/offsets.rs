//! Where reading starts and what the broker says about offsets: a topic's partitions, the
//! group's committed offsets (and their metadata), the low and high offsets, the offsets of a
//! time — asked with a clear error when the broker or the topic is missing.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerGroupMetadata};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::health::{consumer_first_contact, HealthContext};
use super::settings::{KafkaSettings, KafkaUnavailable};

/// How long start-up waits for the broker before giving up with an error.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where reading starts when nothing says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    Earliest,
    Latest,
    /// The first record at or after this time (epoch milliseconds), per partition.
    Timestamp(i64),
}

/// Where the source starts reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The consumer group's committed offsets, else [`StartFrom`] (at-least-once mode).
    Committed(StartFrom),
    /// [`StartFrom`], whatever the group committed (a new exactly-once processor).
    At(StartFrom),
    /// These next offsets per partition (a checkpoint); every partition must be listed.
    Offsets(BTreeMap<i32, i64>),
}

/// Assigns every partition of `topic` to `consumer`, partition `p` from offset `offsets[p]`.
pub(super) fn assign(
    consumer: &BaseConsumer<HealthContext>,
    topic: &str,
    offsets: &[i64],
) -> anyhow::Result<()> {
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in offsets.iter().enumerate() {
        assignment.add_partition_offset(topic, partition as i32, Offset::Offset(*offset))?;
    }
    consumer
        .assign(&assignment)
        .context("cannot assign the topic's partitions")
}

/// The topic's partition count; a clear error when the broker or the topic is missing.
pub(super) fn partition_count(
    consumer: &BaseConsumer<HealthContext>,
    settings: &KafkaSettings,
    topic: &str,
) -> anyhow::Result<usize> {
    let health = &consumer.context().0;
    let metadata =
        consumer_first_contact(consumer, health, settings, Some(topic), CONNECT_TIMEOUT)?;
    let missing = |missing| KafkaUnavailable::TopicMissing {
        topic: topic.to_string(),
        servers: settings.bootstrap_servers.clone(),
        missing,
    };
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(missing("not found").into());
    };
    if found.error().is_some() || found.partitions().is_empty() {
        return Err(missing("does not exist").into());
    }
    Ok(found.partitions().len())
}

/// The group's committed offset and its metadata string, per partition (`None`: nothing
/// committed).
pub(super) fn committed_offsets(
    consumer: &BaseConsumer<HealthContext>,
    topic: &str,
    partitions: usize,
) -> anyhow::Result<Vec<Option<(i64, String)>>> {
    let mut query = TopicPartitionList::new();
    for p in 0..partitions {
        query.add_partition(topic, p as i32);
    }
    // a broker that just started may not have loaded its group coordinator yet
    // (NotCoordinator, CoordinatorLoadInProgress): ask again until the connect timeout
    let deadline = std::time::Instant::now() + CONNECT_TIMEOUT;
    let committed = loop {
        match consumer.committed_offsets(query.clone(), CONNECT_TIMEOUT) {
            Ok(committed) => break committed,
            Err(error) if std::time::Instant::now() < deadline => {
                tracing::warn!("kafka: reading committed offsets failed ({error}); retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(error) => return Err(error).context("cannot read committed offsets"),
        }
    };
    Ok((0..partitions)
        .map(|p| {
            let entry = committed.find_partition(topic, p as i32)?;
            match entry.offset() {
                Offset::Offset(offset) => Some((offset, entry.metadata().to_string())),
                _ => None,
            }
        })
        .collect())
}

/// The concrete next offset of every partition for `start`.
pub(super) fn start_positions(
    consumer: &BaseConsumer<HealthContext>,
    topic: &str,
    partitions: usize,
    start: &Start,
) -> anyhow::Result<Vec<i64>> {
    let from = match start {
        Start::Offsets(offsets) => {
            return (0..partitions as i32)
                .map(|p| {
                    offsets
                        .get(&p)
                        .copied()
                        .with_context(|| format!("no starting offset for partition {p} of {topic}"))
                })
                .collect()
        }
        Start::At(from) => *from,
        Start::Committed(from) => {
            let committed = committed_offsets(consumer, topic, partitions)?;
            let fallback = resolve(consumer, topic, partitions, *from)?;
            return Ok(committed
                .iter()
                .zip(fallback)
                .map(|(c, f)| c.as_ref().map_or(f, |(offset, _)| *offset))
                .collect());
        }
    };
    resolve(consumer, topic, partitions, from)
}

/// The (low, high) offsets of each partition of `topic`, each asked within `timeout`.
pub(super) fn watermarks(
    consumer: &BaseConsumer<HealthContext>,
    topic: &str,
    partitions: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<(i64, i64)>> {
    (0..partitions as i32)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, timeout)
                .with_context(|| format!("cannot read the end offsets of {topic} [{p}]"))
        })
        .collect()
}

/// The offsets `from` designates, per partition.
pub(super) fn resolve(
    consumer: &BaseConsumer<HealthContext>,
    topic: &str,
    partitions: usize,
    from: StartFrom,
) -> anyhow::Result<Vec<i64>> {
    let ends = watermarks(consumer, topic, partitions, CONNECT_TIMEOUT)?;
    let mut offsets = Vec::with_capacity(partitions);
    for (p, (low, high)) in (0..).zip(ends) {
        offsets.push(match from {
            StartFrom::Earliest => low,
            StartFrom::Latest => high,
            StartFrom::Timestamp(millis) => {
                let mut query = TopicPartitionList::new();
                query.add_partition_offset(topic, p, Offset::Offset(millis))?;
                let found = consumer
                    .offsets_for_times(query, CONNECT_TIMEOUT)
                    .context("cannot look up offsets by timestamp")?;
                match found.find_partition(topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(offset)) => offset,
                    // no record at or after the time yet: start at the end
                    _ => high,
                }
            }
        });
    }
    Ok(offsets)
}

/// The metadata of consumer group `group_id`, for offsets committed inside a producer's
/// transaction (the processor assigns its partitions itself, so the group has no members and
/// this is the group id alone).
pub fn group_metadata(
    settings: &KafkaSettings,
    group_id: &str,
) -> anyhow::Result<ConsumerGroupMetadata> {
    group_consumer(settings, group_id)?
        .group_metadata()
        .context("the Kafka consumer has no group metadata")
}

/// A consumer of group `group_id` that commits nothing by itself, to ask about the group.
pub(super) fn group_consumer(
    settings: &KafkaSettings,
    group_id: &str,
) -> anyhow::Result<BaseConsumer<HealthContext>> {
    settings
        .client_config(&[("group.id", group_id), ("enable.auto.commit", "false")])
        .create_with_context(HealthContext::default())
        .context("cannot create the Kafka consumer")
}

/// The metadata strings the group committed with its offsets of `topic`, one per partition
/// that has a committed offset (exactly-once runs write their checkpoint epoch there).
pub fn committed_metadata(
    settings: &KafkaSettings,
    topic: &str,
    group_id: &str,
) -> anyhow::Result<Vec<String>> {
    let consumer = group_consumer(settings, group_id)?;
    let partitions = partition_count(&consumer, settings, topic)?;
    Ok(committed_offsets(&consumer, topic, partitions)?
        .into_iter()
        .flatten()
        .map(|(_, metadata)| metadata)
        .collect())
}
