//! The jobs: [`file`] runs a bounded input to its end; [`kafka`] runs the streaming processor
//! with its delivery guarantee, timers and telemetry ([`monitor`]).

pub mod file;
pub mod kafka;
mod monitor;
