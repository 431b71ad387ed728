//! The event-time watermark: `max(previous, max_event_time_seen - delay)`, never decreasing.
//!
//! It starts undefined (no event seen), which behaves as minus infinity: nothing is late and
//! nothing is final. It advances after every record, which makes results a function of the input
//! order alone (Spark advances it once per micro-batch instead; see docs/semantics.md).

use serde::{Deserialize, Serialize};

/// The watermark of one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    delay: i64,
    current: Option<i64>,
}

impl Watermark {
    /// A watermark trailing the maximum event time by `delay` seconds.
    pub fn new(delay: i64) -> Self {
        Watermark {
            delay,
            current: None,
        }
    }

    /// A watermark restored from a checkpoint, possibly with a new delay.
    pub fn restored(delay: i64, current: Option<i64>) -> Self {
        Watermark { delay, current }
    }

    /// Current value in epoch seconds, `None` before the first event.
    pub fn current(&self) -> Option<i64> {
        self.current
    }

    /// The configured delay in seconds.
    pub fn delay(&self) -> i64 {
        self.delay
    }

    /// True when a window ending at `end` is final (`end <= watermark`).
    #[inline]
    pub fn is_final(&self, end: i64) -> bool {
        self.current.is_some_and(|w| end <= w)
    }

    /// Observes an event time; returns the new value if the watermark moved forward.
    #[inline]
    pub fn observe(&mut self, event_time: i64) -> Option<i64> {
        let candidate = event_time.saturating_sub(self.delay);
        match self.current {
            Some(w) if candidate <= w => None,
            _ => {
                self.current = Some(candidate);
                Some(candidate)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_decreases() {
        let mut w = Watermark::new(600);
        assert_eq!(w.current(), None);
        assert!(!w.is_final(i64::MIN + 1));
        assert_eq!(w.observe(1000), Some(400));
        assert_eq!(w.observe(900), None);
        assert_eq!(w.current(), Some(400));
        assert_eq!(w.observe(1600), Some(1000));
        assert!(w.is_final(1000));
        assert!(!w.is_final(1001));
    }

    #[test]
    fn works_before_the_epoch() {
        let mut w = Watermark::new(600);
        assert_eq!(w.observe(-100), Some(-700));
        assert!(w.is_final(-700));
    }
}
