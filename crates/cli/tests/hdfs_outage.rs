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
use common::{temp_dir, ServiceAway};

/// Held by the test that has HDFS stopped.
static HDFS: Mutex<()> = Mutex::new(());

#[test]
fn writes_everything_once_hdfs_is_back() {
    let _turn = HDFS.lock().unwrap_or_else(|e| e.into_inner());
    let hdfs = std::env::var("HDFS_URL").expect("HDFS_URL is not set: run scripts/test.sh");
    let dir = temp_dir("hdfs-outage");
    let input = dir.join("input.jsonl");
    common::generate_file(&input, 5000, 5, common::GENERATED_START, &[]);
    let base = format!("{hdfs}/outage-{}", std::process::id());
    let summary = dir.join("summary.json");

    let away = ServiceAway::stop("hdfs");
    let log = dir.join("processor.log");
    let extra = ["--summary-file", summary.to_str().unwrap()];
    let mut processor = common::process::spawn(
        common::ratings_stream()
            .args(common::storage_run(&input, &base, &extra))
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    // HDFS comes back once a write failed and was reported (the start-up probe found it
    // away before that: either way, retried), however long that took
    common::poll(Duration::from_secs(180), || {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        if reports_a_failed_write(&said) {
            return Ok(());
        }
        let exited = processor.try_wait();
        assert!(
            exited.is_none(),
            "exited {exited:?} while HDFS was away: {said}"
        );
        Err(format!("no retry reported: {said}"))
    });
    away.start();
    let status = processor.wait();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{stderr}");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    assert!(
        summary["storage_retries"].as_u64().unwrap() > 0,
        "{summary}"
    );
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
        let away = ServiceAway::stop("hdfs");
        // the processor waits, retrying, and the retries show while it waits
        wait_until(
            port,
            "ratings_stream_storage_retries_total",
            1.0,
            Duration::from_secs(60),
        );
        std::thread::sleep(Duration::from_secs(5));
        away.start();
    });
    assert!(
        reports_a_failed_write(&log),
        "the outage is reported: {log}"
    );
}

/// Whether a processor's log reports a write that failed and is retried
/// (`storage: storage … failed: …; retrying in 1.2s (attempt 1)`).
fn reports_a_failed_write(log: &str) -> bool {
    log.lines()
        .any(|l| l.contains("storage: ") && l.contains("retrying in"))
}
