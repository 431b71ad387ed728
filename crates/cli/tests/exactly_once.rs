//! Exactly-once across crashes, against the real Kafka broker started by `scripts/kafka.sh`.
//!
//! While `ratings-stream generate` writes a deterministic stream (disorder, late and malformed
//! records) to a fresh input topic, the processor is killed with SIGKILL at random seeded
//! instants and restarted each time; it finally runs to the end of the input. An uninterrupted
//! processor then reads the same input into outputs of its own. The committed outputs of both —
//! `metrics`, dead letters and late records read with read_committed, and the Parquet rows —
//! must be equal: every window exactly once with identical values, every raw row exactly once.
//! `verify --audit` then recomputes every window of the killed processor's outputs from its raw
//! rows and finds no difference, until one aggregate row is altered.
//!
//! `RATINGS_FAULT_KILLS` (default 10) and `RATINGS_FAULT_SEED` change the schedule;
//! `scripts/fault-injection.sh` runs it with 50 kills (`TABLE_FORMAT=delta`: writing Delta
//! tables, whose logs are then checked commit by commit).

use std::time::{Duration, Instant};

mod common;
use common::binary;
use common::delta::{assert_exact_delta_logs, delta_from_env};
use common::eos::{
    assert_audit_finds_the_altered_row, assert_audit_passes, assert_same_outputs, env_or,
    input_topic, records_in, run_once, run_through_outage, start_generator, Outputs,
};

#[test]
fn sigkill_at_random_instants_changes_no_output() {
    let kills = env_or("RATINGS_FAULT_KILLS", 10);
    let seed = env_or("RATINGS_FAULT_SEED", 20_261_128);
    let input = input_topic("eos-kill");
    let tested = Outputs::new(&input, "killed");
    kill_and_compare(&input, &tested, kills, seed);
    // RATINGS_TABLE_FORMAT=delta (scripts/fault-injection.sh with TABLE_FORMAT=delta)
    if delta_from_env() {
        assert_exact_delta_logs(&tested, &input);
    }
}

/// The same with the Parquet outputs and the checkpoint on S3 (where a rename is a copy and a
/// delete), fewer kills.
#[test]
fn sigkill_with_outputs_on_s3_changes_no_output() {
    let s3 = std::env::var("S3_URL").expect("S3_URL is not set: run scripts/test.sh");
    let input = input_topic("eos-s3");
    let tested = Outputs::on(&input, "s3", &format!("{s3}/{input}"));
    kill_and_compare(&input, &tested, 4, 7);
}

/// The same with the outputs as Delta tables, compared with an uninterrupted run writing plain
/// Parquet: every table holds its rows, and each table's log is exact — one commit per epoch,
/// epochs strictly increasing, each adding only its own files, none twice, all present.
#[test]
fn sigkill_with_delta_tables_changes_no_output() {
    let input = input_topic("eos-delta");
    let tested = Outputs::new(&input, "delta").with(&["--table-format", "delta"]);
    kill_and_compare(&input, &tested, 4, 11);
    assert_exact_delta_logs(&tested, &input);
}

/// The same on HDFS and on S3, fewer kills.
#[test]
fn sigkill_with_delta_tables_on_hdfs_and_s3_changes_no_output() {
    let hdfs = std::env::var("HDFS_URL").expect("HDFS_URL is not set: run scripts/test.sh");
    let s3 = std::env::var("S3_URL").expect("S3_URL is not set: run scripts/test.sh");
    for (name, base) in [("hdfs", hdfs), ("s3", s3)] {
        let input = input_topic(&format!("eos-delta-{name}"));
        let tested = Outputs::on(&input, name, &format!("{base}/{input}"))
            .with(&["--table-format", "delta"]);
        kill_and_compare(&input, &tested, 2, 5);
        assert_exact_delta_logs(&tested, &input);
    }
}

/// A crash between an epoch's Kafka commit and its commit to the Delta tables (at the fault
/// point `RATINGS_FAULT_BEFORE_TABLE_COMMIT`): the restart finishes the epoch's table commits
/// once, and every output equals an uninterrupted run's.
#[test]
fn a_crash_between_the_kafka_commit_and_the_table_commit_is_finished_on_restart() {
    let input = input_topic("eos-delta-fault");
    let tested = Outputs::new(&input, "delta").with(&["--table-format", "delta"]);
    let mut generator = start_generator(&input, 12_000);
    let log = tested.dir.join("processor.log");
    let mut crashing =
        tested.spawn_with_env(&input, &log, ("RATINGS_FAULT_BEFORE_TABLE_COMMIT", "1"));
    let status = crashing.wait();
    assert!(!status.success(), "the processor passed the fault point");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("aborting before the table commit"), "{text}");
    assert!(generator.wait().success(), "generate failed");
    let last = tested.run_to_end(&input);
    assert!(
        last.contains("was committed to Kafka before the stop"),
        "the restart did not finish the epoch: {last}"
    );
    let reference = Outputs::new(&input, "reference");
    reference.run_to_end(&input);
    assert_same_outputs(&tested, &reference);
    assert_exact_delta_logs(&tested, &input);
}

/// Kills the `tested` processor `kills` times at instants drawn from `seed` while the generator
/// writes, runs it to the end, and compares its outputs with an uninterrupted run's.
fn kill_and_compare(input: &str, tested: &Outputs, kills: u64, seed: u64) {
    let reference = Outputs::new(input, "reference");
    let log = tested.dir.join("processor.log");
    // ~1.6 s of input per kill: the kills land while the generator writes
    let mut generator = start_generator(input, kills * 4_000);
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    for kill in 1..=kills {
        let mut processor = tested.spawn(input, &log, &[]);
        if kill == 1 {
            // one kill at least lands after a commit, however long the start took: the runs
            // after it must resume from a checkpoint
            common::wait_for_text(&log, "first epoch committed", Duration::from_secs(120));
        }
        let after = Duration::from_millis(rng.u64(300..2_500));
        std::thread::sleep(after);
        processor.kill(); // SIGKILL
        eprintln!(
            "kill {kill}/{kills} after {after:?} ({:?} into the run)",
            started.elapsed()
        );
    }
    assert!(generator.wait().success(), "generate failed");
    let last = tested.run_to_end(input);
    let log = std::fs::read_to_string(&log).unwrap_or_default() + &last;
    assert!(
        log.contains("resuming after epoch"),
        "no restart resumed from a checkpoint: {log}"
    );
    reference.run_to_end(input);
    assert_same_outputs(tested, &reference);
    // the committed aggregates agree with the committed raw rows, and an altered row is found
    assert_audit_passes(tested, input);
    assert_audit_finds_the_altered_row(tested, input);
}

#[test]
fn a_damaged_checkpoint_is_refused_and_reset_checkpoint_starts_over() {
    let input = input_topic("eos-damage");
    let outputs = Outputs::new(&input, "damage");
    let mut generator = start_generator(&input, 3_000);
    assert!(generator.wait().success());
    let first = run_once(&outputs, &input, &["--no-final-flush"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(records_in(&outputs), 3_000);

    // a restart resumes after the committed offsets: nothing is read twice
    let again = run_once(&outputs, &input, &["--no-final-flush"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("resuming after epoch"));
    assert_eq!(records_in(&outputs), 0, "a restart read records again");

    let inspect = binary(&["checkpoint", "inspect", "--storage", &outputs.storage]);
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(text.contains("partition 2: next offset"), "{text}");
    let latest = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("latest epoch "))
        .and_then(|l| l.split(':').next())
        .expect("inspect names the latest epoch")
        .to_string();

    let dir =
        std::path::Path::new(&outputs.storage).join(ratings_connectors::checkpoint::DEFAULT_DIR);
    let state = dir.join("state").join(&latest);
    let good = std::fs::read(&state).unwrap();
    let refusals = [
        ("damaged", {
            let mut bad = good.clone();
            *bad.last_mut().unwrap() ^= 0x40;
            bad
        }),
        ("truncated", good[..good.len() - 3].to_vec()),
        ("newer than this build reads", {
            let current = format!("RSCKPT {} ", ratings_connectors::checkpoint::FORMAT_VERSION);
            let text = String::from_utf8_lossy(&good).replacen(&current, "RSCKPT 99 ", 1);
            text.into_bytes()
        }),
    ];
    for (expected, bytes) in refusals {
        std::fs::write(&state, &bytes).unwrap();
        let out = run_once(&outputs, &input, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "started despite a {expected} checkpoint"
        );
        assert!(
            stderr.contains(&format!("state/{latest}"))
                && stderr.contains(expected)
                && stderr.contains("--reset-checkpoint"),
            "{stderr}"
        );
    }
    std::fs::remove_file(&state).unwrap();
    let out = run_once(&outputs, &input, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains(&format!("state/{latest}")),
        "{stderr}"
    );

    let reset = run_once(&outputs, &input, &["--reset-checkpoint"]);
    let stderr = String::from_utf8_lossy(&reset.stderr);
    assert!(reset.status.success(), "{stderr}");
    assert!(stderr.contains("WARNING: --reset-checkpoint"), "{stderr}");
    assert_eq!(
        records_in(&outputs),
        3_000,
        "a reset starts from --starting-offsets"
    );
}

#[test]
fn a_new_processor_starts_at_latest_or_at_a_time() {
    let input = input_topic("eos-start");
    let mut generator = start_generator(&input, 2_000);
    assert!(generator.wait().success());
    let latest = Outputs::new(&input, "latest");
    let out = run_once(&latest, &input, &["--starting-offsets", "latest"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(records_in(&latest), 0);
    // every record was written before now: a time in the future finds none, one in the past all
    let future = Outputs::new(&input, "future");
    let out = run_once(
        &future,
        &input,
        &["--starting-offsets", "2099-01-01T00:00:00Z"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(records_in(&future), 0);
    let past = Outputs::new(&input, "past");
    let out = run_once(
        &past,
        &input,
        &["--starting-offsets", "2020-01-01T00:00:00Z"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(records_in(&past), 2_000);
}

/// A processor stalled (SIGSTOP, like a long GC pause or a frozen VM) for longer than its
/// transaction timeout: the broker aborts the epoch's transaction and fences the producer; the
/// processor notices, redoes the epoch from the checkpoint, and loses or repeats nothing.
/// 5 s epochs, so that a transaction with records is surely open at the stall.
#[test]
fn a_stall_longer_than_the_transaction_timeout_redoes_the_epoch() {
    stall_and_compare(&["--transaction-timeout", "10s", "--commit-interval", "5s"]);
}

/// Stops the processor (SIGSTOP) for 25 s mid-run, then compares its outputs with an
/// uninterrupted run's, and checks that it redid an epoch.
fn stall_and_compare(options: &[&'static str]) {
    let input = input_topic("eos-stall");
    let tested = Outputs::new(&input, "stalled").with(options);
    let reference = Outputs::new(&input, "reference");
    let signal = common::signal;
    let log = run_through_outage(&input, &tested, &reference, 20_000, |_, pid| {
        signal("-STOP", pid);
        // the broker checks for timed-out transactions every 10 s
        std::thread::sleep(Duration::from_secs(25));
        signal("-CONT", pid);
    });
    // depending on what it does first after the stall, the processor learns it from a commit
    // (fenced: the transaction was open too long) or from its queued records (timed out)
    assert!(
        log.contains("restarting from the last committed epoch"),
        "{log}"
    );
}

/// What keeps two processors that run at once (a paused lease holder that wakes up) from
/// writing over each other's epoch files: an epoch number is claimed by creating a file only
/// if none is there. On a local folder and the test HDFS, two claimers trying each number at
/// the same moment win it exactly once between them; on the S3 endpoint they take turns (moto
/// checks `If-None-Match` and then writes, so two requests at the same moment can both pass
/// there — AWS S3 makes conditional writes atomic). Everywhere, a claim is its creator's for good.
#[test]
fn an_epoch_number_is_claimed_once_on_every_storage() {
    use ratings_connectors::checkpoint::CheckpointStore;
    use ratings_connectors::storage::Storage;
    use std::sync::{Arc, Barrier};

    let folder = format!("claims-{}-{}", std::process::id(), fastrand::u32(..));
    let local = common::temp_dir(&folder);
    let hdfs = std::env::var("HDFS_URL").expect("HDFS_URL is not set: run scripts/test.sh");
    let s3 = std::env::var("S3_URL").expect("S3_URL is not set: run scripts/test.sh");
    let storages = [
        (format!("file://{}", local.display()), true),
        (format!("{hdfs}/{folder}"), true),
        (format!("{s3}/{folder}"), false),
    ];
    for (url, at_once) in storages {
        let storage = Arc::new(Storage::open(&url).unwrap());
        let store = Arc::new(CheckpointStore::new(storage, "checkpoint"));
        let together = Arc::new(Barrier::new(if at_once { 2 } else { 1 }));
        let claimer = |incarnation: &'static str| {
            let (store, together) = (Arc::clone(&store), Arc::clone(&together));
            std::thread::spawn(move || {
                (1..=20)
                    .filter(|epoch| {
                        together.wait(); // both try each number at the same moment
                        store.claim(*epoch, incarnation).unwrap()
                    })
                    .collect::<Vec<u64>>()
            })
        };
        let first = claimer("aaaa");
        let (a, b) = if at_once {
            let second = claimer("bbbb");
            (first.join().unwrap(), second.join().unwrap())
        } else {
            let a = first.join().unwrap();
            (a, claimer("bbbb").join().unwrap())
        };
        let mut all: Vec<u64> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (1..=20).collect::<Vec<_>>(), "{url}: a {a:?}, b {b:?}");
        let (mine, theirs) = if a.contains(&1) {
            ("aaaa", "bbbb")
        } else {
            ("bbbb", "aaaa")
        };
        assert!(store.claim(1, mine).unwrap(), "{url}");
        assert!(!store.claim(1, theirs).unwrap(), "{url}");
        store.reset().unwrap();
    }
}
