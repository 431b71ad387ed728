//! `ratings-stream`: the binary, a thin shell. It reads the settings (flags, environment
//! variables and the settings file, layered into one [`ratings_settings::Settings`]) and runs
//! the command, whose work is the runtime's, the dashboard's or verify's; it adds the logging
//! set-up and the remediation hints added to errors.

mod demo;
mod feed;
mod flags;
mod hints;
mod logging;

use std::process::ExitCode;

use ratings_settings::Settings;

use crate::flags::{CheckpointCommand, Command, TableCommand, VerifyArgs};

/// `ratings-stream run`: the processor.
fn run(settings: &Settings) -> anyhow::Result<()> {
    let config = settings.job();
    let stop = ratings_runtime::job::stop_on_signals()?;
    let _dashboard = ratings_dashboard::start::for_processor(settings, &config)?;
    ratings_runtime::run(&config, &stop).map(|_| ())
}

/// `ratings-stream verify`.
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
    ratings_verify::print(&settings.job(), &checks, args.json)
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
        Command::Generate(args) => feed::generate(args, &settings),
        Command::Replay(args) => feed::replay(args, &settings),
        Command::Checkpoint(CheckpointCommand::Inspect(_)) => {
            let (storage, dir) = (
                &settings.parquet.storage,
                &settings.kafka.delivery.checkpoint_dir,
            );
            ratings_connectors::checkpoint::inspect(storage.as_deref().unwrap_or_default(), dir)
                .map(|text| print!("{text}"))
        }
        Command::Table(TableCommand::Optimize(_)) => {
            ratings_runtime::job::table::optimize(&settings.parquet).map(|text| print!("{text}"))
        }
        Command::Table(TableCommand::Vacuum(args)) => {
            ratings_runtime::job::table::vacuum(&settings.parquet, args.dry_run)
                .map(|text| print!("{text}"))
        }
        Command::Dashboard(_) => ratings_runtime::job::stop_on_signals()
            .and_then(|stop| ratings_dashboard::start::stand_alone(&settings, &stop)),
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
