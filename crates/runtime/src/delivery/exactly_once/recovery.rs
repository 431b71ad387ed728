//! Recovery of an exactly-once processor: on start, the epoch a crash left in flight is
//! settled by what Kafka committed, and the last committed epoch is restored.
//!
//! Registering the transactional id (before this runs) fences an older processor and settles
//! its open transaction. An epoch with offsets but no commit record is then finished if the
//! consumer group's offsets carry its tag or a later one (Kafka committed it), else rolled back; the processor
//! restores the last committed state — engine, watermark, open Parquet files — and reads on
//! from its offsets.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use ratings_connectors::checkpoint::{CheckpointStore, CommitRecord, EpochOffsets, Owner};
use ratings_connectors::kafka::{Start, StartFrom};
use ratings_connectors::parquet::{ParquetState, RowDelta};
use ratings_core::snapshot::SnapshotError;
use ratings_core::{Catalog, Engine, EngineConfig};

use super::rebuild::{rebuild, WindowsChange};
use super::transactions::Transactions;
use super::{oldest_open_file_epoch, tagged_epoch, Coordinator, Phase, ProcessorState, Timeouts};
use super::{publish, EpochTables, EpochWork};
use crate::pipeline::now_millis;

/// The checkpoint cannot be used as it is: restore it, or start over.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(
        "Kafka has epoch {kafka} of checkpoint {location} committed (group {group}), but the \
         checkpoint ends at {checkpoint}: it is older than the outputs"
    )]
    BehindKafka {
        kafka: u64,
        location: String,
        group: String,
        checkpoint: String,
    },
    #[error("the checkpoint {location} reads topic {found}, not {expected}")]
    OtherTopic {
        location: String,
        found: String,
        expected: String,
    },
    #[error("the state of epoch {epoch} in {location} cannot be decoded: {reason}")]
    Undecodable {
        epoch: u64,
        location: String,
        reason: String,
    },
    #[error("the checkpoint {location} has Parquet outputs but no Parquet storage is configured")]
    ParquetMissing { location: String },
    #[error(
        "the window types changed since the checkpoint {location} ({difference}), and {lacking}"
    )]
    WindowsChanged {
        location: String,
        difference: String,
        /// Why the raw dataset cannot rebuild the open windows.
        lacking: String,
    },
    #[error("cannot restore the engine from {location}")]
    EngineRestore {
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What recovery needs to know about the job.
pub(crate) struct RecoveryPlan<'a> {
    /// The input topic.
    pub topic: &'a str,
    /// The consumer group (named in messages).
    pub group: &'a str,
    /// Where a processor without checkpoint starts.
    pub starting_offsets: StartFrom,
    /// The settings that decide the outputs, recorded with the owner (see
    /// [`ratings_settings::JobConfig::identity`]).
    pub identity: BTreeMap<String, String>,
    /// Whether the job writes the raw dataset (`--storage`).
    pub raw_output: bool,
    pub timeouts: Timeouts,
}

/// Where a (re)started processor stands.
pub(crate) struct Recovered {
    /// Its epoch the first number it may claim (see [`Recovered::claim`]).
    coordinator: Coordinator,
    /// The job's settings, recorded with the owner once the restart goes on.
    identity: BTreeMap<String, String>,
    /// The watermark the raw dataset began at, when the job first ran without it (see
    /// [`ratings_connectors::checkpoint::CheckpointMetadata::raw_from_watermark`]).
    raw_from: Option<i64>,
    /// Whether this start begins the raw dataset of a checkpoint written without it (recorded
    /// once the restart goes on).
    raw_begins: bool,
    /// Where reading resumes.
    pub start: Start,
    /// The committed epoch restored, if any.
    pub restored_epoch: Option<u64>,
    /// The watermark it ended at.
    watermark: Option<i64>,
    state: Option<ProcessorState>,
    rows: Vec<(u64, Vec<RowDelta>)>,
}

impl Recovered {
    /// Opens (or creates) the checkpoint, settles the epoch a crash left in flight, and loads
    /// the last committed state. The transactional id must already be registered.
    pub(crate) fn recover(
        store: CheckpointStore,
        kafka: Arc<dyn Transactions>,
        mut tables: Option<Box<dyn EpochTables>>,
        plan: &RecoveryPlan<'_>,
    ) -> anyhow::Result<Recovered> {
        let fresh = !store.exists()?;
        let metadata = store.open_or_create()?;
        let id = metadata.id;
        settle_pending(&store, &id, &*kafka, plan.group, tables.as_deref_mut())?;
        let mut skipped = Vec::new();
        let mut watermark = None;
        let (start, restored_epoch, state, rows) = match store.latest()? {
            None => (Start::At(plan.starting_offsets), None, None, Vec::new()),
            Some(restored) => {
                let offsets = restored.offsets;
                if offsets.topic != plan.topic {
                    return Err(RecoveryError::OtherTopic {
                        location: store.location(),
                        found: offsets.topic,
                        expected: plan.topic.to_string(),
                    }
                    .into());
                }
                let state = ProcessorState::decode(restored.state_version, &restored.state)
                    .map_err(|error| RecoveryError::Undecodable {
                        epoch: offsets.epoch,
                        location: store.location(),
                        reason: format!("{error:#}"),
                    })?;
                skipped = offsets.skipped_epochs.clone();
                watermark = offsets.watermark;
                let rows = load_rows(&store, state.parquet.as_ref(), &offsets)?;
                (
                    Start::Offsets(offsets.next_offsets),
                    Some(offsets.epoch),
                    Some(state),
                    rows,
                )
            }
        };
        // a fenced predecessor may still write files of the epoch after the restored one: this
        // incarnation leaves that number out (a new checkpoint has no predecessor)
        let restored = restored_epoch.unwrap_or(0);
        if !fresh {
            skipped.push(restored + 1);
        }
        Ok(Recovered {
            coordinator: Coordinator {
                store,
                kafka,
                checkpoint_id: id,
                topic: plan.topic.to_string(),
                epoch: restored + 1 + u64::from(!fresh),
                incarnation: super::new_incarnation(),
                skipped,
                timeouts: plan.timeouts,
                phase: Phase::default(),
                owed: None,
                tables,
            },
            identity: plan.identity.clone(),
            raw_from: metadata.raw_from_watermark,
            raw_begins: plan.raw_output
                && watermark.is_some()
                && state.as_ref().is_some_and(|s| s.parquet.is_none()),
            start,
            restored_epoch,
            watermark,
            state,
            rows,
        })
    }

    /// The engine: restored from the checkpoint, rebuilt for window types other than the
    /// checkpoint's as `change` allows (see [`super::rebuild`]), or new.
    pub(crate) fn engine(
        &self,
        config: EngineConfig,
        catalog: Arc<Catalog>,
        change: WindowsChange<'_>,
    ) -> anyhow::Result<Engine> {
        let Some(snapshot) = self.snapshot() else {
            return Ok(Engine::new(config, catalog));
        };
        let location = self.coordinator.store.location();
        let failed = |error: SnapshotError| RecoveryError::EngineRestore {
            location: location.clone(),
            source: error.into(),
        };
        match Engine::restore(config.clone(), Arc::clone(&catalog), snapshot) {
            Err(SnapshotError::WindowsChanged { snapshot: old, .. }) => {
                let old = EngineConfig {
                    windows: old,
                    ..config.clone()
                };
                let restored =
                    Engine::restore(old, Arc::clone(&catalog), snapshot).map_err(failed)?;
                let parquet = self.state.as_ref().and_then(|s| s.parquet.as_ref());
                let unpublished: Vec<&RowDelta> = open_file_rows(parquet, &self.rows).collect();
                // the raw dataset holds the ratings read before the restart only if the job
                // that wrote the checkpoint wrote it: else it begins now
                let raw_from = if parquet.is_some() {
                    self.raw_from
                } else {
                    self.watermark
                };
                rebuild(
                    &restored,
                    config,
                    catalog,
                    change,
                    raw_from,
                    &unpublished,
                    &location,
                )
            }
            restored => Ok(restored.map_err(failed)?),
        }
    }

    /// The engine's state to restore (`None` for a new checkpoint).
    pub(crate) fn snapshot(&self) -> Option<&[u8]> {
        self.state.as_ref().map(|s| s.engine.as_slice())
    }

    /// Brings the outputs' files back to the checkpoint, then opens the first epoch.
    pub(crate) fn resume(mut self, work: &mut dyn EpochWork) -> anyhow::Result<Coordinator> {
        if let Some(saved) = self.state.take().and_then(|s| s.parquet) {
            let rows = std::mem::take(&mut self.rows);
            let since = |first_epoch| {
                rows.iter()
                    .filter(|(epoch, _)| *epoch >= first_epoch)
                    .flat_map(|(_, deltas)| deltas.iter().cloned())
                    .collect()
            };
            if !work.restore(&saved, &since, self.watermark)? {
                return Err(RecoveryError::ParquetMissing {
                    location: self.coordinator.store.location(),
                }
                .into());
            }
        }
        self.claim()?;
        self.coordinator.begin(work)?;
        Ok(self.coordinator)
    }

    /// Claims the first epoch number no other incarnation holds and records this processor as
    /// the checkpoint's owner: only once the restart is sure to go on, so that one refused
    /// (changed windows, missing storage) leaves the checkpoint as it found it.
    fn claim(&mut self) -> anyhow::Result<()> {
        let coordinator = &mut self.coordinator;
        let (epoch, passed) = coordinator
            .store
            .claim_first_free(coordinator.epoch, &coordinator.incarnation)?;
        coordinator.epoch = epoch;
        coordinator.skipped.extend(passed);
        if let (true, Some(watermark)) = (self.raw_begins, self.watermark) {
            coordinator.store.record_raw_start(watermark)?;
        }
        coordinator.store.write_owner(&Owner {
            incarnation: coordinator.incarnation.clone(),
            host: host_name(),
            pid: std::process::id(),
            since_millis: now_millis(),
            job: std::mem::take(&mut self.identity),
        })
    }
}

/// The Parquet outputs as the latest committed epoch left them, read the way a restart would
/// (for audits: which hours were closed, and which rows were not published yet).
#[derive(Debug, Clone)]
pub struct CommittedOutputs {
    pub epoch: u64,
    /// The watermark the epoch ended at.
    pub watermark: Option<i64>,
    /// Raw first, then each window type (`None` without Parquet outputs).
    pub parquet: Option<ParquetState>,
    /// The rows of the files still open (not published) at that epoch.
    pub unpublished: Vec<RowDelta>,
}

/// What the checkpoint's latest committed epoch says of the Parquet outputs; `None` for an
/// empty checkpoint.
pub fn committed_outputs(store: &CheckpointStore) -> anyhow::Result<Option<CommittedOutputs>> {
    let Some(restored) = store.latest()? else {
        return Ok(None);
    };
    let epoch = restored.offsets.epoch;
    let state =
        ProcessorState::decode(restored.state_version, &restored.state).map_err(|error| {
            RecoveryError::Undecodable {
                epoch,
                location: store.location(),
                reason: format!("{error:#}"),
            }
        })?;
    let parquet = state.parquet;
    let rows = load_rows(store, parquet.as_ref(), &restored.offsets)?;
    let unpublished = open_file_rows(parquet.as_ref(), &rows).cloned().collect();
    Ok(Some(CommittedOutputs {
        epoch,
        watermark: restored.offsets.watermark,
        parquet,
        unpublished,
    }))
}

/// The rows of the files open at the checkpoint among the `rows` of its epochs (a delta belongs
/// to the open file of its hour when it is not older than the file).
fn open_file_rows<'a>(
    parquet: Option<&'a ParquetState>,
    rows: &'a [(u64, Vec<RowDelta>)],
) -> impl Iterator<Item = &'a RowDelta> {
    let deltas = rows
        .iter()
        .flat_map(|(epoch, deltas)| deltas.iter().map(move |d| (*epoch, d)));
    deltas
        .filter(move |(epoch, delta)| {
            let open = parquet.and_then(|p| p.datasets.get(delta.dataset));
            open.is_some_and(|d| {
                d.open
                    .iter()
                    .any(|(hour, first)| *hour == delta.hour && epoch >= first)
            })
        })
        .map(|(_, delta)| delta)
}

/// The rows of every epoch an open Parquet file needs, up to the restored epoch `last` (the
/// epochs it says were skipped left out: rows files of those are a fenced predecessor's).
fn load_rows(
    store: &CheckpointStore,
    parquet: Option<&ParquetState>,
    last: &EpochOffsets,
) -> anyhow::Result<Vec<(u64, Vec<RowDelta>)>> {
    let Some(first) = oldest_open_file_epoch(parquet) else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    let lineage = (first..=last.epoch).filter(|e| !last.skipped_epochs.contains(e));
    for epoch in lineage {
        if let Some(bytes) = store.read_rows(epoch)? {
            let deltas: Vec<RowDelta> = postcard::from_bytes(&bytes).with_context(|| {
                format!("rows/{epoch} in {} cannot be decoded", store.location())
            })?;
            rows.push((epoch, deltas));
        }
    }
    Ok(rows)
}

/// Finishes or rolls back the epochs without a commit record (the newest committed one's is
/// written with the next epoch, and a crash may interrupt one more), by what Kafka committed:
/// the consumer group's offsets carry the tag of the last epoch Kafka committed and of the
/// incarnation that committed it. An incarnation commits its epochs in order, so each of its
/// pending epochs up to the tag committed and any later one did not; a pending epoch of another
/// incarnation was written by a fenced predecessor (the takeover settled every earlier one) and
/// never committed.
fn settle_pending(
    store: &CheckpointStore,
    id: &str,
    kafka: &dyn Transactions,
    group: &str,
    mut tables: Option<&mut (dyn EpochTables + 'static)>,
) -> anyhow::Result<()> {
    let pending = store.pending_epochs()?;
    let committed = store.committed_epochs()?.last().copied();
    let tags = kafka.committed_tags()?;
    let in_kafka = tags.iter().filter_map(|tag| tagged_epoch(tag, id)).max();
    let mut settled = Vec::new();
    for epoch in pending {
        let offsets = store.read_offsets(epoch)?;
        let done = in_kafka
            .as_ref()
            .is_some_and(|tag| epoch <= tag.epoch && offsets.incarnation == tag.incarnation);
        settled.push((epoch, offsets, done));
    }
    if let Some(tag) = &in_kafka {
        let finished = settled
            .iter()
            .filter(|(_, _, done)| *done)
            .map(|(e, _, _)| *e)
            .max();
        if finished.or(committed).is_none_or(|c| tag.epoch > c) {
            return Err(RecoveryError::BehindKafka {
                kafka: tag.epoch,
                location: store.location(),
                group: group.to_string(),
                checkpoint: committed.map_or("no epoch".into(), |c| format!("epoch {c}")),
            }
            .into());
        }
    }
    for (epoch, offsets, done) in settled {
        if done {
            tracing::info!("checkpoint: epoch {epoch} was committed to Kafka before the stop; moving its files into place");
            publish(store, tables.as_deref_mut(), &offsets)?;
            store.commit(&CommitRecord {
                epoch,
                committed_at_millis: now_millis(),
            })?;
        } else {
            tracing::info!(
                "checkpoint: epoch {epoch} did not commit before the stop; rolling it back"
            );
            store.roll_back(epoch)?;
        }
    }
    Ok(())
}

/// This machine's name (for the owner record), or `unknown`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
