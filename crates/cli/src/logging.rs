//! Logging: every crate logs through `tracing`; this sets up where it goes — standard error, as
//! text or JSON lines (`--log-format`), at the levels `RUST_LOG` chooses (default [`DEFAULT`]) —
//! with every registered secret masked (see [`ratings_core::secrets`]).

use tracing_subscriber::EnvFilter;

use ratings_core::secrets::Scrubbed;
use ratings_settings::LogFormat;

/// `info`, but delta-rs's own informational lines (each table snapshot it builds) only from
/// `warn`.
const DEFAULT: &str = "info,deltalake_core=warn,buoyant_kernel=warn,buoyant_kernel_engine=warn";

/// Installs the subscriber for the whole process.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Scrubbed(std::io::stderr()))
        .with_target(false)
        .with_ansi(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
