//! One Hive-partitioned Parquet dataset, `<root>/date=YYYY-MM-DD/hour=HH/part-….parquet`: rows
//! are appended to one open file per hour, files are rolled by size and age, and an hour gets
//! its `_SUCCESS` marker once the watermark has passed it.
//!
//! The dataset does no I/O: it hands back the files to publish ([`Publication`]) and the caller
//! publishes them at once (bounded runs) or with the epoch they belong to (exactly-once runs).
//! With delta tracking on, it also remembers the rows each open file received since the last
//! epoch, so that a checkpoint can rebuild the open files after a crash.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use ratings_core::time::rfc3339_seconds;
use serde::{Deserialize, Serialize};

/// When an open file is published and a new one started.
#[derive(Debug, Clone, Copy)]
pub struct RollPolicy {
    /// Publish once the file reaches this many bytes (encoded, estimated while open).
    pub max_bytes: usize,
    /// Publish once the file has been open this long.
    pub max_age: Duration,
}

/// Rows per Parquet row group: bounds the memory of an open file.
const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Rows an open file keeps as record batches before it starts its Parquet writer.
const ROWS_BEFORE_WRITER: usize = 16 * 1024;

/// Counters of one dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetStats {
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Hours marked complete with `_SUCCESS`.
    pub hours_closed: u64,
    /// Rows written to an hour after its `_SUCCESS` marker (late data in the raw dataset).
    pub rows_after_close: u64,
}

/// A complete file to make visible at `path` (relative to the storage base); `_SUCCESS`
/// markers have no bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub path: String,
    pub bytes: Vec<u8>,
    /// Rows in the file (0 for a marker).
    pub rows: u64,
}

/// What a checkpoint keeps of a dataset (open files' rows are kept as deltas, see
/// [`Dataset::take_deltas`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetState {
    pub unclosed: Vec<i64>,
    pub closed: Vec<i64>,
    /// Open files: their hour and the epoch whose delta holds their first rows.
    pub open: Vec<(i64, u64)>,
    pub stats: DatasetStats,
}

/// A file being written. Its rows wait as record batches until there are enough of them to be
/// worth a Parquet writer (whose column buffers cost far more than a few rows): a replay of
/// sparse history keeps thousands of hours open at once, most with a handful of rows.
struct OpenFile {
    writer: Option<ArrowWriter<Vec<u8>>>,
    waiting: Vec<RecordBatch>,
    waiting_rows: usize,
    /// Rows written so far.
    rows: u64,
    schema: SchemaRef,
    opened: Instant,
    /// The epoch the file was opened in.
    first_epoch: u64,
    /// Rows received since the last [`Dataset::take_deltas`] (delta tracking only).
    delta: Vec<RecordBatch>,
}

/// See the module documentation.
pub struct Dataset {
    root: String,
    schema: SchemaRef,
    /// `part-<writer>-<run or epoch>`: names never collide, and a retried publication
    /// replaces the same file.
    file_prefix: String,
    roll: RollPolicy,
    /// Seconds after an hour's end until every row of that hour has been written.
    close_lag: i64,
    track_deltas: bool,
    epoch: u64,
    open: BTreeMap<i64, OpenFile>,
    sequence: BTreeMap<i64, u32>,
    /// Hours that received rows and have no `_SUCCESS` yet.
    unclosed: BTreeSet<i64>,
    closed: BTreeSet<i64>,
    stats: DatasetStats,
}

/// `date=YYYY-MM-DD/hour=HH` of the hour starting at `hour` (epoch seconds).
pub fn partition_dir(hour: i64) -> String {
    let text = rfc3339_seconds(hour);
    format!("date={}/hour={}", &text[..10], &text[11..13])
}

/// The file that closes an hour's folder: no more rows will come for it.
const MARKER: &str = "_SUCCESS";

/// Whether a path (or a file name) is an hour's `_SUCCESS` marker.
pub fn is_marker(path: &str) -> bool {
    path.rsplit('/').next() == Some(MARKER)
}

/// The hour (epoch seconds) a path's `date=YYYY-MM-DD/hour=HH` folders name, if they do.
pub fn hour_of_path(path: &str) -> Option<i64> {
    let date = path
        .split('/')
        .find_map(|part| part.strip_prefix("date="))?;
    let hour = path
        .split('/')
        .find_map(|part| part.strip_prefix("hour="))?;
    let text = format!("{date}T{hour:0>2}:00:00Z");
    chrono::DateTime::parse_from_rfc3339(&text)
        .ok()
        .map(|time| time.timestamp())
}

impl Dataset {
    pub fn new(
        root: &str,
        schema: SchemaRef,
        roll: RollPolicy,
        close_lag: i64,
        track_deltas: bool,
    ) -> Dataset {
        Dataset {
            root: root.to_string(),
            schema,
            file_prefix: "part".into(),
            roll,
            close_lag,
            track_deltas,
            epoch: 0,
            open: BTreeMap::new(),
            sequence: BTreeMap::new(),
            unclosed: BTreeSet::new(),
            closed: BTreeSet::new(),
            stats: DatasetStats::default(),
        }
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn stats(&self) -> &DatasetStats {
        &self.stats
    }

    /// Names the files published from now on `<prefix>-<n>.parquet` (n counts per hour from 0)
    /// and records `epoch` as the epoch new files are opened in.
    pub fn set_prefix(&mut self, prefix: String, epoch: u64) {
        if prefix != self.file_prefix {
            self.sequence.clear();
        }
        self.file_prefix = prefix;
        self.epoch = epoch;
    }

    /// Appends rows of the hour starting at `hour`.
    pub fn write(&mut self, hour: i64, batch: &RecordBatch) -> anyhow::Result<()> {
        if self.closed.contains(&hour) {
            self.stats.rows_after_close += batch.num_rows() as u64;
        } else {
            self.unclosed.insert(hour);
        }
        let file = match self.open.entry(hour) {
            std::collections::btree_map::Entry::Occupied(file) => file.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(new_file(&self.schema, self.epoch)?)
            }
        };
        file.write(batch)?;
        if self.track_deltas {
            file.delta.push(batch.clone());
        }
        self.stats.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Files that reached the size or age limit, closed for publication.
    pub fn roll_due(&mut self) -> anyhow::Result<Vec<Publication>> {
        let due: Vec<i64> = self
            .open
            .iter()
            .filter(|(_, f)| {
                f.size() >= self.roll.max_bytes || f.opened.elapsed() >= self.roll.max_age
            })
            .map(|(hour, _)| *hour)
            .collect();
        due.into_iter().map(|hour| self.publish(hour)).collect()
    }

    /// Files and `_SUCCESS` markers of every hour whose rows are all written at this watermark.
    pub fn close_until(&mut self, watermark: i64) -> anyhow::Result<Vec<Publication>> {
        let complete: Vec<i64> = self
            .unclosed
            .iter()
            .copied()
            .filter(|h| h + 3600 + self.close_lag <= watermark)
            .collect();
        let mut out = Vec::new();
        for hour in complete {
            out.extend(self.close(hour)?);
        }
        Ok(out)
    }

    /// End of input: every open file; with `mark_complete`, every hour's marker too.
    pub fn finish(&mut self, mark_complete: bool) -> anyhow::Result<Vec<Publication>> {
        let hours: Vec<i64> = self.open.keys().copied().collect();
        let mut out = hours
            .into_iter()
            .map(|hour| self.publish(hour))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if mark_complete {
            let hours: Vec<i64> = self.unclosed.iter().copied().collect();
            for hour in hours {
                out.extend(self.close(hour)?);
            }
        }
        Ok(out)
    }

    /// The rows each open file received since the previous call, by hour; forgets them.
    pub fn take_deltas(&mut self) -> Vec<(i64, Vec<RecordBatch>)> {
        self.open
            .iter_mut()
            .filter(|(_, f)| !f.delta.is_empty())
            .map(|(hour, f)| (*hour, std::mem::take(&mut f.delta)))
            .collect()
    }

    /// The state a checkpoint keeps.
    pub fn state(&self) -> DatasetState {
        DatasetState {
            unclosed: self.unclosed.iter().copied().collect(),
            closed: self.closed.iter().copied().collect(),
            open: self
                .open
                .iter()
                .map(|(hour, f)| (*hour, f.first_epoch))
                .collect(),
            stats: self.stats.clone(),
        }
    }

    /// Back to a checkpointed state; `rows(hour, first_epoch)` gives the rows of each open
    /// file, oldest first. Counters are restored as they were.
    pub fn restore(
        &mut self,
        state: &DatasetState,
        mut rows: impl FnMut(i64, u64) -> anyhow::Result<Vec<RecordBatch>>,
    ) -> anyhow::Result<()> {
        self.unclosed = state.unclosed.iter().copied().collect();
        self.closed = state.closed.iter().copied().collect();
        self.open.clear();
        for &(hour, first_epoch) in &state.open {
            let mut file = new_file(&self.schema, first_epoch)?;
            for batch in rows(hour, first_epoch)? {
                file.write(&super::schema::conform(batch, &self.schema)?)?;
            }
            self.open.insert(hour, file);
        }
        self.stats = state.stats.clone();
        Ok(())
    }

    fn close(&mut self, hour: i64) -> anyhow::Result<Vec<Publication>> {
        let mut out = Vec::new();
        if self.open.contains_key(&hour) {
            out.push(self.publish(hour)?);
        }
        out.push(Publication {
            path: format!("{}/{}/{MARKER}", self.root, partition_dir(hour)),
            bytes: Vec::new(),
            rows: 0,
        });
        self.unclosed.remove(&hour);
        self.closed.insert(hour);
        self.stats.hours_closed += 1;
        Ok(out)
    }

    fn publish(&mut self, hour: i64) -> anyhow::Result<Publication> {
        let file = self
            .open
            .remove(&hour)
            .expect("publish is called for open files only");
        let (bytes, rows) = file.finish()?;
        let sequence = self.sequence.entry(hour).or_insert(0);
        let path = format!(
            "{}/{}/{}-{:05}.parquet",
            self.root,
            partition_dir(hour),
            self.file_prefix,
            sequence
        );
        *sequence += 1;
        self.stats.files += 1;
        self.stats.bytes += bytes.len() as u64;
        Ok(Publication { path, bytes, rows })
    }
}

/// An empty in-memory Parquet file.
fn new_file(schema: &SchemaRef, epoch: u64) -> anyhow::Result<OpenFile> {
    Ok(OpenFile {
        writer: None,
        waiting: Vec::new(),
        waiting_rows: 0,
        rows: 0,
        schema: schema.clone(),
        opened: Instant::now(),
        first_epoch: epoch,
        delta: Vec::new(),
    })
}

impl OpenFile {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.waiting_rows += batch.num_rows();
        self.rows += batch.num_rows() as u64;
        self.waiting.push(batch.clone());
        if self.waiting_rows >= ROWS_BEFORE_WRITER {
            self.drain_waiting()?;
        }
        Ok(())
    }

    /// Moves the waiting batches into the Parquet writer (started if needed).
    fn drain_waiting(&mut self) -> anyhow::Result<&mut ArrowWriter<Vec<u8>>> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            empty => empty.insert(ArrowWriter::try_new(
                Vec::new(),
                self.schema.clone(),
                Some(writer_properties()),
            )?),
        };
        for batch in self.waiting.drain(..) {
            writer.write(&batch)?;
        }
        self.waiting_rows = 0;
        Ok(writer)
    }

    /// Encoded size so far (estimated while open; waiting rows at their in-memory size).
    fn size(&self) -> usize {
        let written = self
            .writer
            .as_ref()
            .map_or(0, |w| w.bytes_written() + w.in_progress_size());
        written
            + self
                .waiting
                .iter()
                .map(RecordBatch::get_array_memory_size)
                .sum::<usize>()
    }

    /// The complete Parquet file, and its rows.
    fn finish(mut self) -> anyhow::Result<(Vec<u8>, u64)> {
        self.drain_waiting()?;
        let writer = self.writer.take().expect("drain_waiting starts the writer");
        Ok((writer.into_inner()?, self.rows))
    }
}

/// Snappy, bounded row groups.
pub(super) fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn partition_dirs_are_utc_date_and_hour() {
        assert_eq!(
            super::partition_dir(1_761_764_400),
            "date=2025-10-29/hour=19"
        );
        assert_eq!(super::partition_dir(0), "date=1970-01-01/hour=00");
    }

    #[test]
    fn a_marker_is_known_by_its_path_or_its_name() {
        assert!(super::is_marker(
            "streams/ratings/raw/date=2025-10-29/hour=7/_SUCCESS"
        ));
        assert!(super::is_marker("_SUCCESS"));
        assert!(!super::is_marker(
            "date=2025-10-29/hour=7/part-0-1-0.parquet"
        ));
        assert!(!super::is_marker("date=2025-10-29/hour=7/x_SUCCESS"));
    }

    #[test]
    fn a_path_names_the_hour_of_its_partition() {
        let hour = 1_761_764_400;
        let path = format!(
            "streams/ratings/raw/{}/part-0.parquet",
            super::partition_dir(hour)
        );
        assert_eq!(super::hour_of_path(&path), Some(hour));
        assert_eq!(
            super::hour_of_path("date=2025-10-29/hour=7/_SUCCESS"),
            Some(1_761_721_200)
        );
        assert_eq!(super::hour_of_path("streams/ratings/raw/_delta_log"), None);
        assert_eq!(super::hour_of_path("date=2025-13-29/hour=07/x"), None);
    }
}
