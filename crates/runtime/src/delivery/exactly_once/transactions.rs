//! The Kafka side of an epoch behind a small trait, [`Transactions`], so that the coordinator's
//! every branch can be driven by a fake in unit tests; [`KafkaTransactions`] is the real one (a
//! transactional producer and the consumer group the input offsets are committed to).
//!
//! A step runs on a thread of its own ([`spawn_step`]): librdkafka may block far longer than
//! the timeout it is given while the broker is away, and the main loop must not.

use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use ratings_connectors::kafka::{
    committed_metadata, group_metadata, ConsumerGroupMetadata, KafkaSettings, Producer, TxnError,
};

/// The transaction steps of an epoch, and what Kafka committed last.
pub(crate) trait Transactions: Send + Sync + 'static {
    /// Opens a transaction: records sent from now on commit or abort together.
    fn begin(&self) -> Result<(), TxnError>;
    /// Adds the input positions to the open transaction, each tagged with `tag`.
    fn add_offsets(
        &self,
        next_offsets: &BTreeMap<i32, i64>,
        tag: &str,
        timeout: Duration,
    ) -> Result<(), TxnError>;
    /// Commits the open transaction: the commit point of an epoch.
    fn commit(&self, timeout: Duration) -> Result<(), TxnError>;
    /// Aborts the open transaction.
    fn abort(&self, timeout: Duration) -> Result<(), TxnError>;
    /// The tags the group's committed input offsets carry (one per partition with an offset).
    fn committed_tags(&self) -> anyhow::Result<Vec<String>>;
    /// Counts an error the caller handles (shown in progress and metrics).
    fn note_error(&self, error: &str);
}

/// A step of the commit, run on a thread: its result arrives on the receiver.
pub(crate) type RunningStep = Receiver<Result<(), TxnError>>;

/// Runs `step` on a thread of its own.
pub(crate) fn spawn_step(
    step: impl FnOnce() -> Result<(), TxnError> + Send + 'static,
) -> anyhow::Result<RunningStep> {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("kafka-transaction".into())
        .spawn(move || done.send(step()))
        .context("cannot start a thread")?;
    Ok(result)
}

/// The real [`Transactions`]: a transactional producer whose transactions carry the input
/// offsets of `topic` for `group`.
pub(crate) struct KafkaTransactions {
    producer: Arc<Producer>,
    settings: KafkaSettings,
    topic: String,
    group_id: String,
    group: Mutex<ConsumerGroupMetadata>,
}

impl KafkaTransactions {
    /// `producer` must already hold the transactional id.
    pub(crate) fn new(
        producer: Arc<Producer>,
        settings: &KafkaSettings,
        topic: &str,
        group_id: &str,
    ) -> anyhow::Result<KafkaTransactions> {
        Ok(KafkaTransactions {
            producer,
            settings: settings.clone(),
            topic: topic.to_string(),
            group_id: group_id.to_string(),
            group: Mutex::new(group_metadata(settings, group_id)?),
        })
    }
}

impl Transactions for KafkaTransactions {
    fn begin(&self) -> Result<(), TxnError> {
        self.producer.begin_transaction()
    }

    fn add_offsets(
        &self,
        next_offsets: &BTreeMap<i32, i64>,
        tag: &str,
        timeout: Duration,
    ) -> Result<(), TxnError> {
        let group = self.group.lock().expect("group metadata");
        self.producer
            .send_offsets(&self.topic, next_offsets, tag, &group, timeout)
    }

    fn commit(&self, timeout: Duration) -> Result<(), TxnError> {
        self.producer.commit_transaction(timeout)
    }

    fn abort(&self, timeout: Duration) -> Result<(), TxnError> {
        self.producer.abort_transaction(timeout)
    }

    fn committed_tags(&self) -> anyhow::Result<Vec<String>> {
        committed_metadata(&self.settings, &self.topic, &self.group_id)
    }

    fn note_error(&self, error: &str) {
        self.producer.health().note_error(error);
    }
}
