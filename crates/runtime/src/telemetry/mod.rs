//! Telemetry: what the processor measures and how operators see it — a progress report per
//! interval ([`progress`]) and Prometheus metrics read at scrape time ([`prometheus`]). Both
//! are made from [`Reading`]s of the pipeline and the health of its clients, and from the
//! output [`latency`] the delivery observes.

pub(crate) mod latency;
pub(crate) mod progress;
pub(crate) mod prometheus;

use crate::pipeline::Pipeline;

/// What is measured at one instant; progress reports are differences of two of these.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reading {
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
    pub(crate) fn of(
        pipeline: &Pipeline,
        lag: Option<i64>,
        kafka_errors: u64,
        last_kafka_error: Option<String>,
    ) -> Reading {
        let engine = pipeline.engine();
        let stats = pipeline.stats();
        let counters = pipeline.engine_counters();
        let storage = pipeline.outputs().storage_health();
        Reading {
            records: stats.records,
            invalid_by_reason: stats.invalid_by_reason,
            late: counters.late,
            windows_out: counters.windows_emitted + counters.updates_emitted,
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

    pub(crate) fn invalid(&self) -> u64 {
        self.invalid_by_reason.iter().map(|(_, n)| n).sum()
    }
}
