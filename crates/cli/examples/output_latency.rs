//! Benchmark helper for `scripts/bench-latency.sh` and `bench/spark/cost.sh latency`: measures
//! any processor's output latency the same way, from Kafka alone.
//!
//! A window `[start, end)` becomes final when the watermark (maximum event time minus the delay)
//! reaches `end`: its *finality instant* is the Kafka timestamp of the first input record whose
//! event time is at least `end + delay`. Its latency is the instant its first record is readable
//! in the metrics topic with `isolation.level=read_committed`, minus that. The metrics topic is
//! read live from its end for SECONDS; then the input topic is read from a minute before the
//! start to find each window's finality instant. Prints count, p50, p90, p99 and max in ms, and
//! with a sixth argument writes one `window_type,window_start,latency_ms,emitted_ms` line per
//! window there (`emitted_ms`: its `processing_time` minus the finality instant).
//!
//! Usage: cargo run --release --example output_latency -- BOOTSTRAP RATINGS_TOPIC METRICS_TOPIC
//! SECONDS [WATERMARK_DELAY_SECONDS (600)] [CSV_FILE]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ratings_connectors::kafka::{KafkaSettings, Start, StartFrom};
use ratings_runtime::percentile;
use ratings_runtime::source::kafka::KafkaSource;
use rdkafka::Message;

/// How far before the measurement the input is read for finality instants: windows whose
/// latency is below this are measured exactly.
const INPUT_LOOKBACK_MILLIS: i64 = 60_000;

/// A window seen in the metrics topic: (window type, window start) → its first record.
type Arrivals = BTreeMap<(String, String), Arrival>;

/// The first record of a window in the metrics topic.
struct Arrival {
    /// Window end, epoch seconds.
    end: i64,
    /// When it was readable, epoch milliseconds.
    at: f64,
    /// Its `processing_time` (when the processor emitted it), epoch milliseconds, if given.
    emitted: Option<f64>,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bootstrap, ratings, metrics, seconds) = match &args[..] {
        [b, r, m, s, ..] => (b, r, m, s.parse::<u64>()?),
        _ => anyhow::bail!(
            "usage: output_latency BOOTSTRAP RATINGS_TOPIC METRICS_TOPIC SECONDS [DELAY_SECONDS] [CSV_FILE]"
        ),
    };
    let delay: i64 = args.get(4).map_or(Ok(600), |d| d.parse())?;
    let started = epoch_millis();
    let arrivals = read_arrivals(bootstrap, metrics, Duration::from_secs(seconds))?;
    let from = started as i64 - INPUT_LOOKBACK_MILLIS;
    let settings = KafkaSettings {
        bootstrap_servers: bootstrap.clone(),
        properties: Default::default(),
    };
    let crossings = read_crossings(&settings, ratings, from, epoch_millis() as i64)?;
    let mut latencies = Vec::new();
    let mut lines = String::new();
    for ((window_type, start), arrival) in &arrivals {
        if let Some(final_at) = crossings.finality(arrival.end + delay) {
            let millis = arrival.at - final_at as f64;
            latencies.push(millis);
            let emitted = arrival.emitted.map(|e| e - final_at as f64);
            let emitted = emitted.map_or(String::new(), |e| format!("{e:.1}"));
            lines.push_str(&format!("{window_type},{start},{millis:.1},{emitted}\n"));
        }
    }
    if let Some(path) = args.get(5) {
        std::fs::write(path, lines).with_context(|| format!("cannot write {path}"))?;
    }
    println!("{}", summary(&mut latencies));
    Ok(())
}

/// The first arrival of every window record in `topic` during `length`. A plain consumer of
/// every partition from its end: records are taken as they come, whatever their partition.
fn read_arrivals(bootstrap: &str, topic: &str, length: Duration) -> anyhow::Result<Arrivals> {
    let consumer = common::reader_from_end(bootstrap, topic, "latency")?;
    let until = Instant::now() + length;
    let mut arrivals = Arrivals::new();
    while Instant::now() < until {
        let Some(message) = consumer.poll(Duration::from_millis(10)) else {
            continue;
        };
        let arrived = epoch_millis();
        let window: serde_json::Value = serde_json::from_slice(message?.payload().unwrap_or(&[]))?;
        let text = |key: &str| window[key].as_str().unwrap_or_default().to_string();
        let Ok(end) = parse_time(&text("window_end")) else {
            continue; // not a window (e.g. a dead letter sharing the topic)
        };
        let end = end.as_secs() as i64;
        let emitted = parse_time(&text("processing_time")).ok();
        arrivals
            .entry((text("window_type"), text("window_start")))
            .or_insert(Arrival {
                end,
                at: arrived,
                emitted: emitted.map(|e| e.as_secs_f64() * 1e3),
            });
    }
    Ok(arrivals)
}

/// Input records as (event time in seconds, Kafka timestamp in milliseconds), sorted by event
/// time, with the earliest timestamp at or after each.
struct Crossings {
    event_times: Vec<i64>,
    earliest_from: Vec<i64>,
}

impl Crossings {
    /// The Kafka timestamp of the first input record with event time at least `event_time`.
    fn finality(&self, event_time: i64) -> Option<i64> {
        let at = self.event_times.partition_point(|t| *t < event_time);
        self.earliest_from.get(at).copied()
    }
}

/// Reads `topic` from the records stamped at `from` to its end, or (while a producer still
/// writes) until every partition has passed `until` (epoch milliseconds).
fn read_crossings(
    settings: &KafkaSettings,
    topic: &str,
    from: i64,
    until: i64,
) -> anyhow::Result<Crossings> {
    let group = format!("latency-input-{}", std::process::id());
    let start = Start::At(StartFrom::Timestamp(from));
    let mut source = KafkaSource::connect(settings, topic, &group, &start)?;
    let mut passed = vec![false; source.partitions()];
    let mut records = Vec::new();
    while !source.all_at_end() && !passed.iter().all(|p| *p) {
        let Some(record) = source.next_record()? else {
            continue;
        };
        let rating =
            ratings_core::rating::parse_json(record.payload.unwrap_or_default(), usize::MAX);
        let mut event_time = None;
        if let (Ok(rating), Some(stamp)) = (rating, record.timestamp) {
            passed[record.partition as usize] |= stamp > until;
            records.push((rating.timestamp, stamp));
            event_time = Some(rating.timestamp);
        }
        source.event_time(event_time);
    }
    records.sort_unstable();
    let mut earliest_from: Vec<i64> = records.iter().map(|(_, stamp)| *stamp).collect();
    for i in (0..earliest_from.len().saturating_sub(1)).rev() {
        earliest_from[i] = earliest_from[i].min(earliest_from[i + 1]);
    }
    Ok(Crossings {
        event_times: records.iter().map(|(time, _)| *time).collect(),
        earliest_from,
    })
}

/// Time since the epoch of an RFC 3339 time (`Z` or `+00:00`, fractions allowed).
fn parse_time(text: &str) -> anyhow::Result<Duration> {
    let text = text.strip_suffix("+00:00").unwrap_or(text);
    let time = humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .with_context(|| format!("bad window time {text:?}"))?;
    Ok(time.duration_since(UNIX_EPOCH)?)
}

fn epoch_millis() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// "windows N latency ms: p50 …, p90 …, p99 …, max …" (percentiles by rank).
fn summary(latencies: &mut [f64]) -> String {
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| percentile(latencies, p).unwrap_or(f64::NAN);
    format!(
        "windows {} latency ms: p50 {:.0}, p90 {:.0}, p99 {:.0}, max {:.0}",
        latencies.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    )
}
