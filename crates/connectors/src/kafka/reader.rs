//! The Kafka reader: a consumer of every partition of one topic, each partition read from a
//! queue of its own on request. It only reads; which partition is read when (event-time
//! alignment, waiting, catching up) is the runtime's source stage's business.

use std::ffi::CString;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::arrivals::Arrivals;
use super::batch::{c_topic, BatchQueue};
use super::ends::{Ends, PartitionEnds};
use super::health::{Health, HealthContext};
use super::offsets::{assign, partition_count, start_positions, Start};
use super::settings::KafkaSettings;

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

/// What one look at a partition's queue found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// A record at this offset: [`KafkaReader::record`] hands it out until the next read.
    Record(i64),
    /// The partition's end: the next offset a record would have (past commit markers and
    /// aborted transactions' records, which read_committed skips).
    End(i64),
    /// A client error, noted in [`KafkaReader::health`].
    Error,
    /// Nothing within the timeout.
    Nothing,
}

/// One partition: its queue, split off the consumer's, read in batches.
struct PartitionQueues {
    /// Kept for its arrival signal; read through `batch`.
    _split: PartitionQueue<HealthContext>,
    batch: BatchQueue,
}

/// Reads every partition of a topic. See the module documentation.
pub struct KafkaReader {
    consumer: Arc<BaseConsumer<HealthContext>>,
    health: Arc<Health>,
    topic: String,
    /// The topic, for librdkafka's cached end offsets.
    topic_c: CString,
    queues: Vec<PartitionQueues>,
    /// Where each partition's reading started.
    start: Vec<i64>,
    /// Raised when a partition queue becomes non-empty.
    arrivals: Arc<Arrivals>,
    /// The partitions' end offsets, asked by a thread of their own.
    ends: PartitionEnds,
    /// The partition read last, whose message [`KafkaReader::record`] hands out.
    last: usize,
}

impl KafkaReader {
    /// Connects, checks that `topic` exists, and assigns all its partitions from `start`.
    pub fn connect(
        settings: &KafkaSettings,
        topic: &str,
        group_id: &str,
        start: &Start,
    ) -> anyhow::Result<KafkaReader> {
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
        let mut queues = Vec::with_capacity(count);
        for p in 0..count {
            let mut split = consumer
                .split_partition_queue(topic, p as i32)
                .context("cannot split a partition queue")?;
            let noted = Arc::clone(&arrivals);
            split.set_nonempty_callback(move || noted.note());
            let batch = BatchQueue::open(&consumer, &topic_c, p as i32)?;
            queues.push(PartitionQueues {
                _split: split,
                batch,
            });
        }
        assign(&consumer, topic, &positions)?;
        let ends = PartitionEnds::watch(Arc::downgrade(&consumer), topic, count);
        Ok(KafkaReader {
            ends,
            consumer,
            health,
            topic: topic.to_string(),
            topic_c,
            queues,
            start: positions,
            arrivals,
            last: 0,
        })
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Where each partition's reading started (the next offset to read).
    pub fn start(&self) -> &[i64] {
        &self.start
    }

    /// Client errors and the latest one.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Takes the next record or event of partition `p`'s queue, waiting up to `timeout`.
    pub fn read(&mut self, p: usize, timeout: Duration) -> Read {
        self.last = p;
        let Some(message) = self.queues[p].batch.next(timeout) else {
            return Read::Nothing;
        };
        match message.error() {
            None => Read::Record(message.offset()),
            Some(KafkaError::PartitionEOF(_)) => Read::End(message.offset()),
            Some(error) => {
                self.health
                    .note_error(&format!("{error}: {}", message.error_text()));
                Read::Error
            }
        }
    }

    /// The record the last [`KafkaReader::read`] found.
    pub fn record(&self) -> Option<KafkaRecord<'_>> {
        let message = self.queues[self.last].batch.current()?;
        if message.error().is_some() {
            return None;
        }
        Some(KafkaRecord {
            payload: message.payload(),
            partition: self.last as i32,
            offset: message.offset(),
            timestamp: message.timestamp(),
        })
    }

    /// Sleeps until a record lands on any partition's queue, at most `timeout`.
    pub fn wait_for_arrival(&self, timeout: Duration) {
        self.arrivals.wait(timeout);
    }

    /// The end (high watermark) offset of partition `p` in the last fetch response, if any.
    pub fn cached_end(&self, p: usize) -> Option<i64> {
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

    /// The low and high offsets of every partition, if the broker gave them recently (never
    /// blocks).
    pub fn recent_ends(&self) -> Option<Ends> {
        self.ends.recent()
    }

    /// Serves the client's events (errors). Records arrive on the partition queues only (they
    /// are split before the assignment); one here would be out of order with its partition, so
    /// it is refused rather than skipped.
    pub fn serve_events(&self) -> anyhow::Result<()> {
        use rdkafka::message::Message;
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

    /// Commits `positions` (the next offset to read, per partition) to the group.
    pub fn commit(&self, positions: &[i64]) -> anyhow::Result<()> {
        let mut offsets = TopicPartitionList::new();
        for (p, position) in positions.iter().enumerate() {
            offsets.add_partition_offset(&self.topic, p as i32, Offset::Offset(*position))?;
        }
        if offsets.count() > 0 {
            self.consumer
                .commit(&offsets, CommitMode::Sync)
                .context("cannot commit consumer offsets")?;
        }
        Ok(())
    }
}
