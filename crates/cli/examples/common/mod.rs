//! Shared by the benchmark helpers: a read_committed reader of a topic's new records.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// A consumer of every partition of `topic` from its end, reading committed records only, with
/// short fetch waits (latency is what the helpers measure); `name` makes its group id.
pub fn reader_from_end(bootstrap: &str, topic: &str, name: &str) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{name}-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "5")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        assignment.add_partition_offset(topic, partition.id(), Offset::End)?;
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}
