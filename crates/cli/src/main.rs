//! `ratings-stream`: the binary, a thin shell over the runtime. It turns flags, environment
//! variables and the settings file into a [`ratings_runtime::config::JobConfig`] and runs it;
//! it also holds the tools around the job (demo, dashboard, verify, generate, replay, checkpoint inspect), the
//! logging set-up and the remediation hints added to errors.

mod args;
mod config_file;
mod dashboard;
mod demo;
mod generate;
mod hints;
mod logging;
mod run_config;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{CheckpointArgs, CheckpointCommand, Cli, Command, RunArgs, VerifyArgs};

/// `ratings-stream checkpoint inspect`.
fn inspect_checkpoint(args: &CheckpointArgs) -> anyhow::Result<()> {
    let storage = std::sync::Arc::new(ratings_connectors::storage::Storage::open(&args.storage)?);
    let store = ratings_connectors::checkpoint::CheckpointStore::new(storage, &args.checkpoint_dir);
    print!("{}", store.inspect()?);
    Ok(())
}

/// `ratings-stream run`: the processor.
fn run(args: &RunArgs) -> anyhow::Result<()> {
    let config = args.to_config();
    if args.stream.reset_checkpoint && args.input.is_none() {
        tracing::warn!(
            "WARNING: --reset-checkpoint: deleting the checkpoint {} (if any) and starting from \
             {:?}; outputs already written from the old checkpoint's input may be written again",
            args.stream.checkpoint_dir,
            args.stream.starting_offsets
        );
    }
    let stop = shutdown::stop_flag()?;
    let _dashboard = match &args.dashboard {
        None => None,
        Some(_) if args.input.is_some() => {
            anyhow::bail!(
                "--dashboard shows the metrics topic: it needs the Kafka mode (no --input)"
            )
        }
        Some(listen) => Some(dashboard::follow_topic(
            ratings_dashboard::feed::TopicFeed {
                settings: args
                    .kafka
                    .settings(&format!("{}-dashboard", args.stream.client_id)),
                topic: args.stream.metrics_topic.clone(),
                history: args.dashboard_history,
                max_ahead: args.max_event_time_ahead.0,
            },
            listen,
            &args.dashboard_access,
            &args.dashboard_watch,
            &own_metrics_endpoint(&config),
        )?),
    };
    ratings_runtime::run(&config, &stop).map(|_| ())
}

/// The processor's own `/metrics` URL, for its in-process dashboard (none when the endpoint is
/// off or its port is picked at start).
fn own_metrics_endpoint(config: &ratings_runtime::config::JobConfig) -> Vec<String> {
    match &config.telemetry.metrics_address {
        Some(address) if !address.ends_with(":0") => vec![format!("http://{address}/metrics")],
        _ => Vec::new(),
    }
}

/// `ratings-stream verify`: prints the report; fails when a check failed.
fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let settings = ratings_verify::VerifySettings {
        observe: args.observe,
        recent: args.recent,
        dead_letter_warn: args.dead_letter_warn,
        audit: args.audit.then_some(ratings_verify::audit::AuditRange {
            from: args.from,
            to: args.to,
        }),
    };
    let report = ratings_verify::verify(&args.run.to_config(), &settings);
    match args.json {
        true => println!("{}", ratings_core::secrets::scrub(&report.json())),
        false => print!("{}", ratings_core::secrets::scrub(&report.text())),
    }
    anyhow::ensure!(report.passed(), "verify: a check failed");
    Ok(())
}

fn main() -> ExitCode {
    if let Err(error) = config_file::apply_from_args() {
        eprintln!(
            "error: {}",
            ratings_core::secrets::scrub(&format!("{error:#}"))
        );
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result = match &cli.command {
        Command::Run(args) => run(args),
        Command::Demo(args) => demo::demo(args),
        Command::Generate(args) => generate::generate(args),
        Command::Replay(args) => generate::replay(args),
        Command::Checkpoint(CheckpointCommand::Inspect(args)) => inspect_checkpoint(args),
        Command::Dashboard(args) => dashboard::dashboard(args),
        Command::Verify(args) => verify(args),
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
