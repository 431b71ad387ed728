//! The Parquet outputs' flags.

use clap::Args;
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
}
