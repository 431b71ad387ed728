//! `ratings-stream dashboard`'s flags.

use std::path::PathBuf;

use clap::Args;
use ratings_settings::text;
use serde::Serialize;

use super::access::{DashboardAccessArgs, DashboardWatchArgs};
use super::kafka::KafkaArgs;
use ratings_settings::flags::checked;

#[derive(Debug, Args, Serialize)]
pub struct DashboardArgs {
    /// Settings file (TOML): [dashboard], [kafka] and [[alerts.rules]]; see docs/dashboard.md.
    #[arg(long, env = "RATINGS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address the dashboard listens on. Anything but a loopback address exposes it to the
    /// network: give --dashboard-token then.
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        env = "RATINGS_DASHBOARD_LISTEN"
    )]
    pub listen: String,
    /// How much history to read from the topic at start and keep (e.g. 24h, 7d).
    #[arg(long, default_value = "24h", value_parser = checked(text::duration), env = "RATINGS_DASHBOARD_HISTORY")]
    pub history: String,
    /// The topic of window metrics.
    #[arg(long, default_value = "metrics", env = "RATINGS_METRICS_TOPIC")]
    pub metrics_topic: String,
    /// Windows ending further ahead of the wall clock are counted and ignored (as the
    /// processor's own bound on event time; "off": none).
    #[arg(long, default_value = "1d", value_parser = checked(text::seconds_or_off), env = "RATINGS_MAX_EVENT_TIME_AHEAD")]
    pub max_event_time_ahead: String,
    #[command(flatten)]
    #[serde(flatten)]
    pub access: DashboardAccessArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub watch: DashboardWatchArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub kafka: KafkaArgs,
}
