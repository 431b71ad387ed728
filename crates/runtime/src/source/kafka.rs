//! The Kafka source stage: every partition of the input topic, read through
//! [`KafkaSource`] (the partition furthest behind in event time first), each record handed on
//! as a JSON [`SourceRecord`] with its partition and offset.

use ratings_connectors::kafka::{KafkaSource, PollOutcome};

use super::{Format, SourceRecord};

/// Reads at most one record and hands it to `process`, which returns its event time (`None`
/// when it has none, e.g. malformed).
pub fn poll(
    source: &mut KafkaSource,
    process: impl FnOnce(SourceRecord<'_>) -> anyhow::Result<Option<i64>>,
) -> anyhow::Result<PollOutcome> {
    source.poll(|record| {
        process(SourceRecord {
            payload: record.payload,
            format: Format::Json,
            partition: record.partition,
            offset: record.offset,
        })
    })
}
