//! Upgrading is safe: a checkpoint written by an earlier release — kept under
//! `tests/fixtures/checkpoint-*` with the input it read, the outputs it committed to Kafka and
//! the consumer group's tag — is restored by this build, which carries on exactly once: its
//! outputs added to the earlier release's equal an uninterrupted run of this build over the same
//! input (windows, dead letters, late records, Parquet rows and `_SUCCESS` markers). Every later
//! release is held to every fixture here. `make_a_fixture` (ignored) writes a new one with
//! another build; see the fixtures' README.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_connectors::checkpoint::CheckpointStore;
use ratings_connectors::kafka::{
    committed_metadata, group_metadata, Inspector, KafkaSettings, Producer,
};
use ratings_connectors::storage::Storage;
use serde_json::Value;

use common::eos::{assert_same_outputs, input_topic, Outputs, B};
use common::process::spawn;
use common::{comparable, kafka_settings, read_topic, temp_dir};

/// Input partitions of every fixture.
const PARTITIONS: usize = 3;
/// The committed outputs a fixture keeps: its file name and where it goes.
const COMMITTED: [&str; 3] = ["metrics", "dead", "late"];

#[test]
fn every_fixture_checkpoint_of_an_earlier_release_is_restored_and_carried_on_exactly_once_and_with_a_window_type_added(
) {
    let fixtures = fixtures();
    assert!(
        !fixtures.is_empty(),
        "no fixture under {}",
        fixtures_dir().display()
    );
    // one test: the fixture's input topic (its checkpoint names it) is made afresh by each run
    for fixture in fixtures {
        eprintln!("fixture {}", fixture.display());
        carry_on(&fixture);
        eprintln!("fixture {}, a window type added", fixture.display());
        add_a_window_type(&fixture);
    }
}

/// Restores `fixture` on a fresh topic, storage and group, runs this build to the end of the
/// input, and compares with an uninterrupted run of this build.
fn carry_on(fixture: &Path) {
    let input = &fixture_input(fixture);
    let reference = fresh_outputs(input, "reference");
    reference.run_to_end(input);

    let upgraded = fresh_outputs(input, "upgraded");
    let (epoch, log) = upgrade(fixture, input, &upgraded);
    assert!(
        log.contains(&format!("resuming after epoch {epoch}")),
        "not resumed from the fixture's epoch {epoch}: {log}"
    );
    assert_same_outputs(&upgraded, &reference);
}

/// Restores `fixture` as [`carry_on`] does, with a 15-minute tumbling window added: the kept
/// types' windows equal an uninterrupted run's of the fixture's windows; the added type's equal
/// an uninterrupted run's of the new windows for every window closing after the restart.
fn add_a_window_type(fixture: &Path) {
    const WINDOWS: [&str; 2] = [
        "--windows",
        "tumbling_1min,sliding_5min_1min,tumbling_15min",
    ];
    let input = &fixture_input(fixture);
    let reference = fresh_outputs(input, "reference");
    reference.run_to_end(input);
    let added = fresh_outputs(input, "reference-added").with(&WINDOWS);
    added.run_to_end(input);

    let upgraded = fresh_outputs(input, "upgraded").with(&WINDOWS);
    let (epoch, log) = upgrade(fixture, input, &upgraded);
    assert!(
        log.contains("windows changed since the checkpoint (added tumbling_15min)"),
        "no rebuild: {log}"
    );
    let store = CheckpointStore::new(
        Arc::new(Storage::open(&upgraded.storage).unwrap()),
        ratings_connectors::checkpoint::DEFAULT_DIR,
    );
    let restart = store.read_offsets(epoch).unwrap().watermark.unwrap();
    let restart = ratings_core::time::rfc3339_seconds(restart);
    let of = |outputs: &Outputs, window_type: &str, after: &str| {
        comparable(
            read_topic(&outputs.topics.metrics)
                .into_iter()
                .map(|(_, _, w)| w)
                .filter(|w| w["window_type"] == window_type)
                .filter(|w| w["window_end"].as_str().unwrap() > after),
        )
    };
    for kept in ["tumbling_1min", "sliding_5min_1min"] {
        let want = of(&reference, kept, "");
        assert!(!want.is_empty());
        assert!(of(&upgraded, kept, "") == want, "{kept} windows differ");
    }
    let want = of(&added, "tumbling_15min", &restart);
    assert!(
        !want.is_empty(),
        "no 15-minute window closes after {restart}"
    );
    assert!(
        of(&upgraded, "tumbling_15min", "") == want,
        "tumbling_15min windows differ from those closing after {restart}"
    );
}

/// Outputs of their own: the fixture's input topic is always the same, the names of the
/// outputs' topics and group (made from it) must not be.
fn fresh_outputs(input: &str, name: &str) -> Outputs {
    Outputs::new(input, &common::unique_name(name))
}

/// The fixture's input topic, created afresh with the fixture's records.
fn fixture_input(fixture: &Path) -> String {
    let checkpoint = fixture.join("storage/checkpoints/ratings_stream/processor/metadata");
    assert!(checkpoint.is_file(), "{} is missing", checkpoint.display());
    let input = fixture_group(fixture)["topic"]
        .as_str()
        .unwrap()
        .to_string();
    fresh_topic(&input);
    let records: Vec<Vec<String>> = (0..PARTITIONS)
        .map(|p| lines(&fixture.join(format!("input-{p}.jsonl"))))
        .collect();
    produce(&input, &records, usize::MAX);
    input
}

/// Runs this build on `outputs` from the fixture's checkpoint, as the earlier release left it
/// (storage and Kafka), to the end of `input`: the epoch of the fixture's tag, and the log.
fn upgrade(fixture: &Path, input: &str, outputs: &Outputs) -> (u64, String) {
    copy_tree(&fixture.join("storage"), Path::new(&outputs.storage));
    let epoch = restore_kafka(fixture, input, outputs);
    (epoch, outputs.run_to_end(input))
}

/// The fixture's `group.json`: the input topic (its checkpoint names it), the group's offsets
/// and their tag.
fn fixture_group(fixture: &Path) -> Value {
    let text = std::fs::read_to_string(fixture.join("group.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Creates `topic` with [`PARTITIONS`] partitions and nothing in them, deleting it first if it
/// exists (from an earlier run of the test).
fn fresh_topic(topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> =
        kafka_settings().client_config(&[]).create().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let exists = || {
        let metadata = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .unwrap();
        metadata.topics().iter().any(|t| t.name() == topic)
    };
    if exists() {
        let options = AdminOptions::new();
        runtime
            .block_on(admin.delete_topics(&[topic], &options))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while exists() {
            assert!(Instant::now() < deadline, "{topic} is not deleted");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    ratings_connectors::kafka::ensure_topics(&kafka_settings(), &[(topic, PARTITIONS as i32)])
        .unwrap();
}

/// Every fixture folder.
fn fixtures() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| {
        p.is_dir()
            && p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("checkpoint-"))
    });
    found.sort();
    found
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// What Kafka held when the fixture was written, written again for `outputs` in one
/// transaction, as the earlier release committed it: its committed outputs, and the group's
/// offsets with the checkpoint's epoch tag. The epoch of the tag.
fn restore_kafka(fixture: &Path, input: &str, outputs: &Outputs) -> u64 {
    let group: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("group.json")).unwrap())
            .unwrap();
    let tag = group["tag"].as_str().unwrap();
    let offsets: BTreeMap<i32, i64> = serde_json::from_value(group["offsets"].clone()).unwrap();
    let settings = kafka_settings();
    let timeout = Duration::from_secs(30);
    let producer = Producer::transactional(&settings, &outputs.topics.group, timeout).unwrap();
    producer.begin_transaction().unwrap();
    let topics = [
        &outputs.topics.metrics,
        &outputs.topics.dead,
        &outputs.topics.late,
    ];
    for (name, topic) in COMMITTED.iter().zip(topics) {
        for line in lines(&fixture.join(format!("committed-{name}.jsonl"))) {
            producer.send(topic, None, line.as_bytes()).unwrap();
        }
    }
    let metadata = group_metadata(&settings, &outputs.topics.group).unwrap();
    producer
        .send_offsets(input, &offsets, tag, &metadata, timeout)
        .unwrap();
    producer.commit_transaction(timeout).unwrap();
    tag.split(':').nth(1).unwrap().parse().unwrap()
}

/// Sends the first `limit` (at most) of `records[p]` to partition `p` of `topic`, for every
/// partition; how many of each were sent.
fn produce(topic: &str, records: &[Vec<String>], limit: usize) -> Vec<usize> {
    let producer = Producer::connect(&kafka_settings()).unwrap();
    let mut sent = Vec::new();
    for (p, lines) in records.iter().enumerate() {
        let end = lines.len().min(limit);
        for line in &lines[..end] {
            producer
                .send_to(topic, Some(p as i32), None, line.as_bytes())
                .unwrap();
        }
        sent.push(end);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    sent
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Copies the folder `from` into `to` (created).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Writes a fixture with the build in `RATINGS_FIXTURE_BIN` (an earlier release) into the new
/// folder `RATINGS_FIXTURE_DIR`: it reads 60% of a generated input (in epochs of 500 records
/// and small Parquet files, so that many are committed and published), is killed (SIGKILL) once caught up, and leaves its checkpoint,
/// its Parquet outputs, its committed Kafka outputs and the group's tag.
#[test]
#[ignore = "writes a fixture: RATINGS_FIXTURE_BIN=<an earlier build> RATINGS_FIXTURE_DIR=<new folder>"]
fn make_a_fixture() {
    let bin = PathBuf::from(std::env::var("RATINGS_FIXTURE_BIN").unwrap());
    let dir = PathBuf::from(std::env::var("RATINGS_FIXTURE_DIR").unwrap());
    assert!(!dir.exists(), "{} exists", dir.display());
    std::fs::create_dir_all(&dir).unwrap();
    let scratch = temp_dir("fixture-input");
    let all = scratch.join("all.jsonl");
    let generated = Command::new(&bin)
        .args([
            "generate",
            "--rate",
            "0",
            "--count",
            "6000",
            "--events-per-second",
            "1.5",
        ])
        .args([
            "--seed",
            "21",
            "--late-fraction",
            "0.02",
            "--malformed-fraction",
            "0.01",
        ])
        .args([
            "--start-time",
            &B.to_string(),
            "--output",
            all.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(generated.success());
    let mut records = vec![Vec::new(); PARTITIONS];
    for (i, line) in lines(&all).into_iter().enumerate() {
        records[i % PARTITIONS].push(line);
    }
    for (p, lines) in records.iter().enumerate() {
        std::fs::write(
            dir.join(format!("input-{p}.jsonl")),
            lines.join("\n") + "\n",
        )
        .unwrap();
    }

    // the input is there before the processor starts, as for the uninterrupted run the test
    // compares with: partitions read in the same (event-time aligned) order
    let input = input_topic("fixture");
    let sent = produce(&input, &records, records[0].len() * 3 / 5);
    let old = Outputs::new(&input, "old");
    let log = std::fs::File::create(old.dir.join("old.log")).unwrap();
    let mut processor = spawn(
        Command::new(&bin)
            // small epochs and files: many are committed and published, and the open files are
            // rebuilt from the rows of several epochs
            .args(old.args(&input, &["--roll-size", "16KB", "--commit-records", "500"]))
            .stdout(Stdio::null())
            .stderr(log),
    );
    wait_for_commit(&input, &old.topics.group, &sent);
    std::thread::sleep(Duration::from_secs(1));
    processor.kill();

    copy_tree(Path::new(&old.storage), &dir.join("storage"));
    let topics = [&old.topics.metrics, &old.topics.dead, &old.topics.late];
    for (name, topic) in COMMITTED.iter().zip(topics) {
        let values: Vec<String> = read_topic(topic)
            .into_iter()
            .map(|(_, _, v)| v.to_string())
            .collect();
        std::fs::write(
            dir.join(format!("committed-{name}.jsonl")),
            values.join("\n") + "\n",
        )
        .unwrap();
    }
    write_group(&dir, &kafka_settings(), &input, &old.topics.group);
    let version = Command::new(&bin).arg("--version").output().unwrap();
    std::fs::write(
        dir.join("WRITTEN_BY"),
        String::from_utf8_lossy(&version.stdout).as_bytes(),
    )
    .unwrap();
}

/// Waits until the group's offsets in Kafka (committed with an epoch) reach `sent`.
fn wait_for_commit(input: &str, group: &str, sent: &[usize]) {
    let inspector = Inspector::connect(&kafka_settings(), group).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let committed = inspector.committed(input, PARTITIONS).unwrap();
        let read: Vec<usize> = committed.iter().map(|o| o.unwrap_or(0) as usize).collect();
        if read == sent {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the old build did not catch up: {read:?} of {sent:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The group's committed offsets and their tag, as `group.json`.
fn write_group(dir: &Path, settings: &KafkaSettings, input: &str, group: &str) {
    let offsets = Inspector::connect(settings, group)
        .unwrap()
        .committed(input, PARTITIONS)
        .unwrap();
    let tags = committed_metadata(settings, input, group).unwrap();
    assert!(tags.iter().all(|t| *t == tags[0]), "{tags:?}");
    let offsets: BTreeMap<String, i64> = offsets
        .iter()
        .enumerate()
        .map(|(p, o)| (p.to_string(), o.unwrap()))
        .collect();
    let group = serde_json::json!({"topic": input, "tag": tags[0], "offsets": offsets});
    std::fs::write(
        dir.join("group.json"),
        serde_json::to_string_pretty(&group).unwrap(),
    )
    .unwrap();
}
