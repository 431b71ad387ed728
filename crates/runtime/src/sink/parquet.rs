//! The Parquet sink stage: every valid rating to the raw dataset and every final window to
//! its aggregate dataset ([`ratings_connectors::parquet`] encodes and writes the files).
//!
//! Rows are buffered per hour and written once per batch; files roll by size and age; an hour
//! is closed with `_SUCCESS` once no more rows can arrive for it at the current watermark.
//!
//! Two ways to publish ([`Publishing`]): at once (bounded runs, at-least-once), or with epochs
//! (exactly-once): finished files are then held until [`Sink::take_epoch`] hands them, with
//! the rows the open files received during the epoch, to the checkpoint coordinator, which
//! makes them visible only when the epoch commits.

use std::collections::BTreeMap;
use std::sync::Arc;

use ratings_connectors::parquet::layout::folders;
use ratings_connectors::parquet::{
    aggregate_batch, aggregate_roots, decode, encode, is_marker, raw_batch, AggregateRoot, Dataset,
    ParquetState, Publication, RawRow, RollPolicy, RowDelta, AGGREGATE_SCHEMA, RAW_ROOT,
    RAW_SCHEMA,
};
use ratings_connectors::storage::Storage;
use ratings_core::time::align_down;
use ratings_core::{Rating, WindowResult, WindowSpec};

use super::delta::DeltaTables;
use super::{DatasetSummary, ParquetEpoch, RowsSince, Sink};
use arrow_schema::SchemaRef;
use ratings_connectors::checkpoint::FileSize;
use ratings_settings::{ParquetSettings, TableFormat};

/// When finished files become visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Publishing {
    /// As soon as they are finished; names carry this run id.
    Immediate { run_id: u64 },
    /// When their epoch commits; names carry the epoch.
    WithEpochs,
}

impl Publishing {
    /// Immediate publication with the current time (epoch seconds) as run id, which tells runs
    /// apart in file names.
    pub(crate) fn immediate_now() -> Publishing {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Publishing::Immediate {
            run_id: now.as_secs(),
        }
    }
}

/// The three Parquet datasets of one writer.
pub(crate) struct ParquetSink {
    storage: Arc<Storage>,
    writer_id: String,
    publishing: Publishing,
    roll: RollPolicy,
    raw: Dataset,
    /// One dataset per window type, in the engine's order.
    aggregates: Vec<Aggregate>,
    /// The datasets of window types a change of windows removed, restored from the
    /// checkpoint: their files are finished and their hours closed with the first epoch.
    retired: Vec<Dataset>,
    pending_raw: BTreeMap<i64, Vec<RawRow>>,
    pending_windows: BTreeMap<(usize, i64), Vec<(WindowResult, i64)>>,
    /// Finished files waiting for their epoch to commit ([`Publishing::WithEpochs`]).
    held: Vec<Publication>,
    held_bytes: usize,
    /// The Delta tables files published at once are added to (with epochs, the coordinator
    /// adds them).
    tables: Option<DeltaTables>,
}

/// A window type's dataset.
struct Aggregate {
    /// [`WindowSpec::name`], as windows carry it.
    name: Arc<str>,
    spec: WindowSpec,
    dataset: Dataset,
    /// See [`AggregateRoot::added_at`].
    added_at: Option<i64>,
}

/// Each dataset's folder and schema for a job starting with these window types: raw first,
/// then one per window type, in the engine's order.
pub(crate) fn layout(windows: &[WindowSpec]) -> Vec<(String, SchemaRef)> {
    let aggregates = aggregate_roots(windows)
        .into_iter()
        .map(|a| (a.root, AGGREGATE_SCHEMA.clone()));
    std::iter::once((RAW_ROOT.to_string(), RAW_SCHEMA.clone()))
        .chain(aggregates)
        .collect()
}

impl ParquetSink {
    /// Datasets for these window types on `storage`; file names start with
    /// `part-<writer_id>-<run id or epoch>`.
    pub(crate) fn new(
        storage: Arc<Storage>,
        windows: &[WindowSpec],
        writer_id: &str,
        publishing: Publishing,
        roll: RollPolicy,
    ) -> ParquetSink {
        let track = publishing == Publishing::WithEpochs;
        let mut sink = ParquetSink {
            raw: Dataset::new(RAW_ROOT, RAW_SCHEMA.clone(), roll, 0, track),
            storage,
            writer_id: writer_id.to_string(),
            publishing,
            roll,
            aggregates: Vec::new(),
            retired: Vec::new(),
            pending_raw: BTreeMap::new(),
            pending_windows: BTreeMap::new(),
            held: Vec::new(),
            held_bytes: 0,
            tables: None,
        };
        sink.aggregates = windows
            .iter()
            .zip(aggregate_roots(windows))
            .map(|(spec, root)| sink.aggregate(*spec, &root.root))
            .collect();
        if let Publishing::Immediate { run_id } = publishing {
            sink.name_files(run_id);
        }
        sink
    }

    /// The dataset of window type `spec` in folder `root`.
    fn aggregate(&self, spec: WindowSpec, root: &str) -> Aggregate {
        let track = self.publishing == Publishing::WithEpochs;
        let lag = spec.size - spec.slide;
        Aggregate {
            name: Arc::from(spec.name()),
            spec,
            dataset: Dataset::new(root, AGGREGATE_SCHEMA.clone(), self.roll, lag, track),
            added_at: None,
        }
    }

    /// Back to a checkpointed state (taken at `watermark`): counters, closed hours, and the
    /// open files rebuilt from the deltas of the epochs since each was opened. A window type the
    /// checkpoint has keeps its folder; one it lacks (added by a change of windows) gets a
    /// folder of its own and is recorded as added at `watermark`; one it has that is no longer
    /// configured is retired.
    fn restore_datasets(
        &mut self,
        state: &ParquetState,
        rows: &RowsSince,
        watermark: Option<i64>,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            state.datasets.len() == 1 + state.aggregates.len(),
            "the checkpoint's Parquet state is inconsistent: {} datasets for {} window types",
            state.datasets.len(),
            state.aggregates.len()
        );
        let restore = |dataset: &mut Dataset, index: usize| {
            dataset.restore(&state.datasets[index], |hour, first_epoch| {
                rows(first_epoch)
                    .iter()
                    .filter(|d| d.dataset == index && d.hour == hour)
                    .map(|d| decode(&d.parquet))
                    .collect::<anyhow::Result<Vec<_>>>()
                    .map(|nested| nested.into_iter().flatten().collect())
            })
        };
        restore(&mut self.raw, 0)?;
        let specs: Vec<WindowSpec> = self.aggregates.iter().map(|a| a.spec).collect();
        let roots = folders(&specs, Some(&state.aggregates));
        for (index, (spec, root)) in specs.into_iter().zip(roots).enumerate() {
            self.aggregates[index] = self.aggregate(spec, &root);
            let saved = state
                .aggregates
                .iter()
                .position(|a| *a.window == *spec.name());
            let aggregate = &mut self.aggregates[index];
            match saved {
                Some(at) => {
                    restore(&mut aggregate.dataset, 1 + at)?;
                    aggregate.added_at = state.aggregates[at].added_at;
                }
                None => aggregate.added_at = watermark,
            }
        }
        for (at, removed) in state.aggregates.iter().enumerate() {
            if self.aggregates.iter().all(|a| *a.name != removed.window) {
                // all its hours close with the first epoch
                let schema = AGGREGATE_SCHEMA.clone();
                let mut dataset = Dataset::new(&removed.root, schema, self.roll, 0, true);
                restore(&mut dataset, 1 + at)?;
                self.retired.push(dataset);
            }
        }
        Ok(())
    }

    fn state(&self) -> ParquetState {
        ParquetState {
            datasets: std::iter::once(&self.raw)
                .chain(self.aggregates.iter().map(|a| &a.dataset))
                .map(|d| d.state())
                .collect(),
            aggregates: self
                .aggregates
                .iter()
                .map(|a| AggregateRoot {
                    window: a.name.to_string(),
                    root: a.dataset.root().to_string(),
                    added_at: a.added_at,
                })
                .collect(),
        }
    }

    fn name_files(&mut self, run_or_epoch: u64) {
        let prefix = format!("part-{}-{run_or_epoch:010}", self.writer_id);
        for dataset in self.datasets_mut() {
            dataset.set_prefix(prefix.clone(), run_or_epoch);
        }
    }

    /// Publishes finished files now, or holds them for their epoch. Published at once, data
    /// files come first, then their commit to the tables (if any), then the `_SUCCESS` markers.
    fn release(&mut self, finished: Vec<Publication>) -> anyhow::Result<()> {
        match self.publishing {
            Publishing::Immediate { .. } => {
                let sizes: Vec<(String, FileSize)> = finished
                    .iter()
                    .map(|f| (f.path.clone(), FileSize::of(f)))
                    .collect();
                let (markers, data): (Vec<_>, Vec<_>) =
                    finished.into_iter().partition(|f| is_marker(&f.path));
                for file in data {
                    self.storage.publish(&file.path, file.bytes)?;
                }
                if let Some(tables) = &mut self.tables {
                    tables.append(&sizes)?;
                }
                for marker in markers {
                    self.storage.publish(&marker.path, marker.bytes)?;
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
                .dataset
                .write(hour, &aggregate_batch(&windows))?;
        }
        Ok(())
    }

    /// The raw dataset, then the aggregate ones, then the retired ones.
    fn datasets_mut(&mut self) -> impl Iterator<Item = &mut Dataset> {
        let aggregates = self.aggregates.iter_mut().map(|a| &mut a.dataset);
        std::iter::once(&mut self.raw)
            .chain(aggregates)
            .chain(self.retired.iter_mut())
    }
}

impl Sink for ParquetSink {
    fn takes_ratings(&self) -> bool {
        true
    }

    /// Buffers a valid rating for the raw dataset, read when the watermark was `watermark`.
    fn rating(&mut self, rating: &Rating, watermark: Option<i64>) {
        self.pending_raw
            .entry(align_down(rating.timestamp, 3600))
            .or_default()
            .push(RawRow {
                rating: *rating,
                watermark,
            });
    }

    /// Buffers a final window (emitted at `processing_time_millis`); updates are not kept.
    fn window(&mut self, window: &WindowResult, processing_time_millis: i64) -> anyhow::Result<()> {
        let index = self
            .aggregates
            .iter()
            .position(|a| a.name == window.window_type);
        if let (Some(index), true) = (index, window.is_final) {
            let hour = align_down(window.window_start, 3600);
            self.pending_windows
                .entry((index, hour))
                .or_default()
                .push((window.clone(), processing_time_millis));
        }
        Ok(())
    }

    /// Writes what was buffered, rolls files that are due, and closes the hours the watermark
    /// has passed. Publishing immediately blocks (retrying) while the storage is unavailable.
    fn end_batch(&mut self, watermark: Option<i64>) -> anyhow::Result<()> {
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

    /// Finishes every open file; with `final_flush` (end of a bounded input whose windows
    /// were all emitted) every hour gets its `_SUCCESS` too.
    fn finish(&mut self, final_flush: bool) -> anyhow::Result<()> {
        self.write_pending()?;
        let mut finished = Vec::new();
        for dataset in self.datasets_mut() {
            finished.extend(dataset.finish(final_flush)?);
        }
        self.release(finished)
    }

    /// Files finished from now on are named after `epoch` ([`Publishing::WithEpochs`]).
    fn begin_epoch(&mut self, epoch: u64) {
        self.name_files(epoch);
    }

    fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// The files finished during the epoch, the rows its open files received, the state.
    fn take_epoch(&mut self) -> anyhow::Result<Option<ParquetEpoch>> {
        self.write_pending()?;
        for mut retired in std::mem::take(&mut self.retired) {
            let finished = retired.finish(true)?;
            self.release(finished)?;
        }
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
        Ok(Some(ParquetEpoch {
            publications: std::mem::take(&mut self.held),
            deltas,
            state: self.state(),
        }))
    }

    fn restore(
        &mut self,
        state: &ParquetState,
        rows: &RowsSince,
        watermark: Option<i64>,
    ) -> anyhow::Result<bool> {
        self.restore_datasets(state, rows, watermark).map(|()| true)
    }

    fn storage(&self) -> Option<&Arc<Storage>> {
        Some(&self.storage)
    }

    /// Counters per dataset: raw first, then each window type.
    fn datasets(&self) -> Vec<DatasetSummary> {
        let base = self.storage.url().trim_end_matches('/');
        std::iter::once(&self.raw)
            .chain(self.aggregates.iter().map(|a| &a.dataset))
            .map(|d| {
                let s = d.stats();
                DatasetSummary {
                    dataset: format!("{base}/{}", d.root()),
                    rows: s.rows,
                    files: s.files,
                    bytes: s.bytes,
                    hours_closed: s.hours_closed,
                    rows_after_close: s.rows_after_close,
                }
            })
            .collect()
    }
}

/// The Parquet sink the settings ask for, if any, publishing files as `publishing` says; on
/// `shared` when given (the storage opened for the same URL), else on its own.
pub(crate) fn open(
    settings: &ParquetSettings,
    windows: &[WindowSpec],
    publishing: Publishing,
    shared: Option<&Arc<Storage>>,
) -> anyhow::Result<Option<ParquetSink>> {
    let Some(url) = &settings.storage else {
        return Ok(None);
    };
    let storage = match shared {
        Some(storage) => Arc::clone(storage),
        None => Arc::new(Storage::open_for_writing(url)?),
    };
    let roll = RollPolicy {
        max_bytes: settings.roll_size,
        max_age: settings.roll_interval,
    };
    let mut sink = ParquetSink::new(
        Arc::clone(&storage),
        windows,
        &settings.writer_id,
        publishing,
        roll,
    );
    if settings.table_format == TableFormat::Delta && publishing != Publishing::WithEpochs {
        let create = layout(windows);
        sink.tables = Some(DeltaTables::open(&storage, settings, &create, None)?);
    }
    Ok(Some(sink))
}

/// Banner line.
pub(crate) fn describe(settings: &ParquetSettings) -> String {
    match &settings.storage {
        Some(url) => format!(
            "{} (roll at {} MB or {})",
            ratings_core::secrets::without_user_info(url),
            settings.roll_size >> 20,
            humantime::format_duration(settings.roll_interval)
        ),
        None => "off".into(),
    }
}
