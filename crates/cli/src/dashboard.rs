//! `ratings-stream dashboard`, and the dashboard that `run --dashboard` and `demo` serve
//! in-process: token and address checks, start-up, and the URL printed for the user.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ratings_dashboard::alerts::{rules, Rule};
use ratings_dashboard::feed::TopicFeed;
use ratings_dashboard::{serve, watch, Access, Board, BoardSettings, Running};

use ratings_settings::{DashboardAccess, DashboardWatch, Settings};

/// How often the stand-alone dashboard looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(200);

/// `ratings-stream dashboard`: serves until Ctrl-C.
pub fn dashboard(settings: &Settings) -> anyhow::Result<()> {
    return_large_buffers();
    let board = &settings.dashboard;
    let running = follow_topic(
        TopicFeed {
            settings: settings
                .kafka
                .connection
                .settings_as("ratings-stream-dashboard"),
            topic: settings.kafka.metrics_topic.clone(),
            history: board.history,
            max_ahead: settings.engine.max_event_time_ahead_seconds,
        },
        &board.listen,
        &board.access,
        &board.watch,
        &[],
    )?;
    let stop = crate::shutdown::stop_flag()?;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(STOP_POLL);
    }
    running.stop();
    Ok(())
}

/// Makes glibc give freed large buffers back to the system. Its mmap threshold grows with the
/// largest buffer freed, after which multi-megabyte buffers (the API's answers for a day of
/// windows) come from the heap and stay there: a fixed 128 KB threshold keeps them mapped and
/// returned (BENCHMARKS.md: 58 → 47 MB with a week of history). Not done when the dashboard
/// runs inside the processor, whose allocations it would change.
fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator parameter; it is called before any other thread
    // of ours starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Serves a dashboard of the windows on a Kafka topic (its history first, then live),
/// scraping the endpoints of `watch` and `also_scrape`.
pub fn follow_topic(
    feed: TopicFeed,
    listen: &str,
    access: &DashboardAccess,
    watch: &DashboardWatch,
    also_scrape: &[String],
) -> anyhow::Result<Running> {
    let mut endpoints = watch.scrape.clone();
    endpoints.extend_from_slice(also_scrape);
    let board = Arc::new(Board::new(BoardSettings {
        retention: feed.history,
        source: feed.describe(),
        rules: alert_rules(watch.alert_rules.as_deref())?,
        endpoints,
        max_ahead: feed.max_ahead,
    }));
    let running = start(Arc::clone(&board), listen, access)?;
    watch::spawn(Arc::clone(&board), watch.scrape_interval)?;
    feed.spawn(board)?;
    Ok(running)
}

/// The built-in alert rules with the settings' ones applied.
pub fn alert_rules(json: Option<&str>) -> anyhow::Result<Vec<Rule>> {
    let Some(json) = json else {
        return Ok(rules::defaults());
    };
    let settings: Vec<Rule> = serde_json::from_str(json).context(
        "bad alert rules (each needs name, signal, when, threshold and for; see README)",
    )?;
    Ok(rules::with_settings(settings))
}

/// Serves `board` on `listen` and tells the user where.
pub fn start(board: Arc<Board>, listen: &str, asked: &DashboardAccess) -> anyhow::Result<Running> {
    let access = Access {
        token: token(asked)?,
        allowed_hosts: asked.allowed_hosts.clone(),
    };
    let running = serve(board, listen, access.clone())?;
    if ratings_dashboard::server::requires_token_warning(&running.address, &access) {
        anyhow::ensure!(
            asked.open,
            "the dashboard would listen on {} (beyond this machine) without a token: give \
             --dashboard-token or --dashboard-token-file, or --dashboard-open to let anyone who \
             reaches it read it and silence its alerts",
            running.address
        );
        tracing::warn!(
            "WARNING: the dashboard listens on {} without a token (--dashboard-open): anyone \
             who can reach this machine can read it and silence its alerts",
            running.address
        );
    }
    let shown = match &access.token {
        Some(_) => format!("{}#token=…", running.url()),
        None => running.url(),
    };
    tracing::info!("dashboard: {shown}");
    Ok(running)
}

/// The token from the flag, the environment or the file.
fn token(access: &DashboardAccess) -> anyhow::Result<Option<String>> {
    let token = match (&access.token, &access.token_file) {
        (Some(_), Some(_)) => anyhow::bail!(
            "the argument '--dashboard-token' cannot be used with '--dashboard-token-file'"
        ),
        (Some(token), None) => Some(token.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?;
            Some(text.lines().next().unwrap_or("").trim().to_string())
        }
        (None, None) => None,
    };
    if let Some(token) = &token {
        anyhow::ensure!(!token.is_empty(), "the dashboard token is empty");
    }
    Ok(token)
}
