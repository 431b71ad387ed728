//! Sources: where records come from. [`file`] reads a bounded JSON-lines or MovieLens CSV
//! file; [`kafka`] reads every partition of the `ratings` topic (in event-time alignment,
//! through [`ratings_connectors::kafka::KafkaSource`]). Both hand the pipeline
//! [`SourceRecord`]s.

pub mod file;
pub mod kafka;

pub use crate::config::Format;

/// One input record and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct SourceRecord<'a> {
    /// The record; `None` for a Kafka record without a value (a tombstone).
    pub payload: Option<&'a [u8]>,
    pub format: Format,
    /// Kafka partition; 0 for files.
    pub partition: i32,
    /// Kafka offset, or the 1-based line number of a file.
    pub offset: i64,
}
