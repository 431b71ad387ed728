//! Command-line interface: subcommands and their options. Every option can also be set through
//! the environment variable shown in `--help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ratings_core::{EngineConfig, OutputMode, WindowSpec};

/// Event-time windowed metrics over a stream of movie ratings (a Spark Structured Streaming
/// replacement): counts, averages, exact p50/p95, top movies and per-genre metrics over
/// tumbling and sliding windows, with a watermark for late data.
#[derive(Debug, Parser)]
#[command(name = "ratings-stream", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Process a bounded file of ratings (JSON lines or MovieLens ratings.csv) and write one
    /// JSON object per emitted window.
    ///
    /// Example: ratings-stream run --input ratings.csv --metrics-file metrics.jsonl
    Run(RunArgs),
    /// Run the engine on built-in synthetic ratings and print closed windows as a table
    /// (needs no servers). Stops after --duration or on Ctrl-C.
    Demo(DemoArgs),
    /// Write synthetic ratings (the demo's generator) as JSON lines to a file or standard output.
    ///
    /// Example: ratings-stream generate --count 1000000 --output ratings.jsonl
    Generate(GenerateArgs),
}

/// Options shared by every command that runs the engine.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Tumbling window size (e.g. 1min, 30s, 1h).
    #[arg(long, default_value = "1min", value_parser = seconds, env = "RATINGS_TUMBLING")]
    pub tumbling: i64,
    /// Sliding window size.
    #[arg(long, default_value = "5min", value_parser = seconds, env = "RATINGS_SLIDING_SIZE")]
    pub sliding_size: i64,
    /// Sliding window slide (how often a sliding window starts).
    #[arg(long, default_value = "1min", value_parser = seconds, env = "RATINGS_SLIDING_SLIDE")]
    pub sliding_slide: i64,
    /// How far the watermark trails the largest event time seen.
    #[arg(long, default_value = "10min", value_parser = seconds, env = "RATINGS_WATERMARK_DELAY")]
    pub watermark_delay: i64,
    /// Number of movies in each window's top_movies.
    #[arg(long, default_value_t = 10, env = "RATINGS_TOP_N")]
    pub top_n: usize,
    /// append: each window once, when final. update: also intermediate values ("final": false).
    #[arg(long, value_enum, default_value_t = ModeArg::Append, env = "RATINGS_OUTPUT_MODE")]
    pub output_mode: ModeArg,
    /// movies.csv (MovieLens format). Default: the bundled ml-latest-small catalog when found,
    /// else a small built-in one.
    #[arg(long, env = "RATINGS_MOVIES")]
    pub movies: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Append,
    Update,
}

impl EngineArgs {
    /// The engine configuration these options describe.
    pub fn engine_config(&self) -> anyhow::Result<EngineConfig> {
        let tumbling = WindowSpec::tumbling(self.tumbling)?;
        let sliding = WindowSpec::sliding(self.sliding_size, self.sliding_slide)?;
        anyhow::ensure!(
            tumbling != sliding,
            "the sliding window ({}) equals the tumbling window; give it a slide smaller than its size",
            sliding.name()
        );
        Ok(EngineConfig {
            windows: vec![tumbling, sliding],
            watermark_delay: self.watermark_delay,
            top_n: self.top_n,
            mode: match self.output_mode {
                ModeArg::Append => OutputMode::Append,
                ModeArg::Update => OutputMode::Update,
            },
        })
    }
}

/// Input format of a bounded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// `.csv` files are MovieLens CSV, anything else JSON lines.
    Auto,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Bounded input file: JSON lines as in the Kafka topic, or MovieLens ratings.csv.
    /// Processed in file order.
    #[arg(long, env = "RATINGS_INPUT")]
    pub input: PathBuf,
    /// Input format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
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
    #[arg(long)]
    pub summary_file: Option<PathBuf>,
    /// At end of input, keep open windows instead of emitting them.
    #[arg(long)]
    pub no_final_flush: bool,
    /// Records per batch; in update mode, changed windows are emitted after each batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Records larger than this are rejected as oversized.
    #[arg(long, default_value_t = ratings_core::rating::DEFAULT_MAX_RECORD_BYTES)]
    pub max_record_bytes: usize,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to run (Ctrl-C stops earlier).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Generated ratings per second of wall-clock time.
    #[arg(long, default_value_t = 2000)]
    pub rate: u32,
    /// Event time runs this many times faster than the wall clock (120: two minutes per second).
    #[arg(long, default_value_t = 120.0)]
    pub speedup: f64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of ratings sent far behind the stream (late data).
    #[arg(long, default_value_t = 0.01)]
    pub late_fraction: f64,
    /// Fraction of malformed records.
    #[arg(long, default_value_t = 0.005)]
    pub malformed_fraction: f64,
    /// Also print sliding windows (tumbling windows only by default).
    #[arg(long)]
    pub show_sliding: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of records to write.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,
    /// Output file ("-" for standard output).
    #[arg(long, default_value = "-")]
    pub output: PathBuf,
    /// Records per second of event time.
    #[arg(long, default_value_t = 50.0)]
    pub events_per_second: f64,
    /// Event time of the first record, epoch seconds.
    #[arg(long, default_value_t = 1_761_764_400)]
    pub start_time: i64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of ratings sent far behind the stream (late data).
    #[arg(long, default_value_t = 0.0)]
    pub late_fraction: f64,
    /// Fraction of malformed records.
    #[arg(long, default_value_t = 0.0)]
    pub malformed_fraction: f64,
    /// movies.csv whose ids the ratings use (default: as for `run`).
    #[arg(long, env = "RATINGS_MOVIES")]
    pub movies: Option<PathBuf>,
}

/// Parses a human duration (`1min`, `30s`, `1h`) into whole seconds.
fn seconds(text: &str) -> Result<i64, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.subsec_nanos() != 0 {
        return Err(format!("{text}: use whole seconds"));
    }
    i64::try_from(duration.as_secs()).map_err(|_| format!("{text}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_in_seconds() {
        assert_eq!(seconds("1min"), Ok(60));
        assert_eq!(seconds("10m"), Ok(600));
        assert_eq!(seconds("90s"), Ok(90));
        assert!(seconds("1.5s").is_err());
        assert!(seconds("soon").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
