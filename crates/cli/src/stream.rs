//! `ratings-stream run` in Kafka mode: consume every partition of `ratings`, run the engine,
//! publish each window to `metrics` and rejected/late records to the dead-letter topic.
//!
//! Every `--commit-interval` (or `--commit-records`) the work so far is committed:
//! exactly-once, as an epoch (see [`crate::epochs`]); at-least-once, by flushing the outputs
//! and then committing the consumer offsets (a restart may repeat outputs and starts its
//! windows empty).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_connectors::kafka::{KafkaSettings, KafkaSource, PollOutcome, Producer, Start};
use ratings_connectors::parquet::Publishing;
use ratings_connectors::storage::Storage;
use ratings_core::{DeadLetter, Engine, EngineConfig, WindowResult, WindowSpec};

use crate::args::{DeliveryArg, RunArgs};
use crate::catalog_source::{self, LoadedCatalog};
use crate::epochs::{checkpoint_store, Epochs, Recovered, RedoEpoch};
use crate::pipeline::{Outputs, Pipeline};
use crate::report::banner;
use crate::run::finish_report;
use crate::sinks::{RecordSink, WindowSink};
use crate::source::{Format, SourceRecord};
use crate::telemetry::{serve, Commits, Progress, PromMetrics, Reading};

/// Records per batch before pending update-mode results are emitted.
const BATCH: u64 = 10_000;
/// How often the Prometheus metrics are refreshed.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);
/// Records between two looks at the clock (commit and progress timers).
const TIMER_STEPS: u64 = 256;
/// How long a periodic commit waits for the outputs before trying again later.
const COMMIT_FLUSH_WAIT: Duration = Duration::from_secs(2);
/// Pause between two attempts to commit an epoch while Kafka is unreachable.
const COMMIT_RETRY_PAUSE: Duration = Duration::from_millis(100);
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
    let stop = crate::shutdown::stop_flag()?;
    let started = Instant::now();
    loop {
        let mut job = Job::start(args, &config, &loaded, &settings, Arc::clone(&metrics))?;
        match job.run_until(&stop, args) {
            Ok(()) => {
                job.shutdown(args)?;
                return finish_report(&job.pipeline, args.summary_file.as_deref(), started);
            }
            Err(error) if error.is::<RedoEpoch>() => {
                eprintln!("{error:#}; restarting from the last committed epoch");
            }
            Err(error) => match job.overdue_epoch() {
                // the broker aborts a transaction open too long and fences its producer
                Some(overdue) => eprintln!(
                    "{overdue} (last error: {error:#}); restarting from the last committed epoch"
                ),
                None => return Err(error),
            },
        }
    }
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
                format!("{:?} (a checkpoint wins)", stream.starting_offsets).to_lowercase(),
            ),
            ("delivery", describe_delivery(args)),
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

/// Banner line of the delivery guarantee.
fn describe_delivery(args: &RunArgs) -> String {
    let stream = &args.stream;
    match stream.delivery {
        DeliveryArg::AtLeastOnce => "at-least-once (no checkpoint)".into(),
        DeliveryArg::ExactlyOnce => format!(
            "exactly-once: checkpoint {} in {}, transactional id {}, transaction timeout {}{}",
            stream.checkpoint_dir,
            stream
                .checkpoint_storage
                .as_deref()
                .or(args.parquet.storage.as_deref())
                .unwrap_or("."),
            transactional_id(args),
            humantime::format_duration(stream.transaction_timeout),
            if stream.reset_checkpoint {
                ", RESET requested"
            } else {
                ""
            }
        ),
    }
}

/// `--transactional-id`, else the group id.
fn transactional_id(args: &RunArgs) -> &str {
    args.stream
        .transactional_id
        .as_deref()
        .unwrap_or(&args.stream.group_id)
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
    publishing: Publishing,
    shared: Option<&Arc<Storage>>,
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
        parquet: args.parquet.open_sink(windows, publishing, shared)?,
    })
}

/// How the work is committed.
enum Delivery {
    AtLeastOnce,
    ExactlyOnce(Box<Epochs>),
}

/// The running processor: source, pipeline, outputs and the timers of the main loop.
struct Job {
    source: KafkaSource,
    producer: Arc<Producer>,
    pipeline: Pipeline,
    delivery: Delivery,
    metrics: Arc<PromMetrics>,
    timers: LoopState,
}

impl Job {
    /// Connects to Kafka and sets the processor up: exactly-once, from its checkpoint.
    fn start(
        args: &RunArgs,
        config: &EngineConfig,
        loaded: &LoadedCatalog,
        settings: &KafkaSettings,
        metrics: Arc<PromMetrics>,
    ) -> anyhow::Result<Job> {
        let topic = &args.kafka.ratings_topic;
        let group = &args.stream.group_id;
        if args.stream.delivery == DeliveryArg::AtLeastOnce {
            let source = KafkaSource::connect(
                settings,
                topic,
                group,
                &Start::Committed(args.stream.starting_offsets),
            )?;
            let producer = Arc::new(Producer::connect(settings)?);
            let engine = Engine::new(config.clone(), Arc::clone(&loaded.catalog));
            let pipeline = pipeline(args, engine, &producer, Publishing::immediate_now(), None)?;
            if let Some(sink) = pipeline.parquet() {
                metrics.watch_storage(Arc::clone(sink.storage()));
            }
            return Ok(Job::new(
                source,
                producer,
                pipeline,
                Delivery::AtLeastOnce,
                metrics,
            ));
        }
        let store = checkpoint_store(args)?;
        if args.stream.reset_checkpoint && store.exists()? {
            eprintln!(
                "WARNING: --reset-checkpoint: deleting {} and starting from {:?}; outputs already \
                 written from the old checkpoint's input may be written again",
                store.location(),
                args.stream.starting_offsets
            );
            store.reset()?;
        }
        // registering the transactional id fences an older processor and settles its transaction
        let producer = Arc::new(Producer::transactional(
            settings,
            transactional_id(args),
            args.stream.transaction_timeout,
        )?);
        let storage = Arc::clone(store.storage());
        metrics.watch_storage(Arc::clone(&storage));
        let mut recovered = Recovered::recover(args, settings, store)?;
        let engine = recovered.engine(config.clone(), loaded)?;
        let mut pipeline = pipeline(
            args,
            engine,
            &producer,
            Publishing::WithEpochs,
            Some(&storage),
        )?;
        let source = KafkaSource::connect(settings, topic, group, &recovered.start)?;
        if let Some(epoch) = recovered.restored_epoch {
            eprintln!(
                "checkpoint: resuming after epoch {epoch} (watermark {}, {} open windows)",
                pipeline
                    .engine()
                    .watermark()
                    .map_or("none".into(), ratings_core::time::rfc3339_seconds),
                pipeline.engine().open_windows()
            );
        }
        let epochs = recovered.resume(&mut pipeline, &producer)?;
        Ok(Job::new(
            source,
            producer,
            pipeline,
            Delivery::ExactlyOnce(Box::new(epochs)),
            metrics,
        ))
    }

    fn new(
        source: KafkaSource,
        producer: Arc<Producer>,
        pipeline: Pipeline,
        delivery: Delivery,
        metrics: Arc<PromMetrics>,
    ) -> Job {
        metrics.watch_kafka([Arc::clone(source.health()), Arc::clone(producer.health())]);
        Job {
            source,
            producer,
            pipeline,
            delivery,
            metrics,
            timers: LoopState::new(),
        }
    }

    /// The main loop: one record per step; batches end every `BATCH` records or when the input
    /// is idle; commits, metrics and progress reports follow their intervals.
    fn run_until(&mut self, stop: &AtomicBool, args: &RunArgs) -> anyhow::Result<()> {
        let (mut in_batch, mut steps) = (0u64, 0u64);
        while !stop.load(Ordering::Relaxed) {
            if self.commit_pending() {
                // the epoch waits for Kafka: read nothing more, keep metrics and progress going
                std::thread::sleep(COMMIT_RETRY_PAUSE);
                self.on_timers(args)?;
                continue;
            }
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
            if outcome == PollOutcome::Record {
                in_batch += 1;
                if let Delivery::ExactlyOnce(epochs) = &mut self.delivery {
                    epochs.note_record();
                    if epochs.full(args.stream.commit_records, &self.pipeline) {
                        self.commit(false)?;
                    }
                }
            }
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
        if self.commit_pending() || self.timers.last_commit.elapsed() >= args.stream.commit_interval
        {
            self.commit(false)?;
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
        if matches!(self.delivery, Delivery::AtLeastOnce) {
            self.producer.flush(FLUSH_TIMEOUT)?;
        }
        self.commit(true)?;
        while self.commit_pending() {
            std::thread::sleep(COMMIT_RETRY_PAUSE);
            self.timers.refresh_metrics(
                &self.pipeline,
                &self.source,
                &self.producer,
                &self.metrics,
            );
            self.commit(true)?;
        }
        self.timers
            .refresh_metrics(&self.pipeline, &self.source, &self.producer, &self.metrics);
        self.timers
            .report(&self.pipeline, &self.source, &self.producer, args)
    }
}

impl Job {
    /// Exactly-once: why the open epoch's transaction is past its timeout, if it is.
    fn overdue_epoch(&self) -> Option<String> {
        match &self.delivery {
            Delivery::ExactlyOnce(epochs) => epochs.overdue(),
            Delivery::AtLeastOnce => None,
        }
    }

    /// Whether an epoch is sealed and waits for Kafka to commit it.
    fn commit_pending(&self) -> bool {
        matches!(&self.delivery, Delivery::ExactlyOnce(epochs) if epochs.sealed())
    }

    /// Commits the work so far (exactly-once: ends the epoch, `force` even an empty one; if
    /// Kafka cannot commit it yet, it stays sealed and the next call tries again).
    fn commit(&mut self, force: bool) -> anyhow::Result<()> {
        let started = Instant::now();
        match &mut self.delivery {
            Delivery::AtLeastOnce => {
                commit_at_least_once(&mut self.pipeline, &self.producer, &self.source)?
            }
            Delivery::ExactlyOnce(epochs) => {
                epochs.commit(&mut self.pipeline, &self.source, &self.producer, force)?
            }
        }
        // the interval runs from the end of a commit: a slow storage gets longer epochs, not
        // back-to-back commits of a few records each
        self.timers.last_commit = Instant::now();
        self.timers.commits.count += 1;
        self.timers.commits.total += started.elapsed();
        Ok(())
    }
}

/// The pipeline of a Kafka-mode job: Kafka topics and Parquet as outputs.
fn pipeline(
    args: &RunArgs,
    engine: Engine,
    producer: &Arc<Producer>,
    publishing: Publishing,
    shared: Option<&Arc<Storage>>,
) -> anyhow::Result<Pipeline> {
    let outputs = outputs(args, producer, &engine.config().windows, publishing, shared)?;
    Ok(Pipeline::new(
        engine,
        outputs,
        args.kafka.ratings_topic.clone(),
        args.max_record_bytes,
    ))
}

/// Makes everything processed so far durable in Kafka, then commits the input offsets. While
/// the broker is unreachable the outputs stay queued (librdkafka retries them) and the commit
/// is left for a later round; only a delivery that finally failed is an error.
fn commit_at_least_once(
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
    /// Commits since that start.
    commits: Commits,
}

impl LoopState {
    fn new() -> LoopState {
        LoopState {
            last_commit: Instant::now(),
            // due at once: the first records show in /metrics without waiting an interval
            last_metrics: Instant::now()
                .checked_sub(METRICS_INTERVAL)
                .unwrap_or_else(Instant::now),
            metrics_reading: Reading::default(),
            started: Instant::now(),
            idle_before: Duration::ZERO,
            progress_reading: Reading::default(),
            commits: Commits::default(),
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
            std::mem::take(&mut self.commits),
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

/// Everything measured now, with the consumer lag (from the last end offsets the broker gave) and
/// Kafka health.
fn reading(pipeline: &Pipeline, source: &KafkaSource, producer: &Producer) -> Reading {
    let (consumer, output) = (source.health(), producer.health());
    let last_error = output.last_error().or_else(|| consumer.last_error());
    Reading::of(
        pipeline,
        source.lag(),
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
