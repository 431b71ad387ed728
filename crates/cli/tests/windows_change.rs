//! Changing the windows of a running exactly-once job (real Kafka, outputs read with
//! read_committed): a processor runs over the first half of a disorderly input with late
//! ratings and stops with windows open; it restarts over the second half with other window
//! types. Its outputs are compared with an oracle, an uninterrupted run with the new window
//! types over the whole input: every window of a new type that closes after the restart equals
//! the oracle's, no window of a new type that closed before is emitted, a kept type's windows
//! equal the oracle's exactly, a removed type emits nothing more — in the `metrics` topic and in
//! each type's Parquet folder.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use ratings_connectors::checkpoint::{CheckpointStore, DEFAULT_DIR};
use ratings_connectors::storage::Storage;
use ratings_core::time::{parse_rfc3339_seconds, rfc3339_seconds};
use serde_json::Value;

use common::eos::{
    audit, audit_lines, input_topic, parquet_rows, raw_row, records, records_in, run_once, Outputs,
    B,
};
use common::{ratings_stream, read_topic, wait_for_text};

/// Records of each half of the input, and their event time per second of it.
const HALF: u64 = 16_000;
const PER_SECOND: u64 = 8;
const PAIR: &str = "tumbling_1min,sliding_5min_1min";

#[test]
fn adding_a_15_minute_tumbling_window_rebuilds_it_from_the_raw_ratings() {
    let folders = [
        ("tumbling_1min", "agg/tumbling"),
        ("sliding_5min_1min", "agg/sliding"),
        ("tumbling_15min", "agg/tumbling_15min"),
    ];
    change(
        "add-15min",
        "tumbling_1min,sliding_5min_1min,tumbling_15min",
        &folders,
        &[],
    );
}

#[test]
fn with_delta_tables_an_added_type_gets_a_table_of_its_own() {
    let folders = [
        ("tumbling_1min", "agg/tumbling"),
        ("sliding_10min_1min", "agg/sliding_10min_1min"),
    ];
    let tested = change(
        "delta",
        "tumbling_1min,sliding_10min_1min",
        &folders,
        &["--table-format", "delta"],
    );
    // the removed type's table got its last files; the added type's was created for it
    for folder in ["agg/sliding", "agg/sliding_10min_1min"] {
        let log = format!("{}/streams/ratings/{folder}/_delta_log", tested.storage);
        assert!(
            std::path::Path::new(&log).is_dir(),
            "{folder} is no Delta table"
        );
    }
}

#[test]
fn changing_the_sliding_window_to_10_minutes_or_to_a_slide_of_150_seconds() {
    let folders = [
        ("tumbling_1min", "agg/tumbling"),
        ("sliding_10min_1min", "agg/sliding_10min_1min"),
    ];
    change(
        "sliding-10min",
        "tumbling_1min,sliding_10min_1min",
        &folders,
        &[],
    );
    let folders = [
        ("tumbling_1min", "agg/tumbling"),
        ("sliding_5min_150s", "agg/sliding_5min_150s"),
    ];
    change(
        "sliding-150s",
        "tumbling_1min,sliding_5min_150s",
        &folders,
        &[],
    );
}

#[test]
fn removing_the_sliding_window_stops_it_and_keeps_the_tumbling_one() {
    change(
        "remove-sliding",
        "tumbling_1min",
        &[("tumbling_1min", "agg/tumbling")],
        &[],
    );
}

/// Runs the first half with the pair, the second with `after`, and compares with the oracle
/// (both with `options`); `folders` is where each type of `after` writes (under
/// `streams/ratings/`).
fn change(test: &str, after: &str, folders: &[(&str, &str)], options: &[&'static str]) -> Outputs {
    let Stopped {
        input,
        tested,
        watermark,
        before,
    } = Stopped::mid_stream(test, options);
    let log = run(&tested, &input, &["--windows", after]);
    assert!(
        log.contains("windows changed since the checkpoint")
            && log.contains("open windows rebuilt"),
        "no rebuild logged:\n{log}"
    );
    let oracle = Outputs::new(&input, "oracle").with(options);
    run(&oracle, &input, &["--windows", after]);
    assert_changed(&tested, &oracle, &before, watermark, after);
    assert_parquet(&tested, folders);
    // a removed type's open files were published with the first epoch, its hours closed
    let pair = [
        ("tumbling_1min", "agg/tumbling"),
        ("sliding_5min_1min", "agg/sliding"),
    ];
    for (window_type, folder) in pair {
        if !after.split(',').any(|t| t == window_type) {
            assert_parquet(&tested, &[(window_type, folder)]);
            assert_hours_closed(&tested, folder);
        }
    }
    assert_eq!(
        raw_rows(&tested),
        raw_rows(&oracle),
        "the raw ratings differ from the oracle's"
    );
    // the audit recomputes each type's windows from the raw ratings (an added type's from its
    // restart on) and finds them in Parquet and the topic
    let (passed, report) = audit(&tested, &input, &["--windows", after]);
    let lines = audit_lines(&report);
    assert!(passed && !lines.is_empty(), "{report}");
    assert!(lines.iter().all(|l| l.starts_with("PASS")), "{report}");
    tested
}

/// The first half of the input with the pair, stopped at its end with windows still open.
fn first_half(tested: &Outputs, input: &str) {
    run(tested, input, &["--windows", PAIR, "--no-final-flush"]);
}

/// A processor (with `options`) stopped after the first half of its input, with windows open;
/// the second half is in the topic.
struct Stopped {
    input: String,
    tested: Outputs,
    /// Its checkpoint's watermark.
    watermark: i64,
    /// The windows it emitted.
    before: Vec<Value>,
}

impl Stopped {
    fn mid_stream(test: &str, options: &[&'static str]) -> Stopped {
        let input = input_topic(&format!("windows-{test}"));
        generate(&input, 0);
        let tested = Outputs::new(&input, "tested").with(options);
        first_half(&tested, &input);
        let (watermark, before) = (checkpoint_watermark(&tested), windows(&tested));
        generate(&input, 1);
        Stopped {
            input,
            tested,
            watermark,
            before,
        }
    }
}

/// Compares the windows: see the module documentation.
fn assert_changed(
    tested: &Outputs,
    oracle: &Outputs,
    before: &[Value],
    watermark: i64,
    after: &str,
) {
    let (got, want) = (windows(tested), windows(oracle));
    let restart = rfc3339_seconds(watermark);
    let types: Vec<&str> = after.split(',').collect();
    let old: Vec<&str> = PAIR.split(',').collect();
    let mut all = types.clone();
    all.extend(old.iter().filter(|t| !types.contains(t)));
    for window_type in &all {
        let of = |windows: &[Value]| -> Vec<String> {
            let mut out: Vec<String> = windows
                .iter()
                .filter(|w| w["window_type"] == *window_type)
                .map(comparable)
                .collect();
            out.sort();
            out
        };
        let (tested_windows, oracle_windows) = (of(&got), of(&want));
        let kept = types.contains(window_type) && old.contains(window_type);
        let expected: Vec<String> = if kept {
            oracle_windows
        } else if types.contains(window_type) {
            // added: those closing after the restart
            let mut closing_after: Vec<String> = want
                .iter()
                .filter(|w| w["window_type"] == *window_type)
                .filter(|w| w["window_end"].as_str().unwrap() > restart.as_str())
                .map(comparable)
                .collect();
            closing_after.sort();
            closing_after
        } else {
            // removed: those of the first run only
            of(before)
        };
        assert!(
            !expected.is_empty(),
            "{window_type}: nothing to compare with"
        );
        let first_difference = tested_windows
            .iter()
            .zip(&expected)
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("{} != {}", brief(a), brief(b)));
        assert!(
            tested_windows == expected,
            "{window_type}: {} windows, the oracle {} (watermark at the restart {restart}); \
             first difference: {first_difference:?}",
            tested_windows.len(),
            expected.len(),
        );
        eprintln!(
            "{window_type}: {} windows equal the oracle's",
            expected.len()
        );
    }
}

/// Each type's Parquet rows (start, type, count) equal its windows in the `metrics` topic.
fn assert_parquet(tested: &Outputs, folders: &[(&str, &str)]) {
    let emitted = windows(tested);
    for (window_type, folder) in folders {
        let mut from_topic: Vec<String> = emitted
            .iter()
            .filter(|w| w["window_type"] == *window_type)
            .map(|w| {
                let start = parse_rfc3339_seconds(w["window_start"].as_str().unwrap()).unwrap();
                format!("{start} {window_type} {}", w["count"])
            })
            .collect();
        from_topic.sort();
        let root = format!("streams/ratings/{folder}");
        let in_folder = parquet_rows(&tested.storage, &root, &|batch, i| {
            let start = batch.column(0).as_primitive::<TimestampMicrosecondType>();
            format!(
                "{} {} {}",
                start.value(i) / 1_000_000,
                batch.column(2).as_string::<i32>().value(i),
                batch.column(3).as_primitive::<Int64Type>().value(i)
            )
        });
        assert!(!in_folder.is_empty(), "{root} has no rows");
        assert_eq!(in_folder, from_topic, "{root} differs from the topic");
    }
}

#[test]
fn a_crash_during_the_rebuild_commits_nothing_and_the_restart_gives_the_same_outputs() {
    let after = "tumbling_1min,sliding_5min_1min,tumbling_15min";
    let Stopped {
        input,
        tested,
        watermark,
        before,
    } = Stopped::mid_stream("crash", &[]);
    let committed = committed_epochs(&tested);
    // a crash once the engine is rebuilt, before any epoch
    let args = tested.args(&input, &["--windows", after, "--exit-at-end"]);
    let out = ratings_stream()
        .args(&args)
        .env("RATINGS_FAULT_AFTER_REBUILD", "1")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the fault point did not abort:\n{log}"
    );
    assert!(log.contains("aborting after the rebuild"), "{log}");
    assert_eq!(committed_epochs(&tested), committed, "an epoch committed");
    // a SIGKILL as soon as the rebuild is done
    let path = tested.dir.join("killed.log");
    let mut processor = tested.spawn(&input, &path, &["--windows", after]);
    wait_for_text(
        &path,
        "windows changed since the checkpoint",
        Duration::from_secs(120),
    );
    processor.kill();
    run(&tested, &input, &["--windows", after]);
    let oracle = Outputs::new(&input, "oracle");
    run(&oracle, &input, &["--windows", after]);
    assert_changed(&tested, &oracle, &before, watermark, after);
}

/// Without raw output a change is refused, and `--reset-windows` reads and publishes nothing
/// again; a raw output configured later is used once the open windows no longer reach back
/// before it began.
#[test]
fn without_storage_a_change_is_refused_and_reset_windows_reads_and_publishes_nothing_again() {
    let input = input_topic("windows-no-storage");
    generate(&input, 0);
    let tested = Outputs::new(&input, "tested");
    let summary = tested.dir.join("summary.json").display().to_string();
    // the job without Parquet output; its checkpoint in the tested folder
    let run_without_storage = |extra: &[&str]| {
        let mut args = tested.args(&input, extra);
        let at = args.iter().position(|a| a == "--storage").unwrap();
        args.drain(at..at + 2);
        args.extend(["--checkpoint-storage", &tested.storage].map(String::from));
        args.extend(["--exit-at-end", "--summary-file", &summary].map(String::from));
        let out = ratings_stream().args(&args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, log) = run_without_storage(&["--windows", PAIR, "--no-final-flush"]);
    assert!(ok, "{log}");
    let before = windows(&tested);
    assert!(!before.is_empty());
    let after = "tumbling_1min,tumbling_15min";
    let (ok, log) = run_without_storage(&["--windows", after]);
    assert!(!ok, "the change was not refused:\n{log}");
    assert!(
        log.contains("added tumbling_15min; removed sliding_5min_1min")
            && log.contains("--reset-windows"),
        "the refusal does not name the difference and the ways on:\n{log}"
    );
    assert_eq!(
        windows(&tested),
        before,
        "the refused run published windows"
    );
    // a raw output configured only now holds none of the ratings read before: refused too
    let log = refused(&tested, &input, after);
    assert!(
        log.contains("added tumbling_15min; removed sliding_5min_1min"),
        "{log}"
    );
    // the refused runs left the checkpoint as they found it: its owner still runs the pair
    // (a standby with the old settings may join), and no epoch number is taken
    let owner = store(&tested).owner().unwrap().expect("an owner");
    assert_eq!(owner.job["sliding window"], "300 s every 60 s");
    // --reset-windows, and no new input: nothing is read again, no window published again
    let (ok, log) = run_without_storage(&["--windows", after, "--reset-windows"]);
    assert!(ok, "--reset-windows failed:\n{log}");
    assert!(
        log.contains("--reset-windows: the windows start empty")
            && log.contains("miss the ratings of"),
        "the reset does not say which minutes are missing:\n{log}"
    );
    assert!(
        !log.contains("is claimed by another processor"),
        "a refused run took an epoch number:\n{log}"
    );
    assert_eq!(records_in(&tested), 0, "records were read again");
    assert_eq!(windows(&tested), before, "windows were published again");

    // the raw output begins now, 5 minutes of event time on: the checkpoint records where
    let short = generate_part(&input, 30, B + 2000, 2400);
    let at_start = checkpoint_watermark(&tested);
    run(&tested, &input, &["--windows", after]);
    let metadata = store(&tested).open_or_create().unwrap();
    assert_eq!(metadata.raw_from_watermark, Some(at_start));
    // a change before the open windows are past it: refused, saying when it can be made
    let log = refused(&tested, &input, PAIR);
    let ready = rfc3339_seconds(at_start + 600 + 300);
    assert!(
        log.contains("the raw dataset lacks ratings their open windows hold")
            && log.contains(&format!("once the watermark passes {ready}")),
        "{log}"
    );
    // once the watermark passed it, the change is rebuilt from the raw dataset
    generate_part(&input, 31, short, HALF);
    run(&tested, &input, &["--windows", after]);
    assert!(checkpoint_watermark(&tested) > at_start + 900);
    let log = run(&tested, &input, &["--windows", PAIR]);
    assert!(
        log.contains("open windows rebuilt from the raw dataset"),
        "{log}"
    );
}

/// `generate` of half `half` (0 or 1) of the input: event time from `B` (second half after
/// the first), 2% late (20–25 minutes behind) and 1% malformed, disorderly.
fn generate(topic: &str, half: u64) {
    generate_part(
        topic,
        28 + half,
        B + (half * HALF / PER_SECOND) as i64,
        HALF,
    );
}

/// `count` ratings from event time `start` on, as [`generate`] writes them; the event time
/// after them.
fn generate_part(topic: &str, seed: u64, start: i64, count: u64) -> i64 {
    let flags = [
        ("--rate", "0".to_string()),
        ("--events-per-second", PER_SECOND.to_string()),
        ("--count", count.to_string()),
        ("--seed", seed.to_string()),
        ("--start-time", start.to_string()),
        ("--late-fraction", "0.02".into()),
        ("--malformed-fraction", "0.01".into()),
        ("--bootstrap-servers", common::bootstrap()),
        ("--ratings-topic", topic.to_string()),
    ];
    let args: Vec<String> = std::iter::once("generate".to_string())
        .chain(flags.into_iter().flat_map(|(f, v)| [f.to_string(), v]))
        .collect();
    let out = ratings_stream().args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    start + (count / PER_SECOND) as i64
}

/// Runs `outputs`' processor over `input` with window types `windows`, which it must refuse;
/// its log.
fn refused(outputs: &Outputs, input: &str, windows: &str) -> String {
    let args = outputs.args(input, &["--windows", windows, "--exit-at-end"]);
    let out = ratings_stream().args(&args).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{windows} was not refused:\n{log}");
    log
}

/// Runs `outputs`' processor over `input` to its end; its log.
fn run(outputs: &Outputs, input: &str, extra: &[&str]) -> String {
    let out = run_once(outputs, input, extra);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{extra:?} failed:\n{log}");
    log
}

/// Every window of the `metrics` topic, read committed, in order.
fn windows(outputs: &Outputs) -> Vec<Value> {
    read_topic(&outputs.topics.metrics)
        .into_iter()
        .map(|(_, _, w)| w)
        .collect()
}

/// Every hour folder of `folder` (under `streams/ratings/`) has its `_SUCCESS`.
fn assert_hours_closed(outputs: &Outputs, folder: &str) {
    let storage = Storage::open(&outputs.storage).unwrap();
    let files = storage.list(&format!("streams/ratings/{folder}")).unwrap();
    let hours: std::collections::BTreeSet<&str> = files
        .iter()
        .filter(|f| f.ends_with(".parquet") && !f.contains("/_delta_log/"))
        .filter_map(|f| f.rsplit_once('/').map(|(hour, _)| hour))
        .collect();
    assert!(!hours.is_empty(), "{folder} has no files");
    for hour in hours {
        assert!(
            files.contains(&format!("{hour}/_SUCCESS")),
            "{hour} has no _SUCCESS"
        );
    }
}

/// The windows `outputs` emitted after the first run, which emitted `before` (the topic's
/// partitions are read one after the other: the order of the records is not the runs').
fn since_restart(outputs: &Outputs, before: &[Value]) -> Vec<Value> {
    windows(outputs)
        .into_iter()
        .filter(|w| !before.contains(w))
        .collect()
}

/// A window's start, end and count (for messages).
fn brief(window: &str) -> String {
    let w: Value = serde_json::from_str(window).unwrap();
    format!(
        "{} – {}: {}",
        w["window_start"], w["window_end"], w["count"]
    )
}

fn comparable(window: &Value) -> String {
    let mut window = window.clone();
    window.as_object_mut().unwrap().remove("processing_time");
    window.to_string()
}

fn store(outputs: &Outputs) -> CheckpointStore {
    let storage = Arc::new(Storage::open(&outputs.storage).unwrap());
    CheckpointStore::new(storage, DEFAULT_DIR)
}

/// The watermark of the checkpoint's latest epoch.
fn checkpoint_watermark(outputs: &Outputs) -> i64 {
    let latest = store(outputs).latest().unwrap().expect("a committed epoch");
    latest.offsets.watermark.expect("a watermark")
}

fn committed_epochs(outputs: &Outputs) -> Vec<u64> {
    store(outputs).committed_epochs().unwrap()
}

/// The raw rows of a job, sorted.
fn raw_rows(outputs: &Outputs) -> Vec<String> {
    parquet_rows(&outputs.storage, "streams/ratings/raw", &raw_row)
}

#[test]
fn settings_that_do_not_touch_the_state_change_at_a_restart_with_the_state_kept() {
    let Stopped {
        input,
        tested,
        watermark,
        before,
    } = Stopped::mid_stream("neutral", &[]);
    // other side topics, commit cadence, file rolling, table format and upkeep, top-N
    let moved = common::OutputTopics::create(&format!("{input}-moved"));
    let mut args = tested.args(&input, &["--exit-at-end"]);
    for (flag, value) in [
        ("--dead-letter-topic", moved.dead.as_str()),
        ("--late-topic", moved.late.as_str()),
        ("--commit-interval", "500ms"),
        ("--roll-interval", "5s"),
    ] {
        let at = args.iter().position(|a| a == flag).unwrap();
        args[at + 1] = value.to_string();
    }
    let changed = [
        "--top-n",
        "3",
        "--commit-records",
        "1000",
        "--roll-size",
        "1MB",
        "--table-format",
        "delta",
        "--compaction-target",
        "1MB",
        "--vacuum-retention",
        "1h",
    ];
    args.extend(changed.map(String::from));
    let out = ratings_stream().args(&args).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("resuming after epoch") && !log.contains("windows changed"),
        "{log}"
    );
    // the summary counts this run's ratings only, not the restored checkpoint's too
    let (valid, aggregated, late) = valid_aggregated_late(&log);
    assert!(valid > 0, "{log}");
    assert_eq!(aggregated + late, valid, "{log}");
    // the windows open at the restart were kept: those closing after it equal an
    // uninterrupted run's with the new top-N
    let oracle = Outputs::new(&input, "oracle");
    run(&oracle, &input, &["--top-n", "3"]);
    let restart = rfc3339_seconds(watermark);
    let after: Vec<String> = since_restart(&tested, &before)
        .iter()
        .map(comparable)
        .collect();
    let mut closing_after: Vec<String> = windows(&oracle)
        .iter()
        .filter(|w| w["window_end"].as_str().unwrap() > restart.as_str())
        .map(comparable)
        .collect();
    let mut after_sorted = after.clone();
    after_sorted.sort();
    closing_after.sort();
    assert!(!after.is_empty());
    assert!(
        after_sorted == closing_after,
        "windows after the restart differ"
    );
    // the side outputs went on in the new topics: together they equal the oracle's
    for (old, new, oracle_topic) in [
        (&tested.topics.dead, &moved.dead, &oracle.topics.dead),
        (&tested.topics.late, &moved.late, &oracle.topics.late),
    ] {
        let mut both = records(old);
        let moved_records = records(new);
        assert!(!moved_records.is_empty(), "nothing in {new}");
        both.extend(moved_records);
        both.sort();
        assert_eq!(both, records(oracle_topic));
    }
    // the files since the restart were committed to Delta tables
    let log = format!("{}/streams/ratings/raw/_delta_log", tested.storage);
    assert!(std::path::Path::new(&log).is_dir(), "no Delta table");
}

/// The summary line's `valid V (aggregated A, late L)` of a run's log.
fn valid_aggregated_late(log: &str) -> (u64, u64, u64) {
    let line = log
        .lines()
        .find_map(|line| line.split_once("  valid ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no summary in:\n{log}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

#[test]
fn a_longer_watermark_delay_and_update_mode_at_a_restart_keep_the_open_windows() {
    let Stopped {
        input,
        tested,
        watermark,
        before,
    } = Stopped::mid_stream("delay", &[]);
    let log = run(
        &tested,
        &input,
        &["--watermark-delay", "12min", "--output-mode", "update"],
    );
    assert!(
        log.contains("resuming after epoch") && !log.contains("windows changed"),
        "{log}"
    );
    // a longer delay only adds ratings to a window: each final window closing after the
    // restart holds at least what an uninterrupted run with the old delay put in it (a window
    // open at the restart and lost would hold less)
    let oracle = Outputs::new(&input, "oracle");
    run(&oracle, &input, &[]);
    let restart = rfc3339_seconds(watermark);
    let key = |w: &Value| format!("{} {}", w["window_type"], w["window_start"]);
    let since = since_restart(&tested, &before);
    let tested_final: BTreeMap<String, u64> = since
        .iter()
        .filter(|w| w["final"] == true)
        .map(|w| (key(w), w["count"].as_u64().unwrap()))
        .collect();
    let oracle_after: Vec<(String, u64)> = windows(&oracle)
        .iter()
        .filter(|w| w["window_end"].as_str().unwrap() > restart.as_str())
        .map(|w| (key(w), w["count"].as_u64().unwrap()))
        .collect();
    assert!(!oracle_after.is_empty());
    for (window, count) in oracle_after {
        let got = tested_final.get(&window).copied();
        assert!(
            got.is_some_and(|got| got >= count),
            "{window}: {got:?} after the restart, {count} uninterrupted"
        );
    }
    assert!(
        since.iter().any(|w| w["final"] == false),
        "update mode emitted no update"
    );
}
