//! Operator telemetry of the Kafka mode: a progress report per interval (text, or JSON with the
//! fields of Spark's StreamingQueryProgress) and a Prometheus `/metrics` endpoint.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ratings_connectors::kafka::Health;
use ratings_connectors::storage::Storage;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use ratings_core::time::rfc3339_seconds;
use serde::Serialize;

use crate::pipeline::{now_millis, Pipeline};

/// What is measured at one instant; progress reports are differences of two of these.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub records: u64,
    pub invalid_by_reason: Vec<(String, u64)>,
    pub late: u64,
    pub windows_out: u64,
    pub watermark: Option<i64>,
    pub open_windows: usize,
    pub panes: usize,
    pub state_rows: usize,
    pub lag: Option<i64>,
    pub kafka_errors: u64,
    pub last_kafka_error: Option<String>,
    /// Failed storage operations (retried) of the Parquet outputs.
    pub storage_retries: u64,
    pub last_storage_error: Option<String>,
}

impl Reading {
    /// Reads the pipeline's counters; `lag` and Kafka health come from the caller.
    pub fn of(
        pipeline: &Pipeline,
        lag: Option<i64>,
        kafka_errors: u64,
        last_kafka_error: Option<String>,
    ) -> Reading {
        let engine = pipeline.engine();
        let stats = pipeline.stats();
        let storage = pipeline
            .parquet()
            .map(|p| p.health().clone())
            .unwrap_or_default();
        Reading {
            records: stats.records,
            invalid_by_reason: stats.invalid_by_reason,
            late: engine.counters().late,
            windows_out: engine.counters().windows_emitted + engine.counters().updates_emitted,
            watermark: engine.watermark(),
            open_windows: engine.open_windows(),
            panes: engine.pane_count(),
            state_rows: engine.state_rows(),
            lag,
            kafka_errors,
            last_kafka_error,
            storage_retries: storage.retries,
            last_storage_error: storage.last_error,
        }
    }

    fn invalid(&self) -> u64 {
        self.invalid_by_reason.iter().map(|(_, n)| n).sum()
    }
}

/// One progress report, named as in Spark's StreamingQueryProgress where a field exists there.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub timestamp: String,
    pub num_input_rows: u64,
    pub input_rows_per_second: f64,
    pub processed_rows_per_second: f64,
    pub event_time: EventTime,
    pub state_operators: [StateOperator; 1],
    pub num_late_rows_total: u64,
    pub num_invalid_rows_total: u64,
    pub num_windows_emitted_total: u64,
    pub consumer_lag: Option<i64>,
    pub kafka_errors_total: u64,
    pub last_kafka_error: Option<String>,
    pub storage_retries_total: u64,
    pub last_storage_error: Option<String>,
    pub commit_interval_ms: u128,
    /// Commits (exactly-once: epochs) in the interval and their average duration: outputs
    /// become readable within about the interval plus that duration.
    pub commits: u64,
    pub commit_duration_ms: u128,
}

/// Commits made during a progress interval.
#[derive(Debug, Clone, Copy, Default)]
pub struct Commits {
    pub count: u64,
    pub total: Duration,
}

#[derive(Debug, Serialize)]
pub struct EventTime {
    pub watermark: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateOperator {
    /// Per-movie rows held in panes.
    pub num_rows_total: usize,
    pub num_open_windows: usize,
    pub num_panes: usize,
}

impl Progress {
    /// The report for the interval between `before` and `now`, `busy` of it spent working.
    pub fn between(
        before: &Reading,
        now: &Reading,
        elapsed: Duration,
        busy: Duration,
        commit_interval: Duration,
        commits: Commits,
    ) -> Progress {
        let rows = now.records - before.records;
        Progress {
            timestamp: ratings_core::time::rfc3339_millis(now_millis()),
            num_input_rows: rows,
            input_rows_per_second: rows as f64 / elapsed.as_secs_f64().max(1e-9),
            processed_rows_per_second: rows as f64 / busy.as_secs_f64().max(1e-9),
            event_time: EventTime {
                watermark: now.watermark.map(rfc3339_seconds),
            },
            state_operators: [StateOperator {
                num_rows_total: now.state_rows,
                num_open_windows: now.open_windows,
                num_panes: now.panes,
            }],
            num_late_rows_total: now.late,
            num_invalid_rows_total: now.invalid(),
            num_windows_emitted_total: now.windows_out,
            consumer_lag: now.lag,
            kafka_errors_total: now.kafka_errors,
            storage_retries_total: now.storage_retries,
            last_storage_error: now.last_storage_error.clone(),
            last_kafka_error: now.last_kafka_error.clone(),
            commit_interval_ms: commit_interval.as_millis(),
            commits: commits.count,
            commit_duration_ms: (commits.total / commits.count.max(1) as u32).as_millis(),
        }
    }

    /// One human-readable line.
    pub fn line(&self) -> String {
        let state = &self.state_operators[0];
        let mut line = format!(
            "progress: {} rows ({:.0}/s in, {:.0}/s processed), watermark {}, {} open windows, state {} panes/{} rows, late {}, invalid {}, windows out {}, lag {}, outputs every {} ms ({} commits of {} ms)",
            self.num_input_rows,
            self.input_rows_per_second,
            self.processed_rows_per_second,
            self.event_time.watermark.as_deref().unwrap_or("none"),
            state.num_open_windows,
            state.num_panes,
            state.num_rows_total,
            self.num_late_rows_total,
            self.num_invalid_rows_total,
            self.num_windows_emitted_total,
            self.consumer_lag.map_or("?".into(), |l| l.to_string()),
            self.commit_interval_ms,
            self.commits,
            self.commit_duration_ms,
        );
        if let Some(error) = &self.last_kafka_error {
            line.push_str(&format!(
                ", Kafka errors {} (last: {error})",
                self.kafka_errors_total
            ));
        }
        if let Some(error) = &self.last_storage_error {
            line.push_str(&format!(
                ", storage retries {} (last: {error})",
                self.storage_retries_total
            ));
        }
        line
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

/// The Prometheus metrics of the processor.
pub struct PromMetrics {
    registry: Registry,
    records_in: Counter,
    invalid: Family<ReasonLabel, Counter>,
    late: Counter,
    windows_out: Counter,
    kafka_errors: LiveCounter,
    storage_retries: LiveCounter,
    watermark: Gauge,
    watermark_delay: Gauge<f64, AtomicU64>,
    lag: Gauge,
    open_windows: Gauge,
    state_rows: Gauge,
}

impl PromMetrics {
    pub fn new() -> PromMetrics {
        let mut m = PromMetrics {
            registry: Registry::with_prefix("ratings_stream"),
            records_in: Counter::default(),
            invalid: Family::default(),
            late: Counter::default(),
            windows_out: Counter::default(),
            kafka_errors: LiveCounter::default(),
            storage_retries: LiveCounter::default(),
            watermark: Gauge::default(),
            watermark_delay: Gauge::default(),
            lag: Gauge::default(),
            open_windows: Gauge::default(),
            state_rows: Gauge::default(),
        };
        let r = &mut m.registry;
        r.register("records_in", "Input records read", m.records_in.clone());
        r.register(
            "records_invalid",
            "Input records rejected, by reason",
            m.invalid.clone(),
        );
        r.register(
            "records_late",
            "Valid ratings that reached no window (late data)",
            m.late.clone(),
        );
        r.register(
            "windows_out",
            "Window results published",
            m.windows_out.clone(),
        );
        r.register(
            "kafka_errors",
            "Kafka client errors (broker unreachable, ...)",
            m.kafka_errors.counter.clone(),
        );
        r.register(
            "storage_retries",
            "Failed storage operations of the Parquet outputs (each retried)",
            m.storage_retries.counter.clone(),
        );
        r.register(
            "watermark_seconds",
            "Event-time watermark, epoch seconds",
            m.watermark.clone(),
        );
        r.register(
            "watermark_delay_seconds",
            "Wall clock minus the watermark",
            m.watermark_delay.clone(),
        );
        r.register(
            "consumer_lag_records",
            "Records in the input topic not read yet",
            m.lag.clone(),
        );
        r.register(
            "open_windows",
            "Windows holding data and not emitted yet",
            m.open_windows.clone(),
        );
        r.register(
            "state_rows",
            "Per-movie rows held in pane state",
            m.state_rows.clone(),
        );
        m
    }

    /// Brings every metric to `now`, counting the increments since `before`.
    pub fn update(&self, before: &Reading, now: &Reading) {
        self.records_in.inc_by(now.records - before.records);
        self.late.inc_by(now.late - before.late);
        self.windows_out
            .inc_by(now.windows_out - before.windows_out);
        for (reason, count) in &now.invalid_by_reason {
            let earlier = before
                .invalid_by_reason
                .iter()
                .find(|(r, _)| r == reason)
                .map_or(0, |(_, n)| *n);
            self.invalid
                .get_or_create(&ReasonLabel {
                    reason: reason.clone(),
                })
                .inc_by(count - earlier);
        }
        if let Some(watermark) = now.watermark {
            self.watermark.set(watermark);
            self.watermark_delay
                .set(now_millis() as f64 / 1000.0 - watermark as f64);
        }
        if let Some(lag) = now.lag {
            self.lag.set(lag);
        }
        self.open_windows.set(now.open_windows as i64);
        self.state_rows.set(now.state_rows as i64);
    }

    /// Counts the retries of `storage` from now on (read when scraped).
    pub fn watch_storage(&self, storage: Arc<Storage>) {
        self.storage_retries
            .watch(Box::new(move || storage.health().retries));
    }

    /// Counts the errors of these Kafka clients from now on (read when scraped).
    pub fn watch_kafka(&self, clients: [Arc<Health>; 2]) {
        self.kafka_errors
            .watch(Box::new(move || clients.iter().map(|c| c.errors()).sum()));
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        self.storage_retries.refresh();
        self.kafka_errors.refresh();
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// Serves `GET /metrics` on `address` from a background thread; returns the bound address.
pub fn serve(metrics: Arc<PromMetrics>, address: &str) -> anyhow::Result<String> {
    let server = tiny_http::Server::http(address)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot listen on {address} for /metrics (choose another --metrics-address, or off)"))?;
    let bound = server.server_addr().to_string();
    std::thread::Builder::new()
        .name("metrics-http".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let response = if request.url() == "/metrics" {
                    let header = tiny_http::Header::from_bytes(
                        "Content-Type",
                        "text/plain; version=0.0.4; charset=utf-8",
                    )
                    .expect("valid header");
                    tiny_http::Response::from_string(metrics.encode()).with_header(header)
                } else {
                    tiny_http::Response::from_string("see /metrics\n").with_status_code(404)
                };
                let _ = request.respond(response);
            }
        })?;
    Ok(bound)
}

/// A Prometheus counter read from a running total at scrape time, so that it moves while the
/// main loop is blocked (waiting for a broker or a storage that is away). A new source (a
/// restarted job) continues from the count reached.
#[derive(Default)]
struct LiveCounter {
    counter: Counter,
    source: std::sync::Mutex<Option<(TotalFn, u64)>>,
}

type TotalFn = Box<dyn Fn() -> u64 + Send>;

impl LiveCounter {
    fn watch(&self, total: TotalFn) {
        let before = self.counter.get();
        *self.source.lock().expect("live counter") = Some((total, before));
    }

    fn refresh(&self) {
        if let Some((total, before)) = &*self.source.lock().expect("live counter") {
            let now = before + total();
            self.counter.inc_by(now.saturating_sub(self.counter.get()));
        }
    }
}
