//! The Delta stage (`--table-format delta`): the Parquet sink's finished files become commits
//! of Delta Lake tables, one table per dataset ([`ratings_connectors::delta`] is the client).
//!
//! - Exactly-once: after an epoch's Kafka transaction committed, the coordinator moves its data
//!   files into place and calls [`DeltaTables`]' [`EpochTables::commit_epoch`]: one commit per
//!   table with files in the epoch, carrying the application transaction (app id = the
//!   transactional id, version = the epoch). Recovery calls it again for an epoch a crash
//!   interrupted; a table that has the epoch already is left alone.
//! - Bounded and at-least-once runs: the Parquet sink publishes files at once and
//!   [`DeltaTables::append`]s them, one commit per table.
//!
//! An hour's `_SUCCESS` marker is published after the commit holding its last files; the
//! hours closed that way are handed to the [`compaction`] thread, which rewrites their small
//! files and vacuums.

pub(crate) mod compaction;

use std::sync::Arc;

use arrow_schema::SchemaRef;
use ratings_connectors::checkpoint::{EpochOffsets, FileSize};
use ratings_connectors::delta::{EpochCommit, NewFile, Table};
use ratings_connectors::parquet::{
    hour_of_path, is_marker, AGGREGATE_SCHEMA, RAW_ROOT, RAW_SCHEMA,
};
use ratings_connectors::storage::Storage;
use ratings_settings::ParquetSettings;

use crate::delivery::exactly_once::EpochTables;
use compaction::Compaction;

/// The tables of a job's datasets.
pub(crate) struct DeltaTables {
    storage: Arc<Storage>,
    /// One per dataset with files (or created at the start).
    tables: Vec<Table>,
    /// The application id of epoch commits: the job's transactional id (exactly-once only).
    app_id: Option<String>,
    /// `None` when neither compaction nor vacuum runs on its own.
    compaction: Option<Compaction>,
}

impl DeltaTables {
    /// The tables of the datasets on `storage`: those of `create` at once (created if
    /// missing), any other when files first come for it (the folders of an exactly-once job's
    /// window types are known once its checkpoint is read). Epochs are committed as
    /// application `app_id` (exactly-once runs).
    pub(crate) fn open(
        storage: &Arc<Storage>,
        settings: &ParquetSettings,
        create: &[(String, SchemaRef)],
        app_id: Option<&str>,
    ) -> anyhow::Result<DeltaTables> {
        let tables = create
            .iter()
            .map(|(root, schema)| Table::open_or_create(storage, root, schema))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let compaction = Compaction::start(settings);
        Ok(DeltaTables {
            storage: Arc::clone(storage),
            tables,
            app_id: app_id.map(str::to_string),
            compaction,
        })
    }

    /// Adds files published already (paths relative to the storage base) to their tables, one
    /// commit per table; then hands the hours whose markers are among them to compaction.
    pub(crate) fn append(&mut self, files: &[(String, FileSize)]) -> anyhow::Result<()> {
        let files: Vec<Published> = files
            .iter()
            .map(|(path, size)| Published {
                path: path.clone(),
                bytes: size.bytes,
                rows: Some(size.rows),
            })
            .collect();
        self.add(&files, None)
    }

    /// Commits each table's share of `files`, the tables at once (on HDFS a commit waits
    /// ~0.5 s for its log file to close); then hands the hours whose markers are among them to
    /// compaction.
    fn add(&mut self, files: &[Published], epoch: Option<u64>) -> anyhow::Result<()> {
        self.open_missing(files)?;
        let epoch = match (epoch, &self.app_id) {
            (Some(epoch), Some(app_id)) => Some((app_id.as_str(), epoch)),
            (Some(_), None) => anyhow::bail!("epochs are committed with an application id"),
            (None, _) => None,
        };
        let shares: Vec<Share> = self.tables.iter().map(|t| share(t.root(), files)).collect();
        std::thread::scope(|scope| {
            let commits: Vec<_> = (self.tables.iter_mut().zip(&shares))
                .filter(|(_, share)| !share.new.is_empty())
                .map(|(table, share)| scope.spawn(move || commit(table, epoch, &share.new)))
                .collect();
            commits.into_iter().try_for_each(|commit| {
                commit
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        })?;
        if let Some(compaction) = &self.compaction {
            for (table, share) in self.tables.iter().zip(&shares) {
                for hour in &share.closed {
                    compaction.closed(table.root(), *hour);
                }
            }
        }
        Ok(())
    }

    /// Opens (or creates) the tables of the folders among `files` that have none open yet.
    fn open_missing(&mut self, files: &[Published]) -> anyhow::Result<()> {
        for file in files {
            let Some((root, _)) = file.path.split_once("/date=") else {
                continue;
            };
            if self.tables.iter().all(|t| t.root() != root) {
                let schema = if root == RAW_ROOT {
                    &RAW_SCHEMA
                } else {
                    &AGGREGATE_SCHEMA
                };
                let table = Table::open_or_create(&self.storage, root, schema)?;
                self.tables.push(table);
            }
        }
        Ok(())
    }
}

/// A table's part of the files published together.
struct Share {
    /// Data files to add.
    new: Vec<NewFile>,
    /// Hours whose markers are among the files.
    closed: Vec<i64>,
}

/// The files of `files` in the table at `root` (paths relative to the storage base).
fn share(root: &str, files: &[Published]) -> Share {
    let prefix = format!("{root}/");
    let mut share = Share {
        new: Vec::new(),
        closed: Vec::new(),
    };
    for file in files {
        let (Some(relative), Some(hour)) =
            (file.path.strip_prefix(&prefix), hour_of_path(&file.path))
        else {
            continue;
        };
        if is_marker(relative) {
            share.closed.push(hour);
        } else {
            share.new.push(NewFile {
                path: relative.to_string(),
                hour,
                bytes: file.bytes,
                rows: file.rows,
            });
        }
    }
    share
}

impl EpochTables for DeltaTables {
    fn commit_epoch(&mut self, offsets: &EpochOffsets) -> anyhow::Result<()> {
        let files = published(&self.storage, offsets)?;
        self.add(&files, Some(offsets.epoch))
    }
}

/// A file an epoch published, to add to its table.
#[derive(Debug, PartialEq, Eq)]
struct Published {
    /// Relative to the storage base.
    path: String,
    bytes: u64,
    /// Unknown for an epoch an older version recorded.
    rows: Option<u64>,
}

/// The files an epoch published, with their sizes and rows: from the epoch's record, or
/// looked up in the storage for an epoch of an older version, which recorded no sizes (rows
/// unknown then; the markers are not written yet when the tables commit, and need no size).
fn published(storage: &Storage, offsets: &EpochOffsets) -> anyhow::Result<Vec<Published>> {
    if offsets.sizes.len() == offsets.publications.len() {
        let pairs = offsets.publications.iter().zip(&offsets.sizes);
        return Ok(pairs
            .map(|(path, size)| Published {
                path: path.clone(),
                bytes: size.bytes,
                rows: Some(size.rows),
            })
            .collect());
    }
    let lookup = |path: &String| -> anyhow::Result<Published> {
        let bytes = if is_marker(path) {
            0
        } else {
            storage.size(path)?
        };
        Ok(Published {
            path: path.clone(),
            bytes,
            rows: None,
        })
    };
    offsets.publications.iter().map(lookup).collect()
}

/// One commit of `files` to `table`: of an epoch of an application, or appended.
fn commit(table: &mut Table, epoch: Option<(&str, u64)>, files: &[NewFile]) -> anyhow::Result<()> {
    let Some((app_id, epoch)) = epoch else {
        let version = table.append(files)?;
        tracing::debug!(
            "delta: {} files appended to {} (version {version})",
            files.len(),
            table.root()
        );
        return Ok(());
    };
    match table.commit_epoch(app_id, epoch, files)? {
        EpochCommit::Made(version) => tracing::debug!(
            "delta: epoch {epoch} committed to {} as version {version} ({} files)",
            table.root(),
            files.len()
        ),
        EpochCommit::AlreadyThere(last) => tracing::info!(
            "delta: {} has epoch {last} of {app_id} already; epoch {epoch} is not committed again",
            table.root()
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
