//! The demo job: the built-in generator ([`GeneratorSource`]) read by the bounded job, every
//! window printed as a table row ([`ConsoleTable`]) and handed to the extra sinks the caller
//! brings (the in-process dashboard). Runs for its duration or until stopped.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_core::time::align_down;
use ratings_core::Engine;
use ratings_generator::{Generator, GeneratorConfig};

use crate::catalog;
use crate::pipeline::{now_millis, Pipeline, RecordLimits};
use crate::report::{banner, Summary};
use crate::sink::console::ConsoleTable;
use crate::sink::{Outputs, Sink};
use crate::source::generator::GeneratorSource;
use crate::source::Bounded;
use ratings_settings::EngineSettings;

/// How long the demo runs without a dashboard, unless told.
const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// What the demo generates and how fast.
#[derive(Debug, Clone)]
pub struct Demo {
    /// Windows, watermark and catalog (event time runs ahead of the clock: not bounded).
    pub engine: EngineSettings,
    /// Ratings per second of wall-clock time.
    pub rate: u32,
    /// Event time runs this many times faster than the wall clock.
    pub speedup: f64,
    pub seed: u64,
    pub late_fraction: f64,
    pub malformed_fraction: f64,
    /// Also print sliding windows.
    pub show_sliding: bool,
    /// How long it runs; by default until stopped with a dashboard, else 30 s.
    pub duration: Option<Duration>,
    /// Where the dashboard is, for the banner.
    pub dashboard: Option<String>,
}

/// Runs the demo; `extra` sinks get every window too.
pub fn run(
    demo: &Demo,
    extra: Vec<Box<dyn Sink>>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Summary> {
    anyhow::ensure!(demo.rate > 0, "--rate must be positive");
    let duration = match (demo.duration, &demo.dashboard) {
        (Some(duration), _) => duration,
        (None, Some(_)) => Duration::MAX,
        (None, None) => DEFAULT_DURATION,
    };
    anyhow::ensure!(demo.speedup > 0.0, "--speedup must be positive");
    let settings = EngineSettings {
        max_record_bytes: ratings_core::rating::DEFAULT_MAX_RECORD_BYTES,
        // the demo's event time runs ahead of the clock on purpose
        max_event_time_ahead_seconds: None,
        ..demo.engine.clone()
    };
    let config = settings.engine_config()?;
    let loaded = catalog::load(settings.movies.as_deref())?;
    let profiles = catalog::movie_profiles(&loaded)?;
    let popularity = profiles
        .as_ref()
        .map_or("Zipf over the catalog".into(), |(_, o)| o.clone());
    banner(
        "demo (synthetic ratings, no servers)",
        &config,
        &[
            (
                "movies",
                format!("{} ({} movies)", loaded.origin, loaded.catalog.len()),
            ),
            ("popularity", popularity),
            (
                "rate",
                format!("{} ratings/s, event time x{}", demo.rate, demo.speedup),
            ),
            (
                "late / malformed",
                format!("{} / {}", demo.late_fraction, demo.malformed_fraction),
            ),
            ("duration", duration_text(duration)),
            ("dashboard", demo.dashboard.clone().unwrap_or("off".into())),
        ],
    );
    let first_close = (config.watermark_delay + config.windows[0].size) as f64 / demo.speedup;
    eprintln!("windows print once the watermark passes their end: the first after about {first_close:.0}s");
    let generator_config = GeneratorConfig {
        seed: demo.seed,
        start_time: align_down(now_millis() / 1000, 60),
        events_per_second: f64::from(demo.rate) / demo.speedup,
        late_fraction: demo.late_fraction,
        malformed_fraction: demo.malformed_fraction,
        ..GeneratorConfig::default()
    };
    let generator = match &profiles {
        Some((profiles, _)) => {
            Generator::with_profiles(generator_config, &loaded.catalog, profiles)
        }
        None => Generator::new(generator_config, &loaded.catalog),
    };
    let mut sinks: Vec<Box<dyn Sink>> = vec![ConsoleTable::new(demo.show_sliding)];
    sinks.extend(extra);
    let mut source = GeneratorSource::new(generator, demo.rate, duration, stop);
    let engine = Engine::new(config, loaded.catalog);
    let limits = RecordLimits::of(&settings);
    let mut pipeline = Pipeline::new(engine, Outputs::new(sinks), source.name(), limits);
    let started = Instant::now();
    // each tick of the generator is a batch
    super::file::drive(&mut pipeline, &mut source, usize::MAX, false)?;
    Ok(Summary::of(&pipeline, started.elapsed()))
}

/// How long the demo runs, for the banner.
fn duration_text(duration: Duration) -> String {
    if duration == Duration::MAX {
        "until Ctrl-C".to_string()
    } else {
        format!("{} (Ctrl-C stops)", humantime::format_duration(duration))
    }
}
