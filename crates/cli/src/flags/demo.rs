//! `ratings-stream demo`'s flags.

use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::access::DashboardAccessArgs;
use super::engine::EngineArgs;

/// Where the demo serves its dashboard by default.
pub const DEMO_DASHBOARD: &str = "127.0.0.1:8080";

#[derive(Debug, Args, Serialize)]
pub struct DemoArgs {
    /// How long to run (Ctrl-C stops earlier). Default: 30 s with --dashboard off, else until
    /// Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
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
    /// Serve the live dashboard on this address ("off": none). When the default port is taken,
    /// a free one is used. With the dashboard the demo runs until Ctrl-C unless --duration is
    /// given.
    #[arg(long, default_value = DEMO_DASHBOARD)]
    pub dashboard: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub access: DashboardAccessArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub engine: EngineArgs,
}
