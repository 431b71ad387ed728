//! HDFS goes away while the processor writes to it: the processor retries with backoff,
//! reports each failure, and writes everything once HDFS is back — in file mode, and in Kafka
//! mode with exactly-once (outputs compared with an uninterrupted run). Its own test binary
//! because it stops and restarts the shared HDFS (`scripts/hdfs.sh`); cargo runs test binaries
//! one after another, and the tests here take turns.

use std::sync::Mutex;
use std::time::Duration;

use ratings_connectors::storage::Storage;
use serde_json::Value;

mod common;
use common::eos::{input_topic, run_through_outage, wait_until, Outputs};
use common::temp_dir;

/// Held by the test that has HDFS stopped.
static HDFS: Mutex<()> = Mutex::new(());

fn hdfs_script(action: &str) {
    common::service_script("hdfs", action);
}

#[test]
fn writes_everything_once_hdfs_is_back() {
    let _turn = HDFS.lock().unwrap_or_else(|e| e.into_inner());
    let hdfs = std::env::var("HDFS_URL").expect("HDFS_URL is not set: run scripts/test.sh");
    let dir = temp_dir("hdfs-outage");
    let input = dir.join("input.jsonl");
    common::generate_file(&input, 5000, 5, common::GENERATED_START, &[]);
    let base = format!("{hdfs}/outage-{}", std::process::id());
    let summary = dir.join("summary.json");

    hdfs_script("stop");
    let restarter = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(15)); // longer than one attempt may take (10 s)
        hdfs_script("start");
    });
    let extra = ["--summary-file", summary.to_str().unwrap()];
    let out = common::output_of(&common::storage_run(&input, &base, &extra));
    restarter.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("retrying in"),
        "the outage is reported: {stderr}"
    );
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    assert!(summary["storage_retries"].as_u64().unwrap() > 0);
    assert_eq!(summary["parquet"][0]["rows"].as_u64(), Some(5000));

    let storage = Storage::open(&base).unwrap();
    let files = storage.list("streams/ratings/raw").unwrap();
    let rows: i64 = files
        .iter()
        .filter(|f| f.ends_with(".parquet"))
        .map(|f| {
            let bytes = bytes::Bytes::from(storage.read(f).unwrap());
            parquet::file::reader::FileReader::metadata(
                &parquet::file::reader::SerializedFileReader::new(bytes).unwrap(),
            )
            .file_metadata()
            .num_rows()
        })
        .sum();
    assert_eq!(rows, 5000, "every raw row is on HDFS after the outage");
    assert!(files.iter().any(|f| f.ends_with("/_SUCCESS")));
}

#[test]
fn an_hdfs_outage_changes_no_exactly_once_output() {
    let _turn = HDFS.lock().unwrap_or_else(|e| e.into_inner());
    let hdfs = std::env::var("HDFS_URL").expect("HDFS_URL is not set: run scripts/test.sh");
    let input = input_topic("eos-hdfs");
    let url = format!("{hdfs}/eos-outage-{}", std::process::id());
    let (tested, reference) = (
        // every file HDFS creates costs a round of block reports: fewer, longer epochs
        Outputs::on(&input, "hdfs", &url).with(&["--commit-interval", "2s"]),
        Outputs::new(&input, "reference"),
    );
    let log = run_through_outage(&input, &tested, &reference, 20_000, |port, _| {
        hdfs_script("stop");
        // the processor waits, retrying, and the retries show while it waits
        wait_until(
            port,
            "ratings_stream_storage_retries_total",
            1.0,
            Duration::from_secs(60),
        );
        std::thread::sleep(Duration::from_secs(5));
        hdfs_script("start");
    });
    assert!(log.contains("retrying in"), "the outage is reported: {log}");
}
