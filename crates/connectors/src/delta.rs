//! Delta Lake tables on a [`Storage`], through delta-rs (`deltalake-core`, without DataFusion):
//! one [`Table`] per dataset, with the dataset's columns plus the partition columns `date`
//! (date) and `hour` (integer), partitioned by them.
//!
//! Data files are written by the Parquet datasets (into the table's folder, where no reader
//! sees them) and become part of the table by a commit that adds them
//! ([`Table::commit_epoch`] with an application transaction, or [`Table::append`]).
//! [`Table::compact`] rewrites an hour's small files into few large ones (a commit that removes
//! and adds with `dataChange=false`, as Delta's OPTIMIZE does); [`Table::vacuum`] deletes the
//! files removed longer ago than a retention period. Checkpoints of the log are written by
//! delta-rs every `delta.checkpointInterval` commits.
//!
//! Every operation is retried while the storage fails transiently, like the storage's own.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::{Arc, Once};

use anyhow::Context;
use arrow_schema::SchemaRef;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{
    CommitBuilder, CommitConflictError, CommitProperties, TransactionError,
};
use deltalake_core::kernel::{Action, Add, DataType, Remove, StructField, StructType, Transaction};
use deltalake_core::logstore::{default_logstore, logstore_factories, LogStore, LogStoreFactory};
use deltalake_core::logstore::{DeltaIOStorageBackend, IORuntime, ObjectStoreRef, StorageConfig};
use deltalake_core::operations::vacuum::VacuumMode;
use deltalake_core::protocol::{DeltaOperation, OutputMode, SaveMode};
use deltalake_core::{DeltaResult, DeltaTableBuilder, DeltaTableError, TableProperty};
use ratings_core::time::rfc3339_seconds;

use crate::storage::{is_permanent, Storage};

/// The partition columns, in order.
pub const PARTITION_COLUMNS: [&str; 2] = ["date", "hour"];
/// Commits between two checkpoints of the log (delta-rs's default; a checkpoint holds every
/// file of the table, and a replay of sparse history adds thousands).
const CHECKPOINT_INTERVAL: &str = "100";

/// A data file to add to a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// Relative to the table's folder: `date=…/hour=…/part-….parquet`.
    pub path: String,
    /// The hour its rows belong to (epoch seconds).
    pub hour: i64,
    pub bytes: u64,
    /// Rows in it, if known (the `numRecords` statistic).
    pub rows: Option<u64>,
}

/// A data file of a table, as its latest version has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFile {
    /// Relative to the table's folder.
    pub path: String,
    /// The `date`/`hour` partition it belongs to, as `date=…/hour=…` (the folder's name).
    pub partition: String,
    pub bytes: u64,
    pub rows: Option<u64>,
}

/// What [`Table::commit_epoch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochCommit {
    /// The epoch's commit is this version of the table.
    Made(u64),
    /// The table holds this epoch or a later one of the application already.
    AlreadyThere(u64),
}

/// A Delta table: see the module documentation.
pub struct Table {
    storage: Arc<Storage>,
    /// The table's folder, relative to the storage base.
    root: String,
    table: deltalake_core::DeltaTable,
}

impl Table {
    /// The table at `root` (relative to the storage base), created with `schema`'s columns and
    /// the partition columns when it does not exist yet.
    pub fn open_or_create(
        storage: &Arc<Storage>,
        root: &str,
        schema: &SchemaRef,
    ) -> anyhow::Result<Table> {
        let mut table = Table::at(storage, root)?;
        if !table.retried(|t| t.storage.block_on(t.table.verify_deltatable_existence()))? {
            table.create(schema)?;
        }
        table.refresh()?;
        Ok(table)
    }

    /// The table at `root`, if there is one.
    pub fn open(storage: &Arc<Storage>, root: &str) -> anyhow::Result<Option<Table>> {
        let mut table = Table::at(storage, root)?;
        if !table.retried(|t| t.storage.block_on(t.table.verify_deltatable_existence()))? {
            return Ok(None);
        }
        table.refresh()?;
        Ok(Some(table))
    }

    fn at(storage: &Arc<Storage>, root: &str) -> anyhow::Result<Table> {
        register_log_stores();
        let (store, url) = table_store(storage, root)?;
        let table = DeltaTableBuilder::from_url(url.clone())?
            .with_storage_backend(store, url)
            .build()
            .with_context(|| format!("cannot open the Delta table {root} in {}", storage.url()))?;
        Ok(Table {
            storage: Arc::clone(storage),
            root: root.trim_matches('/').to_string(),
            table,
        })
    }

    fn create(&mut self, schema: &SchemaRef) -> anyhow::Result<()> {
        let columns: StructType = schema
            .as_ref()
            .try_into_kernel()
            .context("the dataset's schema has no Delta equivalent")?;
        let partitions = [
            StructField::new("date", DataType::DATE, true),
            StructField::new("hour", DataType::INTEGER, true),
        ];
        let created = self.retried(|t| {
            let creating = t
                .table
                .create()
                .with_columns(columns.fields().cloned().chain(partitions.clone()))
                .with_partition_columns(PARTITION_COLUMNS)
                .with_configuration_property(
                    TableProperty::CheckpointInterval,
                    Some(CHECKPOINT_INTERVAL),
                )
                .with_save_mode(SaveMode::Ignore);
            t.storage.block_on(creating.into_future())
        });
        self.table =
            created.with_context(|| format!("cannot create the Delta table {}", self.root))?;
        tracing::info!(
            "delta: created the table {}/{}",
            self.storage.url(),
            self.root
        );
        Ok(())
    }

    /// The storage the table is on.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// The table's folder, relative to the storage base.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The table's latest version, as last read.
    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    /// Reads the log up to its latest version.
    pub fn refresh(&mut self) -> anyhow::Result<()> {
        self.retried(|t| t.storage.block_on(t.table.update_state()))
            .with_context(|| format!("cannot read the Delta log of {}", self.root))
    }

    /// The last epoch application `app_id` committed, as of the latest version.
    pub fn last_epoch(&mut self, app_id: &str) -> anyhow::Result<Option<u64>> {
        self.refresh()?;
        self.committed_epoch(app_id)
    }

    /// The last epoch of `app_id` in the version read last.
    fn committed_epoch(&mut self, app_id: &str) -> anyhow::Result<Option<u64>> {
        let version = self.retried(|t| {
            let state = t.table.snapshot()?;
            let log = t.table.log_store();
            t.storage
                .block_on(state.transaction_version(log.as_ref(), app_id))
        })?;
        Ok(version.map(|v| v as u64))
    }

    /// One commit adding `files`, with the application transaction (`app_id`, `epoch`) — unless
    /// the table has that epoch of the application or a later one already (an earlier attempt,
    /// or another processor with the same id, made it): a commit is never made twice, and
    /// never over a later epoch.
    pub fn commit_epoch(
        &mut self,
        app_id: &str,
        epoch: u64,
        files: &[NewFile],
    ) -> anyhow::Result<EpochCommit> {
        loop {
            if let Some(done) = self.last_epoch(app_id)?.filter(|done| *done >= epoch) {
                return Ok(EpochCommit::AlreadyThere(done));
            }
            let properties = CommitProperties::default()
                .with_application_transaction(Transaction::new(app_id, epoch as i64));
            let operation = DeltaOperation::StreamingUpdate {
                output_mode: OutputMode::Append,
                query_id: app_id.to_string(),
                epoch_id: epoch as i64,
            };
            let actions = files.iter().map(|f| Action::Add(add(f, true))).collect();
            match self.commit(actions, properties, operation) {
                Ok(version) => return Ok(EpochCommit::Made(version)),
                // a commit of the same application landed since the table was read: look again
                Err(error) if concurrent_transaction(&error) => continue,
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!(
                            "cannot commit epoch {epoch} to the Delta table {}",
                            self.root
                        )
                    })
                }
            }
        }
    }

    /// One commit adding `files`, without an application transaction (at-least-once and
    /// bounded runs).
    pub fn append(&mut self, files: &[NewFile]) -> anyhow::Result<u64> {
        self.refresh()?;
        let actions = files.iter().map(|f| Action::Add(add(f, true))).collect();
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(PARTITION_COLUMNS.map(String::from).to_vec()),
            predicate: None,
        };
        self.commit(actions, CommitProperties::default(), operation)
            .with_context(|| format!("cannot append to the Delta table {}", self.root))
    }

    /// Commits `actions` on the version read last (delta-rs retries on a newer version when
    /// the commits do not conflict); the new version. Transient storage failures are retried.
    fn commit(
        &mut self,
        actions: Vec<Action>,
        properties: CommitProperties,
        operation: DeltaOperation,
    ) -> Result<u64, DeltaTableError> {
        let committed = self.storage.block_on(async {
            CommitBuilder::from(properties)
                .with_actions(actions)
                .build(
                    Some(self.table.snapshot()?),
                    self.table.log_store(),
                    operation,
                )
                .await
        })?;
        let version = committed.version();
        self.table.state = Some(committed.snapshot());
        Ok(version)
    }

    /// The data files of the latest version read.
    pub fn files(&self) -> anyhow::Result<Vec<TableFile>> {
        let state = self.table.snapshot()?;
        Ok(state
            .log_data()
            .iter()
            .map(|file| {
                let values = file.partition_values_map();
                let value = |name: &str| values.get(name).cloned().flatten().unwrap_or_default();
                TableFile {
                    path: file.path().to_string(),
                    partition: format!("date={}/hour={:0>2}", value("date"), value("hour")),
                    bytes: file.size() as u64,
                    rows: file.stats().and_then(|s| rows_of_stats(&s)),
                }
            })
            .collect())
    }

    /// Replaces `old` files (of one hour) by `new` ones holding the same rows, in one commit
    /// with `dataChange=false` (Delta's OPTIMIZE): readers see the old files up to this version
    /// and the new ones from it. The new files must be written already.
    pub fn replace(
        &mut self,
        hour: i64,
        old: &[TableFile],
        new: &[NewFile],
    ) -> anyhow::Result<u64> {
        let now = ratings_core::time::now_millis();
        let partition = partition_values(hour);
        let removes = old.iter().map(|file| {
            Action::Remove(Remove {
                path: file.path.clone(),
                data_change: false,
                deletion_timestamp: Some(now),
                extended_file_metadata: Some(true),
                partition_values: Some(partition.clone()),
                size: Some(file.bytes as i64),
                ..Default::default()
            })
        });
        let adds = new.iter().map(|f| Action::Add(add(f, false)));
        let operation = DeltaOperation::Optimize {
            predicate: None,
            target_size: new.iter().map(|f| f.bytes as i64).max().unwrap_or(0),
        };
        self.commit(
            removes.chain(adds).collect(),
            CommitProperties::default(),
            operation,
        )
        .with_context(|| format!("cannot commit the compaction of {}", self.root))
    }

    /// Deletes the files removed from the table longer than `retention` ago (files the log
    /// never added are left alone); the paths deleted, or that would be with `dry_run`.
    pub fn vacuum(
        &mut self,
        retention: std::time::Duration,
        dry_run: bool,
    ) -> anyhow::Result<Vec<String>> {
        self.refresh()?;
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let (table, metrics) = self
            .retried(|t| {
                let vacuum = t
                    .table
                    .clone()
                    .vacuum()
                    .with_retention_period(retention)
                    .with_enforce_retention_duration(false)
                    .with_mode(VacuumMode::Lite)
                    .with_dry_run(dry_run);
                t.storage.block_on(vacuum.into_future())
            })
            .with_context(|| format!("cannot vacuum the Delta table {}", self.root))?;
        self.table = table;
        Ok(metrics.files_deleted)
    }

    /// Runs `attempt` until it succeeds or fails for good (see [`Storage::retry_blocking`]).
    fn retried<T>(
        &mut self,
        mut attempt: impl FnMut(&mut Table) -> DeltaResult<T>,
    ) -> anyhow::Result<T> {
        let storage = Arc::clone(&self.storage);
        storage.retry_blocking(
            || attempt(self).map_err(anyhow::Error::new),
            |error| !transient(error),
        )
    }
}

/// The store a table's log and files are read through, and the table's URL. delta-rs reads on
/// runtimes of its own (its kernel's executor) as well as on the caller's: every request goes
/// to delta-rs's IO runtime, whose threads always run (an HDFS client's requests run there
/// already, see [`crate::storage::hdfs_store`]).
fn table_store(storage: &Storage, root: &str) -> anyhow::Result<(ObjectStoreRef, url::Url)> {
    let (store, url) = storage.location_of(root)?;
    if url.scheme() == "hdfs" {
        return Ok((store, url));
    }
    let io = IORuntime::default();
    Ok((Arc::new(DeltaIOStorageBackend::new(store, io)), url))
}

/// The `Add` action of a new file.
fn add(file: &NewFile, data_change: bool) -> Add {
    Add {
        path: file.path.clone(),
        partition_values: partition_values(file.hour),
        size: file.bytes as i64,
        modification_time: ratings_core::time::now_millis(),
        data_change,
        stats: file.rows.map(|rows| format!(r#"{{"numRecords":{rows}}}"#)),
        ..Default::default()
    }
}

/// `date` and `hour` of the hour starting at `hour` (epoch seconds), as the log spells them.
fn partition_values(hour: i64) -> HashMap<String, Option<String>> {
    let text = rfc3339_seconds(hour);
    let hour_of_day = text[11..13].trim_start_matches('0');
    HashMap::from([
        ("date".to_string(), Some(text[..10].to_string())),
        (
            "hour".to_string(),
            Some(
                if hour_of_day.is_empty() {
                    "0"
                } else {
                    hour_of_day
                }
                .to_string(),
            ),
        ),
    ])
}

/// `numRecords` of a file's statistics.
fn rows_of_stats(stats: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(stats)
        .ok()?
        .get("numRecords")?
        .as_u64()
}

/// Whether a commit failed because a commit of the same application landed first.
fn concurrent_transaction(error: &DeltaTableError) -> bool {
    matches!(
        error,
        DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(CommitConflictError::ConcurrentTransaction)
        }
    )
}

/// Whether retrying may help: the storage failed in a way that can pass.
fn transient(error: &anyhow::Error) -> bool {
    let Some(error) = error.downcast_ref::<DeltaTableError>() else {
        return false;
    };
    match error {
        DeltaTableError::ObjectStore { source }
        | DeltaTableError::Transaction {
            source: TransactionError::ObjectStore { source },
        } => !is_permanent(source),
        DeltaTableError::Io { .. } => true,
        _ => false,
    }
}

/// The log store every table URL scheme we write to uses: delta-rs's default one (conditional
/// puts: `PutMode::Create` — an atomic rename without overwrite on HDFS, `If-None-Match` on
/// S3), over the storage's own client.
struct DefaultLogStores;

impl LogStoreFactory for DefaultLogStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &url::Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// Registers [`DefaultLogStores`] for `hdfs://` and `s3://` (`file://` and `memory://` have
/// delta-rs's own).
fn register_log_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["hdfs://", "s3://"] {
            let url = url::Url::parse(scheme).expect("a scheme is a URL");
            logstore_factories().insert(url, Arc::new(DefaultLogStores));
        }
    });
}

#[cfg(test)]
mod tests;
