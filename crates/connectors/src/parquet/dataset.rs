//! One Hive-partitioned Parquet dataset, `<root>/date=YYYY-MM-DD/hour=HH/part-….parquet`: rows
//! are appended to one open file per hour, files are rolled by size and age and published
//! atomically, and an hour gets its `_SUCCESS` marker once the watermark has passed it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use ratings_core::time::rfc3339_seconds;

use crate::storage::Storage;

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

/// Counters of one dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatasetStats {
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Hours marked complete with `_SUCCESS`.
    pub hours_closed: u64,
    /// Rows written to an hour after its `_SUCCESS` marker (late data in the raw dataset).
    pub rows_after_close: u64,
}

struct OpenFile {
    writer: ArrowWriter<Vec<u8>>,
    opened: Instant,
    rows: usize,
}

/// See the module documentation.
pub struct Dataset {
    root: String,
    schema: SchemaRef,
    /// `part-<writer>-<run>`: unique per writer and run, so names never collide and a retried
    /// publication overwrites the same file.
    file_prefix: String,
    roll: RollPolicy,
    /// Seconds after an hour's end until every row of that hour has been written.
    close_lag: i64,
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

impl Dataset {
    pub fn new(
        root: &str,
        schema: SchemaRef,
        file_prefix: String,
        roll: RollPolicy,
        close_lag: i64,
    ) -> Dataset {
        Dataset {
            root: root.to_string(),
            schema,
            file_prefix,
            roll,
            close_lag,
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
                let properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                    .build();
                let writer =
                    ArrowWriter::try_new(Vec::new(), self.schema.clone(), Some(properties))?;
                slot.insert(OpenFile {
                    writer,
                    opened: Instant::now(),
                    rows: 0,
                })
            }
        };
        file.writer.write(batch)?;
        file.rows += batch.num_rows();
        self.stats.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Publishes every open file that reached the size or age limit.
    pub fn roll_due(
        &mut self,
        storage: &Storage,
        on_retry: &mut dyn FnMut(&anyhow::Error, Duration),
    ) -> anyhow::Result<()> {
        let due: Vec<i64> = self
            .open
            .iter()
            .filter(|(_, f)| {
                f.writer.bytes_written() + f.writer.in_progress_size() >= self.roll.max_bytes
                    || f.opened.elapsed() >= self.roll.max_age
            })
            .map(|(hour, _)| *hour)
            .collect();
        for hour in due {
            self.publish(hour, storage, on_retry)?;
        }
        Ok(())
    }

    /// Publishes and marks `_SUCCESS` every hour whose rows are all written at this watermark.
    pub fn close_until(
        &mut self,
        watermark: i64,
        storage: &Storage,
        on_retry: &mut dyn FnMut(&anyhow::Error, Duration),
    ) -> anyhow::Result<()> {
        let complete: Vec<i64> = self
            .unclosed
            .iter()
            .copied()
            .filter(|h| h + 3600 + self.close_lag <= watermark)
            .collect();
        for hour in complete {
            self.close(hour, storage, on_retry)?;
        }
        Ok(())
    }

    /// End of input: publishes every open file; with `mark_complete`, closes every hour too.
    pub fn finish(
        &mut self,
        mark_complete: bool,
        storage: &Storage,
        on_retry: &mut dyn FnMut(&anyhow::Error, Duration),
    ) -> anyhow::Result<()> {
        let hours: Vec<i64> = self.open.keys().copied().collect();
        for hour in hours {
            self.publish(hour, storage, on_retry)?;
        }
        if mark_complete {
            let hours: Vec<i64> = self.unclosed.iter().copied().collect();
            for hour in hours {
                self.close(hour, storage, on_retry)?;
            }
        }
        Ok(())
    }

    fn close(
        &mut self,
        hour: i64,
        storage: &Storage,
        on_retry: &mut dyn FnMut(&anyhow::Error, Duration),
    ) -> anyhow::Result<()> {
        if self.open.contains_key(&hour) {
            self.publish(hour, storage, on_retry)?;
        }
        storage.publish(
            &format!("{}/{}/_SUCCESS", self.root, partition_dir(hour)),
            Vec::new(),
            on_retry,
        )?;
        self.unclosed.remove(&hour);
        self.closed.insert(hour);
        self.stats.hours_closed += 1;
        Ok(())
    }

    fn publish(
        &mut self,
        hour: i64,
        storage: &Storage,
        on_retry: &mut dyn FnMut(&anyhow::Error, Duration),
    ) -> anyhow::Result<()> {
        let Some(file) = self.open.remove(&hour) else {
            return Ok(());
        };
        let bytes = file.writer.into_inner()?;
        let sequence = self.sequence.entry(hour).or_insert(0);
        let name = format!(
            "{}/{}/{}-{:05}.parquet",
            self.root,
            partition_dir(hour),
            self.file_prefix,
            sequence
        );
        *sequence += 1;
        self.stats.files += 1;
        self.stats.bytes += bytes.len() as u64;
        storage.publish(&name, bytes, on_retry)
    }
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
}
