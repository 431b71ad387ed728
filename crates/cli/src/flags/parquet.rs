//! The Parquet outputs' flags.

use clap::{Args, ValueEnum};
use ratings_settings::text;
use serde::Serialize;

use ratings_settings::flags::checked;

/// Parquet outputs.
#[derive(Debug, Args, Serialize)]
pub struct ParquetArgs {
    /// Base URL of the Parquet outputs — raw ratings and tumbling/sliding aggregates under
    /// streams/ratings/…: file:///dir (or a folder), hdfs://namenode:port/dir, s3://bucket/dir
    /// (credentials from AWS_* variables). Without it no Parquet is written.
    #[arg(long, env = "RATINGS_STORAGE", hide_env_values = true)]
    pub storage: Option<String>,
    /// Publish a Parquet file once it reaches this size (e.g. 128MB, 512KB).
    #[arg(long, default_value = "128MB", value_parser = checked(text::byte_size), env = "RATINGS_ROLL_SIZE")]
    pub roll_size: String,
    /// Publish a Parquet file once it has been open this long.
    #[arg(long, default_value = "5min", value_parser = checked(text::duration), env = "RATINGS_ROLL_INTERVAL")]
    pub roll_interval: String,
    /// Writer id in Parquet file names (part-<writer>-<run>-<n>.parquet); unique per processor.
    #[arg(long, default_value = "0", env = "RATINGS_WRITER_ID")]
    pub writer_id: String,
    /// Lay the outputs out as Parquet folders (an hour complete once it has _SUCCESS) or as
    /// Delta Lake tables (files part of a table once its log adds them, committed once per
    /// epoch; see docs/delta.md).
    #[arg(long, value_enum, default_value_t = TableFormatArg::Parquet, env = "RATINGS_TABLE_FORMAT")]
    pub table_format: TableFormatArg,
    /// Delta: once an hour is closed, rewrite its files smaller than this into files of up to
    /// this size ("off": only with `ratings-stream table optimize`).
    #[arg(long, default_value = "64MB", value_parser = checked(text::byte_size_or_off), env = "RATINGS_COMPACTION_TARGET")]
    pub compaction_target: String,
    /// Delta: after a compaction, delete files removed from a table longer ago than this
    /// ("off": only with `ratings-stream table vacuum`).
    #[arg(long, default_value = "7days", value_parser = checked(text::duration_or_off), env = "RATINGS_VACUUM_RETENTION")]
    pub vacuum_retention: String,
}

/// How the outputs are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TableFormatArg {
    /// Hive-partitioned Parquet folders with _SUCCESS markers.
    Parquet,
    /// Delta Lake tables.
    Delta,
}
