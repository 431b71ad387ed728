//! The records a checkpoint holds (offsets, metadata, owner, commit records), what a restart
//! resumes from, and why a checkpoint cannot be used.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FORMAT_VERSION;

/// Where the input stood when an epoch ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochOffsets {
    pub epoch: u64,
    pub topic: String,
    /// Next offset to read, per partition.
    pub next_offsets: BTreeMap<i32, i64>,
    /// Watermark (epoch seconds) at the end of the epoch.
    pub watermark: Option<i64>,
    /// Files the epoch makes visible (paths relative to the storage base); the n-th is staged
    /// as `staging/<epoch>-<n>` until the epoch commits.
    #[serde(default)]
    pub publications: Vec<String>,
    /// Size and rows of each publication, in the same order (absent in epochs of older
    /// versions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<FileSize>,
    /// The processor incarnation that wrote the epoch (a random id per start or takeover; absent
    /// in epochs of older versions). Only an epoch of the incarnation whose tag Kafka holds can
    /// be committed: a fenced predecessor (a zombie) may still write files of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<String>,
    /// Epoch numbers left out at starts and takeovers (the one a fenced predecessor may still
    /// write), as long as open Parquet files are rebuilt from rows of epochs around them: their
    /// rows files, if any, are not this lineage's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_epochs: Vec<u64>,
}

/// A published file's size and rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSize {
    pub bytes: u64,
    pub rows: u64,
}

impl FileSize {
    /// The size and rows of a file to publish.
    pub fn of(file: &crate::parquet::Publication) -> FileSize {
        FileSize {
            bytes: file.bytes.len() as u64,
            rows: file.rows,
        }
    }
}

/// The checkpoint's identity, written when it is created (and once more if the raw output
/// begins on a running job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// Random id; exactly-once runs tag the Kafka offsets they commit with it.
    pub id: String,
    pub created_at_millis: i64,
    /// The watermark at which the raw dataset began, when the job first ran without raw
    /// output: the ratings read before are not in it (`None`: it holds all of them, or the
    /// job has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_from_watermark: Option<i64>,
}

/// Who runs the job on this checkpoint: written by a processor each time it starts (or takes
/// over, with high availability).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The processor's incarnation (the id in its epochs and Kafka tags).
    pub incarnation: String,
    pub host: String,
    pub pid: u32,
    /// When it started, epoch milliseconds.
    pub since_millis: i64,
    /// The settings that decide the outputs, by name: processors sharing the checkpoint must
    /// agree on them.
    #[serde(default)]
    pub job: BTreeMap<String, String>,
}

/// The commit record of an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    pub epoch: u64,
    /// Wall-clock time of the commit, epoch milliseconds.
    pub committed_at_millis: i64,
}

/// What a restart resumes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    pub offsets: EpochOffsets,
    /// The processor's state (the runtime decodes it).
    pub state: Vec<u8>,
    /// The format version the state was written with ([`FORMAT_VERSION`] or earlier).
    pub state_version: u32,
}

/// Why the checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint file {path} is damaged ({reason})")]
    Damaged { path: String, reason: String },
    #[error(
        "checkpoint file {path} has format version {found}, newer than this build reads \
         ({FORMAT_VERSION})"
    )]
    FutureVersion { path: String, found: u32 },
    #[error("epoch {epoch} is committed but {path} cannot be read ({reason})")]
    Missing {
        epoch: u64,
        path: String,
        reason: String,
    },
}
