//! `ratings-stream run`'s flags (also `verify`'s: it checks a deployment of `run`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use ratings_settings::text;
use serde::Serialize;

use super::access::{DashboardAccessArgs, DashboardWatchArgs};
use super::engine::EngineArgs;
use super::kafka::KafkaArgs;
use super::parquet::ParquetArgs;
use super::stream::StreamArgs;
use ratings_settings::flags::checked;

/// Input format of a bounded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormatArg {
    /// `.csv` files are MovieLens CSV, anything else JSON lines.
    Auto,
    Json,
    Csv,
}

#[derive(Debug, Args, Serialize)]
pub struct RunArgs {
    /// Settings file (TOML); flags and environment variables override it. See docs/kafka.md.
    #[arg(long, env = "RATINGS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Bounded input file: JSON lines as in the Kafka topic, or MovieLens ratings.csv,
    /// processed in file order. Without it, the processor reads Kafka.
    #[arg(long, env = "RATINGS_INPUT")]
    pub input: Option<PathBuf>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto, env = "RATINGS_FORMAT")]
    pub format: FormatArg,
    /// Where to write one JSON object per emitted window ("-" for standard output).
    #[arg(long, default_value = "-", env = "RATINGS_METRICS_FILE")]
    pub metrics_file: PathBuf,
    /// Where to write rejected records (JSON lines with reason and line number).
    /// Without it they are only counted.
    #[arg(long, env = "RATINGS_DEAD_LETTER_FILE")]
    pub dead_letter_file: Option<PathBuf>,
    /// Where to write late records (JSON lines with reason "late").
    /// Without it they are only counted.
    #[arg(long, env = "RATINGS_LATE_FILE")]
    pub late_file: Option<PathBuf>,
    /// Write the final counters as JSON to this file.
    #[arg(long, env = "RATINGS_SUMMARY_FILE")]
    pub summary_file: Option<PathBuf>,
    /// At end of input, keep open windows instead of emitting them.
    #[arg(long, env = "RATINGS_NO_FINAL_FLUSH")]
    pub no_final_flush: bool,
    /// Records per batch; in update mode, changed windows are emitted after each batch.
    #[arg(long, default_value_t = 1000, env = "RATINGS_BATCH_SIZE")]
    pub batch_size: usize,
    /// Records larger than this are rejected as oversized.
    #[arg(long, default_value_t = ratings_core::rating::DEFAULT_MAX_RECORD_BYTES, env = "RATINGS_MAX_RECORD_BYTES")]
    pub max_record_bytes: usize,
    /// Ratings whose event time is further ahead of the wall clock than this go to the dead
    /// letters (reason future_timestamp) and never move the watermark: a clock or unit error
    /// (e.g. year 2508) would otherwise make every later rating late. "off": no bound, for
    /// synthetic streams that run ahead of the clock on purpose.
    #[arg(long, default_value = "1d", value_parser = checked(text::seconds_or_off), env = "RATINGS_MAX_EVENT_TIME_AHEAD")]
    pub max_event_time_ahead: String,
    /// Kafka mode: also serve the live dashboard of --metrics-topic on this address (e.g.
    /// 127.0.0.1:8080), as `ratings-stream dashboard` would.
    #[arg(long, env = "RATINGS_DASHBOARD")]
    pub dashboard: Option<String>,
    /// How much history the dashboard reads and keeps.
    #[arg(long, default_value = "24h", value_parser = checked(text::duration), env = "RATINGS_DASHBOARD_HISTORY")]
    pub dashboard_history: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub dashboard_access: DashboardAccessArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub dashboard_watch: DashboardWatchArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub parquet: ParquetArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub stream: StreamArgs,
}
