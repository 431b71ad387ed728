//! Clean shutdown: a flag that Ctrl-C (SIGINT) or SIGTERM sets, which long-running commands
//! check between records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag set by Ctrl-C or SIGTERM (one handler per process).
pub fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&stop);
    ctrlc::set_handler(move || handler_flag.store(true, Ordering::Relaxed))?;
    Ok(stop)
}
