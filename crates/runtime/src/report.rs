//! Operator reports: the start-up banner with the effective configuration and the end-of-run
//! summary (logged, and available as JSON).

use std::time::Duration;

use ratings_core::time::duration_name;
use ratings_core::{EngineConfig, EngineCounters};
use serde::Serialize;

use crate::pipeline::PipelineStats;

/// Logs the banner: the mode, then one `key  value` line per setting.
pub(crate) fn banner(title: &str, config: &EngineConfig, settings: &[(&str, String)]) {
    let mut text = format!("ratings-stream {} — {title}", env!("CARGO_PKG_VERSION"));
    let windows: Vec<String> = config.windows.iter().map(|w| w.name()).collect();
    let engine = [
        ("windows", windows.join(", ")),
        ("watermark delay", duration_name(config.watermark_delay)),
        ("top-N", config.top_n.to_string()),
        ("output mode", format!("{:?}", config.mode).to_lowercase()),
    ];
    for (key, value) in settings.iter().chain(engine.iter()) {
        text.push_str(&format!("\n  {key:<16} {value}"));
    }
    tracing::info!("{text}");
}

/// Everything counted during a run.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub records: u64,
    pub valid: u64,
    pub invalid: u64,
    pub invalid_by_reason: Vec<(String, u64)>,
    pub accepted: u64,
    pub late: u64,
    pub late_by_window_type: Vec<(String, u64)>,
    pub unknown_movie: u64,
    pub windows_emitted: u64,
    pub updates_emitted: u64,
    pub open_windows: usize,
    pub seconds: f64,
    /// Per Parquet dataset: folder, rows, files, bytes, hours closed.
    pub parquet: Vec<crate::sink::DatasetSummary>,
    /// Storage operations that failed and were retried.
    pub storage_retries: u64,
}

impl Summary {
    /// Everything `pipeline` counted, `elapsed` after the start.
    pub fn of(pipeline: &crate::pipeline::Pipeline, elapsed: Duration) -> Summary {
        let engine = pipeline.engine();
        Summary::new(
            pipeline.stats(),
            &pipeline.engine_counters(),
            engine.config(),
            engine.open_windows(),
            elapsed,
        )
        .with_outputs(pipeline.outputs())
    }

    pub fn new(
        stats: PipelineStats,
        counters: &EngineCounters,
        config: &EngineConfig,
        open_windows: usize,
        elapsed: Duration,
    ) -> Summary {
        Summary {
            records: stats.records,
            valid: stats.records - stats.invalid,
            invalid: stats.invalid,
            invalid_by_reason: stats.invalid_by_reason,
            accepted: counters.accepted,
            late: counters.late,
            late_by_window_type: config
                .windows
                .iter()
                .map(|w| w.name())
                .zip(counters.late_by_window.iter().copied())
                .collect(),
            unknown_movie: counters.unknown_movie,
            windows_emitted: counters.windows_emitted,
            updates_emitted: counters.updates_emitted,
            open_windows,
            seconds: elapsed.as_secs_f64(),
            parquet: Vec::new(),
            storage_retries: 0,
        }
    }

    /// Adds what the outputs wrote to storage.
    pub fn with_outputs(mut self, outputs: &crate::sink::Outputs) -> Summary {
        self.storage_retries = outputs.storage_health().retries;
        self.parquet = outputs.datasets();
        self
    }

    /// Logs the summary as human-readable lines.
    pub fn print(&self) {
        for line in self.lines() {
            tracing::info!("{line}");
        }
    }

    /// The summary as human-readable lines.
    pub fn lines(&self) -> Vec<String> {
        let rate = self.records as f64 / self.seconds.max(1e-9);
        let mut lines = vec![
            format!(
                "processed {} records in {:.2}s ({:.0} records/s)",
                self.records, self.seconds, rate
            ),
            format!(
                "  valid {} (aggregated {}, late {}), invalid {}",
                self.valid, self.accepted, self.late, self.invalid
            ),
        ];
        for (reason, n) in &self.invalid_by_reason {
            lines.push(format!("    invalid {reason}: {n}"));
        }
        for (window_type, n) in &self.late_by_window_type {
            lines.push(format!("  late for {window_type}: {n}"));
        }
        lines.push(format!(
            "  ratings of movies missing from the catalog: {}",
            self.unknown_movie
        ));
        lines.push(format!(
            "  windows emitted: {} final, {} updates; {} still open",
            self.windows_emitted, self.updates_emitted, self.open_windows
        ));
        for d in &self.parquet {
            lines.push(format!(
                "  parquet {}: {} rows in {} files ({} bytes), {} hours closed, {} rows after close",
                d.dataset, d.rows, d.files, d.bytes, d.hours_closed, d.rows_after_close
            ));
        }
        if self.storage_retries > 0 {
            lines.push(format!(
                "  storage operations retried: {}",
                self.storage_retries
            ));
        }
        lines
    }
}
