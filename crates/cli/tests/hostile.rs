//! Hostile input through the real broker: the generator's stream (disorder, late and malformed
//! records) with a hostile record after about every valid one — random bytes, truncations and
//! mutations, tombstones, empty values, invalid UTF-8, NUL bytes, byte order marks, deep
//! nesting, huge strings and numbers, duplicate keys, year-2508 event times, records near the
//! broker's 1 MB limit. The exactly-once processor must read them all without failing, count
//! each one, give each a dead letter with a reason, and otherwise produce exactly what it
//! produces from the same stream without them (windows, late records, Parquet).
//!
//! `RATINGS_HOSTILE_COUNT` sets the generated records (10,000 here; `scripts/fuzz.sh` sends a
//! million and as many hostile ones).

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::eos::{
    assert_same_parquet, assert_same_windows, env_or, generate_args, input_topic, run_once, Counts,
    Outputs,
};
use ratings_core::rating::RejectReason;
use serde_json::Value;

/// `generate` of `count` records into `topic` (or the file `topic` with `--output`), with
/// `hostile` (a fraction) hostile ones; its report.
fn generate(topic: &str, count: u64, hostile: &str) -> String {
    let target = match topic.strip_prefix("file:") {
        Some(path) => ["--output", path],
        None => ["--ratings-topic", topic],
    };
    let mut args = generate_args(count, 0, 20, 17);
    args.extend(["--hostile-fraction", hostile, target[0], target[1]].map(String::from));
    let out = common::binary(&args.iter().map(String::as_str).collect::<Vec<_>>());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The run's summary (`run_once` wrote it).
fn summary(outputs: &Outputs) -> Value {
    let text = std::fs::read_to_string(outputs.dir.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The dead-letter or late records of `topic` as (reason, record copy), sorted.
fn letters(topic: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = common::read_topic(topic)
        .into_iter()
        .map(|(_, _, letter)| {
            let field = |name: &str| letter[name].as_str().unwrap_or_default().to_string();
            (field("reason"), field("record"))
        })
        .collect();
    out.sort();
    out
}

/// Count and sum of ratings per tumbling minute, computed by hand from the generated
/// records (`lines`) that are ratings and not `late`: independent of the engine.
fn tumbling_by_hand(lines: &str, late: &[(String, String)]) -> BTreeMap<i64, (u64, f64)> {
    let mut late: Vec<&str> = late.iter().map(|(_, record)| record.as_str()).collect();
    late.sort_unstable();
    let mut windows: BTreeMap<i64, (u64, f64)> = BTreeMap::new();
    for line in lines.lines() {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let id_ok = |name: &str| {
            record[name]
                .as_i64()
                .is_some_and(|id| id > 0 && id <= i32::MAX as i64)
        };
        let (rating, timestamp) = (record["rating"].as_f64(), record["timestamp"].as_i64());
        let (Some(rating), Some(timestamp)) = (rating, timestamp) else {
            continue;
        };
        let in_range = (0.5..=5.0).contains(&rating) && timestamp <= 253_402_300_799; // 9999
        if !id_ok("userId") || !id_ok("movieId") || !in_range {
            continue;
        }
        if let Ok(at) = late.binary_search(&line) {
            late.remove(at); // each late record once
            continue;
        }
        let window = windows.entry(timestamp.div_euclid(60) * 60).or_default();
        window.0 += 1;
        window.1 += rating;
    }
    windows
}

/// The tumbling windows on `topic` as start → (count, average).
fn tumbling_published(topic: &str) -> BTreeMap<i64, (u64, f64)> {
    common::read_topic(topic)
        .into_iter()
        .map(|(_, _, window)| window)
        .filter(|window| window["window_type"] == "tumbling_1min")
        .map(|window| {
            let start = common::epoch_seconds(window["window_start"].as_str().unwrap());
            let count = window["count"].as_u64().unwrap();
            (start, (count, window["avg_rating"].as_f64().unwrap()))
        })
        .collect()
}

#[test]
fn hostile_records_are_dead_letters_with_reasons_and_change_nothing_else() {
    let count = env_or("RATINGS_HOSTILE_COUNT", 10_000);
    let (hostile_input, clean_input) = (input_topic("hostile"), input_topic("hostile-clean"));
    let said = generate(&hostile_input, count, "1.0");
    eprintln!("{said}");
    generate(&clean_input, count, "0");
    let tested = Outputs::new(&hostile_input, "hostile");
    let reference = Outputs::new(&clean_input, "reference");
    let started = Instant::now();
    let run = run_once(&tested, &hostile_input, &[]);
    let took = started.elapsed();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run_once(&reference, &clean_input, &[]).status.success());

    // every record read is counted once: valid or invalid, each invalid one a dead letter
    let (got, want) = (summary(&tested), summary(&reference));
    let number = |summary: &Value, name: &str| summary[name].as_u64().unwrap();
    let records = number(&got, "records");
    assert_eq!(records, number(&got, "valid") + number(&got, "invalid"));
    let hostile = records - number(&want, "records");
    assert!(hostile > count / 2, "{hostile} hostile records");
    assert_eq!(
        number(&got, "valid"),
        number(&want, "valid"),
        "no hostile record is valid"
    );
    let dead = common::read_topic(&tested.topics.dead);
    assert_eq!(dead.len() as u64, number(&got, "invalid"));
    let names: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, letter) in &dead {
        let reason = letter["reason"].as_str().unwrap_or_default();
        assert!(names.contains(&reason), "{letter}");
        assert!(
            !letter["detail"].as_str().unwrap_or_default().is_empty(),
            "{letter}"
        );
        *by_reason.entry(reason.to_string()).or_default() += 1;
    }
    eprintln!(
        "{records} records ({hostile} hostile) read in {took:.1?}; dead letters by reason: \
         {by_reason:?}"
    );
    for reason in [
        "tombstone",
        "empty",
        "invalid_utf8",
        "nul_byte",
        "byte_order_mark",
        "too_deeply_nested",
        "number_out_of_range",
        "duplicate_key",
        "future_timestamp",
        "oversized",
        "invalid_json",
    ] {
        assert!(by_reason.contains_key(reason), "no {reason}: {by_reason:?}");
    }
    // a record near the broker's limit: its dead letter carries a truncated copy, and says so
    let truncated = dead
        .iter()
        .find(|(_, _, letter)| letter["truncated"] == true)
        .map(|(_, _, letter)| letter)
        .expect("a truncated dead letter");
    assert!(
        truncated["record_bytes"].as_u64().unwrap() > 900_000,
        "{truncated:.200}"
    );
    assert_eq!(truncated["reason"], "oversized");

    // the reference's dead letters are among them (the hostile ones are the rest), and the
    // late records, windows and Parquet rows are the same
    let mut extra = letters(&tested.topics.dead);
    for letter in letters(&reference.topics.dead) {
        let at = extra
            .binary_search(&letter)
            .expect("a reference dead letter is missing");
        extra.remove(at);
    }
    assert_eq!(extra.len() as u64, hostile);
    assert_eq!(
        letters(&tested.topics.late),
        letters(&reference.topics.late)
    );
    let mut counts = Counts::new();
    assert_same_windows(&tested, &reference, &mut counts);
    assert_same_parquet(&tested, &reference, &mut counts);
    eprintln!("compared (with hostile records, without): {counts:?}");

    // the tumbling windows against a computation by hand over the same generated records
    let file = tested.dir.join("generated.jsonl");
    generate(&format!("file:{}", file.display()), count, "0");
    let by_hand = tumbling_by_hand(
        &std::fs::read_to_string(&file).unwrap(),
        &letters(&tested.topics.late),
    );
    let published = tumbling_published(&tested.topics.metrics);
    assert_eq!(
        published.keys().collect::<Vec<_>>(),
        by_hand.keys().collect::<Vec<_>>()
    );
    for (start, (count, sum)) in by_hand {
        let (got_count, got_avg) = published[&start];
        assert_eq!(got_count, count, "window {start}");
        let avg = sum / count as f64;
        assert!(
            (got_avg - avg).abs() <= 1e-9 * avg,
            "window {start}: {got_avg} vs {avg}"
        );
    }
}
