//! Output latency: from the instant a window became final to the instant its record is readable
//! — exactly-once: its epoch's transaction committed; at-least-once: the broker acknowledged
//! it. Kept as a Prometheus histogram over the process's life and, per progress interval, as
//! exact percentiles.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;

/// Histogram buckets, in seconds: from a few milliseconds (a prompt exactly-once commit) to
/// tens of seconds (a commit waiting for a broker or a storage that is away).
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
];
/// Latencies kept per progress interval (beyond, only the histogram counts them).
const MAX_PER_INTERVAL: usize = 1 << 16;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct OutputLatency {
    histogram: Histogram,
    /// Latencies of the current progress interval, in milliseconds.
    interval: Mutex<Vec<f64>>,
}

impl Default for OutputLatency {
    fn default() -> Self {
        OutputLatency {
            histogram: Histogram::new(BUCKETS),
            interval: Mutex::new(Vec::new()),
        }
    }
}

/// The output latency over one progress interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LatencySummary {
    /// Final windows published in the interval.
    pub windows: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl OutputLatency {
    /// The histogram, to register with Prometheus.
    pub(crate) fn histogram(&self) -> Histogram {
        self.histogram.clone()
    }

    /// Notes one window published `latency` after it became final.
    pub(crate) fn observe(&self, latency: Duration) {
        self.histogram.observe(latency.as_secs_f64());
        let mut interval = self.interval.lock().expect("latency samples");
        if interval.len() < MAX_PER_INTERVAL {
            interval.push(latency.as_secs_f64() * 1e3);
        }
    }

    /// The percentiles since the last call, and a new interval.
    pub(crate) fn take_interval(&self) -> LatencySummary {
        let mut samples = std::mem::take(&mut *self.interval.lock().expect("latency samples"));
        samples.sort_by(f64::total_cmp);
        LatencySummary {
            windows: samples.len(),
            p50_ms: percentile(&samples, 0.5),
            p99_ms: percentile(&samples, 0.99),
            max_ms: samples.last().copied(),
        }
    }
}

/// The value at rank `max(1, ceil(p * n))` of sorted `samples` (the engine's rule).
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    let rank = ((p * samples.len() as f64).ceil() as usize).max(1);
    samples.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_percentiles_are_by_rank_and_reset() {
        let latency = OutputLatency::default();
        for millis in (1..=100).rev() {
            latency.observe(Duration::from_millis(millis));
        }
        let summary = latency.take_interval();
        assert_eq!(summary.windows, 100);
        assert_eq!(summary.p50_ms, Some(50.0));
        assert_eq!(summary.p99_ms, Some(99.0));
        assert_eq!(summary.max_ms, Some(100.0));
        assert_eq!(latency.take_interval(), LatencySummary::default());
    }
}
