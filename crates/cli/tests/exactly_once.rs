//! Exactly-once across crashes, against the real Kafka broker started by `scripts/kafka.sh`.
//!
//! While `ratings-stream generate` writes a deterministic stream (disorder, late and malformed
//! records) to a fresh input topic, the processor is killed with SIGKILL at random seeded
//! instants and restarted each time; it finally runs to the end of the input. An uninterrupted
//! processor then reads the same input into outputs of its own. The committed outputs of both —
//! `metrics`, dead letters and late records read with read_committed, and the Parquet rows —
//! must be equal: every window exactly once with identical values, every raw row exactly once.
//!
//! `RATINGS_FAULT_KILLS` (default 10) and `RATINGS_FAULT_SEED` change the schedule;
//! `scripts/fault-injection.sh` runs it with 50 kills.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ratings_connectors::kafka::ensure_topics;

mod common;
use common::{binary, bootstrap, comparable, kafka_settings, read_topic, temp_dir};

/// 2023-11-14T22:13:00Z.
const B: i64 = 1_699_999_980;

/// One processor's topics, consumer group (also its transactional id) and storage.
struct Outputs {
    metrics: String,
    dead: String,
    late: String,
    group: String,
    storage: PathBuf,
}

impl Outputs {
    fn new(input: &str, name: &str) -> Outputs {
        let topic = |kind: &str| format!("{input}-{name}-{kind}");
        let outputs = Outputs {
            metrics: topic("metrics"),
            dead: topic("dead"),
            late: topic("late"),
            group: topic("group"),
            storage: temp_dir(&format!("{input}-{name}")),
        };
        let all = [&outputs.metrics, &outputs.dead, &outputs.late];
        ensure_topics(&kafka_settings(), &all.map(|t| (t.as_str(), 3))).unwrap();
        outputs
    }

    /// The processor's command line over `input`.
    fn args(&self, input: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "run",
            "--bootstrap-servers",
            &bootstrap(),
            "--ratings-topic",
            input,
            "--metrics-topic",
            &self.metrics,
            "--dead-letter-topic",
            &self.dead,
            "--late-topic",
            &self.late,
            "--group-id",
            &self.group,
            "--storage",
            self.storage.to_str().unwrap(),
            "--metrics-address",
            "off",
            "--commit-interval",
            "200ms",
            "--roll-interval",
            "2s",
            "--progress-interval",
            "2s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Runs the processor until the input is read to its end.
    fn run_to_end(&self, input: &str) {
        let args = self.args(input, &["--exit-at-end"]);
        binary(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Starts the processor in the background, its log appended to `log`.
    fn spawn(&self, input: &str, log: &Path) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_ratings-stream"))
            .args(self.args(input, &[]))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }
}

/// A fresh input topic name.
fn input_topic(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let topic = format!("{test}-{}-{nanos}", std::process::id());
    ensure_topics(&kafka_settings(), &[(topic.as_str(), 3)]).unwrap();
    topic
}

/// Starts `generate`: `count` records at 2,500/s, event time 100× faster than the clock,
/// 2% late and 1% malformed.
fn start_generator(topic: &str, count: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ratings-stream"))
        .args([
            "generate",
            "--bootstrap-servers",
            &bootstrap(),
            "--ratings-topic",
            topic,
            "--rate",
            "2500",
            "--events-per-second",
            "25",
            "--count",
            &count.to_string(),
            "--seed",
            "11",
            "--start-time",
            &B.to_string(),
            "--late-fraction",
            "0.02",
            "--malformed-fraction",
            "0.01",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Dead-letter or late records without `detail` (it names the watermark at that moment,
/// which depends on how far the processor had read), sorted.
fn records(topic: &str) -> Vec<String> {
    let mut out: Vec<String> = read_topic(topic)
        .into_iter()
        .map(|(_, _, mut record)| {
            record.as_object_mut().unwrap().remove("detail");
            record.to_string()
        })
        .collect();
    out.sort();
    out
}

/// Every row of the Parquet files under `root` (hidden and `_` folders skipped), rendered
/// by `render`, sorted.
fn parquet_rows(
    root: &Path,
    render: &dyn Fn(&arrow_array::RecordBatch, usize) -> String,
) -> Vec<String> {
    let mut rows = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return rows;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rows.extend(parquet_rows(&path, render));
        } else if name.ends_with(".parquet") {
            let file = std::fs::File::open(&path).unwrap();
            for batch in ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap()
            {
                let batch = batch.unwrap();
                rows.extend((0..batch.num_rows()).map(|i| render(&batch, i)));
            }
        }
    }
    rows.sort();
    rows
}

fn raw_row(batch: &arrow_array::RecordBatch, i: usize) -> String {
    format!(
        "{} {} {} {}",
        batch.column(0).as_primitive::<Int32Type>().value(i),
        batch.column(1).as_primitive::<Int32Type>().value(i),
        batch.column(2).as_primitive::<Float64Type>().value(i),
        batch.column(3).as_primitive::<Int64Type>().value(i)
    )
}

fn aggregate_row(batch: &arrow_array::RecordBatch, i: usize) -> String {
    format!(
        "{} {} {} {} {} {}",
        batch
            .column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .value(i),
        batch.column(2).as_string::<i32>().value(i),
        batch.column(3).as_primitive::<Int64Type>().value(i),
        batch.column(4).as_primitive::<Float64Type>().value(i),
        batch.column(5).as_primitive::<Float64Type>().value(i),
        batch.column(6).as_primitive::<Float64Type>().value(i)
    )
}

/// `_SUCCESS` markers under `root`, relative paths, sorted.
fn markers(root: &Path, under: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(under) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(markers(root, &path));
            } else if path.ends_with("_SUCCESS") {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Compares every committed output of two processors; prints the counts compared.
fn assert_same_outputs(tested: &Outputs, reference: &Outputs) {
    let windows = |o: &Outputs| comparable(read_topic(&o.metrics).into_iter().map(|(_, _, w)| w));
    let (got, want) = (windows(tested), windows(reference));
    let mut counts = BTreeMap::new();
    counts.insert("metrics windows", (got.len(), want.len()));
    assert!(!want.is_empty(), "the reference run emitted no window");
    assert_eq!(got, want, "windows in metrics differ");
    for (what, of) in [("dead letters", 0), ("late records", 1)] {
        let topic = |o: &Outputs| {
            if of == 0 {
                o.dead.clone()
            } else {
                o.late.clone()
            }
        };
        let (got, want) = (records(&topic(tested)), records(&topic(reference)));
        counts.insert(what, (got.len(), want.len()));
        assert!(!want.is_empty(), "the reference run has no {what}");
        assert_eq!(got, want, "{what} differ");
    }
    let datasets = [
        (
            "raw",
            "streams/ratings/raw",
            &raw_row as &dyn Fn(&_, _) -> _,
        ),
        ("tumbling", "streams/ratings/agg/tumbling", &aggregate_row),
        ("sliding", "streams/ratings/agg/sliding", &aggregate_row),
    ];
    for (what, root, render) in datasets {
        let got = parquet_rows(&tested.storage.join(root), render);
        let want = parquet_rows(&reference.storage.join(root), render);
        counts.insert(what, (got.len(), want.len()));
        assert!(!want.is_empty(), "the reference run wrote no {what} rows");
        assert_eq!(got.len(), want.len(), "{what} Parquet row counts differ");
        assert_eq!(got, want, "{what} Parquet rows differ");
        let (got, want) = (
            markers(&tested.storage, &tested.storage.join(root)),
            markers(&reference.storage, &reference.storage.join(root)),
        );
        assert_eq!(got, want, "{what} _SUCCESS markers differ");
    }
    for (what, (got, want)) in &counts {
        eprintln!("compared {what}: {got} after the faults, {want} uninterrupted");
    }
}

#[test]
fn sigkill_at_random_instants_changes_no_output() {
    let kills = env_or("RATINGS_FAULT_KILLS", 10);
    let seed = env_or("RATINGS_FAULT_SEED", 20_261_128);
    let input = input_topic("eos-kill");
    let (tested, reference) = (
        Outputs::new(&input, "killed"),
        Outputs::new(&input, "reference"),
    );
    let log = tested.storage.join("processor.log");
    // ~1.6 s of input per kill: the kills land while the generator writes
    let mut generator = start_generator(&input, kills * 4_000);
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    for kill in 1..=kills {
        let mut processor = tested.spawn(&input, &log);
        let after = Duration::from_millis(rng.u64(300..2_500));
        std::thread::sleep(after);
        processor.kill().unwrap(); // SIGKILL
        processor.wait().unwrap();
        eprintln!(
            "kill {kill}/{kills} after {after:?} ({:?} into the run)",
            started.elapsed()
        );
    }
    assert!(generator.wait().unwrap().success(), "generate failed");
    tested.run_to_end(&input);
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log.contains("resuming after epoch"),
        "no restart resumed from a checkpoint: {log}"
    );
    reference.run_to_end(&input);
    assert_same_outputs(&tested, &reference);
}

/// The processor's command over `input`, run to the end; its output.
fn run_once(outputs: &Outputs, input: &str, extra: &[&str]) -> std::process::Output {
    let mut args = outputs.args(input, &["--exit-at-end", "--summary-file"]);
    args.push(outputs.storage.join("summary.json").display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_ratings-stream"))
        .args(&args)
        .output()
        .unwrap()
}

fn records_in(outputs: &Outputs) -> u64 {
    let text = std::fs::read_to_string(outputs.storage.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    summary["records"].as_u64().unwrap()
}

#[test]
fn a_damaged_checkpoint_is_refused_and_reset_checkpoint_starts_over() {
    let input = input_topic("eos-damage");
    let outputs = Outputs::new(&input, "damage");
    let mut generator = start_generator(&input, 3_000);
    assert!(generator.wait().unwrap().success());
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

    let storage = outputs.storage.display().to_string();
    let inspect = binary(&["checkpoint", "inspect", "--storage", &storage]);
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(text.contains("partition 2: next offset"), "{text}");
    let latest = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("latest epoch "))
        .and_then(|l| l.split(':').next())
        .expect("inspect names the latest epoch")
        .to_string();

    let dir = outputs
        .storage
        .join(ratings_connectors::checkpoint::DEFAULT_DIR);
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
            let text = String::from_utf8_lossy(&good).replacen("RSCKPT 1 ", "RSCKPT 9 ", 1);
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
    assert!(generator.wait().unwrap().success());
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
