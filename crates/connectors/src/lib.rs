//! `ratings-connectors`: the I/O around the engine.
//!
//! - [`kafka`] — the Kafka source (all partitions of the `ratings` topic, read in event-time
//!   alignment so that a backlog is replayed in a deterministic order), a producer for the
//!   `metrics`, dead-letter and `ratings` topics, topic administration, and librdkafka settings
//!   with secret redaction.
//! - [`storage`] — output storage through `object_store`: local folders, HDFS, S3; atomic
//!   publication and retries.
//! - [`parquet`] — the raw and aggregate Parquet datasets written there.
//! - [`delta`] — the same datasets as Delta Lake tables (delta-rs): commits, compaction, vacuum.
//! - [`checkpoint`] — the checkpoint store (offsets, engine state, commit records per epoch).

#![warn(unreachable_pub)]

pub mod checkpoint;
pub mod delta;
pub mod kafka;
pub mod parquet;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
