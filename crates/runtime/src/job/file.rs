//! The bounded job: a source that ends ([`Bounded`]: a file, or the demo's generator) read to
//! its end through the pipeline. The file mode writes windows as JSON lines, rejected and late
//! records to their files (or only counts them), and publishes Parquet as it is finished.

use std::sync::Arc;
use std::time::Instant;

use ratings_core::{Engine, EngineConfig};

use crate::catalog::LoadedCatalog;
use crate::pipeline::Pipeline;
use crate::report::Summary;
use crate::sink::json_lines::{optional_file, JsonLines};
use crate::sink::parquet::Publishing;
use crate::sink::{Carries, Outputs, Sink};
use crate::source::file::FileSource;
use crate::source::{Bounded, Next};
use ratings_settings::{FileJob, JobConfig};

/// Processes the input file to the end and writes every output.
pub(crate) fn run(
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
    let mut source = FileSource::open(&job.path, job.format)?;
    let engine = Engine::new(engine_config.clone(), Arc::clone(&loaded.catalog));
    let mut pipeline = Pipeline::new(
        engine,
        outputs,
        source.name(),
        crate::pipeline::RecordLimits::of(&config.engine),
    );
    let started = Instant::now();
    drive(&mut pipeline, &mut source, job.batch_size, job.final_flush)?;
    Ok(Summary::of(&pipeline, started.elapsed()))
}

/// Reads `source` to its end through `pipeline`: a batch ends every `batch_size` records and
/// at each pause of the source; at the end the still-open windows are emitted when
/// `final_flush`.
pub(crate) fn drive(
    pipeline: &mut Pipeline,
    source: &mut impl Bounded,
    batch_size: usize,
    final_flush: bool,
) -> anyhow::Result<()> {
    let batch_size = batch_size.max(1);
    let mut in_batch = 0;
    loop {
        match source.next_record()? {
            Next::Record(record) => {
                pipeline.process(record)?;
                in_batch += 1;
                if in_batch == batch_size {
                    in_batch = 0;
                    pipeline.end_batch()?;
                }
            }
            Next::Pause => {
                in_batch = 0;
                pipeline.end_batch()?;
            }
            Next::End => return pipeline.finish(final_flush),
        }
    }
}

/// Banner lines of the file mode.
pub(crate) fn banner_lines(job: &FileJob) -> Vec<(&'static str, String)> {
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
