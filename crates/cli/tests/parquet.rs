//! Parquet outputs on a local folder and on the real HDFS (`scripts/hdfs.sh`, read back through
//! the HDFS client): rows written equal rows read back (parquet crate), every partition is
//! complete and marked `_SUCCESS`, files roll by size, storage faults are retried, and
//! independent readers (pyarrow and DuckDB, from `scripts/python-env.sh`) read each dataset with
//! Hive partitioning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arrow_array::{
    Array, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray,
};
use ratings_connectors::storage::Storage;
use ratings_core::rating::{parse_json, DEFAULT_MAX_RECORD_BYTES};
use serde_json::Value;

mod common;
use common::{binary, epoch_seconds, generate_file, parquet_files, storage_run, temp_dir};

/// 30,000 ratings from 18:30 to about 19:20 UTC (crossing an hour), 1% late, 1% malformed.
fn generated_input(dir: &Path) -> PathBuf {
    let input = dir.join("input.jsonl");
    let faults = ["--late-fraction", "0.01", "--malformed-fraction", "0.01"];
    generate_file(&input, 30_000, 10, common::GENERATED_START, &faults);
    input
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<T>()
        .unwrap()
}

/// `date/hour` of a file path `…/date=D/hour=H/part-….parquet`.
fn partition_of(file: &str) -> String {
    let parts: Vec<&str> = file.split('/').collect();
    let field = |part: &str, prefix: &str| part.strip_prefix(prefix).unwrap().to_string();
    format!(
        "{}/{}",
        field(parts[parts.len() - 3], "date="),
        field(parts[parts.len() - 2], "hour=")
    )
}

fn hour_key(epoch_seconds: i64) -> String {
    let text = ratings_core::time::rfc3339_seconds(epoch_seconds);
    format!("{}/{}", &text[..10], &text[11..13])
}

/// A raw row: (userId, movieId, rating bits, timestamp).
type RawRow = (i32, i32, u64, i64);

/// The rows of the raw dataset, and rows per partition.
fn raw_rows(storage: &Storage) -> (Vec<RawRow>, BTreeMap<String, usize>) {
    let mut rows = Vec::new();
    let mut per_partition = BTreeMap::new();
    for (file, batches) in parquet_files(storage, "streams/ratings/raw") {
        for batch in batches {
            let users = column::<Int32Array>(&batch, "userId");
            let movies = column::<Int32Array>(&batch, "movieId");
            let ratings = column::<Float64Array>(&batch, "rating");
            let times = column::<Int64Array>(&batch, "timestamp");
            for i in 0..batch.num_rows() {
                rows.push((
                    users.value(i),
                    movies.value(i),
                    ratings.value(i).to_bits(),
                    times.value(i),
                ));
                assert_eq!(
                    hour_key(times.value(i)),
                    partition_of(&file),
                    "row in the wrong partition"
                );
            }
            *per_partition.entry(partition_of(&file)).or_default() += batch.num_rows();
        }
    }
    rows.sort();
    (rows, per_partition)
}

/// (window_type, start micros, count, avg, p50, p95, top movie ids, genre names, rating
/// histogram) of a dataset.
type AggRow = (
    String,
    i64,
    i64,
    f64,
    f64,
    f64,
    Vec<i32>,
    Vec<String>,
    Vec<i64>,
);

fn aggregate_rows(storage: &Storage, root: &str) -> (Vec<AggRow>, BTreeMap<String, usize>) {
    let mut rows = Vec::new();
    let mut per_partition = BTreeMap::new();
    for (file, batches) in parquet_files(storage, root) {
        for batch in batches {
            let types = column::<StringArray>(&batch, "window_type");
            let starts = batch
                .column_by_name("window_start")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow_array::TimestampMicrosecondArray>()
                .unwrap();
            let counts = column::<Int64Array>(&batch, "count");
            let metric = |name| column::<Float64Array>(&batch, name);
            let tops = column::<ListArray>(&batch, "top_movies");
            let genres = column::<ListArray>(&batch, "metrics_by_genre");
            let histograms = column::<ListArray>(&batch, "rating_histogram");
            for i in 0..batch.num_rows() {
                let histogram = histograms.value(i);
                let histogram = histogram
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec();
                let top = tops.value(i);
                let top = top.as_any().downcast_ref::<StructArray>().unwrap();
                let ids = top
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .unwrap()
                    .values()
                    .to_vec();
                let genre = genres.value(i);
                let genre = genre.as_any().downcast_ref::<StructArray>().unwrap();
                let names = genre
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap();
                let names = (0..names.len())
                    .map(|j| names.value(j).to_string())
                    .collect();
                rows.push((
                    types.value(i).to_string(),
                    starts.value(i),
                    counts.value(i),
                    metric("avg_rating").value(i),
                    metric("p50_rating").value(i),
                    metric("p95_rating").value(i),
                    ids,
                    names,
                    histogram,
                ));
            }
            *per_partition.entry(partition_of(&file)).or_default() += batch.num_rows();
        }
    }
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    (rows, per_partition)
}

fn json_windows(metrics: &Path) -> Vec<AggRow> {
    let mut rows: Vec<AggRow> = std::fs::read_to_string(metrics)
        .unwrap()
        .lines()
        .map(|l| {
            let w: Value = serde_json::from_str(l).unwrap();
            let start = epoch_seconds(w["window_start"].as_str().unwrap());
            (
                w["window_type"].as_str().unwrap().to_string(),
                start * 1_000_000,
                w["count"].as_i64().unwrap(),
                w["avg_rating"].as_f64().unwrap(),
                w["p50_rating"].as_f64().unwrap(),
                w["p95_rating"].as_f64().unwrap(),
                w["top_movies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["movieId"].as_i64().unwrap() as i32)
                    .collect(),
                w["metrics_by_genre"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| g["genre"].as_str().unwrap().to_string())
                    .collect(),
                w["rating_histogram"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_i64().unwrap())
                    .collect(),
            )
        })
        .collect();
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    rows
}

fn valid_input_rows(input: &Path) -> Vec<RawRow> {
    let mut rows: Vec<_> = std::fs::read_to_string(input)
        .unwrap()
        .lines()
        .filter_map(|l| parse_json(l.as_bytes(), DEFAULT_MAX_RECORD_BYTES).ok())
        .map(|r| (r.user_id, r.movie_id, r.rating.to_bits(), r.timestamp))
        .collect();
    rows.sort();
    rows
}

fn rows_per_hour(rows: &[RawRow]) -> BTreeMap<String, usize> {
    let mut hours = BTreeMap::new();
    for row in rows {
        *hours.entry(hour_key(row.3)).or_default() += 1;
    }
    hours
}

/// Partitions of a dataset that hold a `_SUCCESS` marker.
fn success_markers(storage: &Storage, root: &str) -> Vec<String> {
    let files = storage.list(root).unwrap();
    files
        .iter()
        .filter(|f| f.ends_with("/_SUCCESS"))
        .map(|f| partition_of(f))
        .collect()
}

/// Runs the processor on the generated input with `storage_url`, then checks every dataset
/// through `storage`: rows equal the input's valid ratings and the emitted windows, each
/// partition holds exactly its rows and is marked complete.
fn check_round_trip(dir: &Path, storage_url: &str, extra: &[&str]) {
    let input = generated_input(dir);
    let metrics = dir.join("metrics.jsonl");
    let mut args = vec![
        "run",
        "--input",
        input.to_str().unwrap(),
        "--metrics-file",
        metrics.to_str().unwrap(),
        "--storage",
        storage_url,
    ];
    args.extend_from_slice(extra);
    binary(&args);
    let storage = Storage::open(storage_url).unwrap();

    let (raw, raw_partitions) = raw_rows(&storage);
    assert_eq!(
        raw,
        valid_input_rows(&input),
        "every valid rating, late ones included, exactly once"
    );
    assert_eq!(
        raw_partitions,
        rows_per_hour(&raw),
        "raw rows by event hour"
    );
    assert!(
        raw_partitions.len() >= 2,
        "the input crosses an hour: {raw_partitions:?}"
    );
    let windows = json_windows(&metrics);
    let (mut stored, _) = aggregate_rows(&storage, "streams/ratings/agg/tumbling");
    stored.extend(aggregate_rows(&storage, "streams/ratings/agg/sliding").0);
    stored.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    assert!(windows.len() > 100);
    assert_eq!(
        stored, windows,
        "the aggregate datasets hold exactly the emitted windows"
    );
    for dataset in ["raw", "agg/tumbling", "agg/sliding"] {
        let root = format!("streams/ratings/{dataset}");
        let mut data_partitions: Vec<String> = parquet_files(&storage, &root)
            .iter()
            .map(|(f, _)| partition_of(f))
            .collect();
        data_partitions.dedup();
        assert_eq!(
            success_markers(&storage, &root),
            data_partitions,
            "{dataset}: every partition closed"
        );
    }
}

#[test]
fn parquet_round_trip_on_a_local_folder() {
    let dir = temp_dir("roundtrip");
    check_round_trip(&dir, &format!("file://{}", dir.join("out").display()), &[]);
}

#[test]
fn parquet_round_trip_on_s3() {
    let s3 = std::env::var("S3_URL").expect(
        "S3_URL is not set: run scripts/test.sh, or scripts/s3.sh start, export $(scripts/s3.sh env) \
         and export S3_URL=s3://ratings-test",
    );
    let dir = temp_dir("s3");
    check_round_trip(&dir, &format!("{s3}/test-{}", std::process::id()), &[]);
}

#[test]
fn parquet_round_trip_on_hdfs_with_the_catalog_read_from_hdfs() {
    let hdfs = std::env::var("HDFS_URL").expect("HDFS_URL is not set: run scripts/test.sh, or scripts/hdfs.sh start and export HDFS_URL=$(scripts/hdfs.sh url)");
    let dir = temp_dir("hdfs");
    let base = format!("{hdfs}/{}", common::unique_name("test"));
    let movies = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/movielens/ml-latest-small/movies.csv");
    Storage::open(&base)
        .unwrap()
        .publish("catalog/movies.csv", std::fs::read(movies).unwrap())
        .unwrap();
    check_round_trip(
        &dir,
        &base,
        &["--movies", &format!("{base}/catalog/movies.csv")],
    );
}

#[test]
fn files_roll_by_size_and_independent_readers_agree() {
    let python = std::env::var("RATINGS_PYTHON").expect(
        "RATINGS_PYTHON is not set: run scripts/test.sh, or export RATINGS_PYTHON=$(scripts/python-env.sh)",
    );
    let dir = temp_dir("interop");
    let input = generated_input(&dir);
    let out = dir.join("out");
    let storage = format!("file://{}", out.display());
    binary(&storage_run(&input, &storage, &["--roll-size", "64KB"]));
    let local = Storage::open(&storage).unwrap();
    let raw_files = parquet_files(&local, "streams/ratings/raw");
    let (raw, raw_partitions) = raw_rows(&local);
    assert!(
        raw_files.len() > raw_partitions.len(),
        "64 KB files: several per hour ({} files)",
        raw_files.len()
    );
    assert_eq!(
        raw,
        valid_input_rows(&input),
        "rolling loses and duplicates nothing"
    );

    let mut expected = serde_json::Map::new();
    let as_json = |m: BTreeMap<String, usize>| serde_json::to_value(m).unwrap();
    expected.insert("streams/ratings/raw".into(), as_json(raw_partitions));
    for dataset in ["agg/tumbling", "agg/sliding"] {
        let folder = format!("streams/ratings/{dataset}");
        expected.insert(folder.clone(), as_json(aggregate_rows(&local, &folder).1));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/read_datasets.py");
    let (agree, report) = reader_report(
        Command::new(python)
            .arg(script)
            .arg(&out)
            .arg(Value::Object(expected).to_string())
            .output()
            .unwrap(),
    );
    assert!(agree, "independent readers disagree:\n{report}");
    assert_eq!(report.matches("ok streams/ratings/").count(), 3, "{report}");
}

/// With `--table-format delta` the same input gives Delta tables that hold exactly the rows of
/// the plain Parquet run — for this crate's reader, for delta-rs's Python package and for Spark
/// with delta-spark, at the latest version and at earlier ones (time travel) — and once the
/// hours close, their small files are compacted (one commit per hour, the rows unchanged).
#[test]
fn delta_tables_hold_the_plain_runs_rows_for_every_reader() {
    let dir = temp_dir("delta-interop");
    let input = generated_input(&dir);
    let (plain, delta) = (dir.join("plain"), dir.join("delta"));
    let (plain_url, delta_url) = (plain.display().to_string(), delta.display().to_string());
    let small = ["--roll-size", "64KB"];
    binary(&storage_run(&input, &plain_url, &small));
    binary(&storage_run(
        &input,
        &delta_url,
        &[&small[..], &["--table-format", "delta"]].concat(),
    ));
    let (plain, delta) = (
        Storage::open(&plain_url).unwrap(),
        Storage::open(&delta_url).unwrap(),
    );
    let (raw, raw_partitions) = raw_rows(&delta);
    assert_eq!(raw, raw_rows(&plain).0, "the raw table's rows");
    let mut expected = serde_json::Map::new();
    let mut tables = vec![("streams/ratings/raw".to_string(), raw_partitions)];
    for root in [
        "streams/ratings/agg/tumbling",
        "streams/ratings/agg/sliding",
    ] {
        let (rows, partitions) = aggregate_rows(&delta, root);
        assert_eq!(rows, aggregate_rows(&plain, root).0, "{root}'s rows");
        tables.push((root.to_string(), partitions));
    }
    for (root, partitions) in tables {
        let plain_files = parquet_files(&plain, &root).len();
        let table_files = parquet_files(&delta, &root).len();
        let history = common::delta::rows_by_version(&delta, &root);
        let compactions = history.iter().filter(|(_, op, _)| op == "OPTIMIZE").count();
        assert!(
            table_files <= 2 * partitions.len(),
            "{root}: {table_files} files in {} hours after compaction ({plain_files} before)",
            partitions.len()
        );
        let total: usize = partitions.values().sum();
        if plain_files > partitions.len() {
            assert!(
                compactions > 0,
                "{root}: {plain_files} files, no compaction: {history:?}"
            );
        }
        // a compaction changes no row count; after the last append the table has every row
        for pair in history.windows(2).filter(|p| p[1].1 == "OPTIMIZE") {
            assert_eq!(
                pair[0].2, pair[1].2,
                "{root}: a compaction changed the rows: {pair:?}"
            );
        }
        let last_write = history.iter().rfind(|(_, op, _)| op == "WRITE").unwrap();
        assert_eq!(last_write.2 as usize, total, "{root}: {history:?}");
        // readers travel to the first append and to the version before the first compaction
        let first = &history[1];
        let before = history
            .iter()
            .take_while(|(_, op, _)| op != "OPTIMIZE")
            .last()
            .unwrap();
        eprintln!("{root}: {plain_files} files plain, {table_files} in the table, {compactions} compactions, {} versions", history.len());
        let versions = serde_json::json!({
            first.0.to_string(): first.2,
            before.0.to_string(): before.2,
            last_write.0.to_string(): last_write.2,
        });
        let partitions = serde_json::to_value(&partitions).unwrap();
        expected.insert(
            root,
            serde_json::json!({ "partitions": partitions, "versions": versions }),
        );
    }
    let expected = Value::Object(expected).to_string();
    read_with("deltalake", "RATINGS_PYTHON", &delta_url, &expected);
    read_with("spark", "RATINGS_SPARK_PYTHON", &delta_url, &expected);
}

/// `table optimize` compacts every hour of every table on demand (the processor's own
/// compaction off), `table vacuum` then deletes the removed files — only with a retention they
/// are older than, and lists them first with `--dry-run`; the tables' rows never change.
#[test]
fn table_optimize_and_vacuum_keep_the_rows_and_drop_the_small_files() {
    let dir = temp_dir("delta-upkeep");
    let input = generated_input(&dir);
    let url = dir.join("delta").display().to_string();
    let options = ["--roll-size", "64KB", "--table-format", "delta"];
    let no_upkeep = ["--compaction-target", "off", "--vacuum-retention", "off"];
    binary(&storage_run(
        &input,
        &url,
        &[&options[..], &no_upkeep].concat(),
    ));
    let storage = Storage::open(&url).unwrap();
    let (rows, partitions) = raw_rows(&storage);
    let files_before = parquet_files(&storage, "streams/ratings/raw").len();
    assert!(
        files_before > partitions.len(),
        "{files_before} files: several per hour"
    );

    // a reader of delta-rs's Python package reads the tables all the while
    let expected = serde_json::json!({ "streams/ratings/raw": { "partitions": partitions } });
    let stop = dir.join("stop-reading");
    let reader = Command::new(python_of("RATINGS_PYTHON"))
        .arg(interop_script("read_delta.py"))
        .args(["deltalake-loop", &url, &expected.to_string()])
        .arg(&stop)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let optimized = binary(&["table", "optimize", "--storage", &url]);
    std::fs::write(&stop, "").unwrap();
    let (read_well, reads) = reader_report(reader.wait_with_output().unwrap());
    assert!(read_well, "a reader during the compaction: {reads}");
    eprintln!("during the compaction: {reads}");
    let report = String::from_utf8_lossy(&optimized.stdout).into_owned();
    eprintln!("{report}");
    assert!(
        report.contains(&format!(
            "streams/ratings/raw: {} hours compacted",
            partitions.len()
        )),
        "{report}"
    );
    assert_eq!(
        raw_rows(&storage),
        (rows.clone(), partitions.clone()),
        "rows after optimize"
    );
    let files_after = parquet_files(&storage, "streams/ratings/raw").len();
    assert!(
        files_after <= 2 * partitions.len(),
        "{files_after} files after optimize"
    );
    let again = binary(&["table", "optimize", "--storage", &url]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("streams/ratings/raw: 0 hours compacted")
    );

    let on_disk = |s: &Storage| {
        s.list("streams/ratings/raw")
            .unwrap()
            .iter()
            .filter(|f| f.ends_with(".parquet") && !f.contains("_delta_log"))
            .count()
    };
    let vacuum = |options: &[&str]| {
        let args = [&["table", "vacuum", "--storage", &url][..], options].concat();
        String::from_utf8_lossy(&binary(&args).stdout).into_owned()
    };
    let kept = vacuum(&[]);
    assert!(
        kept.contains("streams/ratings/raw: 0 files removed more than 7days ago deleted"),
        "{kept}"
    );
    assert_eq!(on_disk(&storage), files_before + files_after);
    let listed = vacuum(&["--vacuum-retention", "0s", "--dry-run"]);
    assert!(
        listed.contains(&format!(
            "streams/ratings/raw: {files_before} files removed more than 0s ago would be deleted"
        )),
        "{listed}"
    );
    assert_eq!(on_disk(&storage), files_before + files_after);
    vacuum(&["--vacuum-retention", "0s"]);
    assert_eq!(on_disk(&storage), files_after);
    assert_eq!(raw_rows(&storage), (rows, partitions), "rows after vacuum");

    // a mistyped folder: refused, and left uncreated
    let typo = format!("{url}-typo");
    for command in ["optimize", "vacuum"] {
        let out = common::ratings_stream()
            .args(["table", command, "--storage", &typo])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && log.contains(&format!("no folder {typo}")),
            "{log}"
        );
        assert!(!Path::new(&typo).exists(), "table {command} created {typo}");
    }
}

/// Runs `tests/interop/read_delta.py` with `reader` on the interpreter `$python_variable`
/// names; it must see `expected` in every table.
fn read_with(reader: &str, python_variable: &str, base: &str, expected: &str) {
    let python = python_of(python_variable);
    let script = interop_script("read_delta.py");
    let ivy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/spark/ivy");
    let (agrees, report) = reader_report(
        Command::new(python)
            .args([script.as_os_str(), reader.as_ref(), base.as_ref()])
            .arg(expected)
            .env("SPARK_IVY", ivy)
            .output()
            .unwrap(),
    );
    assert!(agrees, "{reader} disagrees:\n{report}");
    assert_eq!(report.matches("ok streams/ratings/").count(), 3, "{report}");
}

/// The interpreter `$variable` names (set up by scripts/test.sh).
fn python_of(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: run scripts/test.sh (it sets up the readers)")
    })
}

/// A script of `tests/interop`.
fn interop_script(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop")
        .join(name)
}

/// What an independent reader's script did: whether it agreed, and what it printed.
fn reader_report(check: std::process::Output) -> (bool, String) {
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    (check.status.success(), report)
}

#[test]
fn storage_faults_are_retried_until_the_storage_returns() {
    let dir = temp_dir("fault");
    let input = generated_input(&dir);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    // a plain file where the datasets' folder must go: every write fails until it is removed
    let blocker = out.join("streams");
    std::fs::write(&blocker, "not a folder").unwrap();
    let summary = dir.join("summary.json");
    let storage = format!("file://{}", out.display());
    let extra = ["--summary-file", summary.to_str().unwrap()];
    let log = dir.join("run.log");
    let mut run = common::process::spawn(
        common::ratings_stream()
            .args(storage_run(&input, &storage, &extra))
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    // the storage returns once a failed write was reported, however long that took
    common::wait_for_log(&log, Duration::from_secs(120), "no retry reported", |l| {
        l.contains("storage: ") && l.contains("retrying in")
    });
    std::fs::remove_file(blocker).unwrap();
    let status = run.wait();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{stderr}");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    assert!(summary["storage_retries"].as_u64().unwrap() > 0);
    let (raw, _) = raw_rows(&Storage::open(&storage).unwrap());
    assert_eq!(
        raw,
        valid_input_rows(&input),
        "everything written once the storage is back"
    );
}
