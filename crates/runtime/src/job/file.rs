//! The file job: a bounded input processed to its end, windows written as JSON lines, rejected
//! and late records to their files (or only counted), Parquet published as it is finished.

use std::sync::Arc;
use std::time::Instant;

use ratings_core::{Engine, EngineConfig};

use crate::catalog::LoadedCatalog;
use crate::config::{FileJob, JobConfig};
use crate::pipeline::Pipeline;
use crate::report::Summary;
use crate::sink::json_lines::{optional_file, JsonLines};
use crate::sink::parquet::Publishing;
use crate::sink::{Carries, Outputs, Sink};
use crate::source::file::for_each_record;

/// Processes the input file to the end and writes every output.
pub fn run(
    config: &JobConfig,
    engine_config: &EngineConfig,
    job: &FileJob,
    loaded: &LoadedCatalog,
) -> anyhow::Result<Summary> {
    let mut sinks: Vec<Box<dyn Sink>> =
        vec![JsonLines::create(&job.metrics_file, Carries::Windows)?];
    sinks.extend(optional_file(
        job.dead_letter_file.as_deref(),
        Carries::DeadLetters,
    )?);
    sinks.extend(optional_file(job.late_file.as_deref(), Carries::Late)?);
    let parquet = crate::sink::parquet::open(
        &config.parquet,
        &engine_config.windows,
        Publishing::immediate_now(),
        None,
    )?;
    if let Some(parquet) = parquet {
        sinks.push(Box::new(parquet));
    }
    let outputs = Outputs::new(sinks);
    let engine = Engine::new(engine_config.clone(), Arc::clone(&loaded.catalog));
    let mut pipeline = Pipeline::new(
        engine,
        outputs,
        job.path.display().to_string(),
        crate::pipeline::RecordLimits::of(&config.engine),
    );
    let started = Instant::now();
    let batch_size = job.batch_size.max(1) as u64;
    let mut in_batch = 0u64;
    for_each_record(&job.path, job.format, |record| {
        pipeline.process(record)?;
        in_batch += 1;
        if in_batch == batch_size {
            in_batch = 0;
            pipeline.end_batch()?;
        }
        Ok(())
    })?;
    pipeline.finish(job.final_flush)?;
    Ok(Summary::of(&pipeline, started.elapsed()))
}

/// Banner lines of the file mode.
pub fn banner_lines(job: &FileJob) -> Vec<(&'static str, String)> {
    let describe = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or("counted only".into(), |p| p.display().to_string())
    };
    vec![
        (
            "input",
            format!("{} ({})", job.path.display(), job.format.describe()),
        ),
        ("metrics", job.metrics_file.display().to_string()),
        ("dead letters", describe(&job.dead_letter_file)),
        ("late records", describe(&job.late_file)),
        ("final flush", job.final_flush.to_string()),
    ]
}
