//! Integration tests against the real Apache Kafka broker started by `scripts/kafka.sh`
//! (`scripts/test.sh` starts it and sets KAFKA_BOOTSTRAP). Each test uses its own topics.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_connectors::kafka::{ensure_topics, Producer};

mod common;
use common::eos::{metric, wait_until};
use common::process::{spawn, Spawned};
use common::{
    binary, bootstrap, comparable, kafka_settings, metrics_port, ratings_stream, read_topic,
    stop_with_sigterm, temp_dir, wait_for_metric, OutputTopics,
};

/// A path for `name` in a fresh folder of its own.
fn temp(name: &str) -> PathBuf {
    temp_dir(&format!("kafka-{name}")).join(name)
}

/// 2023-11-14T22:13:00Z.
const B: i64 = 1_699_999_980;

/// Fresh topics (3 partitions each) for one test: the input and a processor's outputs.
struct Topics {
    ratings: String,
    out: OutputTopics,
}

impl Topics {
    fn new(test: &str) -> Topics {
        let prefix = common::unique_name(test);
        let ratings = format!("{prefix}-ratings");
        ensure_topics(&kafka_settings(), &[(ratings.as_str(), 3)]).unwrap();
        Topics {
            ratings,
            out: OutputTopics::create(&prefix),
        }
    }

    /// A live processor on these topics whose epochs end only when windows become final
    /// (commit interval 1 h, no record cap), Prometheus on a free port: the child, its log and
    /// that port.
    fn spawn_window_paced(&self, name: &str, extra: &[&str]) -> (Spawned, PathBuf, u16) {
        let log = temp_dir(&format!("{name}-log")).join("processor.log");
        let checkpoint = temp_dir(&format!("{name}-checkpoint"));
        let child = spawn(
            ratings_stream()
                .args(self.out.run_args(&self.ratings))
                .args(["--commit-interval", "1h", "--commit-records", "0"])
                .args(["--metrics-address", "127.0.0.1:0"])
                .args(["--checkpoint-storage", checkpoint.to_str().unwrap()])
                .args(extra)
                .stderr(std::fs::File::create(&log).unwrap()),
        );
        let port = metrics_port(&log, Duration::from_secs(60));
        (child, log, port)
    }

    /// `ratings-stream run` on these topics until the input is read to its end (the checkpoint
    /// in a temporary folder unless `extra` sets `--storage`).
    fn run_processor(&self, extra: &[&str]) -> Output {
        let mut args = self.out.run_args(&self.ratings);
        args.extend(["--exit-at-end", "--metrics-address", "off"].map(String::from));
        if !extra.contains(&"--storage") {
            let checkpoint =
                std::env::temp_dir().join(format!("ratings-stream-{}", self.out.group));
            args.extend([
                "--checkpoint-storage".into(),
                checkpoint.display().to_string(),
            ]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        binary(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// Rows in all Parquet files under `dir`.
fn parquet_rows(dir: &Path) -> i64 {
    let storage = ratings_connectors::storage::Storage::open(dir.to_str().unwrap()).unwrap();
    let files = common::parquet_files(&storage, "");
    files
        .iter()
        .flat_map(|(_, batches)| batches)
        .map(|b| b.num_rows() as i64)
        .sum()
}

fn generate(extra: &[&str]) {
    let mut args = vec![
        "generate",
        "--rate",
        "0",
        "--count",
        "20000",
        "--events-per-second",
        "5",
        "--seed",
        "7",
        "--start-time",
        "1699999980",
    ];
    args.extend_from_slice(extra);
    binary(&args);
}

#[test]
fn kafka_mode_publishes_exactly_the_windows_of_file_mode() {
    let topics = Topics::new("equal");
    let file = temp("equal.jsonl");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    generate(&["--output", &path(&file)]);
    generate(&[
        "--bootstrap-servers",
        &bootstrap(),
        "--ratings-topic",
        &topics.ratings,
    ]);
    let metrics_file = temp("equal-metrics.jsonl");
    binary(&[
        "run",
        "--input",
        &path(&file),
        "--metrics-file",
        &path(&metrics_file),
    ]);
    let expected = comparable(
        std::fs::read_to_string(&metrics_file)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap()),
    );
    let parquet = temp("equal-parquet");
    let storage = format!("file://{}", parquet.display());
    topics.run_processor(&["--storage", &storage]);
    let published = read_topic(&topics.out.metrics);
    let raw_rows = parquet_rows(&parquet.join("streams/ratings/raw"));
    assert_eq!(
        raw_rows, 20_000,
        "Kafka mode writes every rating to the raw dataset"
    );
    let aggregate_rows = parquet_rows(&parquet.join("streams/ratings/agg/tumbling"))
        + parquet_rows(&parquet.join("streams/ratings/agg/sliding"));
    assert_eq!(
        aggregate_rows,
        published.len() as i64,
        "and every window to the aggregate datasets"
    );
    assert!(
        expected.len() > 40,
        "a meaningful number of windows: {}",
        expected.len()
    );
    let got = comparable(published.iter().map(|r| r.2.clone()));
    let missing: Vec<&String> = expected
        .iter()
        .filter(|w| !got.contains(w))
        .take(2)
        .collect();
    let extra: Vec<&String> = got
        .iter()
        .filter(|w| !expected.contains(w))
        .take(2)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && got.len() == expected.len(),
        "{} windows published, {} expected\nmissing (first 2): {missing:#?}\nextra (first 2): {extra:#?}",
        got.len(),
        expected.len()
    );
    // each window's key decides its partition: the same (type, start) never lands twice
    let mut keys: Vec<(String, String)> = published
        .iter()
        .map(|r| {
            (
                r.2["window_type"].to_string(),
                r.2["window_start"].to_string(),
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), published.len());
}

#[test]
fn malformed_records_go_to_the_dead_letter_topic_and_processing_goes_on() {
    let topics = Topics::new("dead");
    let producer = Producer::connect(&kafka_settings()).unwrap();
    let records = [
        format!(r#"{{"userId":1,"movieId":1,"rating":4.0,"timestamp":{B}}}"#),
        "this is not json".to_string(),
        format!(r#"{{"userId":1,"movieId":1,"rating":9.0,"timestamp":{B}}}"#),
        format!(
            r#"{{"userId":2,"movieId":1,"rating":2.0,"timestamp":{}}}"#,
            B + 5
        ),
        format!(r#"{{"userId":"x","movieId":1,"rating":2.0,"timestamp":{B}}}"#),
    ];
    for record in &records {
        producer
            .send_to(&topics.ratings, Some(1), None, record.as_bytes())
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    topics.run_processor(&[]);
    let dead: Vec<(String, i64, i64, String)> = read_topic(&topics.out.dead)
        .into_iter()
        .map(|(_, _, v)| {
            let field = |k: &str| v[k].as_str().unwrap().to_string();
            (
                field("reason"),
                v["partition"].as_i64().unwrap(),
                v["offset"].as_i64().unwrap(),
                field("record"),
            )
        })
        .collect();
    let mut dead = dead;
    dead.sort_by_key(|d| d.2);
    assert_eq!(
        dead,
        [
            ("invalid_json".to_string(), 1, 1, records[1].clone()),
            ("rating_out_of_range".to_string(), 1, 2, records[2].clone()),
            ("wrong_type".to_string(), 1, 4, records[4].clone()),
        ]
    );
    let windows = read_topic(&topics.out.metrics);
    let tumbling = windows
        .iter()
        .find(|w| w.2["window_type"] == "tumbling_1min")
        .expect("a tumbling window");
    assert_eq!(
        (
            tumbling.2["count"].as_u64(),
            tumbling.2["avg_rating"].as_f64()
        ),
        (Some(2), Some(3.0))
    );
}

/// Every fresh reader of a topic reads every record. librdkafka starts fetching as soon as the
/// partitions are assigned; records (or the end-of-partition event) fetched before a
/// partition's queue was split landed on the consumer's main queue and were lost: a reader saw
/// nothing or a hole, an `--exit-at-end` run could wait forever. With the machine loaded as
/// below, the old code failed within 60–150 fresh readers; this test starts 200.
#[test]
fn every_fresh_reader_reads_every_record() {
    let topics = Topics::new("readers");
    let producer = Producer::connect(&kafka_settings()).unwrap();
    let (partitions, per_partition) = (3, 100);
    for n in 0..partitions * per_partition {
        let record = format!(r#"{{"n":{n}}}"#);
        producer
            .send_to(
                &topics.ratings,
                Some(n % partitions),
                None,
                record.as_bytes(),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let every_offset: Vec<i64> = (0..per_partition as i64).collect();
    // busy threads on every core make the reader's thread lose the CPU at random points,
    // as on a loaded machine (the race was only ever seen under load)
    let _load = Spinners::start(8);
    for reader in 0..200 {
        let records = read_topic(&topics.ratings);
        for partition in 0..partitions {
            let offsets: Vec<i64> = records
                .iter()
                .filter(|(p, _, _)| *p == partition)
                .map(|(_, offset, _)| *offset)
                .collect();
            assert_eq!(
                offsets, every_offset,
                "reader {reader}, partition {partition}"
            );
        }
    }
}

/// Threads spinning on the CPU until dropped (however the test ends).
struct Spinners {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Spinners {
    fn start(count: usize) -> Spinners {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..count)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Spinners { stop, threads }
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[test]
fn the_watermark_is_global_across_partitions() {
    let topics = Topics::new("watermark");
    let producer = Producer::connect(&kafka_settings()).unwrap();
    let rating = |user: i32, t: i64| {
        format!(r#"{{"userId":{user},"movieId":1,"rating":3.0,"timestamp":{t}}}"#)
    };
    // read round-robin: p0 first moves the watermark to B+400; p1's B+10 is then behind every
    // window containing it (late), while p2's B+950 is only out of order (accepted)
    producer
        .send_to(
            &topics.ratings,
            Some(0),
            None,
            rating(1, B + 1000).as_bytes(),
        )
        .unwrap();
    producer
        .send_to(&topics.ratings, Some(1), None, rating(2, B + 10).as_bytes())
        .unwrap();
    producer
        .send_to(
            &topics.ratings,
            Some(2),
            None,
            rating(3, B + 950).as_bytes(),
        )
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    topics.run_processor(&[]);
    let late = read_topic(&topics.out.late);
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(
        (
            late[0].2["reason"].as_str(),
            late[0].2["partition"].as_i64()
        ),
        (Some("late"), Some(1))
    );
    assert!(late[0].2["record"]
        .as_str()
        .unwrap()
        .contains(&(B + 10).to_string()));
    let tumbling: Vec<(String, u64)> = read_topic(&topics.out.metrics)
        .into_iter()
        .filter(|w| w.2["window_type"] == "tumbling_1min")
        .map(|w| {
            (
                w.2["window_start"].as_str().unwrap().to_string(),
                w.2["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut tumbling = tumbling;
    tumbling.sort();
    assert_eq!(
        tumbling,
        [
            ("2023-11-14T22:28:00Z".to_string(), 1),
            ("2023-11-14T22:29:00Z".to_string(), 1)
        ]
    );
}

#[test]
fn an_unreachable_broker_is_a_clear_error_not_a_hang() {
    let started = Instant::now();
    let out = common::output_of(&[
        "run",
        "--bootstrap-servers",
        "127.0.0.1:1",
        "--metrics-address",
        "off",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach Kafka at 127.0.0.1:1"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < common::FAILS_FAST,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn live_mode_serves_prometheus_metrics_and_stops_cleanly_on_sigterm() {
    let topics = Topics::new("live");
    let producer = Producer::connect(&kafka_settings()).unwrap();
    for i in 0..50 {
        let record = format!(
            r#"{{"userId":{i},"movieId":1,"rating":4.0,"timestamp":{}}}"#,
            B + i
        );
        producer
            .send(
                &topics.ratings,
                Some(i.to_string().as_bytes()),
                record.as_bytes(),
            )
            .unwrap();
    }
    producer.send(&topics.ratings, None, b"garbage").unwrap();
    producer.send(&topics.ratings, None, b"{}").unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    let log = temp_dir("live-log").join("processor.log");
    let child = spawn(
        ratings_stream()
            .args(topics.out.run_args(&topics.ratings))
            .args([
                "--metrics-address",
                "127.0.0.1:0",
                "--progress-interval",
                "1s",
                "--checkpoint-storage",
                temp_dir("live-checkpoint").to_str().unwrap(),
            ])
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    let port = metrics_port(&log, Duration::from_secs(60));
    let body = wait_for_metric(
        port,
        "ratings_stream_records_in_total 52",
        Duration::from_secs(60),
    );
    assert!(
        body.contains(r#"ratings_stream_records_invalid_total{reason="invalid_json"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"ratings_stream_records_invalid_total{reason="missing_field"} 1"#),
        "{body}"
    );
    // the lag follows once the partitions' ends are known
    wait_for_metric(
        port,
        "ratings_stream_consumer_lag_records 0\n",
        Duration::from_secs(60),
    );
    assert!(
        body.contains(&format!(
            "ratings_stream_watermark_seconds {}",
            B + 49 - 600
        )),
        "{body}"
    );
    assert_prometheus_reads_without_warnings(&body);
    let openmetrics = common::scrape_with(
        port,
        "Accept: application/openmetrics-text; version=1.0.0\r\n",
    );
    assert!(
        openmetrics.contains("application/openmetrics-text") && openmetrics.ends_with("# EOF\n"),
        "{openmetrics}"
    );
    let stderr = stop_with_sigterm(child, &log);
    assert!(stderr.contains("progress: "), "{stderr}");
    assert!(stderr.contains("processed 52 records"), "{stderr}");
}

/// Exactly-once at window speed: with a commit interval of an hour and no record cap, only
/// windows becoming final can end an epoch — and they do, at once. The input is paced by what
/// the processor committed: the rating that closes the next minute is sent once the epoch of
/// the previous closing is committed, so however fast the machine, each closing moment ends an
/// epoch of its own and nothing else does: exactly one epoch per closing moment, after the
/// first epoch (which ends as soon as the input is caught up). Every window is readable with
/// read_committed while the processor still runs, every final window's output latency is
/// measured, and an idle input commits no empty epochs.
#[test]
fn windows_becoming_final_end_their_epoch_at_once_and_idleness_commits_nothing() {
    const EPOCHS: &str = "ratings_stream_epochs_committed_total";
    const CLOSINGS: i64 = 20;
    let within = Duration::from_secs(120);
    let topics = Topics::new("emit-commit");
    let (child, log, port) =
        topics.spawn_window_paced("emit-commit", &["--progress-interval", "1s"]);
    let producer = Producer::connect(&kafka_settings()).unwrap();
    let send = |times: &[i64]| {
        for (user, time) in times.iter().enumerate() {
            let rating = format!(
                r#"{{"userId":{},"movieId":1,"rating":4.0,"timestamp":{time}}}"#,
                user + 1
            );
            let key = user.to_string();
            producer
                .send(&topics.ratings, Some(key.as_bytes()), rating.as_bytes())
                .unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    };
    // ten minutes of event time: the watermark (10 minutes behind) closes no window yet, and
    // the first epoch ends once they are read
    send(&(0..30).map(|i| B + i * 20).collect::<Vec<_>>());
    wait_until(port, EPOCHS, 1.0, within);
    assert_eq!(metric(port, EPOCHS), 1.0, "an epoch without a closing");
    for minute in 1..=CLOSINGS {
        // 10 min 1 s past the minute's end: the windows ending then become final
        send(&[B + (minute + 10) * 60 + 1]);
        wait_until(port, EPOCHS, 1.0 + minute as f64, within);
        assert_eq!(
            metric(port, EPOCHS),
            1.0 + minute as f64,
            "the windows ending at minute {minute} end one epoch"
        );
    }
    let readable = read_topic(&topics.out.metrics);
    let closings: BTreeSet<&str> = readable
        .iter()
        .map(|(_, _, w)| w["window_end"].as_str().unwrap())
        .collect();
    assert_eq!(closings.len() as i64, CLOSINGS, "{closings:?}");
    let windows = readable.len() as f64;
    // the windows counted are published with the readings, every second
    wait_until(port, "ratings_stream_windows_out_total", windows, within);
    assert_eq!(
        metric(port, "ratings_stream_windows_out_total"),
        windows,
        "every window readable at once"
    );
    assert_eq!(
        metric(port, "ratings_stream_output_latency_seconds_count"),
        windows,
        "each final window's latency measured"
    );
    std::thread::sleep(Duration::from_secs(2));
    let idle = metric(port, EPOCHS);
    assert_eq!(idle, 1.0 + CLOSINGS as f64, "epochs committed while idle");
    let stderr = stop_with_sigterm(child, &log);
    assert!(stderr.contains("output latency p50"), "{stderr}");
}

#[test]
fn replay_sends_a_movielens_file_in_timestamp_order() {
    let topics = Topics::new("replay");
    let csv = temp("replay.csv");
    let rows = [
        "userId,movieId,rating,timestamp",
        "1,10,4.0,300",
        "2,20,3.5,100",
        "1,30,bad,50",
        "3,10,5.0,200",
    ];
    std::fs::write(&csv, rows.join("\r\n")).unwrap();
    let out = binary(&[
        "replay",
        "--input",
        csv.to_str().unwrap(),
        "--bootstrap-servers",
        &bootstrap(),
        "--ratings-topic",
        &topics.ratings,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped 1 rows"));
    let mut sent: Vec<(i64, i64)> = read_topic(&topics.ratings)
        .iter()
        .map(|r| {
            (
                r.2["timestamp"].as_i64().unwrap(),
                r.2["userId"].as_i64().unwrap(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(sent, [(100, 2), (200, 3), (300, 1)]);
}

/// An input written in transactions (as an upstream exactly-once job writes it) ends each
/// transaction with a commit marker, an offset no record is delivered at: the processor still
/// reads every partition to its end — lag 0 — and every final window is readable while it runs.
#[test]
fn a_transactionally_written_input_is_read_to_its_end_past_its_commit_markers() {
    let topics = Topics::new("txn-input");
    let (child, log, port) = topics.spawn_window_paced("txn-input", &[]);
    let upstream = Producer::transactional(
        &kafka_settings(),
        &format!("{}-upstream", topics.out.group),
        Duration::from_secs(60),
    )
    .unwrap();
    // 30 transactions of 20 ratings, a minute of event time each: windows close all along
    for transaction in 0..30i64 {
        upstream.begin_transaction().unwrap();
        for i in 0..20i64 {
            let time = B + transaction * 60 + i * 3;
            let rating = format!(
                r#"{{"userId":{},"movieId":{},"rating":3.5,"timestamp":{time}}}"#,
                i + 1,
                transaction + 1
            );
            let key = i.to_string();
            upstream
                .send(&topics.ratings, Some(key.as_bytes()), rating.as_bytes())
                .unwrap();
        }
        upstream
            .commit_transaction(Duration::from_secs(30))
            .unwrap();
    }
    wait_for_metric(
        port,
        "ratings_stream_records_in_total 600",
        Duration::from_secs(60),
    );
    wait_for_metric(
        port,
        "ratings_stream_consumer_lag_records 0\n",
        Duration::from_secs(30),
    );
    let readable = read_topic(&topics.out.metrics).len() as f64;
    assert!(readable >= 20.0, "{readable} windows readable");
    // the windows counted are published with the readings, every second
    wait_until(
        port,
        "ratings_stream_windows_out_total",
        readable,
        Duration::from_secs(30),
    );
    assert_eq!(
        metric(port, "ratings_stream_windows_out_total"),
        readable,
        "every final window readable while the processor runs"
    );
    stop_with_sigterm(child, &log);
}

/// `promtool check metrics` (Prometheus' own text parser and linter) finds nothing to say of a
/// `/metrics` answer (headers and body).
fn assert_prometheus_reads_without_warnings(answer: &str) {
    use std::io::Write;
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; .ci/run installs it)");
    promtool
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(body.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        checked.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{body}"
    );
}
