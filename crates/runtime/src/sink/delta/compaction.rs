//! Table upkeep: compaction of a closed hour's small files, then vacuum — on a thread of its
//! own, with a storage client of its own, so that the job never waits for it.
//!
//! [`compact_hour`] rewrites the files of one hour smaller than the target size into files of
//! up to that size (bins filled in path order) and replaces them in one commit with
//! `dataChange=false`: readers see either the old files or the new ones, never both or
//! neither. The old files stay for readers of older versions until [`Table::vacuum`] deletes
//! them once they were removed longer ago than the retention. A compaction that fails (the
//! storage down, another writer's compaction first) is logged and left: the next closed hour,
//! or `ratings-stream table optimize`, does it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use ratings_connectors::delta::{NewFile, Table, TableFile};
use ratings_connectors::parquet::{hour_of_path, merge, partition_dir};
use ratings_connectors::storage::Storage;
use ratings_settings::ParquetSettings;

/// How often a table is vacuumed at most (each reads its whole log).
const VACUUM_EVERY: Duration = Duration::from_secs(3600);

/// What to keep the tables at.
#[derive(Debug, Clone)]
pub(crate) struct Upkeep {
    /// Files smaller than this are merged into files up to this size (0: no compaction).
    pub target_bytes: u64,
    /// Removed files older than this are deleted (zero: no vacuum).
    pub retention: Duration,
    /// In the new files' names: `part-<writer>-compacted-<version>-<n>.parquet`.
    pub writer_id: String,
}

impl Upkeep {
    pub(crate) fn of(settings: &ParquetSettings) -> Upkeep {
        Upkeep {
            target_bytes: settings.compaction_target as u64,
            retention: settings.vacuum_retention,
            writer_id: settings.writer_id.clone(),
        }
    }
}

/// What one compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Compacted {
    /// Files of the hour before and after.
    pub files_before: usize,
    pub files_after: usize,
    /// The table's version with the new files.
    pub version: u64,
}

/// The upkeep thread of a job's tables; dropping it lets the thread finish the hours handed
/// to it and waits for it.
pub(crate) struct Compaction {
    /// A table's folder and a closed hour of it.
    sender: Option<Sender<(String, i64)>>,
    thread: Option<JoinHandle<()>>,
}

impl Compaction {
    /// The thread for the job's tables, unless neither compaction nor vacuum is on.
    pub(crate) fn start(settings: &ParquetSettings) -> Option<Compaction> {
        let upkeep = Upkeep::of(settings);
        let url = settings.storage.clone()?;
        if upkeep.target_bytes == 0 && upkeep.retention.is_zero() {
            return None;
        }
        let (sender, receiver) = channel::<(String, i64)>();
        let thread = std::thread::Builder::new()
            .name("delta-upkeep".into())
            .spawn(move || {
                let storage = match Storage::open(&url) {
                    Ok(storage) => Arc::new(storage),
                    Err(error) => {
                        tracing::warn!("delta: no compaction in this run: {error:#}");
                        return;
                    }
                };
                // each table with when it was vacuumed last, opened when it first has an hour
                let mut tables: BTreeMap<String, (Table, Option<Instant>)> = BTreeMap::new();
                // the hours closed meanwhile are done together: one read of each table's files
                while let Ok(first) = receiver.recv() {
                    let due: BTreeMap<String, BTreeSet<i64>> = std::iter::once(first)
                        .chain(receiver.try_iter())
                        .fold(BTreeMap::new(), |mut due, (root, hour)| {
                            due.entry(root).or_default().insert(hour);
                            due
                        });
                    for (root, hours) in due {
                        let Some((table, vacuumed)) = table_of(&mut tables, &storage, root) else {
                            continue;
                        };
                        let hours: Vec<i64> = hours.into_iter().collect();
                        compact(table, &hours, &upkeep);
                        vacuum(table, vacuumed, &upkeep);
                    }
                }
            })
            .ok();
        Some(Compaction {
            sender: Some(sender),
            thread,
        })
    }

    /// Hour `hour` of the table at `root` is complete: compact it and vacuum.
    pub(crate) fn closed(&self, root: &str, hour: i64) {
        if let Some(sender) = &self.sender {
            let _ = sender.send((root.to_string(), hour));
        }
    }
}

impl Drop for Compaction {
    fn drop(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The table at `root` (opened on this thread's storage client the first time), or `None`
/// (logged) when it cannot be opened.
fn table_of<'t>(
    tables: &'t mut BTreeMap<String, (Table, Option<Instant>)>,
    storage: &Arc<Storage>,
    root: String,
) -> Option<&'t mut (Table, Option<Instant>)> {
    if !tables.contains_key(&root) {
        let opened = Table::open(storage, &root)
            .and_then(|t| t.with_context(|| format!("the Delta table {root} is gone")));
        match opened {
            Ok(table) => {
                tables.insert(root.clone(), (table, None));
            }
            Err(error) => {
                tracing::warn!("delta: {root} is not compacted: {error:#}");
                return None;
            }
        }
    }
    tables.get_mut(&root)
}

/// Compacts hours, logging what it did or why it could not.
fn compact(table: &mut Table, hours: &[i64], upkeep: &Upkeep) {
    if upkeep.target_bytes == 0 {
        return;
    }
    match compact_hours(table, hours, upkeep) {
        Ok(done) => {
            for (hour, done) in done {
                tracing::info!(
                    "delta: {} {}: {} files compacted into {} (version {})",
                    table.root(),
                    partition_dir(hour),
                    done.files_before,
                    done.files_after,
                    done.version
                );
            }
        }
        Err(error) => tracing::warn!(
            "delta: compacting {} failed ({error:#}); `ratings-stream table optimize` can do it \
             later",
            table.root()
        ),
    }
}

/// Vacuums the table if it was not vacuumed within the last [`VACUUM_EVERY`].
fn vacuum(table: &mut Table, last: &mut Option<Instant>, upkeep: &Upkeep) {
    let due = last.is_none_or(|at| at.elapsed() >= VACUUM_EVERY);
    if !upkeep.retention.is_zero() && due {
        *last = Some(Instant::now());
        match table.vacuum(upkeep.retention, false) {
            Ok(deleted) if !deleted.is_empty() => tracing::info!(
                "delta: {}: {} removed files deleted (vacuum)",
                table.root(),
                deleted.len()
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!("delta: vacuum of {} failed ({error:#})", table.root()),
        }
    }
}

/// Compacts each of `hours` with [`compact_hour`], on the
/// table's latest version; what was done, per hour.
pub(crate) fn compact_hours(
    table: &mut Table,
    hours: &[i64],
    upkeep: &Upkeep,
) -> anyhow::Result<Vec<(i64, Compacted)>> {
    table.refresh()?;
    let mut by_hour: BTreeMap<i64, Vec<TableFile>> = BTreeMap::new();
    for file in table.files()? {
        if let Some(hour) = hour_of_path(&file.partition) {
            by_hour.entry(hour).or_default().push(file);
        }
    }
    let mut done = Vec::new();
    for hour in hours {
        let files = by_hour.remove(hour).unwrap_or_default();
        if let Some(compacted) = compact_hour(table, *hour, files, upkeep)? {
            done.push((*hour, compacted));
        }
    }
    Ok(done)
}

/// Rewrites an hour's `files` smaller than the target into files of up to the target size;
/// `None` when there is nothing to merge (fewer than two small files).
fn compact_hour(
    table: &mut Table,
    hour: i64,
    files: Vec<TableFile>,
    upkeep: &Upkeep,
) -> anyhow::Result<Option<Compacted>> {
    let partition = partition_dir(hour);
    let small: Vec<&TableFile> = files
        .iter()
        .filter(|f| f.bytes < upkeep.target_bytes)
        .collect();
    let bins: Vec<Vec<&TableFile>> = bins(&small, upkeep.target_bytes)
        .into_iter()
        .filter(|bin| bin.len() > 1)
        .collect();
    if bins.is_empty() {
        return Ok(None);
    }
    let storage = Arc::clone(table.storage());
    let version = table.version().unwrap_or(0) + 1;
    let mut new = Vec::new();
    for (n, bin) in bins.iter().enumerate() {
        let path = format!(
            "{partition}/part-{}-compacted-{version:010}-{n:05}.parquet",
            upkeep.writer_id
        );
        let reads = bin
            .iter()
            .map(|f| storage.read(&format!("{}/{}", table.root(), f.path)));
        let (bytes, rows) = merge(reads)?;
        let size = bytes.len() as u64;
        storage.publish(&format!("{}/{path}", table.root()), bytes)?;
        new.push(NewFile {
            path,
            hour,
            bytes: size,
            rows: Some(rows),
        });
    }
    let old: Vec<TableFile> = bins.iter().flatten().map(|f| (*f).clone()).collect();
    let version = match table.replace(hour, &old, &new) {
        Ok(version) => version,
        Err(error) => {
            // the new files were never part of the table: nothing refers to them
            for file in &new {
                let _ = storage.delete(&format!("{}/{}", table.root(), file.path));
            }
            return Err(error);
        }
    };
    Ok(Some(Compacted {
        files_before: files.len(),
        files_after: files.len() - old.len() + new.len(),
        version,
    }))
}

/// Files in order, cut into bins of at most `target` bytes each (a file alone may be larger).
fn bins<'a>(files: &[&'a TableFile], target: u64) -> Vec<Vec<&'a TableFile>> {
    let mut bins: Vec<Vec<&TableFile>> = Vec::new();
    let mut filled = u64::MAX;
    for file in files {
        if filled.saturating_add(file.bytes) > target {
            bins.push(Vec::new());
            filled = 0;
        }
        filled += file.bytes;
        bins.last_mut().expect("a bin was opened").push(file);
    }
    bins
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: u64, bytes: u64) -> TableFile {
        TableFile {
            path: format!("f{n}"),
            partition: String::new(),
            bytes,
            rows: None,
        }
    }

    #[test]
    fn files_are_packed_in_order_into_bins_of_the_target_size() {
        let files = [
            file(0, 40),
            file(1, 50),
            file(2, 30),
            file(3, 100),
            file(4, 10),
        ];
        let refs: Vec<&TableFile> = files.iter().collect();
        let paths = |bins: Vec<Vec<&TableFile>>| -> Vec<Vec<String>> {
            bins.iter()
                .map(|b| b.iter().map(|f| f.path.clone()).collect())
                .collect()
        };
        assert_eq!(
            paths(bins(&refs, 100)),
            [vec!["f0", "f1"], vec!["f2"], vec!["f3"], vec!["f4"]]
        );
        assert_eq!(
            paths(bins(&refs, 1000)),
            [vec!["f0", "f1", "f2", "f3", "f4"]]
        );
        assert!(bins(&[], 100).is_empty());
    }
}
