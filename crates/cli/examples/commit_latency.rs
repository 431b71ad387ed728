//! Benchmark helper for `scripts/bench-latency.sh`: reads a metrics topic from its end with
//! `isolation.level=read_committed` for a while and reports how long after a window became
//! final (its `processing_time`) its record was readable: count, p50, p90, p99 and max.
//!
//! Usage: cargo run --release --example commit_latency -- BOOTSTRAP TOPIC SECONDS

use std::time::{Duration, Instant, SystemTime};

use ratings_connectors::kafka::{KafkaSettings, KafkaSource, Start, StartFrom};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic, seconds] = &args[..] else {
        anyhow::bail!("usage: commit_latency BOOTSTRAP TOPIC SECONDS");
    };
    let settings = KafkaSettings {
        bootstrap_servers: bootstrap.clone(),
        properties: [("isolation.level".to_string(), "read_committed".to_string())].into(),
    };
    let group = format!("latency-{}", std::process::id());
    let mut source = KafkaSource::connect(&settings, topic, &group, &Start::At(StartFrom::Latest))?;
    let until = Instant::now() + Duration::from_secs(seconds.parse()?);
    let mut latencies = Vec::new();
    while Instant::now() < until {
        source.poll(|record| {
            let now = SystemTime::now();
            let window: serde_json::Value = serde_json::from_slice(record.payload)?;
            let emitted = window["processing_time"].as_str().unwrap_or_default();
            let emitted = humantime::parse_rfc3339(emitted)?;
            let millis = now
                .duration_since(emitted)
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3;
            latencies.push(millis);
            Ok(None)
        })?;
    }
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let rank = ((p * latencies.len() as f64).ceil() as usize).max(1);
        latencies.get(rank - 1).copied().unwrap_or(f64::NAN)
    };
    println!(
        "windows {} latency ms: p50 {:.0}, p90 {:.0}, p99 {:.0}, max {:.0}",
        latencies.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
