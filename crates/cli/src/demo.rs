//! `ratings-stream demo`: the embedded default. The built-in generator feeds the pipeline at a
//! fixed wall-clock rate, with event time running `--speedup` times faster, and every closed
//! window is printed as a table row. Runs for `--duration` or until Ctrl-C.

use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ratings_core::time::{align_down, rfc3339_seconds};
use ratings_core::{Engine, WindowResult};
use ratings_generator::{Generator, GeneratorConfig};

use ratings_runtime::catalog;
use ratings_runtime::pipeline::{now_millis, Pipeline};
use ratings_runtime::report::{banner, Summary};
use ratings_runtime::sink::json_lines::CountOnly;
use ratings_runtime::sink::{Outputs, WindowSink};
use ratings_runtime::source::{Format, SourceRecord};

use crate::args::DemoArgs;

const TICKS_PER_SECOND: u32 = 10;

/// Runs the demo.
pub fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0, "--rate must be positive");
    anyhow::ensure!(args.speedup > 0.0, "--speedup must be positive");
    let settings = args
        .engine
        .settings(ratings_core::rating::DEFAULT_MAX_RECORD_BYTES);
    let config = settings.engine_config()?;
    let loaded = catalog::load(settings.movies.as_deref())?;
    let generator_config = GeneratorConfig {
        seed: args.seed,
        start_time: align_down(now_millis() / 1000, 60),
        events_per_second: f64::from(args.rate) / args.speedup,
        late_fraction: args.late_fraction,
        malformed_fraction: args.malformed_fraction,
        ..GeneratorConfig::default()
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
                "rate",
                format!("{} ratings/s, event time x{}", args.rate, args.speedup),
            ),
            (
                "late / malformed",
                format!("{} / {}", args.late_fraction, args.malformed_fraction),
            ),
            (
                "duration",
                format!(
                    "{} (Ctrl-C stops)",
                    humantime::format_duration(args.duration)
                ),
            ),
        ],
    );
    let first_close = (config.watermark_delay + config.windows[0].size) as f64 / args.speedup;
    eprintln!("windows print once the watermark passes their end: the first after about {first_close:.0}s");
    let mut generator = Generator::new(generator_config, &loaded.catalog);
    let outputs = Outputs {
        windows: Box::new(ConsoleTable {
            show_sliding: args.show_sliding,
            rows: 0,
        }),
        dead_letters: Box::new(CountOnly),
        late: Box::new(CountOnly),
        parquet: None,
    };
    let engine = Engine::new(config.clone(), loaded.catalog);
    let mut pipeline = Pipeline::new(
        engine,
        outputs,
        "generator".into(),
        settings.max_record_bytes,
    );
    let stop = crate::shutdown::stop_flag()?;
    let started = Instant::now();
    let mut produced = 0u64;
    let mut tick = 0u32;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < args.duration {
        tick += 1;
        let target = u64::from(args.rate) * u64::from(tick) / u64::from(TICKS_PER_SECOND);
        for generated in generator.by_ref().take((target - produced) as usize) {
            produced += 1;
            let record = SourceRecord {
                payload: generated.payload.as_bytes(),
                format: Format::Json,
                partition: 0,
                offset: produced as i64,
            };
            pipeline.process(record)?;
        }
        pipeline.end_batch()?;
        let next = started + Duration::from_secs(1) * tick / TICKS_PER_SECOND;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    pipeline.finish(false)?;
    Summary::of(&pipeline, started.elapsed()).print();
    Ok(())
}

/// Prints windows as rows of a table on standard output.
struct ConsoleTable {
    show_sliding: bool,
    rows: u64,
}

impl WindowSink for ConsoleTable {
    fn write_window(&mut self, w: &WindowResult, _processing_time: i64) -> io::Result<()> {
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
        )
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}

/// `text` cut to `max` characters with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        text.chars()
            .take(max - 1)
            .chain(std::iter::once('…'))
            .collect()
    }
}
