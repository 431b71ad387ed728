//! The Kafka source stage: every partition of the input topic, read through
//! [`KafkaSource`] (the partition furthest behind in event time first), each record handed to
//! the pipeline as a JSON [`SourceRecord`] with its partition and offset.

use ratings_connectors::kafka::{KafkaSource, PollOutcome};

use super::{Format, SourceRecord};
use crate::pipeline::Pipeline;

/// Reads at most one record and runs it through `pipeline`.
pub fn poll_into(source: &mut KafkaSource, pipeline: &mut Pipeline) -> anyhow::Result<PollOutcome> {
    source.poll(|record| {
        pipeline.process(SourceRecord {
            payload: record.payload,
            format: Format::Json,
            partition: record.partition,
            offset: record.offset,
        })
    })
}
