//! Command-line interface: each command's flags in a file of its own, and the shared groups;
//! [`ratings_settings::flags`] turns them into [`Settings`].

mod access;
mod checkpoint;
mod dashboard;
mod demo;
mod engine;
mod generate;
mod kafka;
mod parquet;
mod replay;
mod run;
mod stream;
mod table;
mod verify;

use clap::{Parser, Subcommand, ValueEnum};
use ratings_settings::Settings;
use serde::Serialize;

pub use checkpoint::CheckpointCommand;
pub use dashboard::DashboardArgs;
pub use demo::{DemoArgs, DEMO_DASHBOARD};
pub use generate::GenerateArgs;
pub use replay::ReplayArgs;
pub use run::RunArgs;
pub use table::TableCommand;
pub use verify::VerifyArgs;

/// The command and its [`Settings`] (see [`ratings_settings::flags::parse`]).
pub fn parse() -> anyhow::Result<(Cli, Settings)> {
    ratings_settings::flags::parse::<Cli>()
}

/// Event-time windowed metrics over a stream of movie ratings (a Spark Structured Streaming
/// replacement): counts, averages, exact p50/p95, top movies and per-genre metrics over
/// tumbling and sliding windows, with a watermark for late data.
#[derive(Debug, Parser, Serialize)]
#[command(name = "ratings-stream", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    #[serde(flatten)]
    pub command: Command,
    /// Log lines as text or as JSON objects (one per line). Levels: RUST_LOG (default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "RATINGS_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// How log lines are written on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand, Serialize)]
#[serde(untagged)]
pub enum Command {
    /// The processor. Without --input: read the Kafka topic `ratings` and publish every window
    /// to `metrics` (dead letters and late records to the dead-letter topic). With --input:
    /// process a bounded file (JSON lines or MovieLens ratings.csv) and write the windows to
    /// --metrics-file.
    ///
    /// Examples:
    ///   ratings-stream run --bootstrap-servers 127.0.0.1:9092
    ///   ratings-stream run --input ratings.csv --metrics-file metrics.jsonl
    #[command(verbatim_doc_comment)]
    Run(Box<RunArgs>),
    /// Run the engine on built-in synthetic ratings, print closed windows as a table and show
    /// them on the live dashboard (needs no servers). Runs until Ctrl-C (or --duration).
    Demo(DemoArgs),
    /// Write synthetic ratings (the demo's generator) to the Kafka topic `ratings`, or as JSON
    /// lines to --output. Event time follows the wall clock at --rate, like the original
    /// platform's run-synthetic-ratings.sh; --rate 0 writes as fast as possible.
    ///
    /// Examples:
    ///   ratings-stream generate --rate 50
    ///   ratings-stream generate --rate 0 --count 5000000 --output ratings.jsonl
    #[command(verbatim_doc_comment)]
    Generate(GenerateArgs),
    /// Replay a MovieLens ratings.csv to the Kafka topic `ratings` in timestamp order, paced by
    /// --speedup (event time runs that many times faster than the clock) or --rate.
    ///
    /// Example: ratings-stream replay --input ml-latest-small/ratings.csv --rate 1000
    #[command(verbatim_doc_comment)]
    Replay(ReplayArgs),
    /// Look into a checkpoint folder: committed and pending epochs, offsets, watermark.
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// Upkeep of the Delta tables (--table-format delta): compaction and vacuum, on demand.
    ///
    /// Examples:
    ///   ratings-stream table optimize --storage hdfs://namenode:8020/data
    ///   ratings-stream table vacuum --storage hdfs://namenode:8020/data --vacuum-retention 2days --dry-run
    #[command(subcommand, verbatim_doc_comment)]
    Table(TableCommand),
    /// Check a running deployment with the same settings as `run`: the broker, the topics, the
    /// windows on `metrics`, the dead letters, the processor's group (lag, and whether it
    /// commits), the checkpoint and the Parquet datasets. One line per check (PASS / WARN /
    /// FAIL, what was found, what to do); exit status 1 when one fails. With --audit, also
    /// recompute the windows of closed hours from the raw Parquet rows and compare.
    ///
    /// Examples:
    ///   ratings-stream verify --config settings.toml
    ///   ratings-stream verify --config settings.toml --audit --from 2025-10-29T18 --to 2025-10-29T20
    #[command(verbatim_doc_comment)]
    Verify(Box<VerifyArgs>),
    /// The live dashboard: reads the windows on `metrics` (read_committed; the last --history
    /// first, then live) and serves a page, a REST API and live updates on --listen.
    ///
    /// Example: ratings-stream dashboard --bootstrap-servers 127.0.0.1:9092
    #[command(verbatim_doc_comment)]
    Dashboard(DashboardArgs),
}

#[cfg(test)]
mod tests;
