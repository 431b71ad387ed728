//! Exactly-once delivery in Kafka mode: the processor's work is cut into epochs, and each
//! epoch's outputs, input offsets and state commit together. This module is the epoch
//! coordinator, a state machine over [`Phase`]; [`recovery`] settles a crashed epoch and
//! restores the last committed one; [`transactions`] holds the Kafka steps behind a trait.
//!
//! During an epoch, windows, dead letters and late records go to Kafka inside one transaction,
//! and finished Parquet files are held back. Ending epoch N:
//!
//! 1. *seal*: finished files are staged in the checkpoint as `staging/N-<n>`; the rows the
//!    still-open Parquet files received go to `rows/N`; the engine and Parquet state to
//!    `state/N`; the input offsets, watermark and list of staged files to `offsets/N`; the
//!    next epoch's number is claimed (`claims/N+1`, or the next free one) — all written at
//!    once (on HDFS each new file waits ~0.5 s for the NameNode);
//! 2. *commit point*: the input offsets join the Kafka transaction (committed to the consumer
//!    group, tagged `<checkpoint id>:N`), and the transaction commits;
//! 3. *finalize*: the staged files are moved into place; the next epoch opens with a new
//!    transaction. `commits/N` is written with epoch N+1's files (or by [`Coordinator::close`]):
//!    until then the group's epoch tag in Kafka is what says N committed (see [`recovery`]), so
//!    an epoch costs one round of file creations, not two (≈ 0.5 s each on HDFS).
//!
//! While Kafka cannot take a step (broker unreachable) the epoch stays sealed and the caller
//! tries again later; a transaction the broker aborted, or open longer than its timeout, is a
//! [`RedoEpoch`]: the processor goes back to the last checkpoint.

pub(crate) mod rebuild;
pub(crate) mod recovery;
mod state;
pub(crate) mod transactions;
mod work;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use ratings_connectors::checkpoint::{
    CheckpointStore, CommitRecord, EpochFiles, EpochOffsets, FileSize,
};
use ratings_connectors::kafka::TxnError;
use ratings_connectors::parquet::{is_marker, ParquetState};

use crate::pipeline::now_millis;
use state::ProcessorState;
use transactions::{spawn_step, RunningStep, Transactions};
pub(crate) use work::{EpochTables, EpochWork};

/// Finished Parquet files an epoch may hold in memory before it ends early (a replay of
/// sparse history finishes many small files per second).
const MAX_HELD_BYTES: usize = 32 << 20;
/// Committed epochs kept in the checkpoint (older ones are pruned).
const KEEP_EPOCHS: usize = 3;

/// The epoch could not commit (the broker aborted its transaction): the processor must go
/// back to the last checkpoint and do it again.
#[derive(Debug, thiserror::Error)]
#[error("epoch {epoch} could not commit: {reason}")]
pub(crate) struct RedoEpoch {
    pub epoch: u64,
    pub reason: String,
}

/// The transaction was fenced or failed for good: another processor with the same
/// transactional id may have taken over.
#[derive(Debug, thiserror::Error)]
#[error("{0} (another processor with the same transactional id may have taken over)")]
pub(crate) struct Fenced(pub String);

/// Timing of the coordinator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// The broker aborts a transaction open longer.
    pub transaction: Duration,
    /// How long one transaction step may block before the caller gets control back.
    pub step: Duration,
    /// A step still running after this (far beyond its own timeout) has wedged its producer:
    /// the epoch is redone with a new one, which fences the old.
    pub stuck: Duration,
}

/// Where the current epoch stands.
enum Phase {
    /// Records go into the epoch's transaction.
    Open { records: u64, since: Instant },
    /// The epoch's checkpoint files are written; it waits for Kafka to commit it.
    Sealed(Box<Sealed>),
}

impl Default for Phase {
    fn default() -> Phase {
        Phase::Open {
            records: 0,
            since: Instant::now(),
        }
    }
}

/// An epoch written to the checkpoint, not committed yet.
struct Sealed {
    /// When the epoch (and its transaction) opened.
    since: Instant,
    offsets: EpochOffsets,
    parquet: Option<ParquetState>,
    /// The number the epoch after it has (claimed while sealing).
    next_epoch: u64,
    /// The next Kafka step.
    next: Step,
    /// That step, running on its thread, if started, and since when.
    running: Option<(RunningStep, Instant)>,
}

/// The Kafka steps of a sealed epoch, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    AddOffsets,
    Commit,
}

/// What a [`Coordinator::commit`] call achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// The epoch was empty and stays open.
    Empty,
    /// The epoch is sealed and waits for Kafka: call again (read nothing meanwhile).
    Waiting,
    /// This epoch committed; the next one is open.
    Done(u64),
}

/// The open epoch and the checkpoint it will be committed to.
pub(crate) struct Coordinator {
    store: CheckpointStore,
    kafka: Arc<dyn Transactions>,
    checkpoint_id: String,
    /// The input topic.
    topic: String,
    epoch: u64,
    /// This start's random id, in each epoch's offsets and Kafka tag.
    incarnation: String,
    /// Epoch numbers this lineage left out (see [`EpochOffsets::skipped_epochs`]).
    skipped: Vec<u64>,
    timeouts: Timeouts,
    phase: Phase,
    /// The commit record of the last committed epoch, until it is written.
    owed: Option<CommitRecord>,
    /// The tables committed epochs' files are added to, if any.
    tables: Option<Box<dyn EpochTables>>,
}

impl Coordinator {
    /// The epoch being written.
    #[cfg(test)]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether the epoch is sealed and waits for Kafka (see [`Coordinator::commit`]).
    pub(crate) fn waiting(&self) -> bool {
        matches!(self.phase, Phase::Sealed(_))
    }

    /// Counts an input record of the open epoch.
    pub(crate) fn note_record(&mut self) {
        if let Phase::Open { records, .. } = &mut self.phase {
            *records += 1;
        }
    }

    /// Whether the open epoch should end by its size (time is the caller's): `max_records`
    /// input records.
    pub(crate) fn full(&self, max_records: u64) -> bool {
        let records = match &self.phase {
            Phase::Open { records, .. } => *records,
            Phase::Sealed(_) => 0,
        };
        max_records > 0 && records >= max_records
    }

    /// Whether the open epoch should end because it holds more finished files (in memory until
    /// the commit) than [`MAX_HELD_BYTES`]; files finish at the end of a batch only.
    pub(crate) fn holds_too_much(&self, work: &dyn EpochWork) -> bool {
        work.held_bytes() >= MAX_HELD_BYTES
    }

    /// Why the epoch's transaction can no longer commit, when it has been open longer than the
    /// transaction timeout (the broker aborts it and fences the producer).
    pub(crate) fn overdue(&self) -> Option<String> {
        let since = match &self.phase {
            Phase::Open { since, .. } => *since,
            Phase::Sealed(sealed) => sealed.since,
        };
        let open = since.elapsed();
        (open >= self.timeouts.transaction).then(|| {
            format!(
                "epoch {} was open for {}, longer than the transaction timeout ({}): the broker \
                 aborted its transaction",
                self.epoch,
                humantime::format_duration(Duration::from_secs(open.as_secs())),
                humantime::format_duration(self.timeouts.transaction)
            )
        })
    }

    /// Ends the open epoch (see the module documentation) and opens the next; `positions` are
    /// the input's next offsets. An epoch that read nothing and finished no file is left open,
    /// unless `force`. While Kafka cannot commit, the epoch stays sealed ([`Commit::Waiting`]):
    /// call again, and read nothing meanwhile (it would land in the sealed epoch).
    pub(crate) fn commit(
        &mut self,
        work: &mut dyn EpochWork,
        positions: impl FnOnce() -> BTreeMap<i32, i64>,
        force: bool,
    ) -> anyhow::Result<Commit> {
        let started = Instant::now();
        let mut sealed = match std::mem::take(&mut self.phase) {
            Phase::Sealed(sealed) => sealed,
            Phase::Open { records, since } => {
                match self.seal(work, positions, records, since, force) {
                    Ok(Some(sealed)) => Box::new(sealed),
                    Ok(None) => return Ok(Commit::Empty),
                    Err(error) => {
                        self.phase = Phase::Open { records, since };
                        return Err(error);
                    }
                }
            }
        };
        let sealed_at = Instant::now();
        // on an error the epoch stays as it was: the caller asks whether it is overdue
        match self.advance(&mut sealed) {
            Ok(true) => {}
            Ok(false) => {
                self.phase = Phase::Sealed(sealed);
                return Ok(Commit::Waiting);
            }
            Err(error) => {
                self.phase = Phase::Sealed(sealed);
                return Err(error);
            }
        }
        let (committed, kafka_done) = (self.epoch, Instant::now());
        self.finalize(*sealed, work)?;
        tracing::debug!(
            "epoch {committed} committed: sealed in {:?}, Kafka steps {:?}, finalized in {:?}",
            sealed_at - started,
            kafka_done - sealed_at,
            kafka_done.elapsed()
        );
        Ok(Commit::Done(committed))
    }

    /// Writes the epoch's staged files, rows, state and offsets; `None` for an empty epoch.
    fn seal(
        &mut self,
        work: &mut dyn EpochWork,
        positions: impl FnOnce() -> BTreeMap<i32, i64>,
        records: u64,
        since: Instant,
        force: bool,
    ) -> anyhow::Result<Option<Sealed>> {
        work.end_batch()?;
        let files = work.take_epoch()?;
        let nothing_finished = files.as_ref().is_none_or(|f| f.publications.is_empty());
        if records == 0 && nothing_finished && !force {
            return Ok(None);
        }
        let offsets = EpochOffsets {
            epoch: self.epoch,
            topic: self.topic.clone(),
            next_offsets: positions(),
            watermark: work.watermark(),
            publications: files
                .iter()
                .flat_map(|f| f.publications.iter().map(|p| p.path.clone()))
                .collect(),
            sizes: files
                .iter()
                .flat_map(|f| f.publications.iter().map(FileSize::of))
                .collect(),
            incarnation: Some(self.incarnation.clone()),
            skipped_epochs: self.skipped.clone(),
        };
        let mut state = ProcessorState {
            engine: work.snapshot(),
            parquet: None,
        };
        let (mut staged, mut rows) = (Vec::new(), None);
        if let Some(files) = files {
            staged = files.publications.into_iter().map(|f| f.bytes).collect();
            if !files.deltas.is_empty() {
                rows = Some(postcard::to_stdvec(&files.deltas)?);
            }
            state.parquet = Some(files.state);
        }
        let state_bytes = postcard::to_stdvec(&state)?;
        // the engine's snapshot is in `state_bytes` now: not held twice while the files are
        // written (hundreds of MB at a very high cardinality)
        state.engine = Vec::new();
        let next_epoch = self.epoch + 1;
        let claimed = self.store.seal(EpochFiles {
            staged,
            rows,
            state: state_bytes,
            offsets: &offsets,
            previous_commit: self.owed.clone(),
            next_epoch,
        })?;
        self.owed = None;
        Ok(Some(Sealed {
            since,
            offsets,
            parquet: state.parquet,
            next_epoch: if claimed {
                next_epoch
            } else {
                self.claim_after(next_epoch)?
            },
            next: Step::AddOffsets,
            running: None,
        }))
    }

    /// Another incarnation claimed `taken`, the number this one's next epoch was to have
    /// (see [`CheckpointStore::claim`]): the first free one after it, the others left out.
    fn claim_after(&mut self, taken: u64) -> anyhow::Result<u64> {
        let (epoch, passed) = self.store.claim_first_free(taken + 1, &self.incarnation)?;
        self.skipped.push(taken);
        self.skipped.extend(passed);
        Ok(epoch)
    }

    /// The commit point: input offsets into the transaction, then the transaction committed.
    /// Each step runs on a thread and is waited for up to the step timeout; `false` when one
    /// is not done yet or Kafka cannot take it now (try again later).
    fn advance(&self, sealed: &mut Sealed) -> anyhow::Result<bool> {
        loop {
            let (running, started) = match sealed.running.take() {
                Some(running) => running,
                None => (self.start(sealed)?, Instant::now()),
            };
            let result = match running.recv_timeout(self.timeouts.step) {
                Ok(result) => result,
                Err(RecvTimeoutError::Timeout) if started.elapsed() >= self.timeouts.stuck => {
                    return Err(self.stuck(sealed.next, started.elapsed()).into())
                }
                Err(RecvTimeoutError::Timeout) => {
                    sealed.running = Some((running, started));
                    return Ok(false);
                }
                Err(RecvTimeoutError::Disconnected) => bail!("the Kafka transaction step panicked"),
            };
            if !self.judge(result, sealed.since)? {
                return Ok(false);
            }
            match sealed.next {
                Step::AddOffsets => sealed.next = Step::Commit,
                Step::Commit => return Ok(true),
            }
        }
    }

    /// The step has not returned for `running`: librdkafka is wedged (it should give up after
    /// the step timeout); a new producer fences this one and aborts its transaction.
    fn stuck(&self, step: Step, running: Duration) -> RedoEpoch {
        let reason = format!(
            "the Kafka step {step:?} has not returned for {} s (its timeout is {} ms)",
            running.as_secs(),
            self.timeouts.step.as_millis()
        );
        self.kafka.note_error(&reason);
        RedoEpoch {
            epoch: self.epoch,
            reason,
        }
    }

    /// Starts the sealed epoch's next step on a thread.
    fn start(&self, sealed: &Sealed) -> anyhow::Result<RunningStep> {
        let kafka = Arc::clone(&self.kafka);
        let timeout = self.timeouts.step;
        match sealed.next {
            Step::AddOffsets => {
                let tag = epoch_tag(&self.checkpoint_id, self.epoch, &self.incarnation);
                let offsets = sealed.offsets.next_offsets.clone();
                spawn_step(move || kafka.add_offsets(&offsets, &tag, timeout))
            }
            Step::Commit => spawn_step(move || kafka.commit(timeout)),
        }
    }

    /// Judges one step's result: done, to be retried later, or fatal for the epoch.
    fn judge(&self, result: Result<(), TxnError>, since: Instant) -> anyhow::Result<bool> {
        let reason = match result {
            Ok(()) => return Ok(true),
            Err(TxnError::Retriable(text)) if since.elapsed() < self.timeouts.transaction => {
                self.kafka.note_error(&text);
                return Ok(false);
            }
            Err(TxnError::Fatal(text)) => return Err(Fenced(text).into()),
            Err(TxnError::Retriable(text) | TxnError::Abortable(text)) => text,
        };
        self.kafka.note_error(&reason);
        if let Err(error) = self.kafka.abort(self.timeouts.step) {
            tracing::warn!("kafka: {error} (the broker aborts the transaction when it times out)");
        }
        Err(RedoEpoch {
            epoch: self.epoch,
            reason,
        }
        .into())
    }

    /// After the commit point: the staged files moved into place, old epochs pruned, the next
    /// epoch opened.
    fn finalize(&mut self, sealed: Sealed, work: &mut dyn EpochWork) -> anyhow::Result<()> {
        publish(&self.store, self.tables.as_deref_mut(), &sealed.offsets)?;
        self.owed = Some(CommitRecord {
            epoch: self.epoch,
            committed_at_millis: now_millis(),
        });
        self.prune(sealed.parquet.as_ref());
        self.epoch = sealed.next_epoch;
        self.begin(work)
    }

    /// Writes the last committed epoch's commit record, which the next epoch would have carried
    /// (on a clean stop, so the checkpoint shows it committed without asking Kafka).
    pub(crate) fn close(&mut self) -> anyhow::Result<()> {
        if let Some(record) = &self.owed {
            self.store.commit(record)?;
            self.owed = None;
        }
        Ok(())
    }

    /// Opens the current epoch: a new transaction, Parquet files named after it.
    fn begin(&mut self, work: &mut dyn EpochWork) -> anyhow::Result<()> {
        work.begin_epoch(self.epoch);
        self.phase = Phase::default();
        self.kafka.begin().map_err(anyhow::Error::new)
    }

    /// Prunes old epochs; a failure (storage briefly down) only delays pruning.
    fn prune(&mut self, parquet: Option<&ParquetState>) {
        let rows_needed_from = oldest_open_file_epoch(parquet).unwrap_or(self.epoch + 1);
        self.skipped.retain(|e| *e >= rows_needed_from);
        if let Err(error) = self.store.prune(KEEP_EPOCHS, rows_needed_from) {
            tracing::warn!("checkpoint: pruning old epochs failed ({error:#}); trying again later");
        }
    }
}

/// Makes a committed epoch's files visible: moved into place from the checkpoint's staging
/// folder — with tables, the data files first, then their commit to the tables, then the
/// `_SUCCESS` markers (an hour is never marked complete before its files are in its table).
/// Every step can be repeated after a crash: a file moved already is skipped, an epoch in a
/// table already is not committed again.
fn publish(
    store: &CheckpointStore,
    tables: Option<&mut (dyn EpochTables + 'static)>,
    offsets: &EpochOffsets,
) -> anyhow::Result<()> {
    let Some(tables) = tables else {
        return store.move_into_place(offsets, |_| true);
    };
    store.move_into_place(offsets, |path| !is_marker(path))?;
    fault_point_before_table_commit();
    tables.commit_epoch(offsets)?;
    store.move_into_place(offsets, is_marker)
}

/// A test's fault point (`crates/cli/tests/exactly_once.rs`): with `RATINGS_FAULT_BEFORE_TABLE_COMMIT`
/// set, the process dies here, between an epoch's Kafka commit and its commit to the tables,
/// as a crash would.
fn fault_point_before_table_commit() {
    if std::env::var_os("RATINGS_FAULT_BEFORE_TABLE_COMMIT").is_some() {
        tracing::error!(
            "RATINGS_FAULT_BEFORE_TABLE_COMMIT is set: aborting before the table commit"
        );
        std::process::abort();
    }
}

/// The epoch the oldest open Parquet file started in.
fn oldest_open_file_epoch(parquet: Option<&ParquetState>) -> Option<u64> {
    parquet?
        .datasets
        .iter()
        .flat_map(|d| d.open.iter().map(|(_, epoch)| *epoch))
        .min()
}

/// The metadata an epoch's input offsets are committed with:
/// `<checkpoint id>:<epoch>:<incarnation>`.
fn epoch_tag(checkpoint_id: &str, epoch: u64, incarnation: &str) -> String {
    format!("{checkpoint_id}:{epoch}:{incarnation}")
}

/// An epoch as Kafka's tag names it: its number and the incarnation that committed it (`None`
/// in tags of older versions).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Tagged {
    epoch: u64,
    incarnation: Option<String>,
}

/// The epoch of an [`epoch_tag`] of checkpoint `checkpoint_id` (`None` for another's).
fn tagged_epoch(tag: &str, checkpoint_id: &str) -> Option<Tagged> {
    let (id, rest) = tag.split_once(':')?;
    if id != checkpoint_id {
        return None;
    }
    let (epoch, incarnation) = match rest.split_once(':') {
        Some((epoch, incarnation)) => (epoch, Some(incarnation.to_string())),
        None => (rest, None),
    };
    Some(Tagged {
        epoch: epoch.parse().ok()?,
        incarnation,
    })
}

/// A new incarnation id: 8 random hex digits.
fn new_incarnation() -> String {
    format!("{:08x}", fastrand::u32(..))
}
