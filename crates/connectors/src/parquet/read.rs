//! Reading the datasets back: the files of a dataset (of a Delta table, those of its latest
//! version), by hour, and the raw ratings in them or in a checkpoint's rows of files not
//! published yet. `verify`'s audit and the rebuild of changed windows read through here.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{decode, hour_of_path, raw_rows, raw_rows_have_watermarks, RawRow, RowDelta};
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
