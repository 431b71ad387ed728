//! What the audit reads: the Parquet files of each hour folder, the raw rows and aggregate
//! windows in them, the rows the checkpoint holds for files not published yet, and the final
//! windows on the metrics topic (read_committed).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ratings_connectors::kafka::{FollowFrom, KafkaSettings};
use ratings_connectors::parquet::{self, RawRow, RowDelta};
use ratings_connectors::storage::Storage;
use ratings_core::published::Window;
use ratings_core::Rating;

/// How long reading the metrics topic from its start may take.
const METRICS_TIMEOUT: Duration = Duration::from_secs(120);

/// Hour start (epoch seconds) → the Parquet files of its folder under `root` (of a Delta
/// table: those of its latest version).
pub fn hour_folders(
    storage: &Arc<Storage>,
    root: &str,
) -> anyhow::Result<BTreeMap<i64, Vec<String>>> {
    let files = crate::delta::dataset_files(storage, root)?;
    Ok(crate::parquet::hours(&files, root)
        .into_iter()
        .filter_map(|(folder, names)| {
            let paths = names
                .iter()
                .filter(|n| n.ends_with(".parquet"))
                .map(|n| format!("{root}/{folder}/{n}"))
                .collect();
            Some((crate::parquet::hour_start(&folder)?, paths))
        })
        .collect())
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
            parquet::decode(bytes).map_err(|e| anyhow::anyhow!("{name} is not readable: {e:#}"))?;
        for batch in batches {
            let rows = parquet::raw_rows(&batch).map_err(|e| anyhow::anyhow!("{name}: {e:#}"))?;
            if parquet::raw_rows_have_watermarks(&batch) {
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

    /// The raw rows (dataset 0) among the checkpoint's unpublished `deltas`.
    pub fn unpublished(deltas: &[RowDelta]) -> anyhow::Result<RawRows> {
        let mut rows = RawRows::default();
        for delta in deltas.iter().filter(|d| d.dataset == 0) {
            rows.add_file(&delta.parquet, "a row delta of the checkpoint")?;
        }
        Ok(rows)
    }

    /// How many rows, with a recorded watermark or not.
    pub fn count(&self) -> usize {
        self.rows.len() + self.unrecorded.len()
    }
}

/// The windows of the aggregate files at `paths`.
pub fn aggregate_windows(storage: &Storage, paths: &[String]) -> anyhow::Result<Vec<Window>> {
    let mut windows = Vec::new();
    for path in paths {
        let batches = parquet::decode(&storage.read(path)?)
            .map_err(|e| anyhow::anyhow!("{path} is not readable: {e:#}"))?;
        for batch in batches {
            windows.extend(
                parquet::aggregate_windows(&batch).map_err(|e| anyhow::anyhow!("{path}: {e:#}"))?,
            );
        }
    }
    Ok(windows)
}

/// The final windows on `topic` (read_committed, from its start to its current end) that
/// `keep` accepts; records that are not windows are counted.
pub fn metrics_windows(
    settings: &KafkaSettings,
    topic: &str,
    keep: impl Fn(&Window) -> bool,
) -> anyhow::Result<(Vec<Window>, u64)> {
    let (mut windows, mut foreign) = (Vec::new(), 0);
    crate::kafka::read_records_within(
        settings,
        topic,
        FollowFrom::Start,
        usize::MAX,
        METRICS_TIMEOUT,
        |value| match Window::parse(value) {
            Ok(window) if window.is_final && keep(&window) => windows.push(window),
            Ok(_) => {}
            Err(_) => foreign += 1,
        },
    )?;
    Ok((windows, foreign))
}
