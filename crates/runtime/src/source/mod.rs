//! Sources: where records come from, one record per call. [`file`] reads a bounded JSON-lines
//! or MovieLens CSV file; [`generator`] makes synthetic ratings at a wall-clock pace (the
//! demo); both are [`Bounded`]. [`kafka`] reads every partition of the `ratings` topic in
//! event-time alignment (through the client [`ratings_connectors::kafka::KafkaReader`]). All
//! hand the pipeline [`SourceRecord`]s.

pub(crate) mod file;
pub(crate) mod generator;
pub mod kafka;

pub use ratings_settings::Format;

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
    /// The Kafka record's timestamp (epoch milliseconds), when it has one.
    pub timestamp: Option<i64>,
}

/// What one step of a bounded source found.
#[derive(Debug, Clone, Copy)]
pub enum Next<'a> {
    /// A record.
    Record(SourceRecord<'a>),
    /// A pause in the input: the end of a batch.
    Pause,
    /// The end of the input.
    End,
}

/// A source that ends: read to its end by the bounded job ([`crate::job::file`]).
pub trait Bounded {
    /// The next record, a pause, or the end.
    fn next_record(&mut self) -> anyhow::Result<Next<'_>>;
    /// The source's name in dead-letter records.
    fn name(&self) -> String;
}
