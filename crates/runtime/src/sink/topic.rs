//! The Kafka topic sink: windows to `metrics` (keyed by `window_type|window_start`, so a
//! window always lands on the same partition), dead letters and late records to their topics.
//! In exactly-once mode the producer is transactional and each epoch's records commit together
//! (the delivery drives the transaction).

use std::sync::Arc;

use ratings_connectors::kafka::Producer;
use ratings_core::{DeadLetter, WindowResult};

use super::{Carries, Sink};

/// One Kafka topic, carrying one of the pipeline's record streams.
pub(crate) struct TopicSink {
    producer: Arc<Producer>,
    topic: String,
    carries: Carries,
}

impl TopicSink {
    /// `topic`, written through `producer`, carrying `carries`.
    pub(crate) fn new(producer: &Arc<Producer>, topic: &str, carries: Carries) -> Box<TopicSink> {
        Box::new(TopicSink {
            producer: Arc::clone(producer),
            topic: topic.to_string(),
            carries,
        })
    }

    fn send(&self, key: Option<&[u8]>, value: &str) -> anyhow::Result<()> {
        self.producer.send(&self.topic, key, value.as_bytes())
    }

    fn letter(&self, carries: Carries, letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        match self.carries == carries {
            true => self.send(None, &letter.to_json()),
            false => Ok(()),
        }
    }
}

impl Sink for TopicSink {
    fn window(&mut self, window: &WindowResult, processing_time_millis: i64) -> anyhow::Result<()> {
        if self.carries != Carries::Windows {
            return Ok(());
        }
        let key = format!("{}|{}", window.window_type, window.window_start);
        self.send(
            Some(key.as_bytes()),
            &window.to_json(processing_time_millis),
        )
    }
    fn dead_letter(&mut self, letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        self.letter(Carries::DeadLetters, letter)
    }
    fn late(&mut self, letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        self.letter(Carries::Late, letter)
    }
}
