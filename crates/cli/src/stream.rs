//! `ratings-stream run` in Kafka mode: consume every partition of `ratings`, run the engine,
//! publish each window to `metrics` and rejected/late records to the dead-letter topic.
//!
//! Outputs are flushed and consumer offsets committed every `--commit-interval` (flush first,
//! then commit: at-least-once). A restart resumes from the committed offsets; window state is not
//! checkpointed yet, so windows open at a restart start empty.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_connectors::kafka::{KafkaSettings, KafkaSource, PollOutcome, Producer, StartFrom};
use ratings_core::{DeadLetter, Engine, EngineConfig, WindowResult, WindowSpec};

use crate::args::{RunArgs, StartArg};
use crate::catalog_source::{self, LoadedCatalog};
use crate::pipeline::{Outputs, Pipeline};
use crate::report::banner;
use crate::run::finish_report;
use crate::sinks::{RecordSink, WindowSink};
use crate::source::{Format, SourceRecord};
use crate::telemetry::{serve, Progress, PromMetrics, Reading};

/// Records per batch before pending update-mode results are emitted.
const BATCH: u64 = 10_000;
/// How often the Prometheus metrics are refreshed.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);
/// Records between two looks at the clock (commit and progress timers).
const TIMER_STEPS: u64 = 256;
/// How long a periodic commit waits for the outputs before trying again later.
const COMMIT_FLUSH_WAIT: Duration = Duration::from_secs(2);
/// How long shutdown waits for the producer to deliver what is queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs until Ctrl-C/SIGTERM, or until every partition is read with `--exit-at-end`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let config = args.engine.engine_config()?;
    let loaded = catalog_source::load(args.engine.movies.as_deref())?;
    let settings = args.kafka.settings(&args.stream.client_id);
    let metrics = Arc::new(PromMetrics::new());
    let metrics_at = match args.stream.metrics_address.as_str() {
        "off" => "off".to_string(),
        address => format!("http://{}/metrics", serve(Arc::clone(&metrics), address)?),
    };
    print_banner(args, &config, &settings, &loaded, metrics_at);
    let start = match args.stream.starting_offsets {
        StartArg::Earliest => StartFrom::Earliest,
        StartArg::Latest => StartFrom::Latest,
    };
    let source = KafkaSource::connect(
        &settings,
        &args.kafka.ratings_topic,
        &args.stream.group_id,
        start,
    )?;
    let producer = Arc::new(Producer::connect(&settings)?);
    let outputs = outputs(args, &producer, &config.windows)?;
    let pipeline = Pipeline::new(
        Engine::new(config, loaded.catalog),
        outputs,
        args.kafka.ratings_topic.clone(),
        args.max_record_bytes,
    );
    let mut job = Job {
        source,
        producer,
        pipeline,
        metrics,
        timers: LoopState::new(),
    };
    let stop = crate::shutdown::stop_flag()?;
    let started = Instant::now();
    job.run_until(&stop, args)?;
    job.shutdown(args)?;
    finish_report(&job.pipeline, args.summary_file.as_deref(), started)
}

/// The start-up banner: the effective configuration, secrets redacted.
fn print_banner(
    args: &RunArgs,
    config: &EngineConfig,
    settings: &KafkaSettings,
    loaded: &LoadedCatalog,
    metrics_at: String,
) {
    let stream = &args.stream;
    banner(
        "Kafka mode",
        config,
        &[
            ("kafka", settings.describe()),
            ("input topic", args.kafka.ratings_topic.clone()),
            ("metrics topic", stream.metrics_topic.clone()),
            ("dead letters", stream.dead_letter_topic.clone()),
            ("late records", late_topic(args).to_string()),
            ("group id", stream.group_id.clone()),
            (
                "starting offsets",
                format!("{:?} (committed offsets win)", stream.starting_offsets).to_lowercase(),
            ),
            (
                "commit interval",
                humantime::format_duration(stream.commit_interval).to_string(),
            ),
            (
                "movies",
                format!("{} ({} movies)", loaded.origin, loaded.catalog.len()),
            ),
            ("prometheus", metrics_at),
            ("parquet", args.parquet.describe()),
            ("exit at end", stream.exit_at_end.to_string()),
        ],
    );
}

/// The late-records topic: `--late-topic`, else the dead-letter topic.
fn late_topic(args: &RunArgs) -> &str {
    args.stream
        .late_topic
        .as_deref()
        .unwrap_or(&args.stream.dead_letter_topic)
}

/// The Kafka topics as sinks, plus the Parquet outputs when configured.
fn outputs(
    args: &RunArgs,
    producer: &Arc<Producer>,
    windows: &[WindowSpec],
) -> anyhow::Result<Outputs> {
    let topic = |name: &str| {
        Box::new(TopicSink {
            producer: Arc::clone(producer),
            topic: name.to_string(),
        })
    };
    Ok(Outputs {
        windows: topic(&args.stream.metrics_topic),
        dead_letters: topic(&args.stream.dead_letter_topic),
        late: topic(late_topic(args)),
        parquet: args.parquet.open_sink(windows)?,
    })
}

/// The running processor: source, pipeline, outputs and the timers of the main loop.
struct Job {
    source: KafkaSource,
    producer: Arc<Producer>,
    pipeline: Pipeline,
    metrics: Arc<PromMetrics>,
    timers: LoopState,
}

impl Job {
    /// The main loop: one record per step; batches end every `BATCH` records or when the input
    /// is idle; commits, metrics and progress reports follow their intervals.
    fn run_until(&mut self, stop: &AtomicBool, args: &RunArgs) -> anyhow::Result<()> {
        let (mut in_batch, mut steps) = (0u64, 0u64);
        while !stop.load(Ordering::Relaxed) {
            let pipeline = &mut self.pipeline;
            let outcome = self.source.poll(|record| {
                pipeline.process(SourceRecord {
                    payload: record.payload,
                    format: Format::Json,
                    partition: record.partition,
                    offset: record.offset,
                })
            })?;
            steps += 1;
            in_batch += u64::from(outcome == PollOutcome::Record);
            let idle = outcome == PollOutcome::Idle;
            if in_batch >= BATCH || (idle && in_batch > 0) {
                in_batch = 0;
                self.pipeline.end_batch()?;
            }
            // clocks are read every few hundred records only: they are not free at 1 M records/s
            if idle || steps.is_multiple_of(TIMER_STEPS) {
                if args.stream.exit_at_end && self.source.all_at_end() {
                    return Ok(());
                }
                self.on_timers(args)?;
            }
        }
        Ok(())
    }

    fn on_timers(&mut self, args: &RunArgs) -> anyhow::Result<()> {
        if self.timers.last_commit.elapsed() >= args.stream.commit_interval {
            commit(&mut self.pipeline, &self.producer, &self.source)?;
            self.timers.last_commit = Instant::now();
        }
        if self.timers.last_metrics.elapsed() >= METRICS_INTERVAL {
            self.timers.refresh_metrics(
                &self.pipeline,
                &self.source,
                &self.producer,
                &self.metrics,
            );
        }
        if self.timers.started.elapsed() >= args.stream.progress_interval {
            self.timers
                .report(&self.pipeline, &self.source, &self.producer, args)?;
        }
        Ok(())
    }

    /// Final windows (with `--exit-at-end`), every output delivered, offsets committed, and a
    /// last metrics refresh and progress report.
    fn shutdown(&mut self, args: &RunArgs) -> anyhow::Result<()> {
        self.pipeline
            .finish(args.stream.exit_at_end && !args.no_final_flush)?;
        self.producer.flush(FLUSH_TIMEOUT)?;
        commit(&mut self.pipeline, &self.producer, &self.source)?;
        self.timers
            .refresh_metrics(&self.pipeline, &self.source, &self.producer, &self.metrics);
        self.timers
            .report(&self.pipeline, &self.source, &self.producer, args)
    }
}

/// Makes everything processed so far durable in Kafka, then commits the input offsets. While
/// the broker is unreachable the outputs stay queued (librdkafka retries them) and the commit
/// is left for a later round; only a delivery that finally failed is an error.
fn commit(
    pipeline: &mut Pipeline,
    producer: &Producer,
    source: &KafkaSource,
) -> anyhow::Result<()> {
    pipeline.end_batch()?;
    if !producer.flush_within(COMMIT_FLUSH_WAIT)? {
        return Ok(());
    }
    if let Err(error) = source.commit() {
        source.health().note_error(&format!("{error:#}"));
    }
    Ok(())
}

/// Timers and previous readings of the main loop.
struct LoopState {
    last_commit: Instant,
    last_metrics: Instant,
    /// What the Prometheus metrics were last brought to.
    metrics_reading: Reading,
    /// Start of the current progress interval.
    started: Instant,
    /// The source's idle time at that start.
    idle_before: Duration,
    /// The reading at that start.
    progress_reading: Reading,
}

impl LoopState {
    fn new() -> LoopState {
        LoopState {
            last_commit: Instant::now(),
            last_metrics: Instant::now(),
            metrics_reading: Reading::default(),
            started: Instant::now(),
            idle_before: Duration::ZERO,
            progress_reading: Reading::default(),
        }
    }

    /// Brings the Prometheus metrics up to date (consumer lag included).
    fn refresh_metrics(
        &mut self,
        pipeline: &Pipeline,
        source: &KafkaSource,
        producer: &Producer,
        metrics: &PromMetrics,
    ) {
        let now = reading(pipeline, source, producer);
        metrics.update(&self.metrics_reading, &now);
        self.metrics_reading = now;
        self.last_metrics = Instant::now();
    }

    /// Prints a progress report for the interval since the previous one.
    fn report(
        &mut self,
        pipeline: &Pipeline,
        source: &KafkaSource,
        producer: &Producer,
        args: &RunArgs,
    ) -> anyhow::Result<()> {
        let now = reading(pipeline, source, producer);
        let elapsed = self.started.elapsed();
        let busy = elapsed.saturating_sub(source.idle_time() - self.idle_before);
        let progress = Progress::between(
            &self.progress_reading,
            &now,
            elapsed,
            busy,
            args.stream.commit_interval,
        );
        if args.stream.progress_json {
            eprintln!("{}", serde_json::to_string(&progress)?);
        } else {
            eprintln!("{}", progress.line());
        }
        self.progress_reading = now;
        self.started = Instant::now();
        self.idle_before = source.idle_time();
        Ok(())
    }
}

/// Everything measured now, with the consumer lag (asked from the broker) and Kafka health.
fn reading(pipeline: &Pipeline, source: &KafkaSource, producer: &Producer) -> Reading {
    let (consumer, output) = (source.health(), producer.health());
    let last_error = output.last_error().or_else(|| consumer.last_error());
    Reading::of(
        pipeline,
        source.lag().ok(),
        consumer.errors() + output.errors(),
        last_error,
    )
}

/// A Kafka topic as a window or dead-letter sink. Windows are keyed by type and start, so a
/// window always lands on the same partition.
struct TopicSink {
    producer: Arc<Producer>,
    topic: String,
}

impl WindowSink for TopicSink {
    fn write_window(
        &mut self,
        window: &WindowResult,
        processing_time_millis: i64,
    ) -> std::io::Result<()> {
        let key = format!("{}|{}", window.window_type, window.window_start);
        self.producer
            .send(
                &self.topic,
                Some(key.as_bytes()),
                window.to_json(processing_time_millis).as_bytes(),
            )
            .map_err(std::io::Error::other)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl RecordSink for TopicSink {
    fn write_record(&mut self, record: &DeadLetter<'_>) -> std::io::Result<()> {
        self.producer
            .send(&self.topic, None, record.to_json().as_bytes())
            .map_err(std::io::Error::other)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
