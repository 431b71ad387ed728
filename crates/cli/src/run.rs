//! `ratings-stream run --input FILE`: the bounded file mode. Without `--input`, `run` hands
//! over to the Kafka mode in [`crate::stream`].

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use ratings_connectors::parquet::Publishing;
use ratings_core::Engine;

use crate::args::RunArgs;
use crate::catalog_source;
use crate::pipeline::{Outputs, Pipeline};
use crate::report::{banner, Summary};
use crate::sinks::{optional_record_file, JsonLines};
use crate::source::{for_each_record, Format};

/// Runs the processor in the mode the arguments ask for.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    match &args.input {
        Some(input) => run_file(args, input),
        None => crate::stream::run(args),
    }
}

/// Processes the input file to the end and writes every output.
fn run_file(args: &RunArgs, input: &Path) -> anyhow::Result<()> {
    let config = args.engine.engine_config()?;
    let loaded = catalog_source::load(args.engine.movies.as_deref())?;
    let format = Format::for_path(args.format, input);
    let describe = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or("counted only".into(), |p| p.display().to_string())
    };
    banner(
        "bounded file mode",
        &config,
        &[
            (
                "input",
                format!("{} ({})", input.display(), format.describe()),
            ),
            (
                "movies",
                format!(
                    "{} ({} movies, {} genres)",
                    loaded.origin,
                    loaded.catalog.len(),
                    loaded.catalog.genre_names().len()
                ),
            ),
            ("metrics", args.metrics_file.display().to_string()),
            ("dead letters", describe(&args.dead_letter_file)),
            ("late records", describe(&args.late_file)),
            ("final flush", (!args.no_final_flush).to_string()),
            ("parquet", args.parquet.describe()),
        ],
    );
    let outputs = Outputs {
        windows: Box::new(JsonLines::create(&args.metrics_file)?),
        dead_letters: optional_record_file(args.dead_letter_file.as_deref())?,
        late: optional_record_file(args.late_file.as_deref())?,
        parquet: args
            .parquet
            .open_sink(&config.windows, Publishing::immediate_now(), None)?,
    };
    let engine = Engine::new(config.clone(), loaded.catalog);
    let mut pipeline = Pipeline::new(
        engine,
        outputs,
        input.display().to_string(),
        args.max_record_bytes,
    );
    let started = Instant::now();
    let batch_size = args.batch_size.max(1) as u64;
    let mut in_batch = 0u64;
    for_each_record(input, format, |record| {
        pipeline.process(record)?;
        in_batch += 1;
        if in_batch == batch_size {
            in_batch = 0;
            pipeline.end_batch()?;
        }
        Ok(())
    })?;
    pipeline.finish(!args.no_final_flush)?;
    finish_report(&pipeline, args.summary_file.as_deref(), started)
}

/// Prints the summary, and writes it to `summary_file` as JSON when asked.
pub fn finish_report(
    pipeline: &Pipeline,
    summary_file: Option<&Path>,
    started: Instant,
) -> anyhow::Result<()> {
    let engine = pipeline.engine();
    let summary = Summary::new(
        pipeline.stats(),
        engine.counters(),
        engine.config(),
        engine.open_windows(),
        started.elapsed(),
    )
    .with_parquet(pipeline.parquet());
    summary.print();
    if let Some(path) = summary_file {
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
