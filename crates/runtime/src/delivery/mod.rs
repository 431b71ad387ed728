//! Delivery: how the Kafka mode commits its work. [`at_least_once`] flushes the outputs and then
//! commits the consumer offsets; [`exactly_once`] cuts the work into epochs whose outputs,
//! offsets and state commit together in a Kafka transaction.

pub(crate) mod at_least_once;
pub(crate) mod exactly_once;

use ratings_connectors::kafka::Producer;

use crate::source::kafka::KafkaSource;

use crate::pipeline::Pipeline;
use exactly_once::{Commit, Coordinator};

/// How the work is committed.
pub(crate) enum Delivery {
    AtLeastOnce,
    ExactlyOnce(Box<Coordinator>),
}

impl Delivery {
    /// Whether an epoch is sealed and waits for Kafka: read nothing until it commits.
    pub(crate) fn waiting(&self) -> bool {
        matches!(self, Delivery::ExactlyOnce(c) if c.waiting())
    }

    /// Whether the work is cut into epochs (exactly-once).
    pub(crate) fn in_epochs(&self) -> bool {
        matches!(self, Delivery::ExactlyOnce(_))
    }

    /// Counts an input record; whether the work should be committed now by its size.
    pub(crate) fn note_record(&mut self, max_records: u64) -> bool {
        match self {
            Delivery::AtLeastOnce => false,
            Delivery::ExactlyOnce(coordinator) => {
                coordinator.note_record();
                coordinator.full(max_records)
            }
        }
    }

    /// After a batch end: whether the work should be committed now because of the finished
    /// files it holds.
    pub(crate) fn holds_too_much(&self, pipeline: &Pipeline) -> bool {
        matches!(self, Delivery::ExactlyOnce(c) if c.holds_too_much(pipeline))
    }

    /// Exactly-once: why the open epoch's transaction is past its timeout, if it is.
    pub(crate) fn overdue(&self) -> Option<String> {
        match self {
            Delivery::ExactlyOnce(coordinator) => coordinator.overdue(),
            Delivery::AtLeastOnce => None,
        }
    }

    /// Commits the work so far (exactly-once: ends the epoch, `force` even an empty one; if
    /// Kafka cannot commit it yet, it stays sealed and the next call tries again).
    pub(crate) fn commit(
        &mut self,
        pipeline: &mut Pipeline,
        source: &KafkaSource,
        producer: &Producer,
        force: bool,
    ) -> anyhow::Result<Option<Commit>> {
        match self {
            Delivery::AtLeastOnce => {
                at_least_once::commit(pipeline, producer, source)?;
                Ok(None)
            }
            Delivery::ExactlyOnce(coordinator) => coordinator
                .commit(pipeline, || source.positions(), force)
                .map(Some),
        }
    }

    /// After the last commit of a clean stop: exactly-once writes the commit record the next
    /// epoch would have carried.
    pub(crate) fn close(&mut self) -> anyhow::Result<()> {
        match self {
            Delivery::AtLeastOnce => Ok(()),
            Delivery::ExactlyOnce(coordinator) => coordinator.close(),
        }
    }
}
