//! The coordinator's branches, driven by a fake Kafka, a fake of the work it commits
//! ([`work::FakeWork`]: no engine, no Parquet writer) and an in-memory storage that fails on
//! demand: no broker, no disk, each test a few milliseconds (the hanging-step ones wait a few
//! step timeouts of 20 ms).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ratings_connectors::checkpoint::CheckpointStore;
use ratings_connectors::kafka::{Start, StartFrom, TxnError};
use ratings_connectors::parquet::RAW_ROOT;
use ratings_connectors::storage::{PermanentStorageError, Storage};
use ratings_connectors::testing::{Fault, FaultyStore};

use super::recovery::{Recovered, RecoveryPlan};
use super::transactions::Transactions;
use super::{Commit, Coordinator, EpochWork, Fenced, RedoEpoch, Timeouts};
use work::{decode, FakeWork};

mod work;

/// 2023-11-14T22:13:20Z.
const BASE: i64 = 1_700_000_000;
const TOPIC: &str = "ratings";

/// A Kafka step the fake can be told to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    AddOffsets,
    Commit,
}

/// What the fake does on its next call of an operation.
#[derive(Debug, Clone)]
enum Behaviour {
    /// Fails with this error; `applied`: a commit takes effect all the same.
    Fail { error: TxnErrorKind, applied: bool },
    /// Blocks this long, then succeeds.
    Hang(Duration),
}

#[derive(Debug, Clone, Copy)]
enum TxnErrorKind {
    Retriable,
    Abortable,
    Fatal,
}

impl TxnErrorKind {
    fn error(self, op: Op) -> TxnError {
        let text = format!("{op:?} failed (injected)");
        match self {
            TxnErrorKind::Retriable => TxnError::Retriable(text),
            TxnErrorKind::Abortable => TxnError::Abortable(text),
            TxnErrorKind::Fatal => TxnError::Fatal(text),
        }
    }
}

/// A broker in memory: the open transaction's offset tag, the group's committed tags, and the
/// failures to inject.
#[derive(Default)]
struct FakeKafka {
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    pending_tag: Option<String>,
    committed_tags: Vec<String>,
    script: Vec<(Op, Behaviour)>,
    calls: Vec<String>,
    errors: Vec<String>,
}

impl FakeKafka {
    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().expect("fake state")
    }

    fn next(&self, op: Op, behaviour: Behaviour) {
        self.state().script.push((op, behaviour));
    }

    /// The next call of `op` fails with `error`; `applied`: a commit takes effect all the same.
    fn fail(&self, op: Op, error: TxnErrorKind, applied: bool) {
        self.next(op, Behaviour::Fail { error, applied });
    }

    fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    fn committed(&self) -> Vec<String> {
        self.state().committed_tags.clone()
    }

    /// Runs the scripted behaviour of `op`, if any: `Some(result)` to return instead.
    fn scripted(&self, op: Op) -> Option<Result<(), TxnError>> {
        let behaviour = {
            let mut state = self.state();
            state.calls.push(format!("{op:?}"));
            let at = state.script.iter().position(|(o, _)| *o == op)?;
            state.script.remove(at).1
        };
        match behaviour {
            Behaviour::Hang(pause) => {
                std::thread::sleep(pause);
                None
            }
            Behaviour::Fail { error, applied } => {
                if applied {
                    self.apply_commit();
                }
                Some(Err(error.error(op)))
            }
        }
    }

    fn apply_commit(&self) {
        let mut state = self.state();
        if let Some(tag) = state.pending_tag.take() {
            state.committed_tags = vec![tag];
        }
    }
}

impl Transactions for FakeKafka {
    fn begin(&self) -> Result<(), TxnError> {
        self.state().calls.push("Begin".into());
        Ok(())
    }

    fn add_offsets(&self, _: &BTreeMap<i32, i64>, tag: &str, _: Duration) -> Result<(), TxnError> {
        if let Some(result) = self.scripted(Op::AddOffsets) {
            return result;
        }
        self.state().pending_tag = Some(tag.to_string());
        Ok(())
    }

    fn commit(&self, _: Duration) -> Result<(), TxnError> {
        if let Some(result) = self.scripted(Op::Commit) {
            return result;
        }
        self.apply_commit();
        Ok(())
    }

    fn abort(&self, _: Duration) -> Result<(), TxnError> {
        let mut state = self.state();
        state.calls.push("Abort".into());
        state.pending_tag = None;
        Ok(())
    }

    fn committed_tags(&self) -> anyhow::Result<Vec<String>> {
        Ok(self.committed())
    }

    fn note_error(&self, error: &str) {
        self.state().errors.push(error.to_string());
    }
}

/// One processor's world: the storage (checkpoint and Parquet) and the broker, which outlive
/// the processor across a simulated crash.
struct World {
    storage: Arc<Storage>,
    faults: Arc<FaultyStore>,
    kafka: Arc<FakeKafka>,
    timeouts: Timeouts,
}

/// A started processor.
struct Processor {
    coordinator: Coordinator,
    work: FakeWork,
    start: Start,
    restored: Option<u64>,
    /// Next offset of partition 0.
    next_offset: i64,
}

impl World {
    fn new() -> World {
        let (storage, faults) = FaultyStore::storage();
        World {
            storage: Arc::new(storage),
            faults,
            kafka: Arc::new(FakeKafka::default()),
            timeouts: Timeouts {
                transaction: Duration::from_secs(60),
                step: Duration::from_millis(20),
                stuck: Duration::from_secs(30),
            },
        }
    }

    fn store(&self) -> CheckpointStore {
        CheckpointStore::new(Arc::clone(&self.storage), "checkpoint")
    }

    /// Recovers as a processor with these settings (`identity`) does on start.
    fn recover(&self, identity: &str) -> anyhow::Result<Recovered> {
        let plan = RecoveryPlan {
            topic: TOPIC,
            group: "group",
            starting_offsets: StartFrom::Earliest,
            identity: BTreeMap::from([("input topic".into(), identity.into())]),
            raw_output: true,
            timeouts: self.timeouts,
        };
        let kafka: Arc<dyn Transactions> = Arc::clone(&self.kafka) as Arc<dyn Transactions>;
        Recovered::recover(self.store(), kafka, None, &plan)
    }

    /// Starts a processor as the job does: recover, restore the engine, resume.
    fn start(&self) -> anyhow::Result<Processor> {
        let recovered = self.recover(TOPIC)?;
        let mut work = FakeWork::restored(recovered.snapshot());
        let (start, restored) = (recovered.start.clone(), recovered.restored_epoch);
        let next_offset = match &start {
            Start::Offsets(offsets) => offsets[&0],
            _ => 0,
        };
        let coordinator = recovered.resume(&mut work)?;
        Ok(Processor {
            coordinator,
            work,
            start,
            restored,
            next_offset,
        })
    }

    /// Finished Parquet files visible to readers of the raw dataset.
    fn visible_raw_files(&self) -> Vec<String> {
        self.storage
            .list(RAW_ROOT)
            .unwrap()
            .into_iter()
            .filter(|p| p.ends_with(".parquet"))
            .collect()
    }
}

impl Processor {
    /// Reads ratings at these event times (seconds after [`BASE`]) on partition 0.
    fn read(&mut self, seconds: &[i64]) {
        for second in seconds {
            self.work.read(BASE + second);
            self.next_offset += 1;
            self.coordinator.note_record();
        }
    }

    /// Ratings in one hour, then one three hours later: the first hour's raw file is finished
    /// (held until its epoch commits).
    fn read_an_hour(&mut self) {
        self.read(&[0, 1, 2, 3 * 3600]);
    }

    fn commit(&mut self) -> anyhow::Result<Commit> {
        let next = self.next_offset;
        self.coordinator
            .commit(&mut self.work, || BTreeMap::from([(0, next)]), false)
    }
}

#[test]
fn a_commit_makes_the_epoch_visible_and_a_restart_resumes_after_it() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    assert_eq!(processor.restored, None);
    assert_eq!(processor.start, Start::At(StartFrom::Earliest));
    processor.read_an_hour();
    assert!(
        world.visible_raw_files().is_empty(),
        "held until the commit"
    );
    assert_eq!(processor.commit().unwrap(), Commit::Done(1));
    assert_eq!(
        world.kafka.calls(),
        ["Begin", "AddOffsets", "Commit", "Begin"]
    );
    assert_eq!(world.kafka.committed().len(), 1);
    let tag = &world.kafka.committed()[0];
    assert_eq!(
        tag.split(':').nth(1),
        Some("1"),
        "{tag}: <checkpoint>:<epoch>:<incarnation>"
    );
    assert_eq!(world.visible_raw_files().len(), 1);
    assert_eq!(
        world.store().pending_epochs().unwrap(),
        [1],
        "its commit record comes with the next epoch's files"
    );
    assert_eq!(processor.coordinator.epoch(), 2);

    drop(processor); // a crash: the group's tag says epoch 1 committed
    let again = world.start().unwrap();
    assert_eq!(again.restored, Some(1));
    assert_eq!(again.start, Start::Offsets(BTreeMap::from([(0, 4)])));
    assert_eq!(again.work.watermark(), Some(BASE + 3 * 3600 - 600));
}

#[test]
fn a_restart_refused_after_recovery_takes_no_epoch_number_and_records_no_owner() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read(&[0]);
    assert_eq!(processor.commit().unwrap(), Commit::Done(1));
    let owner = world.store().owner().unwrap().expect("the first processor");
    drop(processor);
    // a restart that recovers, then stops before resuming (e.g. refused window settings)
    drop(world.recover("other settings").unwrap());
    assert_eq!(
        world.store().owner().unwrap().unwrap().incarnation,
        owner.incarnation
    );
    let again = world.start().unwrap();
    assert_eq!(again.restored, Some(1));
    assert_eq!(
        again.coordinator.epoch(),
        3,
        "epoch 2 left out (a fenced predecessor's), 3 free"
    );
}

#[test]
fn an_empty_epoch_stays_open_unless_forced() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    assert_eq!(processor.commit().unwrap(), Commit::Empty);
    assert_eq!(world.kafka.calls(), ["Begin"]);
    let forced = processor
        .coordinator
        .commit(&mut processor.work, BTreeMap::new, true)
        .unwrap();
    assert_eq!(forced, Commit::Done(1));
}

#[test]
fn an_unreachable_broker_keeps_the_epoch_sealed_until_it_answers() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read(&[0, 1]);
    world
        .kafka
        .fail(Op::AddOffsets, TxnErrorKind::Retriable, false);
    world.kafka.fail(Op::Commit, TxnErrorKind::Retriable, false);
    assert_eq!(processor.commit().unwrap(), Commit::Waiting);
    assert!(processor.coordinator.waiting());
    assert_eq!(processor.commit().unwrap(), Commit::Waiting);
    assert_eq!(processor.commit().unwrap(), Commit::Done(1));
    assert!(!processor.coordinator.waiting());
    assert_eq!(
        world.kafka.state().errors.len(),
        2,
        "each failure is counted"
    );
    assert_eq!(
        world.kafka.calls(),
        [
            "Begin",
            "AddOffsets",
            "AddOffsets",
            "Commit",
            "Commit",
            "Begin"
        ]
    );
}

#[test]
fn a_step_that_blocks_hands_control_back_and_is_waited_for_later() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read(&[0]);
    world
        .kafka
        .next(Op::Commit, Behaviour::Hang(Duration::from_secs(2)));
    let started = std::time::Instant::now();
    assert_eq!(processor.commit().unwrap(), Commit::Waiting);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the caller got control back while the step still ran"
    );
    let mut rounds = 1;
    while processor.commit().unwrap() == Commit::Waiting {
        rounds += 1;
    }
    assert!(rounds >= 3, "waited over several rounds ({rounds})");
    let commits = world
        .kafka
        .calls()
        .iter()
        .filter(|c| *c == "Commit")
        .count();
    assert_eq!(
        commits, 1,
        "the running step is waited for, not started again"
    );
}

#[test]
fn a_step_that_never_returns_redoes_the_epoch_and_a_restart_rolls_it_back() {
    let mut world = World::new();
    world.timeouts.stuck = Duration::from_millis(100);
    let mut processor = world.start().unwrap();
    processor.read(&[0]);
    world
        .kafka
        .next(Op::Commit, Behaviour::Hang(Duration::from_secs(5)));
    let error = loop {
        match processor.commit() {
            Ok(Commit::Waiting) => continue,
            Ok(other) => panic!("{other:?}"),
            Err(error) => break error,
        }
    };
    let redo = error.downcast_ref::<RedoEpoch>().expect("a RedoEpoch");
    assert!(redo.reason.contains("has not returned"), "{}", redo.reason);
    let restarted = world.start().unwrap();
    assert_eq!(restarted.restored, None, "the epoch was not committed");
}

#[test]
fn a_commit_reported_failed_but_applied_is_finished_on_retry() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read_an_hour();
    world.kafka.fail(Op::Commit, TxnErrorKind::Retriable, true);
    assert_eq!(processor.commit().unwrap(), Commit::Waiting);
    assert_eq!(processor.commit().unwrap(), Commit::Done(1));
    assert_eq!(world.visible_raw_files().len(), 1);
    processor.coordinator.close().unwrap();
    assert_eq!(world.store().committed_epochs().unwrap(), [1]);
}

#[test]
fn a_commit_record_is_written_with_the_next_epoch_and_on_close() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read(&[0]);
    assert_eq!(processor.commit().unwrap(), Commit::Done(1));
    assert!(world.store().committed_epochs().unwrap().is_empty());
    processor.read(&[1]);
    assert_eq!(processor.commit().unwrap(), Commit::Done(2));
    assert_eq!(world.store().committed_epochs().unwrap(), [1]);
    assert_eq!(world.store().pending_epochs().unwrap(), [2]);
    processor.coordinator.close().unwrap();
    assert_eq!(world.store().committed_epochs().unwrap(), [1, 2]);
    assert!(world.store().pending_epochs().unwrap().is_empty());
    drop(processor);
    assert_eq!(world.start().unwrap().restored, Some(2));
}

/// Epoch 1 commits; epoch 2 is sealed and waits (Kafka commits it if `applied`); then a crash
/// while epoch 2's files were written: its offsets made it, epoch 1's commit record not.
fn crash_with_two_pending_epochs(world: &World, applied: bool) {
    let mut processor = world.start().unwrap();
    processor.read(&[0]);
    assert_eq!(processor.commit().unwrap(), Commit::Done(1));
    processor.read_an_hour();
    world
        .kafka
        .fail(Op::Commit, TxnErrorKind::Retriable, applied);
    assert_eq!(processor.commit().unwrap(), Commit::Waiting);
    drop(processor);
    world.storage.delete("checkpoint/commits/1").unwrap();
    assert_eq!(world.store().pending_epochs().unwrap(), [1, 2]);
}

#[test]
fn every_pending_epoch_up_to_the_tag_in_kafka_is_finished_on_restart() {
    let world = World::new();
    crash_with_two_pending_epochs(&world, true);
    let again = world.start().unwrap();
    assert_eq!(again.restored, Some(2), "the group's tag is epoch 2's");
    assert_eq!(world.store().committed_epochs().unwrap(), [1, 2]);
    assert_eq!(world.visible_raw_files().len(), 1);
}

#[test]
fn a_pending_epoch_after_the_tag_in_kafka_is_rolled_back_and_the_one_before_finished() {
    let world = World::new();
    crash_with_two_pending_epochs(&world, false);
    let again = world.start().unwrap();
    assert_eq!(again.restored, Some(1));
    assert_eq!(world.store().committed_epochs().unwrap(), [1]);
    assert!(world.store().pending_epochs().unwrap().is_empty());
    assert!(world.visible_raw_files().is_empty(), "epoch 2 rolled back");
}

#[test]
fn a_commit_applied_before_a_crash_is_finished_on_restart() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read_an_hour();
    world.kafka.fail(Op::Commit, TxnErrorKind::Retriable, true);
    assert_eq!(processor.commit().unwrap(), Commit::Waiting);
    drop(processor); // the crash: Kafka has the epoch, the checkpoint has it pending
    assert_eq!(world.store().pending_epochs().unwrap(), [1]);
    assert!(world.visible_raw_files().is_empty());

    let again = world.start().unwrap();
    assert_eq!(
        again.restored,
        Some(1),
        "the pending epoch has its tag in the group"
    );
    assert_eq!(world.store().committed_epochs().unwrap(), [1]);
    assert_eq!(
        world.visible_raw_files().len(),
        1,
        "its files moved into place"
    );
}

#[test]
fn an_epoch_not_committed_before_a_crash_is_rolled_back_on_restart() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read_an_hour();
    world.kafka.fail(Op::Commit, TxnErrorKind::Retriable, false);
    assert_eq!(processor.commit().unwrap(), Commit::Waiting);
    drop(processor);

    let again = world.start().unwrap();
    assert_eq!(again.restored, None, "no tag in the group: rolled back");
    assert_eq!(again.start, Start::At(StartFrom::Earliest));
    assert!(world.store().pending_epochs().unwrap().is_empty());
    assert!(world.visible_raw_files().is_empty());
    assert!(world.storage.list("checkpoint/staging").unwrap().is_empty());
}

#[test]
fn a_transaction_the_broker_aborted_is_a_redo_of_the_epoch() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read(&[0, 1]);
    world.kafka.fail(Op::Commit, TxnErrorKind::Abortable, false);
    let error = processor.commit().unwrap_err();
    let redo = error.downcast_ref::<RedoEpoch>().expect("a redo");
    assert_eq!(redo.epoch, 1);
    assert!(world.kafka.calls().contains(&"Abort".to_string()));
    assert!(world.kafka.committed().is_empty());
    assert_eq!(world.start().unwrap().restored, None);
}

#[test]
fn a_broker_away_longer_than_the_transaction_timeout_is_a_redo() {
    let mut world = World::new();
    world.timeouts.transaction = Duration::from_millis(50);
    let mut processor = world.start().unwrap();
    processor.read(&[0]);
    world
        .kafka
        .fail(Op::AddOffsets, TxnErrorKind::Retriable, false);
    std::thread::sleep(Duration::from_millis(60));
    assert!(processor
        .coordinator
        .overdue()
        .unwrap()
        .contains("epoch 1 was open"));
    let error = processor.commit().unwrap_err();
    assert!(error.is::<RedoEpoch>(), "{error:#}");
}

#[test]
fn a_step_failing_after_the_transaction_timeout_leaves_the_epoch_overdue() {
    // the broker aborts a transaction open too long and fences its producer: the job sees a
    // fatal error, asks whether the epoch was overdue, and redoes it rather than exiting
    let mut world = World::new();
    world.timeouts.transaction = Duration::from_millis(50);
    let mut processor = world.start().unwrap();
    processor.read(&[0]);
    std::thread::sleep(Duration::from_millis(60));
    world.kafka.fail(Op::AddOffsets, TxnErrorKind::Fatal, false);
    let error = processor.commit().unwrap_err();
    assert!(error.is::<Fenced>(), "{error:#}");
    assert!(processor.coordinator.overdue().is_some());
}

#[test]
fn a_fenced_producer_stops_the_processor() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read(&[0]);
    world.kafka.fail(Op::AddOffsets, TxnErrorKind::Fatal, false);
    let error = processor.commit().unwrap_err();
    assert!(error.is::<Fenced>(), "{error:#}");
    assert!(format!("{error:#}").contains("another processor with the same transactional id"));
    assert!(!world.kafka.calls().contains(&"Abort".to_string()));
}

#[test]
fn storage_failing_while_sealed_stops_and_the_restart_finishes_the_epoch() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read_an_hour();
    world
        .kafka
        .fail(Op::AddOffsets, TxnErrorKind::Retriable, false);
    assert_eq!(processor.commit().unwrap(), Commit::Waiting);
    // the storage breaks for good while the epoch waits; Kafka then commits it
    world.faults.fail(Fault::Permanent, 1);
    let error = processor.commit().unwrap_err();
    assert!(error.is::<PermanentStorageError>(), "{error:#}");
    assert_eq!(
        world.kafka.committed().len(),
        1,
        "the commit point was passed"
    );
    drop(processor);

    let again = world.start().unwrap();
    assert_eq!(again.restored, Some(1));
    assert_eq!(world.visible_raw_files().len(), 1);
}

#[test]
fn a_transient_storage_failure_while_sealing_is_retried() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read_an_hour();
    world.faults.fail(Fault::Transient, 1);
    assert_eq!(processor.commit().unwrap(), Commit::Done(1));
    assert_eq!(world.faults.failures(), 1);
    assert_eq!(world.storage.health().retries, 1);
    assert_eq!(world.visible_raw_files().len(), 1);
}

#[test]
fn a_checkpoint_older_than_kafka_is_refused() {
    let world = World::new();
    let mut processor = world.start().unwrap();
    processor.read(&[0]);
    assert_eq!(processor.commit().unwrap(), Commit::Done(1));
    drop(processor);
    world.kafka.state().committed_tags =
        vec![format!("{}:7", world.store().open_or_create().unwrap().id)];
    let error = world.start().err().expect("refused");
    assert!(format!("{error}").contains("Kafka has epoch 7"), "{error}");
}

/// A processor commits epoch 1; a successor takes over (registering the transactional id
/// fenced it) and leaves out epoch 2, the one the fenced one may still write; then the fenced
/// one (a zombie) wakes up and writes epoch 2's files, and Kafka refuses its transaction; the
/// successor commits epoch 3. Returns the successor.
fn zombie_writes_after_a_takeover(world: &World) -> Processor {
    let mut zombie = world.start().unwrap();
    zombie.read(&[0]);
    assert_eq!(zombie.commit().unwrap(), Commit::Done(1));

    // a successor takes over (registering the transactional id fenced the zombie); it leaves
    // out epoch 2, the one the zombie may still write
    let mut successor = world.start().unwrap();
    assert_eq!(successor.restored, Some(1));
    assert_eq!(successor.coordinator.epoch(), 3);

    // the zombie wakes up and writes epoch 2's files; Kafka refuses its transaction
    zombie.read(&[1, 2]);
    world.kafka.fail(Op::AddOffsets, TxnErrorKind::Fatal, false);
    let error = zombie.commit().unwrap_err();
    assert!(error.is::<Fenced>(), "{error:#}");
    assert!(world.storage.exists("checkpoint/offsets/2").unwrap());
    successor.read(&[3]);
    assert_eq!(successor.commit().unwrap(), Commit::Done(3));
    successor
}

#[test]
fn a_fenced_predecessors_pending_epoch_is_rolled_back_not_finished() {
    let world = World::new();
    let successor = zombie_writes_after_a_takeover(&world);
    drop(successor); // a crash: epochs 2 (the zombie's) and 3 are pending, Kafka's tag is 3's
    assert_eq!(world.store().pending_epochs().unwrap(), [2, 3]);
    let again = world.start().unwrap();
    assert_eq!(again.restored, Some(3));
    assert_eq!(world.store().committed_epochs().unwrap(), [1, 3]);
    assert!(
        !world.storage.exists("checkpoint/offsets/2").unwrap(),
        "epoch 2 is below Kafka's tag, but another incarnation's: rolled back"
    );
}

#[test]
fn a_fenced_predecessors_late_epoch_is_never_committed_nor_read_back() {
    let world = World::new();
    let mut successor = zombie_writes_after_a_takeover(&world);
    successor.read(&[4]);
    // the zombie claimed epoch 4 while sealing its epoch 2: the successor's next is 5
    assert_eq!(successor.commit().unwrap(), Commit::Done(5));
    drop(successor); // a crash after epoch 5; epoch 3's commit record came with it
    assert_eq!(world.store().committed_epochs().unwrap(), [1, 3]);
    assert_eq!(world.store().pending_epochs().unwrap(), [5]);

    let mut again = world.start().unwrap();
    assert_eq!(again.restored, Some(5));
    assert_eq!(again.coordinator.epoch(), 7);
    assert_eq!(world.store().committed_epochs().unwrap(), [1, 3, 5]);
    // the open raw file is rebuilt from epochs 1, 3 and 5 only: the zombie's rows of epoch 2
    // are still in the checkpoint, and not read
    assert!(world.storage.exists("checkpoint/rows/2").unwrap());
    assert_eq!(
        unpublished_raw_rows(&world),
        3,
        "the ratings of epochs 1, 3 and 5"
    );

    // pruning removes the zombie's epoch; its rows go with the rows of its time, once no open
    // file is rebuilt from them (the raw file of this hour still is: from epoch 1 on), and are
    // never read meanwhile
    for second in [5, 6, 7] {
        again.read(&[second]);
        assert!(matches!(again.commit().unwrap(), Commit::Done(_)));
    }
    for kind in ["offsets", "state"] {
        assert!(
            !world
                .storage
                .exists(&format!("checkpoint/{kind}/2"))
                .unwrap(),
            "{kind}/2"
        );
    }
    again.coordinator.close().unwrap();
    assert_eq!(
        unpublished_raw_rows(&world),
        6,
        "epochs 1, 3, 5 and the three after"
    );
}

/// The ratings in the raw rows a restart would rebuild its open files from.
fn unpublished_raw_rows(world: &World) -> usize {
    let outputs = super::recovery::committed_outputs(&world.store())
        .unwrap()
        .unwrap();
    outputs
        .unpublished
        .iter()
        .filter(|d| d.dataset == 0)
        .map(|d| decode(&d.parquet).len())
        .sum()
}

/// Two processors recover from the same committed epoch at once (with high availability: a
/// paused lease holder wakes up and recovers after its successor did): both would number the
/// same next epoch. The one Kafka fenced writes that epoch's files after the holder wrote
/// its own — none of the holder's files may be replaced, and a restart rebuilds the open
/// files from the holder's rows only.
#[test]
fn two_processors_recovering_at_once_never_write_the_same_epochs_files() {
    let world = World::new();
    let mut first = world.start().unwrap();
    first.read(&[0]);
    assert_eq!(first.commit().unwrap(), Commit::Done(1));
    drop(first);

    let mut zombie = world.start().unwrap();
    let mut holder = world.start().unwrap();
    assert_eq!((zombie.restored, holder.restored), (Some(1), Some(1)));
    assert_ne!(zombie.coordinator.epoch(), holder.coordinator.epoch());

    holder.read(&[1]);
    let Commit::Done(held) = holder.commit().unwrap() else {
        panic!("the holder's epoch did not commit");
    };
    let holders = world.store().read_offsets(held).unwrap();

    // the zombie wakes up with more ratings, writes its epoch's files; Kafka refuses it
    zombie.read(&[2, 3, 4]);
    world.kafka.fail(Op::AddOffsets, TxnErrorKind::Fatal, false);
    let error = zombie.commit().unwrap_err();
    assert!(error.is::<Fenced>(), "{error:#}");
    assert_eq!(world.store().read_offsets(held).unwrap(), holders);

    holder.read(&[5]);
    assert!(matches!(holder.commit().unwrap(), Commit::Done(_)));
    drop(holder); // a crash
    let again = world.start().unwrap();
    assert_eq!(
        again.next_offset, 3,
        "the ratings of the first and the holder's two epochs"
    );
    assert_eq!(
        unpublished_raw_rows(&world),
        3,
        "the zombie's ratings are not read back"
    );
}
