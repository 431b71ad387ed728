//! The Parquet outputs: raw ratings and the tumbling and sliding aggregates, each a
//! Hive-partitioned dataset on the configured [`Storage`]:
//!
//! - `streams/ratings/raw/date=…/hour=…` — every valid rating (late ones included), by event time;
//! - `streams/ratings/agg/tumbling/…` and `streams/ratings/agg/sliding/…` — every final window,
//!   by window start.
//!
//! Rows are buffered per hour and written once per batch; files roll by size and age; an hour
//! is closed with `_SUCCESS` once no more rows can arrive for it at the current watermark.

mod dataset;
mod schema;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ratings_core::time::align_down;
use ratings_core::{Rating, WindowResult, WindowSpec};

pub use dataset::{partition_dir, DatasetStats, RollPolicy};
pub use schema::{aggregate_batch, raw_batch, AGGREGATE_SCHEMA, RAW_SCHEMA};

use crate::storage::Storage;
use dataset::Dataset;

/// Folder of the raw dataset under the storage base.
pub const RAW_ROOT: &str = "streams/ratings/raw";
/// Folder of the tumbling aggregates.
pub const TUMBLING_ROOT: &str = "streams/ratings/agg/tumbling";
/// Folder of the sliding aggregates.
pub const SLIDING_ROOT: &str = "streams/ratings/agg/sliding";

/// Storage failures seen so far, for progress reports and metrics.
#[derive(Debug, Clone, Default)]
pub struct StorageHealth {
    pub retries: u64,
    pub last_error: Option<String>,
}

/// The three Parquet datasets of one writer.
pub struct ParquetSink {
    storage: Storage,
    raw: Dataset,
    /// One dataset per window type, in the engine's order.
    aggregates: Vec<(Arc<str>, Dataset)>,
    pending_raw: BTreeMap<i64, Vec<Rating>>,
    pending_windows: BTreeMap<(usize, i64), Vec<(WindowResult, i64)>>,
    health: StorageHealth,
}

impl ParquetSink {
    /// Datasets for these window types on `storage`; file names start with
    /// `part-<writer_id>-<run_id>`.
    pub fn new(
        storage: Storage,
        windows: &[WindowSpec],
        writer_id: &str,
        run_id: u64,
        roll: RollPolicy,
    ) -> ParquetSink {
        let prefix = format!("part-{writer_id}-{run_id}");
        let aggregates = windows
            .iter()
            .map(|spec| {
                let root = if spec.is_tumbling() {
                    TUMBLING_ROOT
                } else {
                    SLIDING_ROOT
                };
                let dataset = Dataset::new(
                    root,
                    AGGREGATE_SCHEMA.clone(),
                    prefix.clone(),
                    roll,
                    spec.size - spec.slide,
                );
                (Arc::from(spec.name()), dataset)
            })
            .collect();
        ParquetSink {
            raw: Dataset::new(RAW_ROOT, RAW_SCHEMA.clone(), prefix, roll, 0),
            storage,
            aggregates,
            pending_raw: BTreeMap::new(),
            pending_windows: BTreeMap::new(),
            health: StorageHealth::default(),
        }
    }

    /// The storage URL.
    pub fn url(&self) -> &str {
        self.storage.url()
    }

    /// Storage failures so far.
    pub fn health(&self) -> &StorageHealth {
        &self.health
    }

    /// Counters per dataset: raw first, then each window type.
    pub fn stats(&self) -> Vec<(&str, &DatasetStats)> {
        std::iter::once(&self.raw)
            .chain(self.aggregates.iter().map(|(_, d)| d))
            .map(|d| (d.root(), d.stats()))
            .collect()
    }

    /// Buffers a valid rating for the raw dataset.
    pub fn rating(&mut self, rating: &Rating) {
        self.pending_raw
            .entry(align_down(rating.timestamp, 3600))
            .or_default()
            .push(*rating);
    }

    /// Buffers a final window (emitted at `processing_time_millis`).
    pub fn window(&mut self, window: &WindowResult, processing_time_millis: i64) {
        if let Some(index) = self
            .aggregates
            .iter()
            .position(|(name, _)| *name == window.window_type)
        {
            let hour = align_down(window.window_start, 3600);
            self.pending_windows
                .entry((index, hour))
                .or_default()
                .push((window.clone(), processing_time_millis));
        }
    }

    /// Writes what was buffered, rolls files that are due, and closes the hours the watermark
    /// has passed. Blocks (retrying) while the storage is unavailable.
    pub fn end_batch(&mut self, watermark: Option<i64>) -> anyhow::Result<()> {
        self.write_pending()?;
        let mut on_retry = retry_reporter(&mut self.health);
        for dataset in datasets(&mut self.raw, &mut self.aggregates) {
            let storage = &self.storage;
            dataset.roll_due(storage, &mut on_retry)?;
            if let Some(watermark) = watermark {
                dataset.close_until(watermark, storage, &mut on_retry)?;
            }
        }
        Ok(())
    }

    /// Publishes every open file; with `mark_complete` (end of a bounded input whose windows
    /// were all emitted) every hour gets its `_SUCCESS` too.
    pub fn finish(&mut self, mark_complete: bool) -> anyhow::Result<()> {
        self.write_pending()?;
        let mut on_retry = retry_reporter(&mut self.health);
        for dataset in datasets(&mut self.raw, &mut self.aggregates) {
            dataset.finish(mark_complete, &self.storage, &mut on_retry)?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> anyhow::Result<()> {
        for (hour, ratings) in std::mem::take(&mut self.pending_raw) {
            self.raw.write(hour, &raw_batch(&ratings))?;
        }
        for ((index, hour), windows) in std::mem::take(&mut self.pending_windows) {
            self.aggregates[index]
                .1
                .write(hour, &aggregate_batch(&windows))?;
        }
        Ok(())
    }
}

/// The raw dataset, then the aggregate ones.
fn datasets<'a>(
    raw: &'a mut Dataset,
    aggregates: &'a mut [(Arc<str>, Dataset)],
) -> impl Iterator<Item = &'a mut Dataset> {
    std::iter::once(raw).chain(aggregates.iter_mut().map(|(_, d)| d))
}

/// Counts storage failures and tells the operator about each retry.
fn retry_reporter(health: &mut StorageHealth) -> impl FnMut(&anyhow::Error, Duration) + '_ {
    move |error, pause| {
        health.retries += 1;
        health.last_error = Some(format!("{error:#}"));
        eprintln!(
            "storage: {error:#}; retrying in {pause:?} (attempt {})",
            health.retries
        );
    }
}
