//! A secured broker: the test broker's SASL_SSL listener (SCRAM-SHA-512 over TLS, a test CA;
//! `scripts/kafka.sh`). With the right settings `generate`, `replay`, an exactly-once `run`,
//! `verify` and `dashboard` work through it, and the password appears in none of their
//! outputs (stdout, stderr, progress JSON, `/metrics`, the dashboard's API, checkpoint files);
//! a wrong password or a CA the broker's certificate is not signed by fails within seconds,
//! naming the cause.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::dashboard::DashboardProcess;
use common::eos::{input_topic, Outputs};

/// The SASL_SSL listener's address and credentials (`scripts/kafka.sh sasl-env`).
struct Secured {
    bootstrap: String,
    user: String,
    password: String,
    ca: String,
    other_ca: String,
}

fn secured() -> Secured {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run scripts/test.sh, or export $(scripts/kafka.sh sasl-env)")
        })
    };
    Secured {
        bootstrap: var("KAFKA_SASL_BOOTSTRAP"),
        user: var("KAFKA_SASL_USER"),
        password: var("KAFKA_SASL_PASSWORD"),
        ca: var("KAFKA_SASL_CA"),
        other_ca: var("KAFKA_OTHER_CA"),
    }
}

impl Secured {
    /// `RATINGS_KAFKA_PROPERTIES` with `password` and the CA file `ca`.
    fn properties(&self, password: &str, ca: &str) -> String {
        format!(
            "security.protocol=SASL_SSL;sasl.mechanism=SCRAM-SHA-512;sasl.username={};\
             sasl.password={password};ssl.ca.location={ca}",
            self.user
        )
    }

    /// `ratings-stream` with `args` against the secured listener: the password and CA given
    /// in the environment, never on the command line.
    fn command(&self, args: &[&str], password: &str, ca: &str) -> Command {
        let mut command = common::ratings_stream();
        command
            .args(args)
            .env("RATINGS_KAFKA_PROPERTIES", self.properties(password, ca))
            .env("RATINGS_BOOTSTRAP_SERVERS", &self.bootstrap);
        command
    }

    fn output(&self, args: &[&str]) -> Output {
        let out = self
            .command(args, &self.password, &self.ca)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {text}");
        out
    }
}

/// A processor's `run` arguments over `input` without the broker address (it comes from the
/// environment).
fn run_args(outputs: &Outputs, input: &str, extra: &[&str]) -> Vec<String> {
    let mut args = outputs.args(input, extra);
    let at = args
        .iter()
        .position(|a| a == "--bootstrap-servers")
        .unwrap();
    args.drain(at..at + 2);
    args
}

/// Every file under `dir`, as bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

#[test]
fn every_command_works_over_sasl_ssl_and_no_output_holds_the_password() {
    let secured = secured();
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    let input = input_topic("sasl");
    let generated = secured.output(&[
        "generate",
        "--ratings-topic",
        &input,
        "--rate",
        "0",
        "--count",
        "20000",
        "--events-per-second",
        "20",
        "--start-time",
        "1699999980",
        "--seed",
        "4",
        "--malformed-fraction",
        "0.01",
    ]);
    seen.push((
        "generate".into(),
        [generated.stdout, generated.stderr].concat(),
    ));

    // replay: the first 2,000 MovieLens ratings
    let replayed = input_topic("sasl-replay");
    let csv = common::temp_dir("sasl-replay").join("ratings.csv");
    let text = std::fs::read_to_string(common::movielens_dir().join("ratings.csv")).unwrap();
    std::fs::write(
        &csv,
        text.lines().take(2_001).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let replay = secured.output(&[
        "replay",
        "--input",
        csv.to_str().unwrap(),
        "--ratings-topic",
        &replayed,
    ]);
    seen.push(("replay".into(), [replay.stdout, replay.stderr].concat()));
    assert_eq!(common::read_topic(&replayed).len(), 2_000);

    // run, exactly-once, with progress JSON and /metrics, until everything is read
    let tested = Outputs::new(&input, "sasl");
    let log = tested.dir.join("run.log");
    let args = run_args(
        &tested,
        &input,
        &["--metrics-address", "127.0.0.1:0", "--progress-json"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = common::process::spawn(
        secured
            .command(&args, &secured.password, &secured.ca)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    let port = common::metrics_port(&log, Duration::from_secs(30));
    common::eos::wait_until(
        port,
        "ratings_stream_records_in_total",
        20_000.0,
        Duration::from_secs(60),
    );
    seen.push(("/metrics".into(), common::scrape(port).into_bytes()));

    // verify and the dashboard, while it runs
    let mut verify_args = vec!["verify", "--observe", "2s"];
    verify_args.extend(args.iter().skip(1));
    let verify = secured
        .command(&verify_args, &secured.password, &secured.ca)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout).into_owned();
    assert!(
        report.lines().any(|l| l.starts_with("PASS  broker")),
        "{report}"
    );
    assert!(report.contains(&format!("PASS  topic {input}")), "{report}");
    seen.push(("verify".into(), [verify.stdout, verify.stderr].concat()));
    let property = |key: &str, value: &str| format!("{key}={value}");
    let dashboard_properties = [
        property("security.protocol", "SASL_SSL"),
        property("sasl.mechanism", "SCRAM-SHA-512"),
        property("sasl.username", &secured.user),
        property("sasl.password", &secured.password),
        property("ssl.ca.location", &secured.ca),
    ];
    let mut dashboard_args = vec![
        "dashboard",
        "--metrics-topic",
        &tested.topics.metrics,
        "--listen",
        "127.0.0.1:0",
        "--bootstrap-servers",
        &secured.bootstrap,
    ];
    for p in &dashboard_properties {
        dashboard_args.extend(["--kafka-property", p]);
    }
    let dashboard = DashboardProcess::spawn(&dashboard_args);
    // it reads the windows (2023's: older than the history it keeps, so none is kept)
    let status = dashboard.wait_status(Duration::from_secs(60), "windows over SASL_SSL", |s| {
        s["feed"]["backfilled"] == true && s["feed"]["records"].as_u64().unwrap_or(0) > 0
    });
    seen.push(("dashboard status".into(), status.to_string().into_bytes()));
    for path in [
        "/",
        "/app.js",
        "/app.css",
        "/api/windows?range=7d",
        "/api/windows.csv?range=7d",
        "/api/alerts",
        "/api/no-such-route",
    ] {
        seen.push((
            format!("dashboard {path}"),
            dashboard.get(path).1.into_bytes(),
        ));
    }
    seen.push((
        "dashboard log".into(),
        std::fs::read(&dashboard.log).unwrap(),
    ));
    dashboard.kill();

    let text = common::stop_with_sigterm(run, &log);
    assert!(text.contains("\"numInputRows\""), "progress JSON: {text}");
    seen.push(("run log".into(), text.into_bytes()));
    let windows = common::read_topic(&tested.topics.metrics);
    assert!(windows.len() > 10, "{} windows", windows.len());
    seen.extend(files_under(Path::new(&tested.storage)));

    let password = secured.password.as_bytes();
    for (what, bytes) in &seen {
        let found = bytes.windows(password.len()).any(|w| w == password);
        assert!(!found, "the password appears in {what}");
    }
    eprintln!(
        "the password appears in none of {} outputs and files",
        seen.len()
    );
}

#[test]
fn a_wrong_password_or_an_untrusted_ca_fails_within_seconds_naming_the_cause() {
    let secured = secured();
    let input = input_topic("sasl-wrong");
    let outputs = Outputs::new(&input, "sasl-wrong");
    let run = run_args(&outputs, &input, &["--exit-at-end"]);
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    let generate = ["generate", "--ratings-topic", &input, "--count", "10"];
    let mut verify = vec!["verify"];
    verify.extend(run.iter().skip(1).filter(|a| **a != "--exit-at-end"));
    let wrong_password = "not-the-password-4711";
    let cases = [
        (wrong_password, secured.ca.as_str(), "Authentication failed"),
        (
            secured.password.as_str(),
            secured.other_ca.as_str(),
            "certificate verify failed",
        ),
    ];
    for (password, ca, cause) in cases {
        for args in [&run[..], &generate[..], &verify[..]] {
            let started = Instant::now();
            let out = secured.command(args, password, ca).output().unwrap();
            let took = started.elapsed();
            // verify's report is on stdout
            let stderr = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
            assert!(!out.status.success(), "{args:?} succeeded");
            assert!(stderr.contains(cause), "{args:?}: {stderr}");
            assert!(stderr.contains("check the security settings"), "{stderr}");
            assert!(
                !stderr.contains(password),
                "the password is printed: {stderr}"
            );
            assert!(took < common::FAILS_FAST, "{args:?} took {took:?}");
            eprintln!("{}: failed in {took:?}", args[0]);
        }
    }
}
