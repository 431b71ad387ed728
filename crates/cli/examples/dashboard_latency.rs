//! Benchmark helper for `scripts/bench-dashboard.sh`: how long after a window record is readable
//! in the metrics topic (read_committed: its transaction committed) the dashboard pushes it to
//! the page (its live stream, `/api/events`). Both are watched from this process for SECONDS;
//! prints count, p50, p90, p99 and max in ms.
//!
//! Usage: cargo run --release --example dashboard_latency -- BOOTSTRAP METRICS_TOPIC DASHBOARD_URL SECONDS

mod common;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ratings_runtime::percentile;
use rdkafka::Message;

/// (window type, window start) → when it was first seen, epoch milliseconds.
type Seen = Arc<Mutex<BTreeMap<(String, String), f64>>>;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic, url, seconds] = &args[..] else {
        anyhow::bail!("usage: dashboard_latency BOOTSTRAP METRICS_TOPIC DASHBOARD_URL SECONDS");
    };
    let until = Instant::now() + Duration::from_secs(seconds.parse()?);
    let pushed: Seen = Arc::default();
    let events = format!("{}api/events", url);
    let pushes = Arc::clone(&pushed);
    std::thread::spawn(move || read_pushes(&events, &pushes));
    let committed = read_committed(bootstrap, topic, until)?;
    let pushed = pushed.lock().unwrap();
    let mut latencies: Vec<f64> = committed
        .iter()
        .filter_map(|(key, at)| pushed.get(key).map(|p| p - at))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| percentile(&latencies, p).unwrap_or(f64::NAN);
    println!(
        "windows {} (of {} committed) commit → page push ms: p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
        latencies.len(),
        committed.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

/// The window of a record or event, by type and start.
fn key(json: &[u8]) -> Option<(String, String)> {
    let window: serde_json::Value = serde_json::from_slice(json).ok()?;
    let text = |k: &str| window[k].as_str().map(str::to_string);
    Some((text("window_type")?, text("window_start")?))
}

/// Reads the dashboard's live stream, noting when each window was first pushed.
fn read_pushes(url: &str, seen: &Seen) {
    let Ok(response) = ureq::get(url).call() else {
        eprintln!("cannot open {url}");
        return;
    };
    let reader = std::io::BufReader::new(response.into_body().into_reader());
    for line in reader.lines().map_while(Result::ok) {
        if let Some(data) = line.strip_prefix("data: ") {
            if let Some(key) = key(data.as_bytes()) {
                seen.lock().unwrap().entry(key).or_insert_with(epoch_millis);
            }
        }
    }
}

/// Windows readable with read_committed from now until `until`, with when each was first read.
fn read_committed(
    bootstrap: &str,
    topic: &str,
    until: Instant,
) -> anyhow::Result<BTreeMap<(String, String), f64>> {
    let consumer = common::reader_from_end(bootstrap, topic, "dashboard-latency")?;
    let mut seen = BTreeMap::new();
    while Instant::now() < until {
        if let Some(message) = consumer.poll(Duration::from_millis(10)) {
            let at = epoch_millis();
            if let Some(key) = key(message?.payload().unwrap_or(&[])) {
                seen.entry(key).or_insert(at);
            }
        }
    }
    Ok(seen)
}

fn epoch_millis() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}
