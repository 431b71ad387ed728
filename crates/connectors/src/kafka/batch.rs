//! Reading one partition's queue in batches.
//!
//! librdkafka's single-message call pays per message what its batch call
//! (`rd_kafka_consume_batch_queue`, which rust-rdkafka does not wrap) pays once per batch:
//! the poll-interval bookkeeping with its clock reads, and a round through rust-rdkafka's
//! message wrapper (BENCHMARKS.md: ~15–25% of the main thread at a million records per second).
//! A [`BatchQueue`] takes up to [`BATCH`] messages per call and hands them out one at a time.
//! Messages stay in librdkafka's memory either way: a batch moves them from its queue to this
//! buffer, it does not copy them.

use std::ffi::{CStr, CString};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};

use super::health::HealthContext;

/// Messages taken from librdkafka per call.
const BATCH: usize = 512;

/// One partition's queue, read in batches. Each message handed out lives until the next call.
pub(super) struct BatchQueue {
    native: NonNull<rd::rd_kafka_queue_t>,
    /// Taken from librdkafka, not handed out yet: `buffer[next..]`.
    buffer: Vec<*mut rd::rd_kafka_message_t>,
    next: usize,
    /// The message handed out last, destroyed at the next call.
    current: Option<NonNull<rd::rd_kafka_message_t>>,
    /// Keeps the client alive as long as its messages and queue.
    _consumer: Arc<BaseConsumer<HealthContext>>,
}

// SAFETY: the queue and message pointers are owned by this value alone and librdkafka's queue
// and message calls are thread-safe; nothing is shared with another thread through them.
unsafe impl Send for BatchQueue {}

/// One message of a [`BatchQueue`]: a record, or an event such as the partition's end.
pub(super) struct Message<'a>(&'a rd::rd_kafka_message_t);

impl BatchQueue {
    /// Opens partition `partition` of `topic`'s queue (the one
    /// [`BaseConsumer::split_partition_queue`] splits off the consumer's queue).
    pub(super) fn open(
        consumer: &Arc<BaseConsumer<HealthContext>>,
        topic: &CStr,
        partition: i32,
    ) -> anyhow::Result<BatchQueue> {
        // SAFETY: the client pointer is valid while `consumer` lives and the topic is a C string;
        // the returned queue holds its own reference to the partition.
        let native = unsafe {
            rd::rd_kafka_queue_get_partition(
                consumer.client().native_ptr(),
                topic.as_ptr(),
                partition,
            )
        };
        let native = NonNull::new(native).with_context(|| {
            format!(
                "no queue for partition {partition} of {}",
                topic.to_string_lossy()
            )
        })?;
        Ok(BatchQueue {
            native,
            buffer: Vec::with_capacity(BATCH),
            next: 0,
            current: None,
            _consumer: Arc::clone(consumer),
        })
    }

    /// The next message: a buffered one, else a new batch of what the queue holds, else the
    /// first message within `timeout`.
    pub(super) fn next(&mut self, timeout: Duration) -> Option<Message<'_>> {
        self.release_current();
        if self.next == self.buffer.len() {
            self.fill(timeout);
        }
        let message = NonNull::new(*self.buffer.get(self.next)?)?;
        self.next += 1;
        self.current = Some(message);
        // SAFETY: librdkafka handed the message over and it is destroyed only by
        // `release_current`, which needs `&mut self`, so not while this borrow lives.
        Some(Message(unsafe { message.as_ref() }))
    }

    /// The message [`BatchQueue::next`] handed out last, until the next call.
    pub(super) fn current(&self) -> Option<Message<'_>> {
        // SAFETY: as in `next`: destroyed only by `release_current`, which needs `&mut self`.
        self.current
            .map(|message| Message(unsafe { message.as_ref() }))
    }

    /// Refills the empty buffer: whatever is queued now, or else one message within `timeout`
    /// (the batch call would wait for a full batch).
    fn fill(&mut self, timeout: Duration) {
        self.buffer.clear();
        self.next = 0;
        // SAFETY: the buffer has room for BATCH pointers; librdkafka writes at most that many
        // and returns how many it wrote (or -1 on error).
        let taken = unsafe {
            rd::rd_kafka_consume_batch_queue(
                self.native.as_ptr(),
                0,
                self.buffer.as_mut_ptr(),
                BATCH,
            )
        };
        if taken > 0 {
            // SAFETY: librdkafka initialised the first `taken` pointers.
            unsafe { self.buffer.set_len(taken as usize) };
            return;
        }
        if timeout.is_zero() {
            return;
        }
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: the queue is valid; the message returned (if any) is ours to destroy.
        let one = unsafe { rd::rd_kafka_consume_queue(self.native.as_ptr(), millis) };
        if !one.is_null() {
            self.buffer.push(one);
        }
    }

    fn release_current(&mut self) {
        if let Some(message) = self.current.take() {
            // SAFETY: handed over by librdkafka, destroyed once; no borrow of it is alive.
            unsafe { rd::rd_kafka_message_destroy(message.as_ptr()) };
        }
    }
}

impl Drop for BatchQueue {
    fn drop(&mut self) {
        self.release_current();
        for message in self.buffer.drain(self.next..) {
            // SAFETY: taken from librdkafka and never handed out.
            unsafe { rd::rd_kafka_message_destroy(message) };
        }
        // SAFETY: the queue reference obtained in `open`, released once.
        unsafe { rd::rd_kafka_queue_destroy(self.native.as_ptr()) };
    }
}

impl<'a> Message<'a> {
    /// The event's error when this is not a record (the partition's end is
    /// [`RDKafkaErrorCode::PartitionEOF`]).
    pub(super) fn error(&self) -> Option<KafkaError> {
        if self.0.err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        let code = RDKafkaErrorCode::from(self.0.err);
        Some(if code == RDKafkaErrorCode::PartitionEOF {
            KafkaError::PartitionEOF(self.0.partition)
        } else {
            KafkaError::MessageConsumption(code)
        })
    }

    /// The event's description from the broker or client, for an error.
    pub(super) fn error_text(&self) -> String {
        // SAFETY: the message is valid; librdkafka returns a NUL-terminated string it owns.
        let text = unsafe { rd::rd_kafka_message_errstr(self.0) };
        if text.is_null() {
            return String::new();
        }
        // SAFETY: non-null and NUL-terminated, valid while the message lives.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }

    /// The record's value; `None` for a null value (a tombstone).
    pub(super) fn payload(&self) -> Option<&'a [u8]> {
        if self.0.payload.is_null() {
            return None;
        }
        // SAFETY: librdkafka's payload pointer and length describe one allocation that lives
        // as long as the message.
        Some(unsafe { std::slice::from_raw_parts(self.0.payload as *const u8, self.0.len) })
    }

    pub(super) fn offset(&self) -> i64 {
        self.0.offset
    }

    /// The record's timestamp (epoch milliseconds), when it has one.
    pub(super) fn timestamp(&self) -> Option<i64> {
        let mut kind = rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: the message is valid; librdkafka only writes the type.
        let millis = unsafe { rd::rd_kafka_message_timestamp(self.0, &mut kind) };
        (kind != rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && millis >= 0)
            .then_some(millis)
    }
}

/// `topic` as a C string, for librdkafka's calls.
pub(super) fn c_topic(topic: &str) -> anyhow::Result<CString> {
    CString::new(topic).context("a topic name with a NUL byte")
}
