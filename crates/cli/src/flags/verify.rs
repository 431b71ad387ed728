//! `ratings-stream verify`'s flags: its own options, and `run`'s settings.

use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::run::RunArgs;

#[derive(Debug, Args, Serialize)]
pub struct VerifyArgs {
    /// Print the report as one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
    /// How long the processor's group is watched for commits (a processor with lag that commits
    /// nothing in this time is stuck).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub observe: Duration,
    /// The recent past over which dead letters are counted against the input.
    #[arg(long, default_value = "15min", value_parser = humantime::parse_duration)]
    pub recent: Duration,
    /// Share of dead letters (rejected and late records) above which verify warns.
    #[arg(long, default_value_t = 0.05)]
    pub dead_letter_warn: f64,
    /// Also audit the aggregates: recompute every tumbling and sliding window of the closed
    /// hours in --from/--to from the raw Parquet rows and compare them, field by field, with the
    /// aggregate Parquet rows and the windows on the metrics topic (every difference is listed).
    #[arg(long)]
    pub audit: bool,
    /// First hour to audit (event time, UTC): 2025-10-29T19:00:00Z, 2025-10-29T19 or
    /// 2025-10-29. Default: 24 hours before --to.
    #[arg(long, requires = "audit", value_parser = parse_hour)]
    pub from: Option<i64>,
    /// End of the audited range (exclusive), same forms. Default: the end of the newest hour
    /// the processor has closed.
    #[arg(long, requires = "audit", value_parser = parse_hour)]
    pub to: Option<i64>,
    #[command(flatten)]
    #[serde(flatten)]
    pub run: RunArgs,
}

/// An instant as RFC 3339, `YYYY-MM-DDTHH` or `YYYY-MM-DD` (UTC), epoch seconds.
fn parse_hour(text: &str) -> Result<i64, String> {
    let full = match text.len() {
        10 => format!("{text}T00:00:00Z"),
        13 => format!("{text}:00:00Z"),
        _ => text.to_string(),
    };
    ratings_core::time::parse_rfc3339_seconds(&full).ok_or_else(|| {
        format!("{text:?} is not a time: use 2025-10-29T19:00:00Z, 2025-10-29T19 or 2025-10-29")
    })
}
