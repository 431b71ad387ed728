//! `ratings-stream checkpoint inspect`: a checkpoint described for an operator — owner,
//! committed and pending epochs, the latest offsets and watermark.

use std::sync::Arc;

use super::CheckpointStore;
use crate::storage::Storage;

/// The checkpoint in `dir` of the storage at `url`, described (see [`CheckpointStore::inspect`]).
pub fn inspect(url: &str, dir: &str) -> anyhow::Result<String> {
    CheckpointStore::new(Arc::new(Storage::open_existing(url)?), dir).inspect()
}

impl CheckpointStore {
    /// A readable description: committed and pending epochs and the latest offsets.
    pub fn inspect(&self) -> anyhow::Result<String> {
        let committed = self.committed_epochs()?;
        let mut text = format!("checkpoint {}\n", self.location());
        if let Some(owner) = self.owner()? {
            text += &format!(
                "  owner: {} pid {} (incarnation {}), since {}\n",
                owner.host,
                owner.pid,
                owner.incarnation,
                ratings_core::time::rfc3339_seconds(owner.since_millis / 1000)
            );
        }
        text += &format!("  committed epochs: {}\n", list(&committed));
        text += &format!("  pending epochs:   {}\n", list(&self.pending_epochs()?));
        match self.latest()? {
            None => {
                text += "  no committed epoch: a new processor starts from --starting-offsets\n"
            }
            Some(restored) => {
                let o = &restored.offsets;
                text += &format!(
                    "  latest epoch {}: topic {}, watermark {}\n",
                    o.epoch,
                    o.topic,
                    watermark(o.watermark)
                );
                for (partition, offset) in &o.next_offsets {
                    text += &format!("    partition {partition}: next offset {offset}\n");
                }
                text += &format!("  engine state: {} bytes\n", restored.state.len());
            }
        }
        Ok(text)
    }
}

fn list(epochs: &[u64]) -> String {
    if epochs.is_empty() {
        "none".into()
    } else {
        epochs
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn watermark(value: Option<i64>) -> String {
    value.map_or("none".into(), ratings_core::time::rfc3339_seconds)
}
