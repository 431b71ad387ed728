//! Window specifications and the assignment of event times to windows.
//!
//! Windows are half-open `[start, end)` and aligned to the Unix epoch, as in Spark: for an event
//! at `t`, `last_start = t - floor_mod(t, slide)`, and the event belongs to every window starting
//! at `last_start - i * slide` (i = 0, 1, ...) that still contains `t`.

use serde::{Deserialize, Serialize};

use crate::time::{align_down, duration_name};

/// A tumbling (`size == slide`) or sliding (`slide < size`) window, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WindowSpec {
    pub size: i64,
    pub slide: i64,
}

/// Why a window specification is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowSpecError {
    #[error("window size and slide must be positive seconds (got size {size}s, slide {slide}s)")]
    NotPositive { size: i64, slide: i64 },
    #[error("window slide ({slide}s) must not exceed its size ({size}s)")]
    SlideExceedsSize { size: i64, slide: i64 },
}

impl WindowSpec {
    /// A tumbling window of `size` seconds.
    pub fn tumbling(size: i64) -> Result<Self, WindowSpecError> {
        Self::sliding(size, size)
    }

    /// A sliding window of `size` seconds starting every `slide` seconds.
    pub fn sliding(size: i64, slide: i64) -> Result<Self, WindowSpecError> {
        if size <= 0 || slide <= 0 {
            return Err(WindowSpecError::NotPositive { size, slide });
        }
        if slide > size {
            return Err(WindowSpecError::SlideExceedsSize { size, slide });
        }
        Ok(WindowSpec { size, slide })
    }

    /// True for tumbling windows.
    pub fn is_tumbling(&self) -> bool {
        self.size == self.slide
    }

    /// The `window_type` name: `tumbling_1min`, `sliding_5min_1min`, ...
    pub fn name(&self) -> String {
        if self.is_tumbling() {
            format!("tumbling_{}", duration_name(self.size))
        } else {
            format!(
                "sliding_{}_{}",
                duration_name(self.size),
                duration_name(self.slide)
            )
        }
    }

    /// Start of the latest window containing `t`.
    #[inline]
    pub fn last_start(&self, t: i64) -> i64 {
        align_down(t, self.slide)
    }

    /// End of the latest window containing `t`: once the watermark reaches it, every window
    /// containing `t` is final.
    #[inline]
    pub fn last_end(&self, t: i64) -> i64 {
        self.last_start(t) + self.size
    }

    /// Starts of all windows containing `t`, latest first.
    pub fn starts_containing(&self, t: i64) -> impl Iterator<Item = i64> + '_ {
        let last = self.last_start(t);
        (0..)
            .map(move |i| last - i * self.slide)
            .take_while(move |start| start + self.size > t)
    }

    /// Length of the panes this window is built from: the largest length dividing both size and
    /// slide, so that every window is an exact union of panes.
    pub fn pane_size(&self) -> i64 {
        gcd(self.size, self.slide)
    }
}

/// Greatest common divisor of two positive numbers.
pub fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_assigns_one_window() {
        let w = WindowSpec::tumbling(60).unwrap();
        assert_eq!(
            w.starts_containing(1_699_999_980).collect::<Vec<_>>(),
            [1_699_999_980]
        );
        assert_eq!(
            w.starts_containing(1_700_000_039).collect::<Vec<_>>(),
            [1_699_999_980]
        );
        assert_eq!(
            w.starts_containing(1_700_000_040).collect::<Vec<_>>(),
            [1_700_000_040]
        );
        assert_eq!(w.name(), "tumbling_1min");
    }

    #[test]
    fn sliding_assigns_size_over_slide_windows() {
        let w = WindowSpec::sliding(300, 60).unwrap();
        let starts: Vec<i64> = w.starts_containing(130).collect();
        assert_eq!(starts, [120, 60, 0, -60, -120]);
        assert!(starts.iter().all(|s| *s <= 130 && 130 < s + 300));
        assert_eq!(w.name(), "sliding_5min_1min");
        assert_eq!(w.pane_size(), 60);
    }

    #[test]
    fn negative_times_align_to_the_epoch() {
        let w = WindowSpec::sliding(300, 60).unwrap();
        assert_eq!(w.last_start(-1), -60);
        let starts: Vec<i64> = w.starts_containing(-1).collect();
        assert_eq!(starts, [-60, -120, -180, -240, -300]);
    }

    #[test]
    fn non_multiple_slide_keeps_only_containing_windows() {
        let w = WindowSpec::sliding(100, 60).unwrap();
        // windows start at multiples of 60; those containing t=130 are [120,220) and [60,160)
        assert_eq!(w.starts_containing(130).collect::<Vec<_>>(), [120, 60]);
        // t=170: [120,220) only, since [60,160) ended
        assert_eq!(w.starts_containing(170).collect::<Vec<_>>(), [120]);
        assert_eq!(w.pane_size(), 20);
    }

    #[test]
    fn rejects_invalid_specs() {
        assert!(WindowSpec::sliding(60, 300).is_err());
        assert!(WindowSpec::tumbling(0).is_err());
        assert!(WindowSpec::sliding(60, -1).is_err());
    }
}
