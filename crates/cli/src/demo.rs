//! `ratings-stream demo`: the embedded default. The built-in generator feeds the pipeline at a
//! fixed wall-clock rate, with event time running `--speedup` times faster; every closed
//! window is printed as a table row and shown on the live dashboard, served in-process. Runs
//! for `--duration` or until Ctrl-C.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_dashboard::{Board, BoardSettings, Running};

use ratings_core::time::{align_down, rfc3339_seconds};
use ratings_core::{Engine, WindowResult};
use ratings_generator::{Generator, GeneratorConfig};

use ratings_runtime::catalog;
use ratings_runtime::pipeline::{now_millis, Pipeline, RecordLimits};
use ratings_runtime::report::{banner, Summary};
use ratings_runtime::sink::{Outputs, Sink};
use ratings_runtime::source::generator::GeneratorSource;
use ratings_runtime::source::Bounded;

use ratings_settings::{DashboardAccess, EngineSettings, Settings};

use crate::flags::{DemoArgs, DEMO_DASHBOARD};

/// How long the demo runs without a dashboard, unless told.
const DEFAULT_DURATION: Duration = Duration::from_secs(30);
/// Days of windows the demo's dashboard keeps (event time runs fast).
const DEMO_HISTORY: Duration = Duration::from_secs(7 * 86_400);

/// Runs the demo.
pub fn demo(args: &DemoArgs, all: &Settings) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0, "--rate must be positive");
    anyhow::ensure!(args.speedup > 0.0, "--speedup must be positive");
    let settings = EngineSettings {
        max_record_bytes: ratings_core::rating::DEFAULT_MAX_RECORD_BYTES,
        // the demo's event time runs ahead of the clock on purpose
        max_event_time_ahead_seconds: None,
        ..all.engine.clone()
    };
    let config = settings.engine_config()?;
    let loaded = catalog::load(settings.movies.as_deref())?;
    let profiles = catalog::movie_profiles(&loaded)?;
    let generator_config = GeneratorConfig {
        seed: args.seed,
        start_time: align_down(now_millis() / 1000, 60),
        events_per_second: f64::from(args.rate) / args.speedup,
        late_fraction: args.late_fraction,
        malformed_fraction: args.malformed_fraction,
        ..GeneratorConfig::default()
    };
    let dashboard = serve_dashboard(&args.dashboard, &all.dashboard.access)?;
    let duration = match (&dashboard, args.duration) {
        (_, Some(duration)) => duration,
        (Some(_), None) => Duration::MAX,
        (None, None) => DEFAULT_DURATION,
    };
    banner(
        "demo (synthetic ratings, no servers)",
        &config,
        &[
            (
                "movies",
                format!("{} ({} movies)", loaded.origin, loaded.catalog.len()),
            ),
            (
                "popularity",
                profiles
                    .as_ref()
                    .map_or("Zipf over the catalog".into(), |(_, o)| o.clone()),
            ),
            (
                "rate",
                format!("{} ratings/s, event time x{}", args.rate, args.speedup),
            ),
            (
                "late / malformed",
                format!("{} / {}", args.late_fraction, args.malformed_fraction),
            ),
            ("duration", duration_text(duration)),
            (
                "dashboard",
                dashboard
                    .as_ref()
                    .map_or("off".to_string(), |(_, running)| running.url()),
            ),
        ],
    );
    let first_close = (config.watermark_delay + config.windows[0].size) as f64 / args.speedup;
    eprintln!("windows print once the watermark passes their end: the first after about {first_close:.0}s");
    let generator = match &profiles {
        Some((profiles, _)) => {
            Generator::with_profiles(generator_config, &loaded.catalog, profiles)
        }
        None => Generator::new(generator_config, &loaded.catalog),
    };
    let outputs = Outputs::new(vec![Box::new(ConsoleTable {
        show_sliding: args.show_sliding,
        rows: 0,
        board: dashboard.as_ref().map(|(board, _)| Arc::clone(board)),
    })]);
    let stop = crate::shutdown::stop_flag()?;
    let mut source = GeneratorSource::new(generator, args.rate, duration, stop);
    let engine = Engine::new(config.clone(), loaded.catalog);
    let limits = RecordLimits::of(&settings);
    let mut pipeline = Pipeline::new(engine, outputs, source.name(), limits);
    let started = Instant::now();
    // each tick of the generator is a batch
    ratings_runtime::job::file::drive(&mut pipeline, &mut source, usize::MAX, false)?;
    Summary::of(&pipeline, started.elapsed()).print();
    Ok(())
}

/// How long the demo runs, for the banner.
fn duration_text(duration: Duration) -> String {
    if duration == Duration::MAX {
        "until Ctrl-C".to_string()
    } else {
        format!("{} (Ctrl-C stops)", humantime::format_duration(duration))
    }
}

/// The demo's dashboard on `listen` ("off": none); when the default address is taken, on a
/// free port.
fn serve_dashboard(
    listen: &str,
    access: &DashboardAccess,
) -> anyhow::Result<Option<(Arc<Board>, Running)>> {
    if listen == "off" {
        return Ok(None);
    }
    let board = Arc::new(Board::new(BoardSettings {
        retention: DEMO_HISTORY,
        source: "demo (in-process)".into(),
        rules: crate::dashboard::alert_rules(None)?,
        endpoints: Vec::new(),
        // the demo's event time runs ahead of the clock on purpose
        max_ahead: None,
    }));
    board.feed(|f| {
        f.connected = true;
        f.backfilled = true;
    });
    ratings_dashboard::watch::spawn(Arc::clone(&board), Duration::from_secs(5))?;
    let running = match crate::dashboard::start(Arc::clone(&board), listen, access) {
        Err(error) if listen == DEMO_DASHBOARD => {
            tracing::warn!("{error:#}; using a free port");
            crate::dashboard::start(Arc::clone(&board), "127.0.0.1:0", access)?
        }
        other => other?,
    };
    Ok(Some((board, running)))
}

/// Prints windows as rows of a table on standard output, and hands them to the dashboard.
struct ConsoleTable {
    show_sliding: bool,
    rows: u64,
    board: Option<Arc<Board>>,
}

impl Sink for ConsoleTable {
    fn window(&mut self, w: &WindowResult, processing_time: i64) -> anyhow::Result<()> {
        if let Some(board) = &self.board {
            board.offer(w.to_json(processing_time).as_bytes());
        }
        if !self.show_sliding && !w.window_type.starts_with("tumbling") {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        if self.rows.is_multiple_of(20) {
            writeln!(
                out,
                "{:<20} {:<18} {:>6} {:>5} {:>4} {:>4}  top movies (ratings)",
                "window start (UTC)", "type", "count", "avg", "p50", "p95"
            )?;
        }
        self.rows += 1;
        let top: Vec<String> = w
            .metrics
            .top_movies
            .iter()
            .take(3)
            .map(|m| {
                format!(
                    "{} ({})",
                    shorten(m.title.as_deref().unwrap_or("?"), 30),
                    m.count
                )
            })
            .collect();
        let start = rfc3339_seconds(w.window_start).replace('T', " ");
        writeln!(
            out,
            "{:<20} {:<18} {:>6} {:>5.2} {:>4.1} {:>4.1}  {}",
            start.trim_end_matches('Z'),
            w.window_type,
            w.metrics.count,
            w.metrics.avg_rating,
            w.metrics.p50_rating,
            w.metrics.p95_rating,
            top.join(" · ")
        )?;
        Ok(())
    }

    fn end_batch(&mut self, _watermark: Option<i64>) -> anyhow::Result<()> {
        Ok(io::stdout().flush()?)
    }

    fn finish(&mut self, _final_flush: bool) -> anyhow::Result<()> {
        Ok(io::stdout().flush()?)
    }
}

/// `text` for a terminal, cut to `max` characters with an ellipsis: control characters (an
/// escape sequence in a title could rewrite the screen) are shown escaped.
fn shorten(text: &str, max: usize) -> String {
    let shown: Vec<char> = text
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = match c.is_control() {
                true => c.escape_default().collect(),
                false => vec![c],
            };
            escaped
        })
        .collect();
    if shown.len() <= max {
        shown.into_iter().collect()
    } else {
        shown[..max - 1].iter().chain(['…'].iter()).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_title_is_shown_with_its_control_characters_escaped_and_cut() {
        assert_eq!(super::shorten("Heat (1995)", 30), "Heat (1995)");
        assert_eq!(super::shorten("A\u{1b}[2JB", 30), "A\\u{1b}[2JB");
        assert_eq!(super::shorten("abcdef", 4), "abc…");
    }
}
