//! `ratings-stream checkpoint`'s subcommands and flags.

use clap::{Args, Subcommand};
use serde::Serialize;

#[derive(Debug, Subcommand, Serialize)]
#[serde(untagged)]
pub enum CheckpointCommand {
    /// Print the checkpoint: committed and pending epochs, the latest offsets and watermark;
    /// damaged files are named.
    Inspect(CheckpointArgs),
}

#[derive(Debug, Args, Serialize)]
pub struct CheckpointArgs {
    /// Storage URL the checkpoint lives on (as for run --storage).
    // required unless the settings file gives it (see `super::relax`)
    #[arg(long, required = true, env = "RATINGS_STORAGE", hide_env_values = true)]
    pub storage: Option<String>,
    /// Checkpoint folder relative to the storage base.
    #[arg(long, default_value = ratings_connectors::checkpoint::DEFAULT_DIR, env = "RATINGS_CHECKPOINT_DIR")]
    pub checkpoint_dir: String,
}
