//! Arrivals on the source's partition queues: librdkafka calls back (from its own thread) when
//! a queue goes from empty to non-empty, so a source whose partitions are all at their end can
//! sleep on every partition at once and wake the moment a record lands on any of them.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A flag raised by the queues' callbacks and taken by the waiting reader.
#[derive(Default)]
pub(super) struct Arrivals {
    arrived: Mutex<bool>,
    signal: Condvar,
}

impl Arrivals {
    /// Called by librdkafka when a queue became non-empty: wakes the reader.
    pub(super) fn note(&self) {
        *self.arrived.lock().expect("not poisoned") = true;
        self.signal.notify_all();
    }

    /// Waits up to `timeout` for an arrival noted since the last call returned; true when there
    /// was one. The reader looks at every queue between two calls, so an arrival on a queue it
    /// found empty is never missed (it raises the flag after that look), and one it found
    /// already costs one extra look at most.
    pub(super) fn wait(&self, timeout: Duration) -> bool {
        let arrived = self.arrived.lock().expect("not poisoned");
        let (mut arrived, _) = self
            .signal
            .wait_timeout_while(arrived, timeout, |arrived| !*arrived)
            .expect("not poisoned");
        std::mem::take(&mut *arrived)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn an_arrival_before_the_wait_is_not_lost_and_is_taken_once() {
        let arrivals = Arrivals::default();
        arrivals.note();
        assert!(arrivals.wait(Duration::from_secs(5)));
        assert!(!arrivals.wait(Duration::from_millis(1)));
    }

    #[test]
    fn an_arrival_from_another_thread_ends_the_wait_early() {
        let arrivals = Arc::new(Arrivals::default());
        let noting = Arc::clone(&arrivals);
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            noting.note();
        });
        assert!(arrivals.wait(Duration::from_secs(30)));
        assert!(started.elapsed() < Duration::from_secs(30));
        thread.join().unwrap();
    }
}
