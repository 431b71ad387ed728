//! The progress report: one per interval, as a text line or as JSON with the fields of Spark's
//! StreamingQueryProgress.

use std::time::Duration;

use ratings_core::time::rfc3339_seconds;
use serde::Serialize;

use super::latency::LatencySummary;
use super::Reading;
use crate::pipeline::now_millis;

/// One progress report, named as in Spark's StreamingQueryProgress where a field exists there.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Progress {
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
    /// From a window becoming final to its record being readable, over the interval.
    pub output_latency: LatencySummary,
    /// With high availability: when this processor took the lease (it is the active one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_since: Option<String>,
    /// Set while the state holds more per-movie rows than the threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_warning: Option<String>,
}

/// Commits made during a progress interval, and the output latency of the windows published.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Commits {
    pub count: u64,
    pub total: Duration,
    pub latency: LatencySummary,
}

#[derive(Debug, Serialize)]
pub(crate) struct EventTime {
    pub watermark: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StateOperator {
    /// Per-movie rows held in panes.
    pub num_rows_total: usize,
    pub num_open_windows: usize,
    pub num_panes: usize,
}

impl Progress {
    /// The report for the interval between `before` and `now`, `busy` of it spent working.
    pub(crate) fn between(
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
            output_latency: commits.latency,
            active_since: None,
            state_warning: None,
        }
    }

    /// One human-readable line.
    pub(crate) fn line(&self) -> String {
        let state = &self.state_operators[0];
        let mut line = format!(
            "progress: {} rows ({:.0}/s in, {:.0}/s processed), watermark {}, {} open windows, state {} panes/{} rows, late {}, invalid {}, windows out {}, lag {}, commit interval {} ms ({} commits of {} ms)",
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
        let latency = &self.output_latency;
        if let (Some(p50), Some(p99)) = (latency.p50_ms, latency.p99_ms) {
            line.push_str(&format!(
                ", output latency p50 {p50:.0} ms, p99 {p99:.0} ms ({} windows)",
                latency.windows
            ));
        }
        if let Some(warning) = &self.state_warning {
            line.push_str(&format!(", WARNING: {warning}"));
        }
        if let Some(since) = &self.active_since {
            line.push_str(&format!(", active since {since}"));
        }
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
