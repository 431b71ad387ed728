//! `ratings-stream`: the binary. Parses the command line and runs a subcommand; see `--help`.

mod args;
mod catalog_source;
mod config_file;
mod demo;
mod epochs;
mod generate;
mod pipeline;
mod replay;
mod report;
mod run;
mod shutdown;
mod sinks;
mod source;
mod stream;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{CheckpointArgs, CheckpointCommand, Cli, Command};

/// `ratings-stream checkpoint inspect`.
fn inspect_checkpoint(args: &CheckpointArgs) -> anyhow::Result<()> {
    let storage = std::sync::Arc::new(ratings_connectors::storage::Storage::open(&args.storage)?);
    let store = ratings_connectors::checkpoint::CheckpointStore::new(storage, &args.checkpoint_dir);
    print!("{}", store.inspect()?);
    Ok(())
}

fn main() -> ExitCode {
    if let Err(error) = config_file::apply_from_args() {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Demo(args) => demo::demo(args),
        Command::Generate(args) => generate::generate(args),
        Command::Replay(args) => replay::replay(args),
        Command::Checkpoint(CheckpointCommand::Inspect(args)) => inspect_checkpoint(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
