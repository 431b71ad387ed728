//! Command-line interface: each command's flags (a file each) and the shared groups, and how
//! they become [`Settings`]. Every option with an environment variable (shown in `--help`) is a
//! setting, under that variable's name without `RATINGS_` in lower case, and so also a key of
//! the settings file; the other options are the command's own. `--reset-checkpoint` and
//! `--kafka-property` are settings given by flags only.

mod access;
mod checkpoint;
mod dashboard;
mod demo;
mod engine;
mod generate;
mod kafka;
mod parquet;
mod parsers;
mod replay;
mod run;
mod stream;
mod verify;

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use ratings_settings::{layers, Settings};
use serde::Serialize;
use serde_json::{Map, Value};

pub use checkpoint::CheckpointCommand;
pub use dashboard::DashboardArgs;
pub use demo::{DemoArgs, DEMO_DASHBOARD};
pub use generate::GenerateArgs;
pub use replay::ReplayArgs;
pub use run::RunArgs;
pub use verify::VerifyArgs;

/// Settings whose flag has no environment variable, by the flag's id.
const FLAG_ONLY: [&str; 2] = ["kafka_properties", "reset_checkpoint"];

/// Parses the command line (clap reads the environment too) and the settings file, and layers
/// them: flags, then environment, then file, then the model's defaults. Exits on a clap error
/// or `--help`, as clap does.
pub fn parse() -> anyhow::Result<(Cli, Settings)> {
    let file = match config_path(std::env::args().collect()) {
        Some(path) => ratings_settings::file::load(&path)?,
        None => Map::new(),
    };
    let mut command = relax(Cli::command(), &file);
    let matches = command.get_matches_mut();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    command.build();
    let explicit = explicit(&cli, &command, &matches)?;
    Ok((cli, layers::settings(file, explicit)?))
}

/// `--config PATH`, `--config=PATH`, or `$RATINGS_CONFIG`: read before the command line is
/// parsed, since the file decides what a missing required option means.
fn config_path(args: Vec<String>) -> Option<PathBuf> {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("RATINGS_CONFIG").map(PathBuf::from)
}

/// The settings key an option stands for.
fn key(arg: &Arg) -> Option<String> {
    match arg.get_env() {
        Some(env) => env
            .to_str()?
            .strip_prefix("RATINGS_")
            .map(str::to_ascii_lowercase),
        None => FLAG_ONLY
            .contains(&arg.get_id().as_str())
            .then(|| arg.get_id().to_string()),
    }
}

/// `command` with the options the file gives no longer required (`checkpoint inspect
/// --storage`), as when the file was applied as environment variables.
fn relax(mut command: clap::Command, file: &Map<String, Value>) -> clap::Command {
    let given: Vec<_> = command
        .get_arguments()
        .filter(|arg| arg.is_required_set() && key(arg).is_some_and(|k| file.contains_key(&k)))
        .map(|arg| arg.get_id().clone())
        .collect();
    for id in given {
        command = command.mut_arg(id, |arg| arg.required(false));
    }
    let names: Vec<_> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| relax(sub, file));
    }
    command
}

/// The settings given on the command line or in the environment (not clap's defaults, which
/// are the model's: see the tests), by key; a flag wins over an environment variable.
fn explicit(
    cli: &Cli,
    command: &clap::Command,
    matches: &ArgMatches,
) -> anyhow::Result<Map<String, Value>> {
    let Value::Object(values) = serde_json::to_value(cli)? else {
        anyhow::bail!("the flags do not serialise as a map")
    };
    let (command, matches) = leaf(command, matches);
    let mut given: Vec<_> = command
        .get_arguments()
        .filter_map(|arg| {
            let id = arg.get_id().as_str();
            let source = matches.value_source(id)?;
            let value = values.get(id)?;
            let key = key(arg)?;
            (source != ValueSource::DefaultValue).then(|| (source, key, value.clone()))
        })
        .collect();
    given.sort_by_key(|(source, ..)| *source);
    Ok(given
        .into_iter()
        .map(|(_, key, value)| (key, value))
        .collect())
}

/// The subcommand that was run, and its matches.
fn leaf<'a>(
    command: &'a clap::Command,
    matches: &'a ArgMatches,
) -> (&'a clap::Command, &'a ArgMatches) {
    match matches.subcommand() {
        Some((name, sub)) => match command.find_subcommand(name) {
            Some(subcommand) => leaf(subcommand, sub),
            None => (command, matches),
        },
        None => (command, matches),
    }
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
