//! End-to-end tests of `ratings-stream run` on files, including the real ml-latest-small data.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Output;

use ratings_core::Catalog;
use serde_json::Value;

mod common;
use common::{epoch_seconds, json_lines, movielens_dir, temp_dir};

/// `ratings-stream run` with `args`, which must succeed.
fn run(args: &[&str]) -> Output {
    common::binary(&[&["run"], args].concat())
}

/// (userId, movieId, rating, timestamp) rows of ml-latest-small's ratings.csv, in file order.
fn movielens_ratings() -> Vec<(i64, i64, f64, i64)> {
    let text = std::fs::read_to_string(movielens_dir().join("ratings.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.trim_end().split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

fn window_type(w: &Value) -> &str {
    w["window_type"].as_str().unwrap()
}

#[test]
fn real_movielens_catalog_loads_with_titles_and_genres() {
    let file = std::fs::File::open(movielens_dir().join("movies.csv")).unwrap();
    let catalog = Catalog::from_csv(file).unwrap();
    assert_eq!(catalog.len(), 9742);
    let title = |id| catalog.movie(id).unwrap().title.to_string();
    let genres = |id| -> Vec<String> {
        catalog
            .movie(id)
            .unwrap()
            .genres
            .iter()
            .map(|g| catalog.genre_name(*g).to_string())
            .collect()
    };
    assert_eq!(title(1), "Toy Story (1995)");
    assert_eq!(
        genres(1),
        ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    );
    assert_eq!(title(11), "American President, The (1995)");
    assert_eq!(title(7789), "11'09\"01 - September 11 (2002)");
    assert_eq!(
        title(27008),
        "From Dusk Till Dawn 2: Texas Blood Money (1999)"
    );
    assert_eq!(title(40697), "Babylon 5");
    assert_eq!(title(193609), "Andrew Dice Clay: Dice Rules (1991)");
    assert!(
        genres(143410).is_empty(),
        "(no genres listed) means no genre"
    );
    let mut names: Vec<String> = catalog
        .genre_names()
        .iter()
        .map(|g| g.to_string())
        .collect();
    names.sort();
    assert_eq!(names.len(), 19);
    assert!(names.contains(&"IMAX".to_string()) && names.contains(&"Film-Noir".to_string()));
}

#[test]
fn sorted_movielens_replay_counts_every_rating_once_per_window() {
    let dir = temp_dir("sorted");
    let mut ratings = movielens_ratings();
    assert_eq!(ratings.len(), 100_836);
    ratings.sort_by_key(|r| r.3);
    let input = dir.join("sorted.csv");
    let body: String = ratings
        .iter()
        .map(|(u, m, r, t)| format!("{u},{m},{r:.1},{t}\r\n"))
        .collect();
    std::fs::write(&input, format!("userId,movieId,rating,timestamp\r\n{body}")).unwrap();
    let (metrics, summary) = (dir.join("metrics.jsonl"), dir.join("summary.json"));
    run(&[
        "--input",
        input.to_str().unwrap(),
        "--metrics-file",
        metrics.to_str().unwrap(),
        "--summary-file",
        summary.to_str().unwrap(),
    ]);
    let windows = json_lines(&metrics);
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    assert_eq!(
        (summary["valid"].as_u64(), summary["late"].as_u64()),
        (Some(100_836), Some(0))
    );

    // independent expectation: count and rating sum per event-time minute
    let mut per_minute: BTreeMap<i64, (u64, f64)> = BTreeMap::new();
    for (_, _, rating, t) in &ratings {
        let e = per_minute.entry(t.div_euclid(60) * 60).or_default();
        *e = (e.0 + 1, e.1 + rating);
    }
    let tumbling: Vec<&Value> = windows
        .iter()
        .filter(|w| window_type(w) == "tumbling_1min")
        .collect();
    assert_eq!(tumbling.len(), per_minute.len());
    for (w, (minute, (count, sum))) in tumbling.iter().zip(&per_minute) {
        let start = epoch_seconds(w["window_start"].as_str().unwrap());
        assert_eq!(start, *minute);
        assert_eq!(w["count"].as_u64(), Some(*count));
        assert_eq!(w["avg_rating"].as_f64(), Some(sum / *count as f64));
        assert_eq!(w["final"], Value::Bool(true));
    }
    let sliding_total: u64 = windows
        .iter()
        .filter(|w| window_type(w) == "sliding_5min_1min")
        .map(|w| w["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        sliding_total,
        5 * 100_836,
        "each rating is in 5 sliding windows"
    );
    let unique: HashSet<(String, String)> = windows
        .iter()
        .map(|w| (window_type(w).to_string(), w["window_start"].to_string()))
        .collect();
    assert_eq!(unique.len(), windows.len(), "no window twice");
}

#[test]
fn file_order_replay_accounts_for_every_late_rating() {
    let dir = temp_dir("fileorder");
    let (metrics, late, summary) = (
        dir.join("m.jsonl"),
        dir.join("late.jsonl"),
        dir.join("s.json"),
    );
    let input = movielens_dir().join("ratings.csv");
    run(&[
        "--input",
        input.to_str().unwrap(),
        "--metrics-file",
        metrics.to_str().unwrap(),
        "--late-file",
        late.to_str().unwrap(),
        "--summary-file",
        summary.to_str().unwrap(),
    ]);
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    let late_records = json_lines(&late);
    assert_eq!(summary["late"].as_u64(), Some(late_records.len() as u64));
    assert!(
        late_records.len() > 50_000,
        "file order is by user, so most ratings are late"
    );
    let tumbling_late = summary["late_by_window_type"][0][1].as_u64().unwrap();
    let windows = json_lines(&metrics);
    let tumbling_sum: u64 = windows
        .iter()
        .filter(|w| window_type(w) == "tumbling_1min")
        .map(|w| w["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        tumbling_sum + tumbling_late,
        100_836,
        "every rating is aggregated or late"
    );
    let text = std::fs::read_to_string(&input).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for record in late_records.iter().take(100) {
        assert_eq!(record["reason"], "late");
        let line = record["offset"].as_u64().unwrap() as usize;
        assert_eq!(
            record["record"].as_str().unwrap(),
            lines[line - 1].trim_end(),
            "offset is the line number"
        );
    }
}

#[test]
fn invalid_records_go_to_the_dead_letter_file_and_processing_continues() {
    let dir = temp_dir("deadletter");
    let input = dir.join("in.jsonl");
    let b = 1_699_999_980;
    let lines = [
        format!(r#"{{"userId":1,"movieId":1,"rating":1.0,"timestamp":{b}}}"#),
        "this is not json".to_string(),
        format!(r#"{{"userId":1,"movieId":1,"rating":9.0,"timestamp":{b}}}"#),
        format!(r#"{{"userId":"x","movieId":1,"rating":2.0,"timestamp":{b}}}"#),
        String::new(),
        format!(
            r#"{{"userId":1,"movieId":1,"rating":2.0,"timestamp":{}}}"#,
            b + 30
        ),
        format!(
            r#"{{"userId":1,"movieId":999999,"rating":3.0,"timestamp":{}}}"#,
            b + 59
        ),
        format!(
            r#"{{"userId":1,"movieId":1,"rating":4.0,"timestamp":{}}}"#,
            b + 60
        ),
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    let (windows, dead) =
        windows_and_dead_letters(&input, "deadletter-run", &["--watermark-delay", "0s"]);
    let reasons: Vec<(&str, u64)> = dead
        .iter()
        .map(|d| (d["reason"].as_str().unwrap(), d["offset"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("invalid_json", 2),
            ("rating_out_of_range", 3),
            ("wrong_type", 4)
        ]
    );
    assert_eq!(dead[0]["record"], "this is not json");
    assert!(dead[2]["detail"].as_str().unwrap().contains("userId"));
    let first = windows
        .iter()
        .find(|w| w["window_start"] == "2023-11-14T22:13:00Z" && window_type(w) == "tumbling_1min")
        .unwrap();
    assert_eq!(first["window_end"], "2023-11-14T22:14:00Z");
    assert_eq!(
        (first["count"].as_u64(), first["avg_rating"].as_f64()),
        (Some(3), Some(2.0))
    );
    assert_eq!(
        (first["p50_rating"].as_f64(), first["p95_rating"].as_f64()),
        (Some(2.0), Some(3.0))
    );
    // ratings 1.0, 2.0 and 3.0: one each in the half-star bins 0.5, 1.0, …, 5.0
    assert_eq!(
        first["rating_histogram"],
        serde_json::json!([0, 1, 0, 1, 0, 1, 0, 0, 0, 0])
    );
    assert_eq!(
        first["top_movies"][1]["title"],
        Value::Null,
        "unknown movie has a null title"
    );
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "window_start",
        "window_end",
        "window_type",
        "count",
        "avg_rating",
        "p50_rating",
        "p95_rating",
        "rating_histogram",
        "top_movies",
        "metrics_by_genre",
        "final",
        "processing_time",
    ];
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected);
}

#[test]
fn update_mode_and_no_final_flush() {
    let dir = temp_dir("update");
    let input = dir.join("in.jsonl");
    let b = 1_699_999_980;
    let lines: Vec<String> = (0..4)
        .map(|i| {
            format!(
                r#"{{"userId":1,"movieId":1,"rating":3.0,"timestamp":{}}}"#,
                b + i * 20
            )
        })
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let metrics = dir.join("m.jsonl");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    run(&[
        "--input",
        &path(&input),
        "--metrics-file",
        &path(&metrics),
        "--output-mode",
        "update",
        "--batch-size",
        "1",
        "--no-final-flush",
    ]);
    let windows = json_lines(&metrics);
    let tumbling: Vec<(u64, bool)> = windows
        .iter()
        .filter(|w| window_type(w) == "tumbling_1min")
        .map(|w| (w["count"].as_u64().unwrap(), w["final"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        tumbling,
        [(1, false), (2, false), (3, false), (1, false)],
        "no final values without a flush"
    );
    run(&["--input", &path(&input), "--metrics-file", &path(&metrics)]);
    let finals: Vec<u64> = json_lines(&metrics)
        .iter()
        .filter(|w| window_type(w) == "tumbling_1min")
        .map(|w| w["count"].as_u64().unwrap())
        .collect();
    assert_eq!(finals, [3, 1]);
}

#[test]
fn missing_input_is_a_clear_error() {
    let out = common::output_of(&["run", "--input", "/nonexistent/ratings.jsonl"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot open input /nonexistent/ratings.jsonl"),
        "{stderr}"
    );
}

#[test]
fn settings_file_applies_and_flags_override_it() {
    let dir = temp_dir("config");
    let input = dir.join("in.jsonl");
    let lines: Vec<String> = [(1, 0), (2, 1), (2, 2), (3, 3)]
        .iter()
        .map(|(movie, dt)| {
            format!(
                r#"{{"userId":1,"movieId":{movie},"rating":3.0,"timestamp":{}}}"#,
                1_699_999_980 + dt
            )
        })
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let config = dir.join("settings.toml");
    std::fs::write(&config, "[engine]\ntop_n = 1\nwatermark_delay = \"0s\"\n").unwrap();
    let metrics = dir.join("m.jsonl");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let top_lengths = |extra: &[&str]| -> Vec<usize> {
        let mut args = vec![
            "--config".to_string(),
            path(&config),
            "--input".into(),
            path(&input),
            "--metrics-file".into(),
            path(&metrics),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        json_lines(&metrics)
            .iter()
            .map(|w| w["top_movies"].as_array().unwrap().len())
            .collect()
    };
    assert!(
        top_lengths(&[]).iter().all(|n| *n == 1),
        "top_n = 1 from the file"
    );
    assert!(
        top_lengths(&["--top-n", "2"]).contains(&2),
        "the flag wins over the file"
    );
    std::fs::write(&config, "top_nn = 1\n").unwrap();
    let out = common::output_of(&["run", "--config", &path(&config), "--input", &path(&input)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting \"top_nn\""));
}

#[test]
fn checkpoint_inspect_prints_the_store_and_names_damaged_files() {
    use ratings_connectors::checkpoint::{
        CheckpointStore, CommitRecord, EpochOffsets, DEFAULT_DIR,
    };
    let dir = temp_dir("inspect");
    let url = format!("file://{}", dir.display());
    let store = CheckpointStore::new(
        std::sync::Arc::new(ratings_connectors::storage::Storage::open(&url).unwrap()),
        DEFAULT_DIR,
    );
    let offsets = EpochOffsets {
        epoch: 4,
        topic: "ratings".into(),
        next_offsets: [(0, 12), (1, 9)].into(),
        watermark: Some(1_699_999_980),
        publications: Vec::new(),
        sizes: Vec::new(),
        incarnation: None,
        skipped_epochs: Vec::new(),
    };
    store.write_offsets(&offsets).unwrap();
    store.write_state(4, b"engine").unwrap();
    store
        .commit(&CommitRecord {
            epoch: 4,
            committed_at_millis: 0,
        })
        .unwrap();
    let out = common::binary(&["checkpoint", "inspect", "--storage", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("committed epochs: 4"), "{text}");
    assert!(
        text.contains("watermark 2023-11-14T22:13:00Z")
            && text.contains("partition 1: next offset 9"),
        "{text}"
    );

    std::fs::write(dir.join(DEFAULT_DIR).join("state/4"), "garbage").unwrap();
    let out = common::output_of(&["checkpoint", "inspect", "--storage", &url]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("state/4") && stderr.contains("damaged"),
        "{stderr}"
    );
}

/// Windows and dead letters of `run` over `input` with `extra` options.
fn windows_and_dead_letters(input: &Path, name: &str, extra: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let dir = temp_dir(name);
    let (metrics, dead) = (dir.join("m.jsonl"), dir.join("dead.jsonl"));
    let mut args = vec![
        "--input",
        input.to_str().unwrap(),
        "--metrics-file",
        metrics.to_str().unwrap(),
        "--dead-letter-file",
        dead.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args);
    (json_lines(&metrics), json_lines(&dead))
}

/// The windows of `run` over `input` with `extra` options (comparable), and the dead letters.
fn comparable_windows(input: &Path, name: &str, extra: &[&str]) -> (Vec<String>, Vec<Value>) {
    let (windows, dead) = windows_and_dead_letters(input, name, extra);
    (common::comparable(windows.into_iter()), dead)
}

#[test]
fn a_rating_from_year_2508_goes_to_the_dead_letters_and_changes_no_window() {
    let dir = temp_dir("year-2508");
    let clean = dir.join("clean.jsonl");
    // 20,000 ratings over 40 minutes of 2023 (1% malformed)
    common::generate_file(
        &clean,
        20_000,
        8,
        1_699_999_980,
        &["--malformed-fraction", "0.01"],
    );
    let text = std::fs::read_to_string(&clean).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    // milliseconds with an extra digit: 2508-09-16
    let poisoned = r#"{"userId":7,"movieId":1,"rating":4.0,"timestamp":17000000140}"#;
    lines.insert(10_000, poisoned);
    let hostile = dir.join("hostile.jsonl");
    std::fs::write(&hostile, lines.join("\n")).unwrap();

    let (want, want_dead) = comparable_windows(&clean, "year-2508-clean", &[]);
    let (got, got_dead) = comparable_windows(&hostile, "year-2508-hostile", &[]);
    assert!(want.len() > 80, "{} windows", want.len());
    assert_eq!(got, want, "the windows of the other ratings are unchanged");
    assert_eq!(got_dead.len(), want_dead.len() + 1);
    let letter = got_dead
        .iter()
        .find(|d| d["reason"] == "future_timestamp")
        .expect("a future_timestamp dead letter");
    assert_eq!(letter["offset"], 10_001);
    assert_eq!(letter["record"], poisoned);
    let detail = letter["detail"].as_str().unwrap();
    assert!(detail.contains("2508-09-16"), "{detail}");

    // without the bound (as Spark does) it moves the watermark to 2508: the rest is late
    let (unbounded, _) = comparable_windows(
        &hostile,
        "year-2508-off",
        &["--max-event-time-ahead", "off"],
    );
    assert!(
        unbounded.len() < want.len() / 2 + 10,
        "{} windows",
        unbounded.len()
    );
}
