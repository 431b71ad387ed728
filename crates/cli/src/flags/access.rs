//! The dashboard's shared flags: who may open it, and what it watches besides the windows
//! (`run`, `demo` and `dashboard` serve one).

use std::path::PathBuf;

use clap::Args;
use ratings_settings::text;
use serde::Serialize;

use ratings_settings::flags::checked;

/// Who may open the dashboard.
#[derive(Debug, Args, Serialize)]
pub struct DashboardAccessArgs {
    /// A bearer token the page and the API require (Authorization: Bearer TOKEN, or
    /// ?token=TOKEN in the page's URL). Set one whenever the dashboard listens beyond 127.0.0.1.
    #[arg(
        long = "dashboard-token",
        env = "RATINGS_DASHBOARD_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// A file holding the token (first line).
    #[arg(
        long = "dashboard-token-file",
        env = "RATINGS_DASHBOARD_TOKEN_FILE",
        conflicts_with = "token"
    )]
    pub token_file: Option<PathBuf>,
    /// A host name the dashboard answers to (repeatable), when it is reached by a name other
    /// than an IP address or localhost; any other name is refused (DNS rebinding).
    #[arg(
        long = "dashboard-allowed-host",
        value_name = "NAME",
        env = "RATINGS_DASHBOARD_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Serve the dashboard without a token on an address beyond this machine, on purpose:
    /// anyone who reaches it can read it and silence its alerts. Without it, such a start is
    /// refused.
    #[arg(long = "dashboard-open", env = "RATINGS_DASHBOARD_OPEN")]
    pub open: bool,
}

/// What the dashboard watches besides the windows.
#[derive(Debug, Args, Serialize)]
pub struct DashboardWatchArgs {
    /// A processor's Prometheus endpoint to scrape for throughput, lag, output latency and
    /// error counters (repeatable), e.g. http://127.0.0.1:9464/metrics.
    #[arg(
        long = "scrape",
        value_name = "URL",
        env = "RATINGS_DASHBOARD_SCRAPE",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub scrape: Vec<String>,
    /// How often the endpoints are scraped.
    #[arg(long, default_value = "5s", value_parser = checked(text::duration), env = "RATINGS_DASHBOARD_SCRAPE_INTERVAL")]
    pub scrape_interval: String,
    /// Alert rules as a JSON array, each replacing the built-in rule of its name or adding one;
    /// usually written as [[alerts.rules]] in the settings file (see docs/dashboard.md).
    #[arg(long, value_name = "JSON", env = "RATINGS_ALERT_RULES")]
    pub alert_rules: Option<String>,
}
