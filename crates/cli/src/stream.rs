//! `ratings-stream run` in Kafka mode: consume every partition of `ratings`, run the engine,
//! publish each window to `metrics` and rejected/late records to the dead-letter topic.
//!
//! Outputs are flushed and consumer offsets committed every `--commit-interval` (flush first,
//! then commit: at-least-once). A restart resumes from the committed offsets; window state is not
//! checkpointed yet, so windows open at a restart start empty.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_connectors::kafka::{KafkaSource, PollOutcome, Producer, StartFrom};
use ratings_core::{DeadLetter, Engine, WindowResult};

use crate::args::{RunArgs, StartArg};
use crate::catalog_source;
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
    let stream = &args.stream;
    let config = args.engine.engine_config()?;
    let loaded = catalog_source::load(args.engine.movies.as_deref())?;
    let settings = args.kafka.settings(&stream.client_id);
    let started_at = (crate::pipeline::now_millis() / 1000) as u64;
    let late_topic = stream
        .late_topic
        .clone()
        .unwrap_or_else(|| stream.dead_letter_topic.clone());
    let metrics = Arc::new(PromMetrics::new());
    let metrics_at = match stream.metrics_address.as_str() {
        "off" => "off".to_string(),
        address => format!("http://{}/metrics", serve(Arc::clone(&metrics), address)?),
    };
    banner(
        "Kafka mode",
        &config,
        &[
            ("kafka", settings.describe()),
            ("input topic", args.kafka.ratings_topic.clone()),
            ("metrics topic", stream.metrics_topic.clone()),
            ("dead letters", stream.dead_letter_topic.clone()),
            ("late records", late_topic.clone()),
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
    let start = match stream.starting_offsets {
        StartArg::Earliest => StartFrom::Earliest,
        StartArg::Latest => StartFrom::Latest,
    };
    let mut source = KafkaSource::connect(
        &settings,
        &args.kafka.ratings_topic,
        &stream.group_id,
        start,
    )?;
    let producer = Arc::new(Producer::connect(&settings)?);
    let outputs = Outputs {
        windows: Box::new(TopicSink {
            producer: Arc::clone(&producer),
            topic: stream.metrics_topic.clone(),
        }),
        dead_letters: Box::new(TopicSink {
            producer: Arc::clone(&producer),
            topic: stream.dead_letter_topic.clone(),
        }),
        late: Box::new(TopicSink {
            producer: Arc::clone(&producer),
            topic: late_topic,
        }),
        parquet: args.parquet.open_sink(&config.windows, started_at)?,
    };
    let engine = Engine::new(config, loaded.catalog);
    let mut pipeline = Pipeline::new(
        engine,
        outputs,
        args.kafka.ratings_topic.clone(),
        args.max_record_bytes,
    );
    let stop = crate::demo::stop_flag()?;
    let started = Instant::now();
    let mut loop_state = LoopState::new();
    let mut in_batch = 0u64;
    let mut steps = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let outcome = source.poll(|record| {
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
            pipeline.end_batch()?;
        }
        // clocks are read every few hundred records only: they are not free at 1 M records/s
        if !idle && !steps.is_multiple_of(TIMER_STEPS) {
            continue;
        }
        if stream.exit_at_end && source.all_at_end() {
            break;
        }
        if loop_state.last_commit.elapsed() >= stream.commit_interval {
            commit(&mut pipeline, &producer, &source)?;
            loop_state.last_commit = Instant::now();
        }
        if loop_state.last_metrics.elapsed() >= METRICS_INTERVAL {
            loop_state.refresh_metrics(&pipeline, &source, &producer, &metrics);
        }
        if loop_state.started.elapsed() >= stream.progress_interval {
            loop_state.report(&pipeline, &source, &producer, args)?;
        }
    }
    pipeline.finish(stream.exit_at_end && !args.no_final_flush)?;
    producer.flush(FLUSH_TIMEOUT)?;
    commit(&mut pipeline, &producer, &source)?;
    loop_state.refresh_metrics(&pipeline, &source, &producer, &metrics);
    loop_state.report(&pipeline, &source, &producer, args)?;
    finish_report(&pipeline, args.summary_file.as_deref(), started)
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
