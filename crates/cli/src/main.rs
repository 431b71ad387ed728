//! `ratings-stream`: the binary. Parses the command line and runs a subcommand; see `--help`.

mod args;
mod catalog_source;
mod config_file;
mod demo;
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

use crate::args::{Cli, Command};

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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
