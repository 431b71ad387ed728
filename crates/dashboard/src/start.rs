//! Starting a dashboard: on the windows of a Kafka topic (`ratings-stream dashboard`, and
//! `run --dashboard` inside the processor), or in-process for the demo — the token and address
//! checks, the alert rules of the settings, and the URL printed for the user.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ratings_settings::{DashboardAccess, DashboardWatch, JobConfig, Settings};

use crate::alerts::{rules, Rule};
use crate::feed::TopicFeed;
use crate::{serve, Access, Board, BoardSettings, Running};

/// Days of windows an in-process dashboard keeps (the demo's event time runs fast).
const IN_PROCESS_HISTORY: Duration = Duration::from_secs(7 * 86_400);

/// How often the stand-alone dashboard looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(200);

/// `ratings-stream dashboard`: the dashboard of the settings' `metrics` topic on its own,
/// served until `stop` is set.
pub fn stand_alone(settings: &Settings, stop: &AtomicBool) -> anyhow::Result<()> {
    return_large_buffers();
    let listen = &settings.dashboard.listen;
    let running = for_topic(settings, "ratings-stream-dashboard", listen, &[])?;
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

/// `run --dashboard`: the dashboard of the processor's `metrics` topic, in its process, also
/// scraping its own `/metrics` (when that has a fixed port); `None` without `--dashboard`.
pub fn for_processor(settings: &Settings, job: &JobConfig) -> anyhow::Result<Option<Running>> {
    let Some(listen) = &settings.dashboard.dashboard else {
        return Ok(None);
    };
    anyhow::ensure!(
        settings.file.input.is_none(),
        "--dashboard shows the metrics topic: it needs the Kafka mode (no --input)"
    );
    let own = match &job.telemetry.metrics_address {
        Some(address) if !address.ends_with(":0") => vec![format!("http://{address}/metrics")],
        _ => Vec::new(),
    };
    let client_id = format!("{}-dashboard", settings.kafka.connection.client_id);
    for_topic(settings, &client_id, listen, &own).map(Some)
}

/// The dashboard of the settings' `metrics` topic, as client `client_id`, on `listen`; it also
/// scrapes `also_scrape`.
pub fn for_topic(
    settings: &Settings,
    client_id: &str,
    listen: &str,
    also_scrape: &[String],
) -> anyhow::Result<Running> {
    let kafka = &settings.kafka;
    let board = &settings.dashboard;
    let feed = TopicFeed {
        settings: kafka.connection.settings_as(client_id),
        topic: kafka.metrics_topic.clone(),
        history: board.history,
        max_ahead: settings.engine.max_event_time_ahead_seconds,
    };
    follow_topic(feed, listen, &board.access, &board.watch, also_scrape)
}

/// Serves a dashboard of the windows on a Kafka topic (its history first, then live),
/// scraping the endpoints of `watch` and `also_scrape`.
fn follow_topic(
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
    crate::watch::spawn(Arc::clone(&board), watch.scrape_interval)?;
    feed.spawn(board)?;
    Ok(running)
}

/// The built-in alert rules with the settings' ones applied.
pub fn alert_rules(json: Option<&str>) -> anyhow::Result<Vec<Rule>> {
    let Some(json) = json else {
        return Ok(rules::defaults());
    };
    let settings: Vec<Rule> = serde_json::from_str(json).context(
        "bad alert rules (each needs name, signal, when, threshold and for; see docs/dashboard.md)",
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
    if crate::server::requires_token_warning(&running.address, &access) {
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

/// The demo's dashboard on `listen` ("off": none); when the default address is taken, on a
/// free port.
pub fn in_process(
    listen: &str,
    default_listen: &str,
    access: &DashboardAccess,
) -> anyhow::Result<Option<(Arc<Board>, Running)>> {
    if listen == "off" {
        return Ok(None);
    }
    let board = Arc::new(Board::new(BoardSettings {
        retention: IN_PROCESS_HISTORY,
        source: "demo (in-process)".into(),
        rules: alert_rules(None)?,
        endpoints: Vec::new(),
        // the demo's event time runs ahead of the clock on purpose
        max_ahead: None,
    }));
    board.feed(|f| {
        f.connected = true;
        f.backfilled = true;
    });
    crate::watch::spawn(Arc::clone(&board), Duration::from_secs(5))?;
    let running = match start(Arc::clone(&board), listen, access) {
        Err(error) if listen == default_listen => {
            tracing::warn!("{error:#}; using a free port");
            start(Arc::clone(&board), "127.0.0.1:0", access)?
        }
        other => other?,
    };
    Ok(Some((board, running)))
}
