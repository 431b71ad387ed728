//! `ratings-stream verify` against the real broker: a healthy live deployment passes every
//! check; a stopped processor while input flows, a missing topic and an unreachable broker each
//! give a FAIL line with the cause (and exit status 1), within seconds. One test stops and
//! restarts the shared HDFS (`scripts/hdfs.sh`); no other test of this binary uses HDFS, and
//! cargo runs test binaries one after another.

mod common;

use std::time::{Duration, Instant};

use common::eos::{input_topic, start_generator};
use common::process::{spawn, Spawned};
use common::{output_of, temp_dir, unique_name, OutputTopics};

/// `verify` with the run arguments `run_args` (first one `run`) and `extra`: exit success, stdout.
fn verify(run_args: &[String], extra: &[&str]) -> (bool, String) {
    let mut args: Vec<&str> = vec!["verify", "--observe", "3s"];
    args.extend(run_args.iter().skip(1).map(String::as_str));
    args.extend_from_slice(extra);
    let out = output_of(&args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The line of the check whose name starts with `name`.
fn line<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no {name} line in:\n{report}"))
}

/// How long `verify` may take with a service away: each of its checks gives up after a few
/// seconds (a hang would be forever), however busy the machine.
const NO_HANG: Duration = Duration::from_secs(120);

/// A live deployment: a topic fed by `start_generator` (`count` records) and a processor
/// reading it with `options` (and no metrics endpoint); its generator, processor and run args.
struct Deployment {
    generator: Spawned,
    processor: Spawned,
    run_args: Vec<String>,
}

impl Deployment {
    fn start(test: &str, count: u64, options: &[&str]) -> Deployment {
        let input = input_topic(test);
        let outputs = OutputTopics::create(&unique_name(test));
        let generator = start_generator(&input, count);
        let mut run_args = outputs.run_args(&input);
        run_args.extend(options.iter().map(|o| o.to_string()));
        run_args.extend(["--metrics-address", "off"].map(String::from));
        let processor = spawn(
            common::ratings_stream()
                .args(&run_args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        );
        Deployment {
            generator,
            processor,
            run_args,
        }
    }
}

#[test]
fn a_healthy_deployment_passes_and_a_stopped_processor_fails_while_input_flows() {
    let checkpoint = temp_dir(&unique_name("verify-checkpoint"));
    let Deployment {
        mut generator,
        mut processor,
        run_args,
    } = Deployment::start(
        "verify",
        400_000,
        &["--checkpoint-storage", checkpoint.to_str().unwrap()],
    );
    // healthy once windows flow: every check passes
    let deadline = Instant::now() + Duration::from_secs(180);
    let report = loop {
        let (passed, report) = verify(&run_args, &[]);
        if passed && !report.contains("none due yet") {
            break report;
        }
        assert!(Instant::now() < deadline, "never healthy:\n{report}");
        std::thread::sleep(Duration::from_secs(1));
    };
    let lines: Vec<&str> = report.lines().collect();
    let (checks, summary) = lines.split_at(lines.len() - 1);
    assert!(checks.iter().all(|l| l.starts_with("PASS")), "{report}");
    let n = checks.len();
    assert_eq!(
        summary[0],
        format!("{n} checks: {n} passed, 0 warnings, 0 failed")
    );
    // broker, 4 topics (input, metrics, dead letters, late), windows, dead letters, group,
    // checkpoint, Parquet (none configured)
    assert_eq!(n, 10, "{report}");
    // committed over the observation (3 s, more if the checks between its readings were slow)
    let observed: u64 = line(&report, "group")
        .split(" records committed in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no observation in {report}"));
    assert!(observed >= 3, "{report}");
    assert!(
        line(&report, "windows on").contains("newest ends"),
        "{report}"
    );
    assert!(
        line(&report, "checkpoint").contains("committed"),
        "{report}"
    );
    // the generator sends 2% late and 1% malformed records: counted by reason
    let dead = line(&report, "dead letters");
    assert!(
        dead.contains("late ") && dead.contains("in the last 15 min"),
        "{report}"
    );
    let (passed, strict) = verify(&run_args, &["--dead-letter-warn", "0.005"]);
    assert!(passed, "a warning does not fail: {strict}");
    let dead = line(&strict, "dead letters");
    assert!(
        dead.starts_with("WARN") && dead.contains("→ above 0.5%"),
        "{strict}"
    );

    // the processor dies while the input keeps flowing: its group is stuck
    processor.kill();
    std::thread::sleep(Duration::from_secs(1));
    let (passed, report) = verify(&run_args, &[]);
    assert!(!passed, "{report}");
    let group = line(&report, "group");
    assert!(
        group.starts_with("FAIL") && group.contains("stuck: lag"),
        "{report}"
    );
    assert!(
        group.contains("→ the processor is stopped or stuck"),
        "{report}"
    );

    // a damaged file of the latest committed epoch is named
    let folder = checkpoint.join(ratings_connectors::checkpoint::DEFAULT_DIR);
    let newest = |kind: &str| {
        std::fs::read_dir(folder.join(kind))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .max()
            .unwrap()
    };
    let committed = newest("commits");
    std::fs::write(
        folder.join("state").join(committed.to_string()),
        b"RSCKPT 1 state 0 3\nxyz",
    )
    .unwrap();
    let (passed, report) = verify(&run_args, &[]);
    assert!(!passed);
    let damaged = line(&report, "checkpoint");
    assert!(
        damaged.starts_with("FAIL") && damaged.contains("is damaged"),
        "{report}"
    );
    assert!(damaged.contains(&format!("state/{committed}")), "{report}");
    generator.kill();
}

#[test]
fn a_missing_topic_fails_with_what_to_do() {
    let input = input_topic("verify-missing");
    let outputs = OutputTopics::create(&unique_name("verify-missing"));
    let missing = unique_name("no-such-metrics");
    let mut run_args = outputs.run_args(&input);
    let at = run_args
        .iter()
        .position(|a| a == "--metrics-topic")
        .unwrap();
    run_args[at + 1] = missing.clone();
    let (passed, report) = verify(&run_args, &[]);
    assert!(!passed);
    let topic = line(&report, &format!("topic {missing}"));
    assert!(
        topic.starts_with("FAIL") && topic.contains("does not exist (windows)"),
        "{report}"
    );
    assert!(topic.contains("or correct --metrics-topic"), "{report}");
    assert!(
        line(&report, &format!("topic {input}")).starts_with("PASS"),
        "{report}"
    );
}

#[test]
fn an_unreachable_broker_is_one_fail_line_within_seconds() {
    let started = Instant::now();
    let empty = temp_dir(&unique_name("verify-no-checkpoint"));
    let out = output_of(&[
        "verify",
        "--bootstrap-servers",
        "127.0.0.1:1",
        "--checkpoint-storage",
        empty.to_str().unwrap(),
    ]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(started.elapsed() < NO_HANG, "took {:?}", started.elapsed());
    let broker = line(&report, "broker");
    assert!(
        broker.starts_with("FAIL") && broker.contains("cannot reach Kafka at 127.0.0.1:1"),
        "{report}"
    );
    // the checkpoint is looked at all the same: there is none here
    assert!(
        line(&report, "checkpoint").contains("no committed epoch"),
        "{report}"
    );
    assert!(
        report.ends_with("3 checks: 1 passed, 0 warnings, 2 failed\n"),
        "{report}"
    );
    // a mistyped checkpoint folder: named, and not created
    let typo = empty.with_extension("typo");
    let out = output_of(&[
        "verify",
        "--bootstrap-servers",
        "127.0.0.1:1",
        "--checkpoint-storage",
        typo.to_str().unwrap(),
    ]);
    let report = String::from_utf8_lossy(&out.stdout);
    let checkpoint = line(&report, "checkpoint");
    assert!(
        checkpoint.starts_with("FAIL")
            && checkpoint.contains(&format!("no folder {}", typo.display())),
        "{report}"
    );
    assert!(!typo.exists(), "verify created {}", typo.display());
    let json = output_of(&["verify", "--json", "--bootstrap-servers", "127.0.0.1:1"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["passed"], false);
    assert_eq!(json["checks"][0]["status"], "FAIL");
}

/// Files under `folder` whose name ends with `suffix`, recursively.
fn files_named(folder: &std::path::Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_named(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    found
}

#[test]
fn the_parquet_outputs_are_checked_and_a_deleted_file_or_marker_is_found() {
    let storage = temp_dir(&unique_name("verify-parquet-storage"));
    let Deployment {
        mut generator,
        processor,
        run_args,
    } = Deployment::start(
        "verify-parquet",
        300_000,
        &[
            "--storage",
            storage.to_str().unwrap(),
            "--roll-interval",
            "5s",
        ],
    );
    // until the raw dataset has a closed hour and both aggregates have files
    let raw = storage.join("streams/ratings/raw");
    let aggregates = storage.join("streams/ratings/agg");
    let deadline = Instant::now() + Duration::from_secs(120);
    while files_named(&raw, "_SUCCESS").is_empty()
        || files_named(&aggregates.join("tumbling"), ".parquet").is_empty()
        || files_named(&aggregates.join("sliding"), ".parquet").is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "no hour closed, or no aggregates"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    generator.kill();
    common::signal("-TERM", processor.id());
    let stopped = processor.wait_with_output();
    assert!(stopped.status.success());
    let (_, report) = verify(&run_args, &[]);
    for dataset in ["raw", "agg/tumbling", "agg/sliding"] {
        let line = line(&report, &format!("parquet streams/ratings/{dataset}"));
        assert!(
            line.starts_with("PASS") && line.contains("readable"),
            "{report}"
        );
    }
    assert!(
        line(&report, "published files").starts_with("PASS"),
        "{report}"
    );

    // a marker of a closed hour deleted
    let marker = &files_named(&raw, "_SUCCESS")[0];
    std::fs::remove_file(marker).unwrap();
    let (passed, report) = verify(&run_args, &[]);
    assert!(!passed);
    let raw_line = line(&report, "parquet streams/ratings/raw");
    assert!(
        raw_line.starts_with("FAIL") && raw_line.contains("closed hours without _SUCCESS: 1"),
        "{report}"
    );

    // a file the latest committed epoch published, deleted
    let folder = storage.join(ratings_connectors::checkpoint::DEFAULT_DIR);
    let mut published = Vec::new();
    for entry in std::fs::read_dir(folder.join("commits")).unwrap().flatten() {
        let epoch = entry.file_name().to_string_lossy().to_string();
        let text = std::fs::read_to_string(folder.join("offsets").join(&epoch)).unwrap();
        let body: serde_json::Value =
            serde_json::from_str(text.split_once('\n').unwrap().1).unwrap();
        for path in body["publications"].as_array().unwrap() {
            let path = path.as_str().unwrap();
            if path.ends_with(".parquet") {
                published.push(path.to_string());
            }
        }
    }
    let gone = published.first().expect("a kept epoch published a file");
    std::fs::remove_file(storage.join(gone)).unwrap();
    let (passed, report) = verify(&run_args, &[]);
    assert!(!passed);
    let files = line(&report, "published files");
    assert!(
        files.starts_with("FAIL") && files.contains(gone.as_str()),
        "{report}"
    );
}

#[test]
fn a_storage_that_does_not_answer_is_a_fail_line_not_a_hang() {
    // a NameNode that accepts connections and never answers (hung), then one where nothing
    // listens (down): each a FAIL line with its cause, within seconds
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung = format!("hdfs://{}/data", silent.local_addr().unwrap());
    let down = format!("hdfs://127.0.0.1:{}/data", common::browser::free_port());
    for (hdfs, cause) in [
        (&hung, format!("storage {hung} did not answer")),
        (&down, "Connection refused".to_string()),
    ] {
        let started = Instant::now();
        let out = output_of(&[
            "verify",
            "--bootstrap-servers",
            &common::bootstrap(),
            "--observe",
            "1s",
            "--storage",
            hdfs,
        ]);
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success());
        assert!(started.elapsed() < NO_HANG, "took {:?}", started.elapsed());
        for check in ["checkpoint", "parquet"] {
            let line = line(&report, check);
            assert!(
                line.starts_with("FAIL") && line.contains(&cause),
                "{report}"
            );
            assert!(line.contains("reachable"), "{report}");
        }
    }
}

/// Whether every check of `report` passed and the audit compared windows of every type.
fn audited_and_passed(report: &str) -> bool {
    let lines: Vec<&str> = report.lines().collect();
    let checks = &lines[..lines.len().saturating_sub(1)];
    checks.iter().all(|l| l.starts_with("PASS"))
        && checks.iter().any(|l| l.starts_with("PASS  audit "))
        && !report.contains(" 0 windows equal")
}

#[test]
fn a_deployment_on_hdfs_passes_the_audit_and_hdfs_down_fails_within_seconds() {
    let hdfs = std::env::var("HDFS_URL").expect("HDFS_URL is not set: run scripts/test.sh");
    let storage = format!("{hdfs}/{}", unique_name("verify-hdfs"));
    let Deployment {
        mut generator,
        processor,
        run_args,
    } = Deployment::start(
        "verify-hdfs",
        300_000,
        &["--storage", &storage, "--roll-interval", "2s"],
    );
    // healthy once an hour has closed: every check passes, the audit included
    let deadline = Instant::now() + Duration::from_secs(150);
    let report = loop {
        let (passed, report) = verify(&run_args, &["--audit"]);
        if passed && audited_and_passed(&report) {
            break report;
        }
        assert!(Instant::now() < deadline, "never healthy:\n{report}");
        std::thread::sleep(Duration::from_secs(2));
    };
    for dataset in ["raw", "agg/tumbling", "agg/sliding"] {
        let line = line(&report, &format!("parquet streams/ratings/{dataset}"));
        assert!(line.contains("readable"), "{report}");
    }
    for name in ["audit tumbling_1min Parquet", "audit sliding_5min_1min on"] {
        assert!(
            line(&report, name).contains("windows equal the raw data"),
            "{report}"
        );
    }
    generator.kill();
    common::signal("-TERM", processor.id());
    assert!(processor.wait_with_output().status.success());

    // HDFS down: FAIL lines naming the storage, within seconds, no hang
    let away = common::ServiceAway::stop("hdfs");
    let started = Instant::now();
    let (passed, report) = verify(&run_args, &["--audit"]);
    let took = started.elapsed();
    away.start();
    assert!(!passed, "{report}");
    assert!(took < NO_HANG, "took {took:?}:\n{report}");
    for check in ["checkpoint", "parquet", "audit"] {
        let line = line(&report, check);
        assert!(
            line.starts_with("FAIL") && line.contains("reachable"),
            "{report}"
        );
    }
}
