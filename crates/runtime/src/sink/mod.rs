//! Sinks: where the pipeline's outputs go. Every output implements [`Sink`], one lifecycle for
//! all: it receives what it keeps (ratings, windows, dead letters, late records), the ends of
//! batches and of a bounded input, and — in exactly-once runs — the epochs' begin, seal and
//! restore. [`Outputs`] fans each event out to the sinks of a job: [`json_lines`] files in
//! the file mode, Kafka [`topic`]s in the Kafka mode, the [`parquet`] datasets when a storage
//! is configured — as folders, or as [`delta`] tables.

pub(crate) mod console;
pub(crate) mod delta;
pub(crate) mod json_lines;
pub(crate) mod parquet;
pub(crate) mod topic;

use std::sync::Arc;

use anyhow::Context;
use ratings_connectors::parquet::{ParquetState, Publication, RowDelta};
use ratings_connectors::storage::{Storage, StorageHealth};
use ratings_core::{DeadLetter, Rating, WindowResult};
use serde::Serialize;

/// The rows the open files of a restored checkpoint need: every delta from an epoch on,
/// oldest first.
pub type RowsSince<'a> = dyn Fn(u64) -> Vec<RowDelta> + 'a;

/// One output. Every method has a default that ignores the event: a sink implements what it
/// keeps.
pub trait Sink {
    /// Whether it keeps every valid rating (asked once: the per-record fan-out skips the
    /// others).
    fn takes_ratings(&self) -> bool {
        false
    }
    /// A valid rating, read when the watermark was `watermark`.
    fn rating(&mut self, _rating: &Rating, _watermark: Option<i64>) {}
    /// A window the engine emitted (final, or an update in update mode).
    fn window(
        &mut self,
        _window: &WindowResult,
        _processing_time_millis: i64,
    ) -> anyhow::Result<()> {
        Ok(())
    }
    /// A rejected record.
    fn dead_letter(&mut self, _letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        Ok(())
    }
    /// A record behind the watermark.
    fn late(&mut self, _letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        Ok(())
    }
    /// The end of a batch, at this watermark: write and flush what is buffered.
    fn end_batch(&mut self, _watermark: Option<i64>) -> anyhow::Result<()> {
        Ok(())
    }
    /// The end of a bounded input; `final_flush`: every window was emitted.
    fn finish(&mut self, _final_flush: bool) -> anyhow::Result<()> {
        Ok(())
    }
    /// Exactly-once: `epoch` opens.
    fn begin_epoch(&mut self, _epoch: u64) {}
    /// Exactly-once: bytes of finished files held for the open epoch.
    fn held_bytes(&self) -> usize {
        0
    }
    /// Exactly-once: the open epoch ends; its files and state, for the checkpoint.
    fn take_epoch(&mut self) -> anyhow::Result<Option<ParquetEpoch>> {
        Ok(None)
    }
    /// Exactly-once: back to a checkpointed state, taken at `watermark`; whether this sink
    /// keeps one.
    fn restore(
        &mut self,
        _state: &ParquetState,
        _rows: &RowsSince,
        _watermark: Option<i64>,
    ) -> anyhow::Result<bool> {
        Ok(false)
    }
    /// The storage it writes to, if any.
    fn storage(&self) -> Option<&Arc<Storage>> {
        None
    }
    /// What it wrote, per dataset, for the summary.
    fn datasets(&self) -> Vec<DatasetSummary> {
        Vec::new()
    }
}

/// What an epoch produced in files: the finished ones to make visible, the open ones' new
/// rows, and the state to checkpoint.
#[derive(Debug, Clone)]
pub struct ParquetEpoch {
    pub publications: Vec<Publication>,
    pub deltas: Vec<RowDelta>,
    pub state: ParquetState,
}

/// What was written to one dataset.
#[derive(Debug, Serialize)]
pub struct DatasetSummary {
    pub dataset: String,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    pub hours_closed: u64,
    pub rows_after_close: u64,
}

/// The sinks of a job, each event fanned out to every one.
pub struct Outputs {
    sinks: Vec<Box<dyn Sink>>,
    /// The sinks that keep ratings.
    raw: Vec<usize>,
}

impl Outputs {
    /// These sinks, in this order.
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Outputs {
        let raw = (0..sinks.len())
            .filter(|i| sinks[*i].takes_ratings())
            .collect();
        Outputs { sinks, raw }
    }

    pub fn rating(&mut self, rating: &Rating, watermark: Option<i64>) {
        for i in &self.raw {
            self.sinks[*i].rating(rating, watermark);
        }
    }

    pub fn window(
        &mut self,
        window: &WindowResult,
        processing_time_millis: i64,
    ) -> anyhow::Result<()> {
        self.each(|sink| sink.window(window, processing_time_millis))
            .context("cannot write window metrics")
    }

    pub fn dead_letter(&mut self, letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        self.each(|sink| sink.dead_letter(letter))
            .context("cannot write a dead-letter record")
    }

    pub fn late(&mut self, letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        self.each(|sink| sink.late(letter))
            .context("cannot write a late record")
    }

    pub fn end_batch(&mut self, watermark: Option<i64>) -> anyhow::Result<()> {
        self.each(|sink| sink.end_batch(watermark))
    }

    pub fn finish(&mut self, final_flush: bool) -> anyhow::Result<()> {
        self.each(|sink| sink.finish(final_flush))
    }

    pub fn begin_epoch(&mut self, epoch: u64) {
        for sink in &mut self.sinks {
            sink.begin_epoch(epoch);
        }
    }

    pub fn held_bytes(&self) -> usize {
        self.sinks.iter().map(|s| s.held_bytes()).sum()
    }

    /// The epoch's files; `None` when no sink writes files.
    pub fn take_epoch(&mut self) -> anyhow::Result<Option<ParquetEpoch>> {
        let mut taken = None;
        for sink in &mut self.sinks {
            if let Some(epoch) = sink.take_epoch()? {
                anyhow::ensure!(taken.is_none(), "two sinks write files in one epoch");
                taken = Some(epoch);
            }
        }
        Ok(taken)
    }

    /// Restores the sink that keeps a state (taken at `watermark`); whether one did.
    pub fn restore(
        &mut self,
        state: &ParquetState,
        rows: &RowsSince,
        watermark: Option<i64>,
    ) -> anyhow::Result<bool> {
        for sink in &mut self.sinks {
            if sink.restore(state, rows, watermark)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The storage the outputs write to, if any.
    pub fn storage(&self) -> Option<&Arc<Storage>> {
        self.sinks.iter().find_map(|s| s.storage())
    }

    /// Failed storage operations (retried) so far.
    pub fn storage_health(&self) -> StorageHealth {
        self.storage().map(|s| s.health()).unwrap_or_default()
    }

    /// What every sink wrote, per dataset.
    pub fn datasets(&self) -> Vec<DatasetSummary> {
        self.sinks.iter().flat_map(|s| s.datasets()).collect()
    }

    /// Calls `f` on every sink; stops at the first error.
    fn each(
        &mut self,
        mut f: impl FnMut(&mut dyn Sink) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.sinks.iter_mut().try_for_each(|sink| f(sink.as_mut()))
    }
}

/// Which of the pipeline's record streams a file or topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carries {
    /// Emitted windows.
    Windows,
    /// Rejected records.
    DeadLetters,
    /// Late records.
    Late,
}
