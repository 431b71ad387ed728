//! The Kafka job: consume every partition of `ratings`, run the pipeline, publish each window
//! to `metrics` and rejected/late records to the dead-letter topic, commit by the delivery
//! guarantee, and keep progress and metrics going — until stopped, or until every partition is
//! read with `exit_at_end`. A transaction the broker aborted restarts the job from the last
//! checkpoint, in the same process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_connectors::checkpoint::CheckpointStore;
use ratings_connectors::kafka::{DeliveryObserver, KafkaSettings, Producer, Start};
use ratings_connectors::parquet::{RAW_ROOT, RAW_SCHEMA};
use ratings_connectors::storage::Storage;
use ratings_core::{Engine, EngineConfig};

use super::monitor::Monitor;
use super::Stop;
use crate::catalog::LoadedCatalog;
use crate::delivery::exactly_once::rebuild::WindowsChange;
use crate::delivery::exactly_once::recovery::{Recovered, RecoveryPlan};
use crate::delivery::exactly_once::transactions::KafkaTransactions;
use crate::delivery::exactly_once::{Commit, EpochTables, RedoEpoch, Timeouts};
use crate::delivery::Delivery;
use crate::pipeline::Pipeline;
use crate::report::Summary;
use crate::sink::delta::DeltaTables;
use crate::sink::parquet::Publishing;
use crate::sink::topic::TopicSink;
use crate::sink::{Carries, Outputs, Sink};
use crate::source::kafka::KafkaSource;
use crate::telemetry::prometheus::Metrics;
use ratings_settings::{Guarantee, JobConfig, KafkaJob, TableFormat};

/// Records per batch before pending update-mode results are emitted.
const BATCH: u64 = 10_000;
/// Records between two looks at the clock (commit and progress timers).
const TIMER_STEPS: u64 = 256;
/// Pause between two attempts to commit an epoch while Kafka is unreachable.
const COMMIT_RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long shutdown waits for the producer to deliver what is queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one transaction step may block before the main loop gets control back.
const STEP_TIMEOUT: Duration = Duration::from_secs(1);

/// A transaction step still running after this has wedged its producer (see [`Timeouts`]).
const STUCK_STEP: Duration = Duration::from_secs(30);

/// How a run of the Kafka job ended.
pub(crate) enum Ended {
    /// Asked to stop, or the input ended (with `exit_at_end`): everything committed.
    Done(Summary),
    /// The lease was lost: it stopped at once, writing nothing more.
    LeaseLost(Summary),
}

/// Runs the Kafka job until `stop` says so (or the input ends, with `exit_at_end`). When the
/// lease is lost, it returns at once: nothing more is written.
pub(crate) fn run(
    config: &JobConfig,
    engine_config: &EngineConfig,
    job: &KafkaJob,
    loaded: &LoadedCatalog,
    metrics: &Arc<Metrics>,
    stop: Stop<'_>,
) -> anyhow::Result<Ended> {
    let started = Instant::now();
    loop {
        // a lost lease: registering the transactional id again would fence the new holder
        if stop.lease_lost() {
            return Ok(Ended::LeaseLost(Summary::default()));
        }
        let mut running = Running::start(config, job, engine_config, loaded, metrics)?;
        match running.run_until(stop, job) {
            Ok(()) if stop.lease_lost() => {
                return Ok(Ended::LeaseLost(Summary::of(
                    &running.pipeline,
                    started.elapsed(),
                )));
            }
            Ok(()) => {
                running.shutdown(job)?;
                return Ok(Ended::Done(Summary::of(
                    &running.pipeline,
                    started.elapsed(),
                )));
            }
            Err(error) if error.is::<RedoEpoch>() => {
                tracing::warn!("{error:#}; restarting from the last committed epoch");
            }
            Err(error) => match running.delivery.overdue() {
                // the broker aborts a transaction open too long and fences its producer
                Some(overdue) => tracing::warn!(
                    "{overdue} (last error: {error:#}); restarting from the last committed epoch"
                ),
                None => return Err(error),
            },
        }
        metrics.new_job();
    }
}

/// The running job: source, pipeline, outputs, delivery and telemetry.
struct Running {
    source: KafkaSource,
    producer: Arc<Producer>,
    pipeline: Pipeline,
    delivery: Delivery,
    monitor: Monitor,
    /// Whether an epoch committed since the start (the first is logged: a takeover's end).
    committed_once: bool,
}

impl Running {
    /// Connects to Kafka and sets the job up: exactly-once, from its checkpoint.
    fn start(
        config: &JobConfig,
        job: &KafkaJob,
        engine_config: &EngineConfig,
        loaded: &LoadedCatalog,
        metrics: &Arc<Metrics>,
    ) -> anyhow::Result<Running> {
        let settings = job.connection.settings();
        let (topic, group) = (&job.ratings_topic, &job.group_id);
        if job.delivery.guarantee == Guarantee::AtLeastOnce {
            let start = Start::Committed(job.starting_offsets);
            let source = KafkaSource::connect(&settings, topic, group, &start)?;
            let producer = Arc::new(Producer::connect(&settings)?);
            observe_window_deliveries(&producer, &job.metrics_topic, metrics);
            let engine = Engine::new(engine_config.clone(), Arc::clone(&loaded.catalog));
            let pipeline = pipeline(
                config,
                job,
                engine,
                &producer,
                Publishing::immediate_now(),
                None,
            )?;
            if let Some(storage) = pipeline.outputs().storage() {
                metrics.watch_storage(Arc::clone(storage));
            }
            let delivery = Delivery::AtLeastOnce;
            let monitor = Monitor::new(Arc::clone(metrics), config, job);
            return Ok(Running::new(source, producer, pipeline, delivery, monitor));
        }
        let store = checkpoint_store(config, job)?;
        // registering the transactional id fences an older processor and settles its transaction
        let producer = Arc::new(Producer::transactional(
            &settings,
            job.transactional_id(),
            job.delivery.transaction_timeout,
        )?);
        let storage = Arc::clone(store.storage());
        metrics.watch_storage(Arc::clone(&storage));
        let kafka = KafkaTransactions::new(Arc::clone(&producer), &settings, topic, group)?;
        let plan = RecoveryPlan {
            topic,
            group,
            starting_offsets: job.starting_offsets,
            identity: config.identity(job),
            raw_output: config.parquet.storage.is_some(),
            timeouts: Timeouts {
                transaction: job.delivery.transaction_timeout,
                step: STEP_TIMEOUT,
                stuck: STUCK_STEP,
            },
        };
        let tables = epoch_tables(config, job, &storage)?;
        let recovered = Recovered::recover(store, Arc::new(kafka), tables, &plan)?;
        let change = WindowsChange {
            raw: config.parquet.storage.is_some().then_some(&storage),
            reset: job.delivery.reset_windows,
        };
        let engine =
            recovered.engine(engine_config.clone(), Arc::clone(&loaded.catalog), change)?;
        let mut pipeline = pipeline(
            config,
            job,
            engine,
            &producer,
            Publishing::WithEpochs,
            Some(&storage),
        )?;
        let source = KafkaSource::connect(&settings, topic, group, &recovered.start)?;
        if let Some(epoch) = recovered.restored_epoch {
            tracing::info!(
                "checkpoint: resuming after epoch {epoch} (watermark {}, {} open windows)",
                pipeline
                    .engine()
                    .watermark()
                    .map_or("none".into(), ratings_core::time::rfc3339_seconds),
                pipeline.engine().open_windows()
            );
        }
        let coordinator = recovered.resume(&mut pipeline)?;
        let delivery = Delivery::ExactlyOnce(Box::new(coordinator));
        let monitor = Monitor::new(Arc::clone(metrics), config, job);
        Ok(Running::new(source, producer, pipeline, delivery, monitor))
    }

    fn new(
        source: KafkaSource,
        producer: Arc<Producer>,
        pipeline: Pipeline,
        delivery: Delivery,
        monitor: Monitor,
    ) -> Running {
        monitor.watch_kafka(&source, &producer);
        Running {
            source,
            producer,
            pipeline,
            delivery,
            monitor,
            committed_once: false,
        }
    }

    /// The main loop: one record per step; batches end every `BATCH` records or when the input
    /// is idle; commits, metrics and progress reports follow their intervals.
    fn run_until(&mut self, stop: Stop<'_>, job: &KafkaJob) -> anyhow::Result<()> {
        let (mut in_batch, mut steps) = (0u64, 0u64);
        while !stop.now() {
            if self.delivery.waiting() {
                // the epoch waits for Kafka: read nothing more, keep metrics and progress going
                std::thread::sleep(COMMIT_RETRY_PAUSE);
                self.on_timers()?;
                continue;
            }
            if self.emit_commit_due() {
                self.commit(false)?;
            }
            let record = self.source.next_record()?;
            let idle = record.is_none();
            if let Some(record) = record {
                let event_time = self.pipeline.process(record)?;
                self.source.event_time(event_time);
                in_batch += 1;
                if self.delivery.note_record(job.delivery.commit_records) {
                    self.commit(false)?;
                }
            }
            steps += 1;
            if in_batch >= BATCH || (idle && in_batch > 0) {
                in_batch = 0;
                self.pipeline.end_batch()?;
                if self.delivery.holds_too_much(&self.pipeline) {
                    self.commit(false)?;
                }
            }
            // clocks are read every few hundred records only: they are not free at 1 M records/s
            if idle || steps.is_multiple_of(TIMER_STEPS) {
                if job.exit_at_end && self.source.all_at_end() {
                    return Ok(());
                }
                self.on_timers()?;
            }
        }
        Ok(())
    }

    /// Exactly-once: windows were written since the last commit and the input is caught up
    /// (every partition read to the end its last fetch showed), so the epoch ends now and they become readable at
    /// once — at most once per floor (see [`Monitor::emit_commit_starts`]). While a backlog is
    /// read, windows wait for the commit interval: commits would only slow the catching up.
    fn emit_commit_due(&mut self) -> bool {
        self.delivery.in_epochs()
            && self.pipeline.windows_unpublished()
            && self.source.caught_up()
            && self.monitor.emit_commit_starts()
    }

    fn on_timers(&mut self) -> anyhow::Result<()> {
        if self.delivery.waiting() || self.monitor.commit_due() || self.first_commit_due() {
            self.commit(false)?;
        }
        self.monitor
            .on_timers(&self.pipeline, &self.source, &self.producer)
    }

    /// Exactly-once: the first epoch after a start (or a takeover) ends as soon as the input is
    /// caught up, not at the commit interval: the processor shows it is back at once.
    fn first_commit_due(&mut self) -> bool {
        !self.committed_once && self.delivery.in_epochs() && self.source.caught_up()
    }

    /// Final windows (with `exit_at_end`), every output delivered, offsets committed, and a
    /// last metrics refresh and progress report.
    fn shutdown(&mut self, job: &KafkaJob) -> anyhow::Result<()> {
        self.pipeline.finish(job.exit_at_end && job.final_flush)?;
        if matches!(self.delivery, Delivery::AtLeastOnce) {
            self.producer.flush(FLUSH_TIMEOUT)?;
        }
        self.commit(true)?;
        while self.delivery.waiting() {
            std::thread::sleep(COMMIT_RETRY_PAUSE);
            self.monitor
                .publish(&self.pipeline, &self.source, &self.producer);
            self.commit(true)?;
        }
        self.delivery.close()?;
        self.monitor
            .publish(&self.pipeline, &self.source, &self.producer);
        self.monitor
            .report(&self.pipeline, &self.source, &self.producer)
    }

    /// Commits the work so far (see [`Delivery::commit`]) and times it.
    fn commit(&mut self, force: bool) -> anyhow::Result<()> {
        let started = Instant::now();
        let done = self
            .delivery
            .commit(&mut self.pipeline, &self.source, &self.producer, force)?;
        let counted = match done {
            Some(Commit::Done(epoch)) => {
                if !self.committed_once {
                    self.committed_once = true;
                    tracing::info!("first epoch committed since the start: epoch {epoch}");
                }
                let windows = self.pipeline.take_unpublished();
                self.monitor.epoch_committed(windows);
                true
            }
            // at-least-once: readable once delivered (the producer observes that latency)
            None => {
                self.pipeline.take_unpublished();
                true
            }
            Some(Commit::Empty | Commit::Waiting) => false,
        };
        self.monitor.committed(started.elapsed(), counted);
        Ok(())
    }
}

/// At-least-once: a window is readable once the broker acknowledged its record; that is its
/// output latency.
fn observe_window_deliveries(producer: &Producer, metrics_topic: &str, metrics: &Metrics) {
    let (topic, latency) = (metrics_topic.to_string(), Arc::clone(metrics.latency()));
    producer
        .health()
        .observe_deliveries(DeliveryObserver(Box::new(move |to, age| {
            if to == topic {
                latency.observe(age);
            }
        })));
}

/// The checkpoint store of an exactly-once job, reset first when asked.
fn checkpoint_store(config: &JobConfig, job: &KafkaJob) -> anyhow::Result<CheckpointStore> {
    let storage = Arc::new(Storage::open_for_writing(&config.checkpoint_url()?)?);
    let store = CheckpointStore::new(storage, &job.delivery.checkpoint_dir);
    if job.delivery.reset_checkpoint && store.exists()? {
        let deleted = store.reset()?;
        tracing::warn!(
            "checkpoint reset: deleted {} ({deleted} files); starting from {:?}",
            store.location(),
            job.starting_offsets
        );
    }
    Ok(store)
}

/// The Delta tables an exactly-once job commits its epochs to, if it writes Delta: the raw
/// one at once, the window types' when their first files come (their folders are recorded in
/// the checkpoint).
fn epoch_tables(
    config: &JobConfig,
    job: &KafkaJob,
    storage: &Arc<Storage>,
) -> anyhow::Result<Option<Box<dyn EpochTables>>> {
    if config.parquet.table_format != TableFormat::Delta || config.parquet.storage.is_none() {
        return Ok(None);
    }
    let app_id = Some(job.transactional_id());
    let raw = [(RAW_ROOT.to_string(), RAW_SCHEMA.clone())];
    let tables = DeltaTables::open(storage, &config.parquet, &raw, app_id)?;
    Ok(Some(Box::new(tables)))
}

/// The pipeline of a Kafka job: Kafka topics and Parquet as outputs.
fn pipeline(
    config: &JobConfig,
    job: &KafkaJob,
    engine: Engine,
    producer: &Arc<Producer>,
    publishing: Publishing,
    shared: Option<&Arc<Storage>>,
) -> anyhow::Result<Pipeline> {
    let windows = &engine.config().windows;
    let mut sinks: Vec<Box<dyn Sink>> = vec![
        TopicSink::new(producer, &job.metrics_topic, Carries::Windows),
        TopicSink::new(producer, &job.dead_letter_topic, Carries::DeadLetters),
        TopicSink::new(producer, job.late_topic(), Carries::Late),
    ];
    if let Some(parquet) = crate::sink::parquet::open(&config.parquet, windows, publishing, shared)?
    {
        sinks.push(Box::new(parquet));
    }
    let outputs = Outputs::new(sinks);
    Ok(Pipeline::new(
        engine,
        outputs,
        job.ratings_topic.clone(),
        crate::pipeline::RecordLimits::of(&config.engine),
    ))
}

/// Banner lines of the Kafka mode.
pub(crate) fn banner_lines(
    config: &JobConfig,
    job: &KafkaJob,
    settings: &KafkaSettings,
) -> Vec<(&'static str, String)> {
    vec![
        ("kafka", settings.describe()),
        ("input topic", job.ratings_topic.clone()),
        ("metrics topic", job.metrics_topic.clone()),
        ("dead letters", job.dead_letter_topic.clone()),
        ("late records", job.late_topic().to_string()),
        ("group id", job.group_id.clone()),
        (
            "starting offsets",
            format!("{:?} (a checkpoint wins)", job.starting_offsets).to_lowercase(),
        ),
        ("delivery", describe_delivery(config, job)),
        ("high availability", describe_high_availability(job)),
        ("commit interval", describe_commits(job)),
        ("exit at end", job.exit_at_end.to_string()),
    ]
}

/// Banner line of the commit cadence.
fn describe_commits(job: &KafkaJob) -> String {
    let delivery = &job.delivery;
    let interval = humantime::format_duration(delivery.commit_interval);
    if delivery.guarantee == Guarantee::AtLeastOnce || delivery.emit_commit_floor.is_zero() {
        return interval.to_string();
    }
    format!(
        "{interval}, and when windows become final (at most every {})",
        humantime::format_duration(delivery.emit_commit_floor)
    )
}

/// Banner line of the delivery guarantee.
fn describe_delivery(config: &JobConfig, job: &KafkaJob) -> String {
    let delivery = &job.delivery;
    match delivery.guarantee {
        Guarantee::AtLeastOnce => "at-least-once (no checkpoint)".into(),
        Guarantee::ExactlyOnce => format!(
            "exactly-once: checkpoint {} in {}, transactional id {}, transaction timeout {}{}",
            delivery.checkpoint_dir,
            config.checkpoint_url().unwrap_or_default(),
            job.transactional_id(),
            humantime::format_duration(delivery.transaction_timeout),
            if delivery.reset_checkpoint {
                ", RESET requested"
            } else {
                ""
            }
        ),
    }
}

/// Banner line of high availability.
fn describe_high_availability(job: &KafkaJob) -> String {
    match &job.high_availability {
        None => "off (this processor runs at once)".into(),
        Some(ha) => format!(
            "standby until this processor holds the lease {} (session timeout {})",
            job.lease_name(),
            humantime::format_duration(ha.session_timeout)
        ),
    }
}
