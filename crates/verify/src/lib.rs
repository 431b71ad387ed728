//! `ratings-stream verify`: checks a running deployment end to end with the same settings as
//! `run`, one line per check (PASS / WARN / FAIL, what was found, what to do) — the broker, the
//! topics, the processor's consumer group and the windows on `metrics` ([`kafka`]), the
//! exactly-once checkpoint ([`checkpoint`]) and the Parquet datasets ([`parquet`]) or Delta tables ([`delta`]); with
//! `--audit`, every window of the closed hours recomputed from the raw rows ([`audit`]).

#![warn(unreachable_pub)]

pub mod audit;
pub mod checkpoint;
pub mod delta;
pub mod kafka;
pub mod parquet;
pub mod report;

use std::time::Duration;

use ratings_settings::{Input, JobConfig};

pub use report::{Check, Report, Status};

/// How long one storage operation may take before its check fails (a storage that does not
/// answer is a FAIL line, not a hang).
pub const STORAGE_PATIENCE: Duration = Duration::from_secs(5);

/// Opens the storage at `url` for the checks (a local folder that does not exist is an error,
/// never created).
pub fn open_storage(url: &str) -> anyhow::Result<ratings_connectors::storage::Storage> {
    Ok(ratings_connectors::storage::Storage::open_existing(url)?.with_patience(STORAGE_PATIENCE))
}

/// How verify looks.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    /// How long the processor's group is watched for commits.
    pub observe: Duration,
    /// The recent past the dead letters are counted over.
    pub recent: Duration,
    /// Share of dead letters above which they are worth a warning.
    pub dead_letter_warn: f64,
    /// Also audit the aggregates of these hours against the raw data.
    pub audit: Option<audit::AuditRange>,
}

/// `ratings-stream verify`: runs the checks and prints the report (as JSON with `json`, secrets
/// masked); an error when a check failed.
pub fn print(config: &JobConfig, settings: &VerifySettings, json: bool) -> anyhow::Result<()> {
    let report = verify(config, settings);
    match json {
        true => println!("{}", ratings_core::secrets::scrub(&report.json())),
        false => print!("{}", ratings_core::secrets::scrub(&report.text())),
    }
    anyhow::ensure!(report.passed(), "verify: a check failed");
    Ok(())
}

/// Runs every check `config` allows.
pub fn verify(config: &JobConfig, settings: &VerifySettings) -> Report {
    let mut report = Report::default();
    let engine = match config.engine.engine_config() {
        Ok(engine) => engine,
        Err(error) => {
            report.checks.push(Check::fail(
                "settings",
                format!("{error:#}"),
                "correct the engine settings",
            ));
            return report;
        }
    };
    match &config.input {
        Input::Kafka(job) => {
            let found = kafka::KafkaChecks {
                job,
                engine: &engine,
                observe: settings.observe,
                recent: settings.recent,
                dead_letter_warn: settings.dead_letter_warn,
            }
            .run();
            report.checks.extend(found.checks);
            let now = kafka::now_millis();
            report
                .checks
                .push(checkpoint::check(config, job, found.group.as_deref(), now));
            report.checks.extend(parquet::checks(config, job, &engine));
            if let Some(range) = settings.audit {
                report
                    .checks
                    .extend(audit::audit(config, job, &engine, range));
            }
        }
        Input::File(_) => report.checks.push(Check::fail(
            "settings",
            "--input names a file: verify checks a Kafka deployment",
            "run verify without --input",
        )),
    }
    report
}
