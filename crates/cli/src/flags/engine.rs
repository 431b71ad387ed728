//! The engine's flags, shared by every command that runs it (`run`, `verify`, `demo`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use ratings_settings::text;
use serde::Serialize;

use ratings_settings::flags::checked;

/// Options shared by every command that runs the engine.
#[derive(Debug, Args, Serialize)]
pub struct EngineArgs {
    /// Tumbling window size (e.g. 1min, 30s, 1h).
    #[arg(long, default_value = "1min", value_parser = checked(text::seconds), env = "RATINGS_TUMBLING")]
    pub tumbling: String,
    /// Sliding window size.
    #[arg(long, default_value = "5min", value_parser = checked(text::seconds), env = "RATINGS_SLIDING_SIZE")]
    pub sliding_size: String,
    /// Sliding window slide (how often a sliding window starts).
    #[arg(long, default_value = "1min", value_parser = checked(text::seconds), env = "RATINGS_SLIDING_SLIDE")]
    pub sliding_slide: String,
    /// The window types by name, in output order, instead of --tumbling and --sliding-*: e.g.
    /// tumbling_1min,sliding_5min_1min,tumbling_15min. Changed on a running job, the open
    /// windows of new types are rebuilt from the raw dataset (--storage; docs/windows.md).
    #[arg(long, value_parser = checked(text::windows), env = "RATINGS_WINDOWS")]
    pub windows: Option<String>,
    /// How far the watermark trails the largest event time seen.
    #[arg(long, default_value = "10min", value_parser = checked(text::seconds), env = "RATINGS_WATERMARK_DELAY")]
    pub watermark_delay: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeArg {
    Append,
    Update,
}
