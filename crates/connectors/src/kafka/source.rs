//! The Kafka source: every partition of one topic, read in event-time alignment.
//!
//! Each partition has its own queue. Every step reads from the partition that is furthest
//! behind in event time (the smallest event time it delivered last, as reported by the caller;
//! partitions not read yet come first, by index), waiting up to a bound for a partition that is
//! not at its end yet and skipping one that is. A backlog is therefore replayed in a
//! deterministic order that keeps the partitions aligned in event time, so the global watermark
//! (the maximum over all partitions, as in Spark) cannot race ahead on one partition and make
//! the records of the others late just because they were read later.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerGroupMetadata};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::arrivals::Arrivals;
use super::batch::{c_topic, BatchQueue};
use super::ends::PartitionEnds;
use super::health::{consumer_first_contact, Health, HealthContext};
use super::settings::KafkaSettings;

/// Where reading starts when nothing says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    Earliest,
    Latest,
    /// The first record at or after this time (epoch milliseconds), per partition.
    Timestamp(i64),
}

/// Where the source starts reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The consumer group's committed offsets, else [`StartFrom`] (at-least-once mode).
    Committed(StartFrom),
    /// [`StartFrom`], whatever the group committed (a new exactly-once processor).
    At(StartFrom),
    /// These next offsets per partition (a checkpoint); every partition must be listed.
    Offsets(BTreeMap<i32, i64>),
}

/// One consumed record.
#[derive(Debug, Clone, Copy)]
pub struct KafkaRecord<'a> {
    /// The value; `None` for a null value (a tombstone).
    pub payload: Option<&'a [u8]>,
    pub partition: i32,
    pub offset: i64,
    /// The record's Kafka timestamp (epoch milliseconds), when it has one.
    pub timestamp: Option<i64>,
}

/// What one [`KafkaSource::poll`] step found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// A record was handed to the callback.
    Record,
    /// Nothing was available from the partition whose turn it was.
    Idle,
}

/// How long start-up waits for the broker before giving up with an error.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a partition that is not at its end may hold up the round-robin.
const PARTITION_WAIT: Duration = Duration::from_millis(200);
/// The same, before a partition has answered at all (first fetch after start-up).
const FIRST_FETCH_WAIT: Duration = Duration::from_secs(5);
/// How long to sleep when every partition is at its end and nothing arrives (any partition's
/// arrival ends the sleep at once).
const IDLE_WAIT: Duration = Duration::from_millis(20);
/// How long a partition at its end that may have new records (see
/// [`KafkaSource::notice_unread`]) may hold up the round-robin, once: after a broker restart
/// its fetch may be slow.
const UNREAD_WAIT: Duration = Duration::from_secs(2);

/// One partition: its queue and where reading it stands.
struct Partition {
    /// Its queue, split off the consumer's; read through `batch`, kept for its arrival signal.
    _split: PartitionQueue<HealthContext>,
    batch: BatchQueue,
    /// Whether the partition was read to its end (and nothing was read from it since).
    at_end: bool,
    /// Whether the partition has delivered a record or its end since start-up.
    answered: bool,
    /// Event time of the last record it delivered (as reported by the caller).
    last_time: Option<i64>,
    /// Next offset to read.
    position: i64,
    /// The end offset at which it was last taken off "at its end" because records were known
    /// to be unread there (see [`KafkaSource::notice_unread`]), and whether it has not
    /// delivered since.
    noticed: (i64, bool),
}

/// What one look at a partition queue found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// A record, handed to the callback.
    Record,
    /// The partition's end, or a client error.
    Event,
    /// Nothing within the timeout.
    Nothing,
}

impl Partition {
    fn new(split: PartitionQueue<HealthContext>, batch: BatchQueue, position: i64) -> Partition {
        Partition {
            _split: split,
            batch,
            at_end: false,
            answered: false,
            last_time: None,
            position,
            noticed: (-1, false),
        }
    }

    /// Takes the next record or event of the queue, waiting up to `timeout`; a record goes to
    /// `handle`.
    fn take(
        &mut self,
        p: usize,
        timeout: Duration,
        health: &Health,
        handle: impl FnOnce(KafkaRecord<'_>) -> anyhow::Result<Option<i64>>,
    ) -> anyhow::Result<Found> {
        let Some(message) = self.batch.next(timeout) else {
            return Ok(Found::Nothing);
        };
        match message.error() {
            Some(KafkaError::PartitionEOF(_)) => {
                // the end is past what no record is delivered at: commit markers, aborted
                // transactions' records (read_committed skips them)
                self.position = self.position.max(message.offset());
                self.at_end = true;
                self.answered = true;
                Ok(Found::Event)
            }
            Some(error) => {
                health.note_error(&format!("{error}: {}", message.error_text()));
                Ok(Found::Event)
            }
            None => {
                self.at_end = false;
                self.answered = true;
                self.noticed.1 = false;
                self.position = message.offset() + 1;
                let record = KafkaRecord {
                    payload: message.payload(),
                    partition: p as i32,
                    offset: message.offset(),
                    timestamp: message.timestamp(),
                };
                if let Some(time) = handle(record)? {
                    self.last_time = Some(time);
                }
                Ok(Found::Record)
            }
        }
    }
}

/// Consumer of all partitions of a topic. See the module documentation.
pub struct KafkaSource {
    consumer: Arc<BaseConsumer<HealthContext>>,
    health: Arc<Health>,
    topic: String,
    partitions: Vec<Partition>,
    /// Raised when a partition queue becomes non-empty.
    arrivals: Arc<Arrivals>,
    /// Steps taken, to look for new data on partitions at their end every so often.
    steps: u64,
    /// Time spent waiting in polls that found nothing (their timeouts, added up).
    idle: Duration,
    /// The partitions' end offsets, for the lag.
    ends: PartitionEnds,
    /// The client errors counted at the last look.
    errors_seen: u64,
    /// The topic, for librdkafka's cached end offsets.
    topic_c: CString,
    /// Records delivered since start-up.
    records: u64,
    /// [`KafkaSource::caught_up`] looks again once this many records were delivered.
    look_again_at: u64,
}

impl KafkaSource {
    /// Connects, checks that `topic` exists, and assigns all its partitions from `start`.
    pub fn connect(
        settings: &KafkaSettings,
        topic: &str,
        group_id: &str,
        start: &Start,
    ) -> anyhow::Result<KafkaSource> {
        let config = settings.client_config(&[
            ("group.id", group_id),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "true"),
            // only when an offset is out of range (deleted by retention): read what is left
            ("auto.offset.reset", "earliest"),
            ("fetch.wait.max.ms", "50"),
            // librdkafka pauses fetching for fetch.queue.backoff.ms (1 s by default) whenever a
            // partition's local queue is full; at a million records per second that pause left
            // the processor idle two thirds of the time (BENCHMARKS.md).
            ("fetch.queue.backoff.ms", "20"),
            ("queued.min.messages", "50000"),
            ("queued.max.messages.kbytes", "16384"),
        ]);
        let context = HealthContext::default();
        let health = Arc::clone(&context.0);
        let consumer: BaseConsumer<HealthContext> = config
            .create_with_context(context)
            .context("cannot create the Kafka consumer")?;
        let count = partition_count(&consumer, settings, topic)?;
        let positions = start_positions(&consumer, topic, count, start)?;
        let consumer = Arc::new(consumer);
        let arrivals = Arc::new(Arrivals::default());
        let topic_c = c_topic(topic)?;
        // split before assigning: what librdkafka fetches before a partition's queue is split
        // lands on the consumer's main queue, where a record (or the end-of-partition event)
        // would be out of order with the rest of its partition
        let mut partitions = Vec::with_capacity(count);
        for (p, position) in positions.iter().enumerate() {
            let mut queue = consumer
                .split_partition_queue(topic, p as i32)
                .context("cannot split a partition queue")?;
            let noted = Arc::clone(&arrivals);
            queue.set_nonempty_callback(move || noted.note());
            let batch = BatchQueue::open(&consumer, &topic_c, p as i32)?;
            partitions.push(Partition::new(queue, batch, *position));
        }
        assign(&consumer, topic, &positions)?;
        let ends = PartitionEnds::watch(Arc::downgrade(&consumer), topic, count);
        Ok(KafkaSource {
            ends,
            consumer,
            health,
            topic: topic.to_string(),
            partitions,
            arrivals,
            steps: 0,
            idle: Duration::ZERO,
            errors_seen: 0,
            topic_c,
            records: 0,
            look_again_at: 0,
        })
    }

    /// The next offset to read, per partition.
    pub fn positions(&self) -> BTreeMap<i32, i64> {
        (0..)
            .zip(self.partitions.iter().map(|p| p.position))
            .collect()
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Number of partitions read.
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    /// Client errors and the latest one.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Time spent waiting for records that did not come, since start-up.
    pub fn idle_time(&self) -> Duration {
        self.idle
    }

    /// True when every partition has been read to its end.
    pub fn all_at_end(&self) -> bool {
        self.partitions.iter().all(|p| p.at_end)
    }

    /// True when every partition is read up to the end offset of its last fetch response (or
    /// to its end): the input is caught up. Known right after the response's last record, while
    /// [`KafkaSource::all_at_end`] waits for the next, empty, response (the broker holds it up
    /// to `fetch.wait.max.ms`). A partition whose cached end stays ahead of its last record
    /// counts as caught up once its end-of-partition event came. Cheap in a backlog: after finding N records unread,
    /// it does not look again before N more records were read.
    pub fn caught_up(&mut self) -> bool {
        if self.all_at_end() {
            return true;
        }
        if self.records < self.look_again_at {
            return false;
        }
        let unread: i64 = (0..self.partitions.len())
            .filter(|p| !self.partitions[*p].at_end)
            .map(|p| match self.cached_end(p) {
                Some(end) => (end - self.partitions[p].position).max(0),
                None => 1,
            })
            .sum();
        self.look_again_at = self.records + unread as u64;
        unread == 0
    }

    /// The end (high watermark) offset of partition `p` in the last fetch response, if any.
    fn cached_end(&self, p: usize) -> Option<i64> {
        let (mut low, mut high) = (-1, -1);
        // SAFETY: the client pointer lives as long as `self.consumer`, the topic is a valid C
        // string, and librdkafka only writes the two offsets (rust-rdkafka does not wrap this
        // call, which reads the client's cache and never blocks on the network).
        let error = unsafe {
            rdkafka::bindings::rd_kafka_get_watermark_offsets(
                self.consumer.client().native_ptr(),
                self.topic_c.as_ptr(),
                p as i32,
                &mut low,
                &mut high,
            )
        };
        (error == rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
            .then_some(high)
    }

    /// One step: hands at most one record to `handle`, which returns the record's event time
    /// (`None` when it has none, e.g. malformed).
    pub fn poll(
        &mut self,
        handle: impl FnOnce(KafkaRecord<'_>) -> anyhow::Result<Option<i64>>,
    ) -> anyhow::Result<PollOutcome> {
        self.steps += 1;
        if self.steps % 64 == 1 {
            self.serve_events()?;
            self.notice_unread();
        }
        let Some(p) = self.furthest_behind() else {
            return self.poll_any(handle);
        };
        let partition = &self.partitions[p];
        let timeout = match (partition.at_end, partition.answered) {
            (true, _) => Duration::ZERO,
            (false, _) if partition.noticed.1 => UNREAD_WAIT,
            (false, true) => PARTITION_WAIT,
            (false, false) => FIRST_FETCH_WAIT,
        };
        let partition = &mut self.partitions[p];
        match partition.take(p, timeout, &self.health, handle)? {
            Found::Record => {
                self.records += 1;
                Ok(PollOutcome::Record)
            }
            Found::Event => Ok(PollOutcome::Idle),
            Found::Nothing => {
                self.idle += timeout;
                if std::mem::take(&mut partition.noticed.1) {
                    // nothing came after all (e.g. only transaction markers): at its end again
                    partition.at_end = true;
                }
                Ok(PollOutcome::Idle)
            }
        }
    }

    /// Every partition is at its end: takes from the first queue that has something, the
    /// partition furthest behind in event time first; when none has, sleeps until a record
    /// lands on any of them (at most [`IDLE_WAIT`]).
    fn poll_any(
        &mut self,
        handle: impl FnOnce(KafkaRecord<'_>) -> anyhow::Result<Option<i64>>,
    ) -> anyhow::Result<PollOutcome> {
        let mut order: Vec<usize> = (0..self.partitions.len()).collect();
        order.sort_by_key(|p| (self.partitions[*p].last_time, *p));
        let mut handle = Some(handle);
        for p in order {
            let take = |record: KafkaRecord<'_>| (handle.take().expect("called once"))(record);
            match self.partitions[p].take(p, Duration::ZERO, &self.health, take)? {
                Found::Record => {
                    self.records += 1;
                    return Ok(PollOutcome::Record);
                }
                Found::Event => return Ok(PollOutcome::Idle),
                Found::Nothing => {}
            }
        }
        let started = Instant::now();
        self.arrivals.wait(IDLE_WAIT);
        self.idle += started.elapsed();
        Ok(PollOutcome::Idle)
    }

    /// Serves the client's events (errors). Records arrive on the partition queues only (they
    /// are split before the assignment); one here would be out of order with its partition, so
    /// it is refused rather than skipped.
    fn serve_events(&self) -> anyhow::Result<()> {
        match self.consumer.poll(Duration::ZERO) {
            Some(Ok(message)) => bail!(
                "Kafka delivered offset {} of {} [{}] outside its partition queue; not skipping it",
                message.offset(),
                message.topic(),
                message.partition()
            ),
            Some(Err(error)) => self.health.note_error(&error.to_string()),
            None => {}
        }
        Ok(())
    }

    /// The partition not at its end with the smallest last event time (unread ones first);
    /// every 64 steps, a partition at its end whose turn it is, to notice new data there.
    fn furthest_behind(&self) -> Option<usize> {
        let partitions = &self.partitions;
        if self.steps.is_multiple_of(64) {
            let p = (self.steps / 64) as usize % partitions.len();
            if partitions[p].at_end && !self.all_at_end() {
                return Some(p);
            }
        }
        (0..partitions.len())
            .filter(|p| !partitions[*p].at_end)
            .min_by_key(|p| (partitions[*p].last_time, *p))
    }

    /// Partitions marked at their end take their turn again (each waited for once, up to
    /// [`UNREAD_WAIT`]) when the last end offsets show unread records on them, or when the
    /// client reported errors since the last look (the broker went away: "at its end" is
    /// stale). Otherwise a partition that resumes first — after an outage every partition's
    /// backlog arrives at once, at different speeds — races ahead of them in event time and
    /// makes their records late. Once per new end offset, so that a partition whose unread
    /// offsets hold no records (transaction markers) is not waited for again and again.
    fn notice_unread(&mut self) {
        let errors = self.health.errors();
        let after_errors = errors > self.errors_seen;
        self.errors_seen = errors;
        let ends = self.ends.recent();
        for (p, partition) in self.partitions.iter_mut().enumerate() {
            if !partition.at_end {
                continue;
            }
            let (noticed_at, _) = partition.noticed;
            let high = ends.as_ref().map_or(noticed_at, |ends| ends[p].1);
            if after_errors || (high > partition.position && high > noticed_at) {
                partition.at_end = false;
                partition.noticed = (high.max(noticed_at), true);
            }
        }
    }

    /// Commits the positions reached (the next offset to read per partition) to the group.
    pub fn commit(&self) -> anyhow::Result<()> {
        let mut offsets = TopicPartitionList::new();
        for (p, partition) in self.partitions.iter().enumerate() {
            offsets.add_partition_offset(
                &self.topic,
                p as i32,
                Offset::Offset(partition.position),
            )?;
        }
        if offsets.count() > 0 {
            self.consumer
                .commit(&offsets, CommitMode::Sync)
                .context("cannot commit consumer offsets")?;
        }
        Ok(())
    }

    /// Records not read yet, summed over partitions, from the end offsets the broker gave
    /// last (never blocks); `None` while it has not answered for a few seconds.
    pub fn lag(&self) -> Option<i64> {
        let ends = self.ends.recent()?;
        Some(
            ends.iter()
                .zip(&self.partitions)
                .map(|((low, high), p)| (high - p.position.max(*low)).max(0))
                .sum(),
        )
    }
}

/// Assigns every partition of `topic` to `consumer`, partition `p` from offset `offsets[p]`.
pub(super) fn assign(
    consumer: &BaseConsumer<HealthContext>,
    topic: &str,
    offsets: &[i64],
) -> anyhow::Result<()> {
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in offsets.iter().enumerate() {
        assignment.add_partition_offset(topic, partition as i32, Offset::Offset(*offset))?;
    }
    consumer
        .assign(&assignment)
        .context("cannot assign the topic's partitions")
}

/// The topic's partition count; a clear error when the broker or the topic is missing.
pub(super) fn partition_count(
    consumer: &BaseConsumer<HealthContext>,
    settings: &KafkaSettings,
    topic: &str,
) -> anyhow::Result<usize> {
    let health = &consumer.context().0;
    let metadata =
        consumer_first_contact(consumer, health, settings, Some(topic), CONNECT_TIMEOUT)?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        bail!("topic {topic} not found on {}", settings.bootstrap_servers);
    };
    if found.error().is_some() || found.partitions().is_empty() {
        bail!(
            "topic {topic} does not exist on {}",
            settings.bootstrap_servers
        );
    }
    Ok(found.partitions().len())
}

/// The group's committed offset and its metadata string, per partition (`None`: nothing
/// committed).
pub(super) fn committed_offsets(
    consumer: &BaseConsumer<HealthContext>,
    topic: &str,
    partitions: usize,
) -> anyhow::Result<Vec<Option<(i64, String)>>> {
    let mut query = TopicPartitionList::new();
    for p in 0..partitions {
        query.add_partition(topic, p as i32);
    }
    // a broker that just started may not have loaded its group coordinator yet
    // (NotCoordinator, CoordinatorLoadInProgress): ask again until the connect timeout
    let deadline = std::time::Instant::now() + CONNECT_TIMEOUT;
    let committed = loop {
        match consumer.committed_offsets(query.clone(), CONNECT_TIMEOUT) {
            Ok(committed) => break committed,
            Err(error) if std::time::Instant::now() < deadline => {
                tracing::warn!("kafka: reading committed offsets failed ({error}); retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(error) => return Err(error).context("cannot read committed offsets"),
        }
    };
    Ok((0..partitions)
        .map(|p| {
            let entry = committed.find_partition(topic, p as i32)?;
            match entry.offset() {
                Offset::Offset(offset) => Some((offset, entry.metadata().to_string())),
                _ => None,
            }
        })
        .collect())
}

/// The concrete next offset of every partition for `start`.
fn start_positions(
    consumer: &BaseConsumer<HealthContext>,
    topic: &str,
    partitions: usize,
    start: &Start,
) -> anyhow::Result<Vec<i64>> {
    let from = match start {
        Start::Offsets(offsets) => {
            return (0..partitions as i32)
                .map(|p| {
                    offsets
                        .get(&p)
                        .copied()
                        .with_context(|| format!("no starting offset for partition {p} of {topic}"))
                })
                .collect()
        }
        Start::At(from) => *from,
        Start::Committed(from) => {
            let committed = committed_offsets(consumer, topic, partitions)?;
            let fallback = resolve(consumer, topic, partitions, *from)?;
            return Ok(committed
                .iter()
                .zip(fallback)
                .map(|(c, f)| c.as_ref().map_or(f, |(offset, _)| *offset))
                .collect());
        }
    };
    resolve(consumer, topic, partitions, from)
}

/// The (low, high) offsets of each partition of `topic`, each asked within `timeout`.
pub(super) fn watermarks(
    consumer: &BaseConsumer<HealthContext>,
    topic: &str,
    partitions: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<(i64, i64)>> {
    (0..partitions as i32)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, timeout)
                .with_context(|| format!("cannot read the end offsets of {topic} [{p}]"))
        })
        .collect()
}

/// The offsets `from` designates, per partition.
pub(super) fn resolve(
    consumer: &BaseConsumer<HealthContext>,
    topic: &str,
    partitions: usize,
    from: StartFrom,
) -> anyhow::Result<Vec<i64>> {
    let ends = watermarks(consumer, topic, partitions, CONNECT_TIMEOUT)?;
    let mut offsets = Vec::with_capacity(partitions);
    for (p, (low, high)) in (0..).zip(ends) {
        offsets.push(match from {
            StartFrom::Earliest => low,
            StartFrom::Latest => high,
            StartFrom::Timestamp(millis) => {
                let mut query = TopicPartitionList::new();
                query.add_partition_offset(topic, p, Offset::Offset(millis))?;
                let found = consumer
                    .offsets_for_times(query, CONNECT_TIMEOUT)
                    .context("cannot look up offsets by timestamp")?;
                match found.find_partition(topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(offset)) => offset,
                    // no record at or after the time yet: start at the end
                    _ => high,
                }
            }
        });
    }
    Ok(offsets)
}

/// The metadata of consumer group `group_id`, for offsets committed inside a producer's
/// transaction (the processor assigns its partitions itself, so the group has no members and
/// this is the group id alone).
pub fn group_metadata(
    settings: &KafkaSettings,
    group_id: &str,
) -> anyhow::Result<ConsumerGroupMetadata> {
    group_consumer(settings, group_id)?
        .group_metadata()
        .context("the Kafka consumer has no group metadata")
}

/// A consumer of group `group_id` that commits nothing by itself, to ask about the group.
pub(super) fn group_consumer(
    settings: &KafkaSettings,
    group_id: &str,
) -> anyhow::Result<BaseConsumer<HealthContext>> {
    settings
        .client_config(&[("group.id", group_id), ("enable.auto.commit", "false")])
        .create_with_context(HealthContext::default())
        .context("cannot create the Kafka consumer")
}

/// The metadata strings the group committed with its offsets of `topic`, one per partition
/// that has a committed offset (exactly-once runs write their checkpoint epoch there).
pub fn committed_metadata(
    settings: &KafkaSettings,
    topic: &str,
    group_id: &str,
) -> anyhow::Result<Vec<String>> {
    let consumer = group_consumer(settings, group_id)?;
    let partitions = partition_count(&consumer, settings, topic)?;
    Ok(committed_offsets(&consumer, topic, partitions)?
        .into_iter()
        .flatten()
        .map(|(_, metadata)| metadata)
        .collect())
}
