//! Helpers shared by the integration tests: running the binary, temporary folders, reading
//! outputs, and reaching the services that `scripts/test.sh` starts.
#![allow(dead_code)] // each test binary uses a different subset

pub mod browser;
pub mod dashboard;
pub mod delta;
pub mod eos;
pub mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::time::{Duration, Instant};

use ratings_connectors::kafka::{KafkaSettings, Start, StartFrom};
use ratings_runtime::source::kafka::KafkaSource;
use serde_json::Value;

/// `ratings-stream` as a command of the test: it dies with the test (see [`process`]).
pub fn ratings_stream() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ratings-stream"));
    process::dies_with_test(&mut command);
    command
}

/// Runs `ratings-stream` with `args` (its exit status not checked).
pub fn output_of(args: &[&str]) -> Output {
    ratings_stream().args(args).output().expect("binary runs")
}

/// Runs `ratings-stream` with `args` and asserts that it succeeds.
pub fn binary(args: &[&str]) -> Output {
    let out = output_of(args);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `run` over the file `input` with Parquet on `storage` (windows discarded), then `extra`.
pub fn storage_run<'a>(input: &'a Path, storage: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let input = input.to_str().expect("a UTF-8 path");
    let mut args = vec!["run", "--input", input, "--metrics-file", "/dev/null"];
    args.extend(["--storage", storage]);
    args.extend_from_slice(extra);
    args
}

/// How long a command that must fail fast (a misconfiguration, a refused credential, a host
/// that does not resolve) may take at most, on a machine however busy: far below the minutes
/// or the forever that a client retrying the same cause would take.
pub const FAILS_FAST: Duration = Duration::from_secs(60);

/// The event time the generated test inputs start at: 2025-10-29T18:30:00Z.
pub const GENERATED_START: i64 = 1_761_762_600;

/// A name no other test run uses: `<test>-<pid>-<nanoseconds>` (topics, storage folders).
pub fn unique_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{test}-{}-{nanos}", std::process::id())
}

/// Sends `signal` (`-TERM`, `-STOP`, …) to process `pid`.
pub fn signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// Every Parquet file under `root` of `storage` (hidden ones too) in name order — of a Delta
/// table, the files of its latest version — with its record batches, read through the storage
/// client.
pub fn parquet_files(
    storage: &ratings_connectors::storage::Storage,
    root: &str,
) -> Vec<(String, Vec<arrow_array::RecordBatch>)> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    // a Delta table's rows are those of the files its latest version lists
    let files = delta::table_files(storage, root).unwrap_or_else(|| {
        let listed = storage.list(root).unwrap_or_default().into_iter();
        listed.filter(|f| f.ends_with(".parquet")).collect()
    });
    files
        .into_iter()
        .map(|f| {
            let bytes = bytes::Bytes::from(storage.read(&f).unwrap());
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap()
                .build()
                .unwrap();
            let batches = reader.collect::<Result<Vec<_>, _>>().unwrap();
            (f, batches)
        })
        .collect()
}

/// A fresh, empty temporary folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ratings-stream-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The JSON objects of a JSON-lines file.
pub fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Epoch seconds of an RFC 3339 `YYYY-MM-DDTHH:MM:SSZ` string, by the days-from-civil
/// algorithm (independent of the implementation under test).
pub fn epoch_seconds(text: &str) -> i64 {
    let n = |a: usize, b: usize| text[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}

/// The ml-latest-small folder (`$RATINGS_MOVIELENS_DIR`, or `../shared/...` beside the repo).
pub fn movielens_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RATINGS_MOVIELENS_DIR") {
        return PathBuf::from(dir);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/movielens/ml-latest-small");
    assert!(
        dir.join("ratings.csv").is_file(),
        "ml-latest-small not found at {}; set RATINGS_MOVIELENS_DIR",
        dir.display()
    );
    dir
}

/// The test broker's address, from `KAFKA_BOOTSTRAP`.
pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").expect(
        "KAFKA_BOOTSTRAP is not set: run scripts/test.sh, or scripts/kafka.sh start and \
         export KAFKA_BOOTSTRAP=$(scripts/kafka.sh bootstrap)",
    )
}

/// Client settings for the test broker.
pub fn kafka_settings() -> KafkaSettings {
    KafkaSettings {
        bootstrap_servers: bootstrap(),
        properties: Default::default(),
    }
}

/// A processor's output topics (created with 3 partitions each) and its consumer group, which
/// is also its transactional id.
pub struct OutputTopics {
    pub metrics: String,
    pub dead: String,
    pub late: String,
    pub group: String,
}

impl OutputTopics {
    /// `<prefix>-metrics`, `<prefix>-dead`, `<prefix>-late` and the group `<prefix>-group`.
    pub fn create(prefix: &str) -> OutputTopics {
        let name = |kind: &str| format!("{prefix}-{kind}");
        let topics = OutputTopics {
            metrics: name("metrics"),
            dead: name("dead"),
            late: name("late"),
            group: name("group"),
        };
        let all = [&topics.metrics, &topics.dead, &topics.late];
        ratings_connectors::kafka::ensure_topics(&kafka_settings(), &all.map(|t| (t.as_str(), 3)))
            .unwrap();
        topics
    }

    /// `ratings-stream run` from the topic `input` to these topics.
    pub fn run_args(&self, input: &str) -> Vec<String> {
        let flags = [
            ("--bootstrap-servers", bootstrap()),
            ("--ratings-topic", input.to_string()),
            ("--metrics-topic", self.metrics.clone()),
            ("--dead-letter-topic", self.dead.clone()),
            ("--late-topic", self.late.clone()),
            ("--group-id", self.group.clone()),
        ];
        std::iter::once("run".to_string())
            .chain(
                flags
                    .into_iter()
                    .flat_map(|(flag, value)| [flag.to_string(), value]),
            )
            .collect()
    }
}

/// The answer to `GET /metrics` on `port` (empty if nothing answers).
pub fn scrape(port: u16) -> String {
    scrape_with(port, "")
}

/// The same, with more header lines (each ending in CRLF).
pub fn scrape_with(port: u16, headers: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let request = format!("GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n{headers}\r\n");
    let _ = stream.write_all(request.as_bytes());
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// The port a processor started with `--metrics-address 127.0.0.1:0` bound, read from the
/// banner in its log file (waits for it): no race for a port between two processes.
pub fn metrics_port(log: &Path, within: Duration) -> u16 {
    poll(within, || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("prometheus"))
            .find_map(|l| l.split("http://127.0.0.1:").nth(1))
            .and_then(|rest| rest.split('/').next())
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(|| format!("no metrics address in the log: {text}"))
    })
}

/// Looks every 100 ms until `look` finds what it looks for; fails with what it said last once
/// `within` has passed.
pub fn poll<T>(within: Duration, mut look: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match look() {
            Ok(found) => return found,
            Err(last) => assert!(Instant::now() < deadline, "within {within:?}: {last}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the log file at `path` satisfies `ready`; returns its text, or fails naming
/// `what` with the log.
pub fn wait_for_log(
    path: &Path,
    within: Duration,
    what: &str,
    ready: impl Fn(&str) -> bool,
) -> String {
    poll(within, || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if ready(&text) {
            Ok(text)
        } else {
            Err(format!("{what}: {text}"))
        }
    })
}

/// Waits until the log file at `path` contains `text`.
pub fn wait_for_text(path: &Path, text: &str, within: Duration) -> String {
    wait_for_log(path, within, &format!("no {text:?}"), |log| {
        log.contains(text)
    })
}

/// Scrapes `/metrics` on `port` until it contains `needle`; returns that body.
pub fn wait_for_metric(port: u16, needle: &str, within: Duration) -> String {
    poll(within, || {
        let body = scrape(port);
        if body.contains(needle) {
            Ok(body)
        } else {
            Err(format!("never saw {needle:?} in /metrics:\n{body}"))
        }
    })
}

/// Stops a processor by SIGTERM, as an operator would, asserts that it exits cleanly, and
/// returns its log (its standard error went to `log`).
pub fn stop_with_sigterm(child: process::Spawned, log: &Path) -> String {
    signal("-TERM", child.id());
    let out = child.wait_with_output();
    let stderr = std::fs::read_to_string(log).unwrap_or_default();
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    stderr
}

/// `ratings-stream generate` of `count` records (`events_per_second` of event time from
/// `start_time`) into the JSON-lines file `output`, with `extra` options.
pub fn generate_file(
    output: &Path,
    count: u64,
    events_per_second: u32,
    start_time: i64,
    extra: &[&str],
) {
    let (count, rate, start) = (
        count.to_string(),
        events_per_second.to_string(),
        start_time.to_string(),
    );
    let mut args = vec![
        "generate",
        "--rate",
        "0",
        "--count",
        &count,
        "--events-per-second",
        &rate,
        "--start-time",
        &start,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--output", output.to_str().unwrap()]);
    binary(&args);
}

/// Every record of `topic` as (partition, offset, JSON value), read to the end.
pub fn read_topic(topic: &str) -> Vec<(i32, i64, Value)> {
    let group = format!("reader-{topic}");
    let mut source = KafkaSource::connect(
        &kafka_settings(),
        topic,
        &group,
        &Start::At(StartFrom::Earliest),
    )
    .unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !source.all_at_end() {
        assert!(Instant::now() < deadline, "timed out reading {topic}");
        if let Some(r) = source.next_record().unwrap() {
            let value = serde_json::from_slice(r.payload.unwrap_or_default()).unwrap();
            records.push((r.partition, r.offset, value));
        }
    }
    records
}

/// The window objects without `processing_time`, as sorted strings.
pub fn comparable(windows: impl Iterator<Item = Value>) -> Vec<String> {
    let mut out: Vec<String> = windows
        .map(|mut w| {
            w.as_object_mut()
                .unwrap()
                .remove("processing_time")
                .expect("has processing_time");
            w.to_string()
        })
        .collect();
    out.sort();
    out
}

/// Runs `scripts/<service>.sh <action>` (start, stop, …) and asserts that it succeeds.
pub fn service_script(service: &str, action: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../scripts/{service}.sh"));
    let status = Command::new("bash")
        .arg(script)
        .arg(action)
        .status()
        .unwrap();
    assert!(status.success(), "scripts/{service}.sh {action} failed");
}

/// A shared service (`kafka`, `hdfs`) that a test stopped: started again when this is dropped,
/// however the test ends, so that a failure leaves it running for the tests after it.
pub struct ServiceAway {
    service: &'static str,
}

impl ServiceAway {
    /// Stops `service` (`scripts/<service>.sh stop`).
    pub fn stop(service: &'static str) -> ServiceAway {
        service_script(service, "stop");
        ServiceAway { service }
    }

    /// Starts it again now.
    pub fn start(self) {}
}

impl Drop for ServiceAway {
    fn drop(&mut self) {
        service_script(self.service, "start");
    }
}
