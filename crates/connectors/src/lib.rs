//! `ratings-connectors`: the I/O around the engine.
//!
//! - [`kafka`] — the Kafka source (all partitions of the `ratings` topic, read in a fair
//!   round-robin so that a backlog is replayed in a deterministic order) and a producer for the
//!   `metrics`, dead-letter and `ratings` topics, with librdkafka settings and secret redaction.

pub mod kafka;
