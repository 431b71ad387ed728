//! The jobs: [`file`] runs a bounded input (a file, the demo's generator) to its end; [`kafka`] runs the streaming processor
//! with its delivery guarantee, timers and telemetry ([`monitor`]); [`ha`] runs it only while
//! this member holds the high-availability lease, standing by otherwise.

pub mod demo;
pub(crate) mod file;
pub(crate) mod ha;
pub(crate) mod kafka;
mod monitor;
pub mod table;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// When a streaming job stops: the process is asked to (Ctrl-C, SIGTERM), or, with high
/// availability, the lease was revoked or lost (then it stops writing at once: no final commit).
#[derive(Clone, Copy)]
pub struct Stop<'a> {
    pub asked: &'a AtomicBool,
    pub lease_lost: Option<&'a AtomicBool>,
}

impl<'a> Stop<'a> {
    /// Stopped only when asked.
    pub fn when_asked(asked: &'a AtomicBool) -> Stop<'a> {
        Stop {
            asked,
            lease_lost: None,
        }
    }

    /// Whether the job must stop now.
    pub fn now(&self) -> bool {
        self.asked.load(Ordering::Relaxed) || self.lease_lost()
    }

    /// Whether the lease was lost (the job stops without committing anything more).
    pub fn lease_lost(&self) -> bool {
        self.lease_lost.is_some_and(|l| l.load(Ordering::Relaxed))
    }
}

/// A flag set by Ctrl-C (SIGINT) or SIGTERM, which long-running commands check between
/// records (one handler per process).
pub fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&stop);
    ctrlc::set_handler(move || handler_flag.store(true, Ordering::Relaxed))?;
    Ok(stop)
}
