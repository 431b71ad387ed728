//! The end offsets of a topic's partitions, asked from the broker every second by a thread of
//! their own: a slow or unreachable broker then never blocks the reader, whose lag is computed
//! from the last answer (none while the broker has not answered for a while).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::health::HealthContext;

/// How often the broker is asked.
const INTERVAL: Duration = Duration::from_secs(1);
/// How long one question may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// An answer older than this is not used (the broker is unreachable or slow).
const STALE_AFTER: Duration = Duration::from_secs(5);
/// How often the thread looks whether it should stop while it waits.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// Low and high offsets per partition (the high one as the consumer's isolation level sees it:
/// the last stable offset with read_committed).
pub type Ends = Vec<(i64, i64)>;

/// The last answer, and whether the watching thread should stop.
#[derive(Default)]
struct Shared {
    last: Mutex<Option<(Instant, Ends)>>,
    stop: AtomicBool,
}

/// See the module documentation. The thread stops when this is dropped.
pub(super) struct PartitionEnds {
    shared: Arc<Shared>,
}

impl PartitionEnds {
    /// Starts watching `partitions` partitions of `topic` through `consumer` (held weakly: the
    /// thread also stops once the consumer is gone).
    pub(super) fn watch(
        consumer: Weak<BaseConsumer<HealthContext>>,
        topic: &str,
        partitions: usize,
    ) -> PartitionEnds {
        let shared = Arc::new(Shared::default());
        let watched = Arc::clone(&shared);
        let topic = topic.to_string();
        std::thread::Builder::new()
            .name("partition-ends".into())
            .spawn(move || watch(&watched, &consumer, &topic, partitions))
            .expect("cannot start a thread");
        PartitionEnds { shared }
    }

    /// The ends of every partition, if the broker gave them recently.
    pub(super) fn recent(&self) -> Option<Ends> {
        let last = self.shared.last.lock().expect("not poisoned");
        let (asked, ends) = last.as_ref()?;
        (asked.elapsed() < STALE_AFTER).then(|| ends.clone())
    }
}

impl Drop for PartitionEnds {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// The watching thread: asks every [`INTERVAL`] until told to stop.
fn watch(
    shared: &Shared,
    consumer: &Weak<BaseConsumer<HealthContext>>,
    topic: &str,
    partitions: usize,
) {
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(consumer) = consumer.upgrade() else {
            return;
        };
        let answer: Option<Ends> = (0..partitions as i32)
            .map(|p| consumer.fetch_watermarks(topic, p, QUERY_TIMEOUT).ok())
            .collect();
        drop(consumer);
        if let Some(ends) = answer {
            *shared.last.lock().expect("not poisoned") = Some((Instant::now(), ends));
        }
        let asked = Instant::now();
        while asked.elapsed() < INTERVAL && !shared.stop.load(Ordering::Relaxed) {
            std::thread::sleep(STOP_CHECK);
        }
    }
}
