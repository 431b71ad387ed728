//! Helpers of the exactly-once tests: a processor's own outputs (topics, group, storage), the
//! deterministic generator, and the comparison of every committed output of two processors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use ratings_connectors::kafka::ensure_topics;
use ratings_connectors::storage::Storage;

use super::process::{spawn, Spawned};
use super::{
    binary, bootstrap, comparable, kafka_settings, ratings_stream, read_topic, temp_dir,
    OutputTopics,
};

/// 2023-11-14T22:13:00Z.
pub const B: i64 = 1_699_999_980;

/// One processor's topics, consumer group (also its transactional id) and storage.
pub struct Outputs {
    pub topics: OutputTopics,
    /// Storage URL of the Parquet outputs and the checkpoint.
    pub storage: String,
    /// A local folder for logs and summaries.
    pub dir: PathBuf,
    /// Options of every run of this processor.
    pub options: Vec<&'static str>,
}

impl Outputs {
    /// Outputs on a local folder.
    pub fn new(input: &str, name: &str) -> Outputs {
        let dir = temp_dir(&format!("{input}-{name}"));
        Outputs::on(input, name, &dir.join("storage").display().to_string())
    }

    /// Outputs on the storage at `url`.
    pub fn on(input: &str, name: &str, url: &str) -> Outputs {
        Outputs {
            topics: OutputTopics::create(&format!("{input}-{name}")),
            storage: url.to_string(),
            dir: temp_dir(&format!("{input}-{name}-scratch")),
            options: Vec::new(),
        }
    }

    /// The same with `options` on every run.
    pub fn with(mut self, options: &[&'static str]) -> Outputs {
        self.options.extend_from_slice(options);
        self
    }

    /// The processor's command line over `input`: Parquet on, short roll and progress
    /// intervals, and 200 ms epochs unless `extra` or the options choose otherwise.
    pub fn args(&self, input: &str, extra: &[&str]) -> Vec<String> {
        let mut args = self.topics.run_args(input);
        for (flag, value) in [
            ("--storage", self.storage.as_str()),
            ("--roll-interval", "2s"),
            ("--progress-interval", "2s"),
        ] {
            args.extend([flag.to_string(), value.to_string()]);
        }
        let chosen: Vec<&str> = extra.iter().chain(&self.options).copied().collect();
        for (flag, value) in [("--metrics-address", "off"), ("--commit-interval", "200ms")] {
            if !chosen.contains(&flag) {
                args.extend([flag.to_string(), value.to_string()]);
            }
        }
        args.extend(self.options.iter().map(|s| s.to_string()));
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Runs the processor until the input is read to its end; its log.
    pub fn run_to_end(&self, input: &str) -> String {
        let args = self.args(input, &["--exit-at-end"]);
        let out = binary(&args.iter().map(String::as_str).collect::<Vec<_>>());
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Starts the processor in the background, its log appended to `log`.
    pub fn spawn(&self, input: &str, log: &std::path::Path, extra: &[&str]) -> Spawned {
        spawn(&mut self.command(input, log, extra))
    }

    /// The same with an environment variable set.
    pub fn spawn_with_env(
        &self,
        input: &str,
        log: &std::path::Path,
        (name, value): (&str, &str),
    ) -> Spawned {
        spawn(self.command(input, log, &[]).env(name, value))
    }

    fn command(&self, input: &str, log: &std::path::Path, extra: &[&str]) -> std::process::Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut command = ratings_stream();
        command
            .args(self.args(input, extra))
            .stdout(Stdio::null())
            .stderr(log);
        command
    }
}

/// A fresh input topic name.
pub fn input_topic(test: &str) -> String {
    let topic = super::unique_name(test);
    ensure_topics(&kafka_settings(), &[(topic.as_str(), 3)]).unwrap();
    topic
}

/// `generate` of `count` records from `B` on at `rate` a second (0: at once), `per_second`
/// of event time, 2% late and 1% malformed, with `seed`, to the test broker.
pub fn generate_args(count: u64, rate: u32, per_second: u32, seed: u64) -> Vec<String> {
    let flags = [
        ("--rate", rate.to_string()),
        ("--events-per-second", per_second.to_string()),
        ("--count", count.to_string()),
        ("--seed", seed.to_string()),
        ("--start-time", B.to_string()),
        ("--late-fraction", "0.02".into()),
        ("--malformed-fraction", "0.01".into()),
        ("--bootstrap-servers", bootstrap()),
    ];
    std::iter::once("generate".to_string())
        .chain(flags.into_iter().flat_map(|(f, v)| [f.to_string(), v]))
        .collect()
}

/// Starts `generate`: `count` records at 2,500/s, event time 100× faster than the clock,
/// 2% late and 1% malformed.
pub fn start_generator(topic: &str, count: u64) -> Spawned {
    spawn(
        ratings_stream()
            .args(generate_args(count, 2500, 25, 11))
            .args(["--ratings-topic", topic])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Dead-letter or late records without `detail` (it names the watermark at that moment,
/// which depends on how far the processor had read), sorted.
pub fn records(topic: &str) -> Vec<String> {
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

/// Every row of the Parquet files under `root` of the storage at `url` (hidden and `_`
/// folders skipped), rendered by `render`, sorted.
pub fn parquet_rows(
    url: &str,
    root: &str,
    render: &dyn Fn(&arrow_array::RecordBatch, usize) -> String,
) -> Vec<String> {
    let storage = Storage::open(url).unwrap();
    let mut rows = Vec::new();
    for (path, batches) in super::parquet_files(&storage, root) {
        let hidden = path
            .split('/')
            .any(|p| p.starts_with('_') || p.starts_with('.'));
        if hidden {
            continue;
        }
        for batch in batches {
            rows.extend((0..batch.num_rows()).map(|i| render(&batch, i)));
        }
    }
    rows.sort();
    rows
}

/// `_SUCCESS` markers under `root` of the storage at `url`, sorted.
fn markers(url: &str, root: &str) -> Vec<String> {
    let storage = Storage::open(url).unwrap();
    let mut out: Vec<String> = storage
        .list(root)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.ends_with("/_SUCCESS"))
        .collect();
    out.sort();
    out
}

/// A raw row without its `watermark`: that depends on how the partitions' records interleave,
/// which differs between runs (the windows and late records compared here do not, for this
/// input); the audit checks it against each run's own windows.
pub fn raw_row(batch: &arrow_array::RecordBatch, i: usize) -> String {
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

/// Compares every committed output of two processors; prints the counts compared.
pub fn assert_same_outputs(tested: &Outputs, reference: &Outputs) {
    let mut counts = BTreeMap::new();
    assert_same_windows(tested, reference, &mut counts);
    for (what, of) in [("dead letters", 0), ("late records", 1)] {
        let topic = |o: &Outputs| {
            if of == 0 {
                o.topics.dead.clone()
            } else {
                o.topics.late.clone()
            }
        };
        let (got, want) = (records(&topic(tested)), records(&topic(reference)));
        counts.insert(what, (got.len(), want.len()));
        assert!(!want.is_empty(), "the reference run has no {what}");
        assert_eq!(got, want, "{what} differ");
    }
    assert_same_parquet(tested, reference, &mut counts);
    for (what, (got, want)) in &counts {
        eprintln!("compared {what}: {got} after the faults, {want} uninterrupted");
    }
}

/// What was compared: (tested, reference) counts by output.
pub type Counts = BTreeMap<&'static str, (usize, usize)>;

/// Compares the windows of two processors' `metrics` topics.
pub fn assert_same_windows(tested: &Outputs, reference: &Outputs, counts: &mut Counts) {
    let windows =
        |o: &Outputs| comparable(read_topic(&o.topics.metrics).into_iter().map(|(_, _, w)| w));
    let (got, want) = (windows(tested), windows(reference));
    counts.insert("metrics windows", (got.len(), want.len()));
    assert!(!want.is_empty(), "the reference run emitted no window");
    assert_eq!(got, want, "windows in metrics differ");
}

/// Compares the Parquet rows and `_SUCCESS` markers of two processors.
pub fn assert_same_parquet(tested: &Outputs, reference: &Outputs, counts: &mut Counts) {
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
        let got = parquet_rows(&tested.storage, root, render);
        let want = parquet_rows(&reference.storage, root, render);
        counts.insert(what, (got.len(), want.len()));
        assert!(!want.is_empty(), "the reference run wrote no {what} rows");
        assert!(
            got == want,
            "{what} Parquet rows differ: {}",
            difference(&got, &want)
        );
        let (got, want) = (
            markers(&tested.storage, root),
            markers(&reference.storage, root),
        );
        assert_eq!(got, want, "{what} _SUCCESS markers differ");
    }
}

/// The processor's command over `input`, run to the end; its output.
pub fn run_once(outputs: &Outputs, input: &str, extra: &[&str]) -> std::process::Output {
    let mut args = outputs.args(input, &["--exit-at-end", "--summary-file"]);
    args.push(outputs.dir.join("summary.json").display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    ratings_stream().args(&args).output().unwrap()
}

pub fn records_in(outputs: &Outputs) -> u64 {
    let text = std::fs::read_to_string(outputs.dir.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    summary["records"].as_u64().unwrap()
}

/// The value of a Prometheus metric on `port` (0 while nothing answers).
pub fn metric(port: u16, name: &str) -> f64 {
    super::scrape(port)
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Waits until the metric reaches `at_least`.
pub fn wait_until(port: u16, name: &str, at_least: f64, within: std::time::Duration) {
    super::poll(within, || match metric(port, name) {
        reached if reached >= at_least => Ok(()),
        below => Err(format!("{name} stayed below {at_least}: {below}")),
    });
}

/// Waits until the processor has read everything: no consumer lag in two readings of the
/// metrics (refreshed every second) two seconds apart.
fn wait_for_no_lag(port: u16, within: std::time::Duration) {
    let deadline = std::time::Instant::now() + within;
    let lag = || {
        super::scrape(port)
            .lines()
            .find_map(|l| l.strip_prefix("ratings_stream_consumer_lag_records "))
            .map(|v| v.trim().to_string())
    };
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the lag never reached 0"
        );
        if lag().as_deref() == Some("0") {
            std::thread::sleep(std::time::Duration::from_secs(2));
            if lag().as_deref() == Some("0") {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// The outage scenario: the processor runs live while the generator writes `count` records;
/// once it has read a third of them, `outage(metrics port, pid)` takes a service away (or
/// stalls the processor) and brings it back; once
/// everything is read, SIGTERM stops it and a last run reads to the end. An uninterrupted
/// reference run over the same input must give the same outputs. Returns the live run's log.
pub fn run_through_outage(
    input: &str,
    tested: &Outputs,
    reference: &Outputs,
    count: u64,
    outage: impl FnOnce(u16, u32),
) -> String {
    let log = tested.dir.join("processor.log");
    let processor = tested.spawn(input, &log, &["--metrics-address", "127.0.0.1:0"]);
    let within = std::time::Duration::from_secs(180);
    let port = super::metrics_port(&log, within);
    // the input flows once the processor is up: the outage meets it busy, whatever its start took
    let mut generator = start_generator(input, count);
    wait_until(
        port,
        "ratings_stream_records_in_total",
        (count / 3) as f64,
        within,
    );
    outage(port, processor.id());
    assert!(generator.wait().success(), "generate failed");
    wait_for_no_lag(port, within);
    let text = super::stop_with_sigterm(processor, &log);
    tested.run_to_end(input);
    reference.run_to_end(input);
    assert_same_outputs(tested, reference);
    text
}

/// How two sorted row lists differ: counts, and a few rows missing or extra.
fn difference(got: &[String], want: &[String]) -> String {
    let count = |rows: &[String]| {
        let mut map = BTreeMap::new();
        for row in rows {
            *map.entry(row.clone()).or_insert(0i64) += 1;
        }
        map
    };
    let (got, want) = (count(got), count(want));
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    for row in want.keys().chain(got.keys()) {
        let n = got.get(row).copied().unwrap_or(0) - want.get(row).copied().unwrap_or(0);
        if n < 0 && missing.len() < 10 {
            missing.push(format!("{row} ×{}", -n));
        } else if n > 0 && extra.len() < 10 {
            extra.push(format!("{row} ×{n}"));
        }
    }
    format!(
        "{} rows vs {} expected; missing (up to 10): {missing:?}; extra (up to 10): {extra:?}",
        got.values().sum::<i64>(),
        want.values().sum::<i64>()
    )
}

/// `verify --audit` (and `extra`) of a processor's outputs over `input`: exit success, stdout.
pub fn audit(outputs: &Outputs, input: &str, extra: &[&str]) -> (bool, String) {
    let run = outputs.args(input, &[]);
    let mut args: Vec<&str> = vec!["verify", "--observe", "1s", "--audit"];
    args.extend(run.iter().skip(1).map(String::as_str));
    args.extend_from_slice(extra);
    let out = super::output_of(&args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The report's lines of the audit (`audit …` checks), with their details.
pub fn audit_lines(report: &str) -> Vec<&str> {
    report
        .lines()
        .filter(|l| l.get(6..).is_some_and(|rest| rest.starts_with("audit")))
        .collect()
}

/// Asserts that the audit of `outputs` compared windows of every type with the Parquet rows
/// and the metrics topic and found no difference.
pub fn assert_audit_passes(outputs: &Outputs, input: &str) {
    let (passed, report) = audit(outputs, input, &[]);
    let lines = audit_lines(&report);
    assert!(passed, "{report}");
    eprintln!("{}", lines.join("\n"));
    assert_eq!(lines.len(), 5, "{report}");
    for line in &lines {
        assert!(line.starts_with("PASS"), "{report}");
    }
    for line in &lines[1..] {
        let words: Vec<&str> = line.split_whitespace().collect();
        let windows: u64 = words
            .windows(2)
            .find(|w| w[1] == "windows")
            .and_then(|w| w[0].parse().ok())
            .unwrap_or_else(|| panic!("no window count in {line}"));
        assert!(windows > 0, "{report}");
    }
}

/// Adds one to the `count` of the first row of the first tumbling aggregate file on
/// `storage` (of a Delta table: of its latest version); returns the row's window start
/// (RFC 3339) and its count before.
pub fn alter_an_aggregate_row(storage: &str) -> (String, i64) {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch};

    let storage = Storage::open(storage).unwrap();
    let root = ratings_connectors::parquet::TUMBLING_ROOT;
    let mut files =
        super::delta::table_files(&storage, root).unwrap_or_else(|| storage.list(root).unwrap());
    files.retain(|f| f.ends_with(".parquet"));
    files.sort();
    let file = files.first().expect("a tumbling aggregate file");
    let batches = ratings_connectors::parquet::decode(&storage.read(file).unwrap()).unwrap();
    let batch = &batches[0];
    let index = batch.schema().index_of("count").unwrap();
    let counts = batch.column(index).as_primitive::<Int64Type>();
    let before = counts.value(0);
    let altered: Int64Array = (0..counts.len())
        .map(|i| counts.value(i) + i64::from(i == 0))
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(altered);
    let altered = RecordBatch::try_new(batch.schema(), columns).unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(Vec::new(), batch.schema(), None).unwrap();
    for batch in std::iter::once(&altered).chain(&batches[1..]) {
        writer.write(batch).unwrap();
    }
    storage.publish(file, writer.into_inner().unwrap()).unwrap();
    let start = batch
        .column(batch.schema().index_of("window_start").unwrap())
        .as_primitive::<TimestampMicrosecondType>()
        .value(0);
    (
        ratings_core::time::rfc3339_seconds(start / 1_000_000),
        before,
    )
}

/// Asserts that the audit of `outputs` finds exactly the row [`alter_an_aggregate_row`]
/// changed: one difference, in the tumbling Parquet rows, naming the window and both counts.
pub fn assert_audit_finds_the_altered_row(outputs: &Outputs, input: &str) {
    let (start, before) = alter_an_aggregate_row(&outputs.storage);
    let (passed, report) = audit(outputs, input, &[]);
    assert!(!passed, "{report}");
    let failed: Vec<&str> = audit_lines(&report)
        .into_iter()
        .filter(|l| !l.starts_with("PASS"))
        .collect();
    assert_eq!(failed.len(), 1, "{report}");
    assert!(
        failed[0].starts_with("FAIL  audit tumbling_1min Parquet")
            && failed[0].contains("1 differences"),
        "{report}"
    );
    let detail = format!(
        "· tumbling_1min [{start}, {}): count {} (raw data: {before})",
        ratings_core::time::rfc3339_seconds(
            ratings_core::time::parse_rfc3339_seconds(&start).unwrap() + 60
        ),
        before + 1
    );
    assert!(report.contains(&detail), "{detail} not in:\n{report}");
}
