//! `ratings-runtime`: the processor's job, laid out by pipeline stage. One rating travels:
//!
//! 1. [`source::kafka`] — read from a partition of `ratings` (the partition furthest behind in
//!    event time first), handed on as a [`source::SourceRecord`];
//! 2. [`pipeline`] — parsed and validated, then pushed through the engine (watermark, windows,
//!    panes); a window the watermark passes is emitted;
//! 3. [`sink::topic`] — the window's JSON goes to `metrics` (rejected and late records to their
//!    topics), inside the epoch's Kafka transaction;
//! 4. [`sink::parquet`] — the raw rating and the final window are appended to the Parquet
//!    datasets, held back until their epoch commits;
//! 5. [`delivery::exactly_once`] — the epoch's offsets, state and staged files are sealed in
//!    the checkpoint, the transaction commits, the files are moved into place.
//!
//! Around them: [`job`] (the file and Kafka main
//! loops), [`telemetry`] (progress, Prometheus), [`catalog`] (movies.csv) and [`report`]
//! (banner, summary). [`run`] is the entry point.

#![warn(unreachable_pub)]

pub mod catalog;
mod delivery;
pub mod feed;
pub mod job;
mod pipeline;
mod report;
pub mod sink;
pub mod source;
mod telemetry;

pub use delivery::exactly_once::rebuild::add_raw_dataset;
pub use delivery::exactly_once::recovery::{committed_outputs, CommittedOutputs, RecoveryError};
pub use pipeline::now_millis;
pub use report::Summary;
pub use telemetry::latency::percentile;
pub use telemetry::prometheus::MetricsListen;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;

use ratings_settings::{EngineSettings, Input, JobConfig};
use report::banner;
use telemetry::prometheus::{serve, Metrics};

/// The banner's line on the limits records must respect.
fn describe_limits(settings: &EngineSettings) -> String {
    let ahead = match settings.max_event_time_ahead_seconds {
        Some(seconds) => format!(
            "event time at most {} ahead of the clock",
            ratings_core::time::duration_name(seconds)
        ),
        None => "event time ahead of the clock not bounded".into(),
    };
    format!("at most {} bytes, {ahead}", settings.max_record_bytes)
}

/// Runs the job `config` describes until its input ends or `stop` is set; logs the banner and
/// the summary, writes the summary file when configured, and returns the summary.
pub fn run(config: &JobConfig, stop: &AtomicBool) -> anyhow::Result<Summary> {
    if let Input::Kafka(kafka) = &config.input {
        if kafka.delivery.reset_checkpoint {
            tracing::warn!(
                "WARNING: --reset-checkpoint: deleting the checkpoint {} (if any) and starting \
                 from {:?}; outputs already written from the old checkpoint's input may be \
                 written again",
                kafka.delivery.checkpoint_dir,
                kafka.starting_offsets
            );
        }
    }
    config.validate()?;
    let engine = config.engine.engine_config()?;
    let loaded = catalog::load(config.engine.movies.as_deref())?;
    let mut lines = vec![(
        "movies",
        format!(
            "{} ({} movies, {} genres)",
            loaded.origin,
            loaded.catalog.len(),
            loaded.catalog.genre_names().len()
        ),
    )];
    lines.push(("parquet", sink::parquet::describe(&config.parquet)));
    lines.push(("records", describe_limits(&config.engine)));
    let summary = match &config.input {
        Input::File(file) => {
            lines.extend(job::file::banner_lines(file));
            banner("bounded file mode", &engine, &lines);
            job::file::run(config, &engine, file, &loaded)?
        }
        Input::Kafka(kafka) => {
            let metrics = Arc::new(Metrics::default());
            // serves until the job ends
            let metrics_server = match &config.telemetry.metrics_address {
                None => None,
                Some(address) => Some(serve(Arc::clone(&metrics), address)?),
            };
            let metrics_at = metrics_server
                .as_ref()
                .map_or("off".into(), |s| format!("http://{}/metrics", s.address()));
            lines.extend(job::kafka::banner_lines(
                config,
                kafka,
                &kafka.connection.settings(),
            ));
            lines.push(("prometheus", metrics_at));
            banner("Kafka mode", &engine, &lines);
            match &kafka.high_availability {
                None => {
                    metrics.set_active(true);
                    let stop = job::Stop::when_asked(stop);
                    match job::kafka::run(config, &engine, kafka, &loaded, &metrics, stop)? {
                        job::kafka::Ended::Done(summary)
                        | job::kafka::Ended::LeaseLost(summary) => summary,
                    }
                }
                Some(ha) => job::ha::run(config, &engine, kafka, ha, &loaded, &metrics, stop)?,
            }
        }
    };
    summary.print();
    if let Some(path) = &config.telemetry.summary_file {
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(summary)
}
