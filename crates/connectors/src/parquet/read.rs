//! Reading the datasets back: the files of a dataset (of a Delta table, those of its latest
//! version), by hour, and the raw ratings in them or in a checkpoint's rows of files not
//! published yet. `verify`'s audit and the rebuild of changed windows read through here.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    batches_from, decode, hour_of_path, raw_rows, raw_rows_have_watermarks, RawRow, RowDelta,
};
use crate::delta::Table;
use crate::storage::Storage;
use ratings_core::Rating;

/// The files of the dataset at `root`: of a Delta table, the data files of its latest version
/// and the `_SUCCESS` markers in its folder; else every file in the folder.
pub fn dataset_files(storage: &Arc<Storage>, root: &str) -> anyhow::Result<Vec<String>> {
    let listed = storage.list(root)?;
    if !listed.iter().any(|f| f.contains("/_delta_log/")) {
        return Ok(listed);
    }
    let Some(table) = Table::open(storage, root)? else {
        return Ok(listed);
    };
    let markers = listed.into_iter().filter(|f| super::is_marker(f));
    let files = table
        .files()?
        .into_iter()
        .map(|f| format!("{root}/{}", f.path));
    Ok(files.chain(markers).collect())
}

/// Hour start (epoch seconds) → the Parquet files of the dataset at `root` in that hour's
/// folder (see [`dataset_files`]).
pub fn hour_files(
    storage: &Arc<Storage>,
    root: &str,
) -> anyhow::Result<BTreeMap<i64, Vec<String>>> {
    let mut hours: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for path in dataset_files(storage, root)? {
        if let (true, Some(hour)) = (path.ends_with(".parquet"), hour_of_path(&path)) {
            hours.entry(hour).or_default().push(path);
        }
    }
    Ok(hours)
}

/// Calls `each` with the rows of the raw file at `path` from event time `since` on, and some
/// before (only the row groups that end before `since` are left out: see [`batches_from`]), a
/// record batch at a time; a row of a file without the `watermark` column has none.
pub fn each_raw_batch_since(
    storage: &Storage,
    path: &str,
    since: i64,
    mut each: impl FnMut(Vec<RawRow>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let unreadable = |e: &dyn std::fmt::Display| anyhow::anyhow!("{path} is not readable: {e:#}");
    let batches =
        batches_from(storage.read(path)?, "timestamp", since).map_err(|e| unreadable(&e))?;
    for batch in batches {
        let batch = batch.map_err(|e| unreadable(&e))?;
        each(raw_rows(&batch).map_err(|e| unreadable(&e))?)?;
    }
    Ok(())
}

/// Raw rows: those with the watermark they were read at, and those of files written before
/// the raw dataset recorded it.
#[derive(Debug, Default)]
pub struct RawRows {
    pub rows: Vec<RawRow>,
    pub unrecorded: Vec<Rating>,
}

impl RawRows {
    /// Adds the rows of one Parquet file's bytes (`name` for messages).
    fn add_file(&mut self, bytes: &[u8], name: &str) -> anyhow::Result<()> {
        let batches =
            decode(bytes).map_err(|e| anyhow::anyhow!("{name} is not readable: {e:#}"))?;
        for batch in batches {
            let rows = raw_rows(&batch).map_err(|e| anyhow::anyhow!("{name}: {e:#}"))?;
            if raw_rows_have_watermarks(&batch) {
                self.rows.extend(rows);
            } else {
                self.unrecorded.extend(rows.into_iter().map(|r| r.rating));
            }
        }
        Ok(())
    }

    /// Every row of the files at `paths`.
    pub fn read(storage: &Storage, paths: &[String]) -> anyhow::Result<RawRows> {
        let mut rows = RawRows::default();
        for path in paths {
            rows.add_file(&storage.read(path)?, path)?;
        }
        Ok(rows)
    }

    /// The raw rows (dataset 0) among a checkpoint's unpublished `deltas`.
    pub fn unpublished<'a>(
        deltas: impl IntoIterator<Item = &'a RowDelta>,
    ) -> anyhow::Result<RawRows> {
        let mut rows = RawRows::default();
        for delta in deltas.into_iter().filter(|d| d.dataset == 0) {
            rows.add_file(&delta.parquet, "a row delta of the checkpoint")?;
        }
        Ok(rows)
    }

    /// How many rows, with a recorded watermark or not.
    pub fn count(&self) -> usize {
        self.rows.len() + self.unrecorded.len()
    }

    /// Every row, those without a recorded watermark as if read before the first one (they
    /// then count in every window containing them).
    pub fn all(&self) -> Vec<RawRow> {
        let unrecorded = self.unrecorded.iter().map(|rating| RawRow {
            rating: *rating,
            watermark: None,
        });
        self.rows.iter().copied().chain(unrecorded).collect()
    }
}

#[cfg(test)]
mod tests {
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use ratings_core::Rating;

    use super::super::{batches_from, raw_batch, raw_rows, RawRow};

    /// A raw file of ratings at `times`, in row groups of `group` rows.
    fn file(times: &[i64], group: usize) -> Vec<u8> {
        let rows: Vec<RawRow> = times
            .iter()
            .map(|t| RawRow {
                rating: Rating {
                    user_id: 1,
                    movie_id: 2,
                    rating: 4.0,
                    timestamp: *t,
                },
                watermark: None,
            })
            .collect();
        let batch = raw_batch(&rows);
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group))
            .build();
        let mut writer =
            ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.into_inner().unwrap()
    }

    fn times(bytes: Vec<u8>, since: i64) -> Vec<i64> {
        let batches = batches_from(bytes, "timestamp", since).unwrap();
        let rows = batches.flat_map(|b| raw_rows(&b.unwrap()).unwrap());
        rows.map(|r| r.rating.timestamp).collect()
    }

    #[test]
    fn row_groups_that_end_before_the_first_needed_time_are_not_decoded() {
        let all: Vec<i64> = (0..100).collect();
        // row groups of 10: from 45 on, the groups 40..49 and later are read
        assert_eq!(times(file(&all, 10), 45), (40..100).collect::<Vec<_>>());
        assert_eq!(times(file(&all, 10), 0), all);
        assert!(times(file(&all, 10), 100).is_empty());
        // out of order: a group holding a later time is read whole
        let mixed = [5, 90, 1, 2, 3, 4];
        assert_eq!(times(file(&mixed, 2), 50), [5, 90]);
    }
}
