//! `ratings-stream`: the binary, a thin shell over the runtime. It reads the settings (flags,
//! environment variables and the settings file, layered into one
//! [`ratings_settings::Settings`]) and runs the command; it also holds the tools around the job
//! (demo, dashboard, verify, generate, replay, checkpoint inspect), the logging set-up and the
//! remediation hints added to errors.

mod dashboard;
mod demo;
mod flags;
mod generate;
mod hints;
mod logging;
mod shutdown;

use std::process::ExitCode;

use ratings_settings::Settings;

use crate::flags::{CheckpointCommand, Command, VerifyArgs};

/// `ratings-stream checkpoint inspect`.
fn inspect_checkpoint(settings: &Settings) -> anyhow::Result<()> {
    let url = settings.parquet.storage.as_deref().unwrap_or_default();
    let storage = std::sync::Arc::new(ratings_connectors::storage::Storage::open(url)?);
    let store = ratings_connectors::checkpoint::CheckpointStore::new(
        storage,
        &settings.kafka.delivery.checkpoint_dir,
    );
    print!("{}", store.inspect()?);
    Ok(())
}

/// `ratings-stream run`: the processor.
fn run(settings: &Settings) -> anyhow::Result<()> {
    let config = settings.job();
    let kafka = &settings.kafka;
    if kafka.delivery.reset_checkpoint && settings.file.input.is_none() {
        tracing::warn!(
            "WARNING: --reset-checkpoint: deleting the checkpoint {} (if any) and starting from \
             {:?}; outputs already written from the old checkpoint's input may be written again",
            kafka.delivery.checkpoint_dir,
            kafka.starting_offsets
        );
    }
    let stop = shutdown::stop_flag()?;
    let board = &settings.dashboard;
    let _dashboard = match &board.dashboard {
        None => None,
        Some(_) if settings.file.input.is_some() => {
            anyhow::bail!(
                "--dashboard shows the metrics topic: it needs the Kafka mode (no --input)"
            )
        }
        Some(listen) => Some(dashboard::follow_topic(
            ratings_dashboard::feed::TopicFeed {
                settings: kafka
                    .connection
                    .settings_as(&format!("{}-dashboard", kafka.connection.client_id)),
                topic: kafka.metrics_topic.clone(),
                history: board.history,
                max_ahead: settings.engine.max_event_time_ahead_seconds,
            },
            listen,
            &board.access,
            &board.watch,
            &own_metrics_endpoint(&config),
        )?),
    };
    ratings_runtime::run(&config, &stop).map(|_| ())
}

/// The processor's own `/metrics` URL, for its in-process dashboard (none when the endpoint is
/// off or its port is picked at start).
fn own_metrics_endpoint(config: &ratings_settings::JobConfig) -> Vec<String> {
    match &config.telemetry.metrics_address {
        Some(address) if !address.ends_with(":0") => vec![format!("http://{address}/metrics")],
        _ => Vec::new(),
    }
}

/// `ratings-stream verify`: prints the report; fails when a check failed.
fn verify(args: &VerifyArgs, settings: &Settings) -> anyhow::Result<()> {
    let checks = ratings_verify::VerifySettings {
        observe: args.observe,
        recent: args.recent,
        dead_letter_warn: args.dead_letter_warn,
        audit: args.audit.then_some(ratings_verify::audit::AuditRange {
            from: args.from,
            to: args.to,
        }),
    };
    let report = ratings_verify::verify(&settings.job(), &checks);
    match args.json {
        true => println!("{}", ratings_core::secrets::scrub(&report.json())),
        false => print!("{}", ratings_core::secrets::scrub(&report.text())),
    }
    anyhow::ensure!(report.passed(), "verify: a check failed");
    Ok(())
}

fn main() -> ExitCode {
    let (cli, settings) = match flags::parse() {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!(
                "error: {}",
                ratings_core::secrets::scrub(&format!("{error:#}"))
            );
            return ExitCode::FAILURE;
        }
    };
    logging::init(settings.log_format);
    let result = match &cli.command {
        Command::Run(_) => run(&settings),
        Command::Demo(args) => demo::demo(args, &settings),
        Command::Generate(args) => generate::generate(args, &settings),
        Command::Replay(args) => generate::replay(args, &settings),
        Command::Checkpoint(CheckpointCommand::Inspect(_)) => inspect_checkpoint(&settings),
        Command::Dashboard(_) => dashboard::dashboard(&settings),
        Command::Verify(args) => verify(args, &settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("error: {error:#}");
            if let Some(hint) = hints::for_error(&error) {
                tracing::error!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}
