//! Exactly-once delivery in Kafka mode: the processor's work is cut into epochs, and each
//! epoch's outputs, input offsets and state commit together.
//!
//! During an epoch, windows, dead letters and late records go to Kafka inside one transaction,
//! and finished Parquet files are held back. Ending epoch N:
//!
//! 1. finished files are staged in the checkpoint as `staging/N-<n>`; the rows the still-open
//!    Parquet files received go to `rows/N`; the engine and Parquet state to `state/N`; the
//!    input offsets, watermark and list of staged files to `offsets/N` — all written at once
//!    (on HDFS each new file waits ~0.5 s for the NameNode);
//! 2. the input offsets join the Kafka transaction (committed to the consumer group, tagged
//!    `<checkpoint id>:N`), and the transaction commits — this is the commit point;
//! 3. the staged files are moved into place and `commits/N` is written.
//!
//! On start the producer registers its transactional id, which fences an older processor and
//! completes or aborts its open transaction. An epoch with offsets but no commit record is then
//! finished if the consumer group's offsets carry its tag (Kafka committed it), else rolled
//! back; the processor restores the last committed state and reads on from its offsets.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ratings_connectors::checkpoint::{CheckpointStore, EpochFiles, EpochOffsets};
use ratings_connectors::kafka::{
    committed_metadata, KafkaSettings, KafkaSource, Producer, Start, TxnError,
};
use ratings_connectors::parquet::{ParquetState, RowDelta};
use ratings_connectors::storage::Storage;
use ratings_core::{Engine, EngineConfig};
use serde::{Deserialize, Serialize};

use crate::args::RunArgs;
use crate::catalog_source::LoadedCatalog;
use crate::pipeline::{now_millis, Pipeline};

/// Finished Parquet files an epoch may hold in memory before it ends early (a replay of
/// sparse history finishes many small files per second).
const MAX_HELD_BYTES: usize = 32 << 20;
/// Committed epochs kept in the checkpoint (older ones are pruned).
const KEEP_EPOCHS: usize = 3;
/// How long one transaction step may block before the main loop gets control back (it tries
/// again on its next round while the broker is unreachable).
const STEP_TIMEOUT: Duration = Duration::from_secs(1);

/// What `state/<epoch>` holds.
#[derive(Debug, Serialize, Deserialize)]
struct ProcessorState {
    /// [`Engine::snapshot`] bytes.
    engine: Vec<u8>,
    parquet: Option<ParquetState>,
}

/// The epoch could not commit (the broker aborted its transaction): the processor must go
/// back to the last checkpoint and do it again.
#[derive(Debug, thiserror::Error)]
#[error("epoch {epoch} could not commit: {reason}")]
pub struct RedoEpoch {
    pub epoch: u64,
    pub reason: String,
}

/// The open epoch and the checkpoint it will be committed to.
pub struct Epochs {
    store: CheckpointStore,
    checkpoint_id: String,
    epoch: u64,
    records: u64,
    started: Instant,
    transaction_timeout: Duration,
    /// The epoch's checkpoint files are written and it waits for Kafka to commit it.
    sealed: Option<Sealed>,
}

/// An epoch written to the checkpoint, not committed yet.
struct Sealed {
    offsets: EpochOffsets,
    parquet: Option<ParquetState>,
    offsets_sent: bool,
    /// The transaction step running on a thread of its own, if any (librdkafka may block far
    /// longer than the timeout it is given while the broker is away; the main loop must not).
    step: Option<Receiver<Result<(), TxnError>>>,
}

/// Where a (re)started processor stands.
pub struct Recovered {
    pub epochs: Epochs,
    pub start: Start,
    /// The committed epoch restored, if any.
    pub restored_epoch: Option<u64>,
    state: Option<ProcessorState>,
    rows: Vec<(u64, Vec<RowDelta>)>,
}

/// The checkpoint storage: `--checkpoint-storage`, else `--storage`, else the current folder.
/// With Parquet on, it must be the Parquet storage (staged files are moved into place).
pub fn checkpoint_store(args: &RunArgs) -> anyhow::Result<CheckpointStore> {
    let url = match (&args.stream.checkpoint_storage, &args.parquet.storage) {
        (Some(checkpoint), Some(parquet)) if checkpoint != parquet => bail!(
            "--checkpoint-storage {checkpoint} differs from --storage {parquet}: exactly-once \
             Parquet files are staged in the checkpoint and moved into place, so both must be \
             on the same storage (leave --checkpoint-storage out)"
        ),
        (Some(url), _) | (None, Some(url)) => url.clone(),
        (None, None) => ".".to_string(),
    };
    let storage = Arc::new(Storage::open(&url)?);
    Ok(CheckpointStore::new(storage, &args.stream.checkpoint_dir))
}

impl Recovered {
    /// Opens (or creates) the checkpoint, settles the epoch a crash left in flight, and loads
    /// the last committed state. `producer` must already hold the transactional id.
    pub fn recover(
        args: &RunArgs,
        settings: &KafkaSettings,
        store: CheckpointStore,
    ) -> anyhow::Result<Recovered> {
        let id = store.open_or_create()?.id;
        settle_pending(&store, &id, args, settings)?;
        let latest = store.latest()?;
        let (start, restored_epoch, state, rows) = match latest {
            None => (
                Start::At(args.stream.starting_offsets),
                None,
                None,
                Vec::new(),
            ),
            Some(restored) => {
                let offsets = restored.offsets;
                anyhow::ensure!(
                    offsets.topic == args.kafka.ratings_topic,
                    "the checkpoint {} reads topic {}, not {}: use another --checkpoint-dir, or --reset-checkpoint",
                    store.location(),
                    offsets.topic,
                    args.kafka.ratings_topic
                );
                let state: ProcessorState = postcard::from_bytes(&restored.state)
                    .with_context(|| {
                        format!(
                            "the state of epoch {} in {} cannot be decoded; restore it or use --reset-checkpoint",
                            offsets.epoch,
                            store.location()
                        )
                    })?;
                let rows = load_rows(&store, state.parquet.as_ref(), offsets.epoch)?;
                (
                    Start::Offsets(offsets.next_offsets),
                    Some(offsets.epoch),
                    Some(state),
                    rows,
                )
            }
        };
        Ok(Recovered {
            epochs: Epochs {
                store,
                checkpoint_id: id,
                epoch: restored_epoch.unwrap_or(0) + 1,
                records: 0,
                started: Instant::now(),
                transaction_timeout: args.stream.transaction_timeout,
                sealed: None,
            },
            start,
            restored_epoch,
            state,
            rows,
        })
    }

    /// The engine: restored from the checkpoint, or new.
    pub fn engine(
        &mut self,
        config: EngineConfig,
        loaded: &LoadedCatalog,
    ) -> anyhow::Result<Engine> {
        let catalog = Arc::clone(&loaded.catalog);
        match &self.state {
            None => Ok(Engine::new(config, catalog)),
            Some(state) => Engine::restore(config, catalog, &state.engine).with_context(|| {
                format!(
                    "cannot restore the engine from {} (change the window settings back, or --reset-checkpoint)",
                    self.epochs.store.location()
                )
            }),
        }
    }

    /// Brings the pipeline's Parquet outputs back to the checkpoint, then opens the first epoch.
    pub fn resume(
        mut self,
        pipeline: &mut Pipeline,
        producer: &Producer,
    ) -> anyhow::Result<Epochs> {
        let saved = self.state.take().and_then(|s| s.parquet);
        match (pipeline.parquet_mut(), saved) {
            (Some(sink), Some(saved)) => {
                let rows = std::mem::take(&mut self.rows);
                sink.restore(&saved, |first_epoch| {
                    Ok(rows
                        .iter()
                        .filter(|(epoch, _)| *epoch >= first_epoch)
                        .flat_map(|(_, deltas)| deltas.iter().cloned())
                        .collect())
                })?;
            }
            (None, Some(_)) => bail!(
                "the checkpoint {} has Parquet outputs but --storage is not set",
                self.epochs.store.location()
            ),
            _ => {}
        }
        self.epochs.begin(pipeline, producer)?;
        Ok(self.epochs)
    }
}

impl Epochs {
    /// Why the open epoch's transaction can no longer commit, when it has been open longer
    /// than the transaction timeout (the broker aborts it and fences the producer).
    pub fn overdue(&self) -> Option<String> {
        let open = self.started.elapsed();
        (open >= self.transaction_timeout).then(|| {
            format!(
                "epoch {} was open for {}, longer than the transaction timeout ({}): the broker \
                 aborted its transaction",
                self.epoch,
                humantime::format_duration(Duration::from_secs(open.as_secs())),
                humantime::format_duration(self.transaction_timeout)
            )
        })
    }

    /// Whether the epoch is sealed and waits for Kafka (see [`Epochs::commit`]).
    pub fn sealed(&self) -> bool {
        self.sealed.is_some()
    }

    /// Counts an input record of the open epoch.
    pub fn note_record(&mut self) {
        self.records += 1;
    }

    /// Whether the open epoch should end by its size (time is the caller's): `max_records`
    /// input records, or finished Parquet files (held in memory until the commit) above
    /// [`MAX_HELD_BYTES`].
    pub fn full(&self, max_records: u64, pipeline: &Pipeline) -> bool {
        let held = pipeline.parquet().map_or(0, |p| p.held_bytes());
        (max_records > 0 && self.records >= max_records) || held >= MAX_HELD_BYTES
    }

    /// Ends the open epoch (see the module documentation) and opens the next. An epoch that
    /// read nothing and finished no file is left open, unless `force`. While Kafka cannot
    /// commit (broker unreachable) the epoch stays sealed: call again until [`Epochs::sealed`]
    /// is false; reading on meanwhile would put records in the sealed epoch.
    pub fn commit(
        &mut self,
        pipeline: &mut Pipeline,
        source: &KafkaSource,
        producer: &Arc<Producer>,
        force: bool,
    ) -> anyhow::Result<()> {
        if self.sealed.is_none() && !self.seal(pipeline, source, force)? {
            return Ok(());
        }
        if !self.commit_kafka(source, producer)? {
            return Ok(());
        }
        let sealed = self.sealed.take().expect("the epoch is sealed");
        self.store.finalize(&sealed.offsets, now_millis())?;
        self.prune(sealed.parquet.as_ref());
        self.epoch += 1;
        self.begin(pipeline, producer)
    }

    /// Writes the epoch's staged files, rows, state and offsets; `false` for an empty epoch
    /// (left open).
    fn seal(
        &mut self,
        pipeline: &mut Pipeline,
        source: &KafkaSource,
        force: bool,
    ) -> anyhow::Result<bool> {
        pipeline.end_batch()?;
        let files = match pipeline.parquet_mut() {
            Some(sink) => Some(sink.take_epoch()?),
            None => None,
        };
        let nothing_finished = files.as_ref().is_none_or(|f| f.publications.is_empty());
        if self.records == 0 && nothing_finished && !force {
            self.started = Instant::now();
            return Ok(false);
        }
        let offsets = EpochOffsets {
            epoch: self.epoch,
            topic: source.topic().to_string(),
            next_offsets: source.positions(),
            watermark: pipeline.engine().watermark(),
            publications: files
                .iter()
                .flat_map(|f| f.publications.iter().map(|p| p.path.clone()))
                .collect(),
        };
        let mut state = ProcessorState {
            engine: pipeline.engine().snapshot(),
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
        self.store.seal(EpochFiles {
            staged,
            rows,
            state: postcard::to_stdvec(&state)?,
            offsets: &offsets,
        })?;
        self.sealed = Some(Sealed {
            offsets,
            parquet: state.parquet,
            offsets_sent: false,
            step: None,
        });
        Ok(true)
    }

    /// Opens the current epoch: a new transaction, Parquet files named after it.
    fn begin(&mut self, pipeline: &mut Pipeline, producer: &Producer) -> anyhow::Result<()> {
        if let Some(sink) = pipeline.parquet_mut() {
            sink.begin_epoch(self.epoch);
        }
        self.records = 0;
        self.started = Instant::now();
        producer.begin_transaction().map_err(anyhow::Error::new)
    }

    /// The commit point: input offsets into the transaction, then the transaction committed.
    /// Each step runs on a thread of its own and is waited for up to [`STEP_TIMEOUT`]; `false`
    /// when it is not done yet or Kafka cannot be reached now (try again later); a transaction
    /// that cannot commit (aborted by the broker, or open longer than its timeout) is a
    /// [`RedoEpoch`].
    fn commit_kafka(
        &mut self,
        source: &KafkaSource,
        producer: &Arc<Producer>,
    ) -> anyhow::Result<bool> {
        loop {
            let step = match self.sealed_mut().step.take() {
                Some(running) => running,
                None => self.start_step(source, producer)?,
            };
            let result = match step.recv_timeout(STEP_TIMEOUT) {
                Ok(result) => result,
                Err(RecvTimeoutError::Timeout) => {
                    self.sealed_mut().step = Some(step);
                    return Ok(false);
                }
                Err(RecvTimeoutError::Disconnected) => bail!("the Kafka transaction step panicked"),
            };
            if !self.step_done(result, producer)? {
                return Ok(false);
            }
            let sealed = self.sealed_mut();
            if sealed.offsets_sent {
                return Ok(true);
            }
            sealed.offsets_sent = true;
        }
    }

    /// Starts the next transaction step on a thread: adding the input offsets (tagged with
    /// the epoch), else committing.
    fn start_step(
        &self,
        source: &KafkaSource,
        producer: &Arc<Producer>,
    ) -> anyhow::Result<Receiver<Result<(), TxnError>>> {
        let sealed = self.sealed.as_ref().expect("the epoch is sealed");
        let producer = Arc::clone(producer);
        let step: Box<dyn FnOnce() -> Result<(), TxnError> + Send> = if sealed.offsets_sent {
            Box::new(move || producer.commit_transaction(STEP_TIMEOUT))
        } else {
            let tag = epoch_tag(&self.checkpoint_id, self.epoch);
            let group = source.group_metadata()?;
            let (topic, offsets) = (
                sealed.offsets.topic.clone(),
                sealed.offsets.next_offsets.clone(),
            );
            Box::new(move || producer.send_offsets(&topic, &offsets, &tag, &group, STEP_TIMEOUT))
        };
        let (done, result) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("kafka-transaction".into())
            .spawn(move || done.send(step()))
            .context("cannot start a thread")?;
        Ok(result)
    }

    fn sealed_mut(&mut self) -> &mut Sealed {
        self.sealed.as_mut().expect("the epoch is sealed")
    }

    /// Judges one transaction step: done, to be retried, or fatal for the epoch.
    fn step_done(&self, result: Result<(), TxnError>, producer: &Producer) -> anyhow::Result<bool> {
        let reason = match result {
            Ok(()) => return Ok(true),
            Err(TxnError::Retriable(text)) if self.started.elapsed() < self.transaction_timeout => {
                producer.health().note_error(&text);
                return Ok(false);
            }
            Err(TxnError::Fatal(text)) => bail!(
                "{text} (another processor with the same transactional id may have taken over)"
            ),
            Err(TxnError::Retriable(text) | TxnError::Abortable(text)) => text,
        };
        producer.health().note_error(&reason);
        if let Err(error) = producer.abort_transaction(STEP_TIMEOUT) {
            eprintln!("kafka: {error} (the broker aborts the transaction when it times out)");
        }
        Err(RedoEpoch {
            epoch: self.epoch,
            reason,
        }
        .into())
    }

    /// Prunes old epochs; a failure (storage briefly down) only delays pruning.
    fn prune(&self, parquet: Option<&ParquetState>) {
        let rows_needed_from = oldest_open_file_epoch(parquet).unwrap_or(self.epoch + 1);
        if let Err(error) = self.store.prune(KEEP_EPOCHS, rows_needed_from) {
            eprintln!("checkpoint: pruning old epochs failed ({error:#}); trying again later");
        }
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

/// The rows of every epoch an open Parquet file needs, up to `last`.
fn load_rows(
    store: &CheckpointStore,
    parquet: Option<&ParquetState>,
    last: u64,
) -> anyhow::Result<Vec<(u64, Vec<RowDelta>)>> {
    let Some(first) = oldest_open_file_epoch(parquet) else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for epoch in first..=last {
        if let Some(bytes) = store.read_rows(epoch)? {
            let deltas: Vec<RowDelta> = postcard::from_bytes(&bytes).with_context(|| {
                format!("rows/{epoch} in {} cannot be decoded", store.location())
            })?;
            rows.push((epoch, deltas));
        }
    }
    Ok(rows)
}

/// Finishes or rolls back the epochs a crash left without a commit record, by what Kafka
/// committed: the consumer group's offsets carry the tag of the last epoch Kafka committed.
fn settle_pending(
    store: &CheckpointStore,
    id: &str,
    args: &RunArgs,
    settings: &KafkaSettings,
) -> anyhow::Result<()> {
    let pending = store.pending_epochs()?;
    let committed = store.committed_epochs()?.last().copied();
    let in_kafka = kafka_epoch(settings, args, id)?;
    if let (Some(kafka), None) = (in_kafka, pending.last()) {
        anyhow::ensure!(
            committed.is_some_and(|c| kafka <= c),
            "Kafka has epoch {kafka} of checkpoint {} committed (group {}), but the checkpoint ends at {}: \
             it is older than the outputs; restore the newer checkpoint, or --reset-checkpoint",
            store.location(),
            args.stream.group_id,
            committed.map_or("no epoch".into(), |c| format!("epoch {c}"))
        );
    }
    for epoch in pending {
        if in_kafka == Some(epoch) {
            eprintln!("checkpoint: epoch {epoch} was committed to Kafka before the stop; moving its files into place");
            store.finalize(&store.read_offsets(epoch)?, now_millis())?;
        } else {
            eprintln!("checkpoint: epoch {epoch} did not commit before the stop; rolling it back");
            store.roll_back(epoch)?;
        }
    }
    Ok(())
}

/// The last epoch of this checkpoint Kafka committed, from the group's offset metadata.
fn kafka_epoch(settings: &KafkaSettings, args: &RunArgs, id: &str) -> anyhow::Result<Option<u64>> {
    let tags = committed_metadata(settings, &args.kafka.ratings_topic, &args.stream.group_id)?;
    Ok(tags.iter().filter_map(|tag| tagged_epoch(tag, id)).max())
}

/// The metadata an epoch's input offsets are committed with: `<checkpoint id>:<epoch>`.
fn epoch_tag(checkpoint_id: &str, epoch: u64) -> String {
    format!("{checkpoint_id}:{epoch}")
}

/// The epoch of an [`epoch_tag`] of checkpoint `checkpoint_id` (`None` for another's).
fn tagged_epoch(tag: &str, checkpoint_id: &str) -> Option<u64> {
    let (id, epoch) = tag.split_once(':')?;
    (id == checkpoint_id).then(|| epoch.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::{epoch_tag, tagged_epoch};

    #[test]
    fn an_epoch_tag_reads_back_for_its_checkpoint_only() {
        let tag = epoch_tag("00ab12cd34ef5678", 42);
        assert_eq!(tagged_epoch(&tag, "00ab12cd34ef5678"), Some(42));
        assert_eq!(tagged_epoch(&tag, "ffffffffffffffff"), None);
        assert_eq!(tagged_epoch("", "00ab12cd34ef5678"), None);
        assert_eq!(tagged_epoch("00ab12cd34ef5678:x", "00ab12cd34ef5678"), None);
    }
}
