//! The Parquet outputs: raw ratings and the tumbling and sliding aggregates, each a
//! Hive-partitioned dataset on the configured [`Storage`]:
//!
//! - `streams/ratings/raw/date=…/hour=…` — every valid rating (late ones included) with the
//!   watermark it was read at, by event time;
//! - `streams/ratings/agg/tumbling/…` and `streams/ratings/agg/sliding/…` — every final window,
//!   by window start.
//!
//! Rows are buffered per hour and written once per batch; files roll by size and age; an hour
//! is closed with `_SUCCESS` once no more rows can arrive for it at the current watermark.
//!
//! Two ways to publish ([`Publishing`]): at once (bounded runs), or with epochs (exactly-once
//! runs): finished files are then held until [`ParquetSink::take_epoch`] hands them, with the
//! rows the open files received during the epoch, to the checkpoint coordinator, which makes
//! them visible only when the epoch commits.

mod dataset;
mod schema;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use ratings_core::time::align_down;
use ratings_core::{Rating, WindowResult, WindowSpec};
use serde::{Deserialize, Serialize};

pub use dataset::{partition_dir, DatasetState, DatasetStats, Publication, RollPolicy};
pub use schema::{
    aggregate_batch, aggregate_windows, conform, raw_batch, raw_rows, raw_rows_have_watermarks,
    RawRow, AGGREGATE_SCHEMA, RAW_SCHEMA,
};

use crate::storage::Storage;
pub use crate::storage::StorageHealth;
use dataset::Dataset;

/// Folder of the raw dataset under the storage base.
pub const RAW_ROOT: &str = "streams/ratings/raw";
/// Folder of the tumbling aggregates.
pub const TUMBLING_ROOT: &str = "streams/ratings/agg/tumbling";
/// Folder of the sliding aggregates.
pub const SLIDING_ROOT: &str = "streams/ratings/agg/sliding";

/// When finished files become visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publishing {
    /// As soon as they are finished; names carry this run id.
    Immediate { run_id: u64 },
    /// When their epoch commits; names carry the epoch.
    WithEpochs,
}

impl Publishing {
    /// Immediate publication with the current time (epoch seconds) as run id, which tells runs
    /// apart in file names.
    pub fn immediate_now() -> Publishing {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Publishing::Immediate {
            run_id: now.as_secs(),
        }
    }
}

/// The rows one open file received during an epoch, as an in-memory Parquet file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowDelta {
    /// Index of the dataset: raw first, then each window type.
    pub dataset: usize,
    pub hour: i64,
    pub parquet: Vec<u8>,
}

/// What a checkpoint keeps of the Parquet outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParquetState {
    /// Raw first, then each window type.
    pub datasets: Vec<DatasetState>,
}

/// Everything an epoch produced: files to make visible, the open files' new rows, the state.
#[derive(Debug, Clone)]
pub struct ParquetEpoch {
    pub publications: Vec<Publication>,
    pub deltas: Vec<RowDelta>,
    pub state: ParquetState,
}

/// The three Parquet datasets of one writer.
pub struct ParquetSink {
    storage: Arc<Storage>,
    writer_id: String,
    publishing: Publishing,
    raw: Dataset,
    /// One dataset per window type, in the engine's order.
    aggregates: Vec<(Arc<str>, Dataset)>,
    pending_raw: BTreeMap<i64, Vec<RawRow>>,
    pending_windows: BTreeMap<(usize, i64), Vec<(WindowResult, i64)>>,
    /// Finished files waiting for their epoch to commit ([`Publishing::WithEpochs`]).
    held: Vec<Publication>,
    held_bytes: usize,
}

impl ParquetSink {
    /// Datasets for these window types on `storage`; file names start with
    /// `part-<writer_id>-<run id or epoch>`.
    pub fn new(
        storage: Arc<Storage>,
        windows: &[WindowSpec],
        writer_id: &str,
        publishing: Publishing,
        roll: RollPolicy,
    ) -> ParquetSink {
        let track = publishing == Publishing::WithEpochs;
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
                    roll,
                    spec.size - spec.slide,
                    track,
                );
                (Arc::from(spec.name()), dataset)
            })
            .collect();
        let mut sink = ParquetSink {
            raw: Dataset::new(RAW_ROOT, RAW_SCHEMA.clone(), roll, 0, track),
            storage,
            writer_id: writer_id.to_string(),
            publishing,
            aggregates,
            pending_raw: BTreeMap::new(),
            pending_windows: BTreeMap::new(),
            held: Vec::new(),
            held_bytes: 0,
        };
        if let Publishing::Immediate { run_id } = publishing {
            sink.name_files(run_id);
        }
        sink
    }

    /// The storage the files go to.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// The storage URL.
    pub fn url(&self) -> &str {
        self.storage.url()
    }

    /// Storage failures so far.
    pub fn health(&self) -> StorageHealth {
        self.storage.health()
    }

    /// Counters per dataset: raw first, then each window type.
    pub fn stats(&self) -> Vec<(&str, &DatasetStats)> {
        std::iter::once(&self.raw)
            .chain(self.aggregates.iter().map(|(_, d)| d))
            .map(|d| (d.root(), d.stats()))
            .collect()
    }

    /// Buffers a valid rating for the raw dataset, read when the watermark was `watermark`.
    pub fn rating(&mut self, rating: &Rating, watermark: Option<i64>) {
        self.pending_raw
            .entry(align_down(rating.timestamp, 3600))
            .or_default()
            .push(RawRow {
                rating: *rating,
                watermark,
            });
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
    /// has passed. Publishing immediately blocks (retrying) while the storage is unavailable.
    pub fn end_batch(&mut self, watermark: Option<i64>) -> anyhow::Result<()> {
        self.write_pending()?;
        let mut finished = Vec::new();
        for dataset in self.datasets_mut() {
            finished.extend(dataset.roll_due()?);
            if let Some(watermark) = watermark {
                finished.extend(dataset.close_until(watermark)?);
            }
        }
        self.release(finished)
    }

    /// Finishes every open file; with `mark_complete` (end of a bounded input whose windows
    /// were all emitted) every hour gets its `_SUCCESS` too.
    pub fn finish(&mut self, mark_complete: bool) -> anyhow::Result<()> {
        self.write_pending()?;
        let mut finished = Vec::new();
        for dataset in self.datasets_mut() {
            finished.extend(dataset.finish(mark_complete)?);
        }
        self.release(finished)
    }

    /// Bytes of the finished files held for the current epoch.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Starts `epoch` ([`Publishing::WithEpochs`]): files finished from now on are named after it.
    pub fn begin_epoch(&mut self, epoch: u64) {
        self.name_files(epoch);
    }

    /// Ends the current epoch: the files finished during it, the rows its open files
    /// received, and the state to checkpoint.
    pub fn take_epoch(&mut self) -> anyhow::Result<ParquetEpoch> {
        self.write_pending()?;
        let mut deltas = Vec::new();
        for (index, dataset) in self.datasets_mut().enumerate() {
            for (hour, batches) in dataset.take_deltas() {
                deltas.push(RowDelta {
                    dataset: index,
                    hour,
                    parquet: encode(&batches)?,
                });
            }
        }
        self.held_bytes = 0;
        Ok(ParquetEpoch {
            publications: std::mem::take(&mut self.held),
            deltas,
            state: self.state(),
        })
    }

    /// Back to a checkpointed state: counters, closed hours, and the open files rebuilt from
    /// the deltas of the epochs since each was opened (`deltas(first_epoch)`: every delta
    /// from that epoch on, oldest first).
    pub fn restore(
        &mut self,
        state: &ParquetState,
        mut deltas: impl FnMut(u64) -> anyhow::Result<Vec<RowDelta>>,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            state.datasets.len() == 1 + self.aggregates.len(),
            "the checkpoint has {} Parquet datasets, this configuration {}",
            state.datasets.len(),
            1 + self.aggregates.len()
        );
        for (index, (dataset, saved)) in self.datasets_mut().zip(&state.datasets).enumerate() {
            dataset.restore(saved, |hour, first_epoch| {
                deltas(first_epoch)?
                    .iter()
                    .filter(|d| d.dataset == index && d.hour == hour)
                    .map(|d| decode(&d.parquet))
                    .collect::<anyhow::Result<Vec<_>>>()
                    .map(|nested| nested.into_iter().flatten().collect())
            })?;
        }
        Ok(())
    }

    fn state(&self) -> ParquetState {
        ParquetState {
            datasets: std::iter::once(&self.raw)
                .chain(self.aggregates.iter().map(|(_, d)| d))
                .map(|d| d.state())
                .collect(),
        }
    }

    fn name_files(&mut self, run_or_epoch: u64) {
        let prefix = format!("part-{}-{run_or_epoch:010}", self.writer_id);
        for dataset in self.datasets_mut() {
            dataset.set_prefix(prefix.clone(), run_or_epoch);
        }
    }

    /// Publishes finished files now, or holds them for their epoch.
    fn release(&mut self, finished: Vec<Publication>) -> anyhow::Result<()> {
        match self.publishing {
            Publishing::Immediate { .. } => {
                for file in finished {
                    self.storage.publish(&file.path, file.bytes)?;
                }
            }
            Publishing::WithEpochs => {
                self.held_bytes += finished.iter().map(|f| f.bytes.len()).sum::<usize>();
                self.held.extend(finished);
            }
        }
        Ok(())
    }

    fn write_pending(&mut self) -> anyhow::Result<()> {
        for (hour, rows) in std::mem::take(&mut self.pending_raw) {
            self.raw.write(hour, &raw_batch(&rows))?;
        }
        for ((index, hour), windows) in std::mem::take(&mut self.pending_windows) {
            self.aggregates[index]
                .1
                .write(hour, &aggregate_batch(&windows))?;
        }
        Ok(())
    }

    /// The raw dataset, then the aggregate ones.
    fn datasets_mut(&mut self) -> impl Iterator<Item = &mut Dataset> {
        std::iter::once(&mut self.raw).chain(self.aggregates.iter_mut().map(|(_, d)| d))
    }
}

/// Batches as one in-memory Parquet file.
fn encode(batches: &[RecordBatch]) -> anyhow::Result<Vec<u8>> {
    let schema = batches[0].schema();
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(dataset::writer_properties()))?;
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(writer.into_inner()?)
}

/// The batches of an in-memory Parquet file.
pub fn decode(parquet: &[u8]) -> anyhow::Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(parquet))?
        .build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}
