//! The Kafka topic sink: windows to `metrics` (keyed by `window_type|window_start`, so a
//! window always lands on the same partition), dead letters and late records to their topics.
//! In exactly-once mode the producer is transactional and each epoch's records commit together.

use std::sync::Arc;

use ratings_connectors::kafka::Producer;
use ratings_core::{DeadLetter, WindowResult};

use super::{RecordSink, WindowSink};

/// A Kafka topic as a window or dead-letter sink.
pub struct TopicSink {
    producer: Arc<Producer>,
    topic: String,
}

impl TopicSink {
    pub fn new(producer: &Arc<Producer>, topic: &str) -> Box<TopicSink> {
        Box::new(TopicSink {
            producer: Arc::clone(producer),
            topic: topic.to_string(),
        })
    }
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
