//! `ratings-stream table`'s subcommands and flags: upkeep of the Delta tables on demand.

use clap::{Args, Subcommand};
use ratings_settings::flags::checked;
use ratings_settings::text;
use serde::Serialize;

#[derive(Debug, Subcommand, Serialize)]
#[serde(untagged)]
pub enum TableCommand {
    /// Compact the Delta tables: in every hour, files smaller than --compaction-target are
    /// rewritten into files of up to that size, in one commit per hour that removes the old
    /// files and adds the new ones (dataChange=false, as Delta's OPTIMIZE). Readers see the
    /// same rows before, during and after; the removed files stay until vacuum.
    Optimize(OptimizeArgs),
    /// Delete the files removed from the Delta tables (by compaction) longer ago than
    /// --vacuum-retention. Readers of versions older than that lose them (time travel).
    Vacuum(VacuumArgs),
}

#[derive(Debug, Args, Serialize)]
pub struct OptimizeArgs {
    /// Storage URL the tables live on (as for run --storage).
    // required unless the settings file gives it (see `super::relax`)
    #[arg(long, required = true, env = "RATINGS_STORAGE", hide_env_values = true)]
    pub storage: Option<String>,
    /// Rewrite files smaller than this into files of up to this size.
    #[arg(long, default_value = "64MB", value_parser = checked(text::byte_size_or_off), env = "RATINGS_COMPACTION_TARGET")]
    pub compaction_target: String,
    /// Writer id in the new files' names (part-<writer>-compacted-<version>-<n>.parquet).
    #[arg(long, default_value = "0", env = "RATINGS_WRITER_ID")]
    pub writer_id: String,
}

#[derive(Debug, Args, Serialize)]
pub struct VacuumArgs {
    /// Storage URL the tables live on (as for run --storage).
    #[arg(long, required = true, env = "RATINGS_STORAGE", hide_env_values = true)]
    pub storage: Option<String>,
    /// Delete files removed longer ago than this.
    #[arg(long, default_value = "7days", value_parser = checked(text::duration_or_off), env = "RATINGS_VACUUM_RETENTION")]
    pub vacuum_retention: String,
    /// Only list the files that would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}
