//! Following a topic from a point in time, as a reader that is not part of the pipeline (the
//! dashboard): every partition assigned directly (no consumer group, nothing committed), only
//! committed transactions read (`read_committed`), starting at the first record at or after a
//! time; then live. It tells when it has read what the topic held when it started.

use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;

use super::health::HealthContext;
use super::offsets::{assign, partition_count, resolve, watermarks, StartFrom, CONNECT_TIMEOUT};
use super::settings::KafkaSettings;

/// Where a [`Follower`] starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowFrom {
    /// The first record at or after this time (epoch milliseconds).
    Time(i64),
    /// This many records before the partition's end (or its start).
    LastRecords(i64),
    /// The partition's first record.
    Start,
}

/// What one [`Follower::poll`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Followed {
    /// A record's value (empty for a null value) and its Kafka timestamp.
    Record(Vec<u8>, Option<i64>),
    /// Nothing new within the timeout, or a partition's end.
    Nothing,
    /// A client error (the broker went away, …); the client keeps trying.
    Error(String),
}

/// A reader of all partitions of one topic; see the module documentation.
pub struct Follower {
    consumer: BaseConsumer<HealthContext>,
    /// Per partition: whether it has been read up to where the topic ended at start-up.
    at_start_end: Vec<bool>,
    /// Client errors seen so far.
    errors_seen: u64,
}

impl Follower {
    /// Connects and assigns every partition of `topic` from `from`.
    pub fn connect(
        settings: &KafkaSettings,
        topic: &str,
        from: FollowFrom,
    ) -> anyhow::Result<Follower> {
        let consumer: BaseConsumer<HealthContext> = settings
            .client_config(&[
                // a group id is required by the client; nothing is committed under it
                ("group.id", "ratings-stream-follower"),
                ("enable.auto.commit", "false"),
                ("isolation.level", "read_committed"),
                ("enable.partition.eof", "true"),
                ("auto.offset.reset", "earliest"),
                // a reader of small, infrequent records: a small prefetch (librdkafka's default
                // is 64 MB), refilled at once when drained (by default fetching pauses for 1 s
                // whenever the prefetch is full, which made reading a week of history take 10 s)
                ("queued.max.messages.kbytes", "4096"),
                ("fetch.queue.backoff.ms", "20"),
            ])
            .create_with_context(HealthContext::default())
            .context("cannot create the Kafka consumer")?;
        let count = partition_count(&consumer, settings, topic)?;
        let starts = match from {
            FollowFrom::Time(millis) => {
                resolve(&consumer, topic, count, StartFrom::Timestamp(millis))?
            }
            FollowFrom::Start => resolve(&consumer, topic, count, StartFrom::Earliest)?,
            FollowFrom::LastRecords(back) => watermarks(&consumer, topic, count, CONNECT_TIMEOUT)?
                .into_iter()
                .map(|(low, high)| (high - back).max(low))
                .collect(),
        };
        assign(&consumer, topic, &starts)?;
        Ok(Follower {
            consumer,
            at_start_end: vec![false; count],
            errors_seen: 0,
        })
    }

    /// The next record, waiting up to `timeout`.
    pub fn poll(&mut self, timeout: Duration) -> Followed {
        match self.consumer.poll(timeout) {
            None => self
                .client_error()
                .map_or(Followed::Nothing, Followed::Error),
            Some(Ok(message)) => Followed::Record(
                message.payload().unwrap_or(&[]).to_vec(),
                message.timestamp().to_millis(),
            ),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                if let Some(done) = self.at_start_end.get_mut(p as usize) {
                    *done = true;
                }
                Followed::Nothing
            }
            Some(Err(error)) => Followed::Error(error.to_string()),
        }
    }

    /// The client's last error, when it reported one since the last look (errors such as
    /// "all brokers down" reach its callbacks, not the poll).
    fn client_error(&mut self) -> Option<String> {
        let health = &self.consumer.context().0;
        let errors = health.errors();
        if errors == self.errors_seen {
            return None;
        }
        self.errors_seen = errors;
        health.last_error()
    }

    /// Number of partitions followed.
    pub fn partitions(&self) -> usize {
        self.at_start_end.len()
    }

    /// Whether every partition has been read to its end once: what the topic held at start-up
    /// is in.
    pub fn caught_up(&self) -> bool {
        self.at_start_end.iter().all(|done| *done)
    }
}
