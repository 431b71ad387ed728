//! The Kafka job's timers and telemetry: when the next commit is due (by the interval, or
//! because windows became final), the readings published to Prometheus every second, the
//! output latency of published windows, and a progress report every interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_connectors::kafka::Producer;

use crate::source::kafka::KafkaSource;
use ratings_core::time::rfc3339_seconds;

use crate::pipeline::{Pipeline, Unpublished};
use crate::telemetry::progress::{Commits, Progress};
use crate::telemetry::prometheus::Metrics;
use crate::telemetry::Reading;
use ratings_settings::{JobConfig, KafkaJob};

/// How often the reading behind the Prometheus metrics is refreshed.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// Timers and previous readings of the main loop.
pub(super) struct Monitor {
    metrics: Arc<Metrics>,
    progress_interval: Duration,
    progress_json: bool,
    state_warn_rows: Option<usize>,
    commit_interval: Duration,
    last_commit: Instant,
    /// At most one commit triggered by windows per this (zero: none).
    emit_commit_floor: Duration,
    /// When the last commit triggered by windows started, and how long it took (once done).
    last_emit_commit: Instant,
    last_emit_took: Duration,
    /// Whether the commit under way was triggered by windows.
    emitting: bool,
    last_metrics: Instant,
    /// Start of the current progress interval.
    started: Instant,
    /// The source's idle time at that start.
    idle_before: Duration,
    /// The reading at that start.
    progress_reading: Reading,
    /// Commits since that start.
    commits: Commits,
}

impl Monitor {
    pub(super) fn new(metrics: Arc<Metrics>, config: &JobConfig, job: &KafkaJob) -> Monitor {
        Monitor {
            metrics,
            progress_interval: config.telemetry.progress_interval,
            progress_json: config.telemetry.progress_json,
            state_warn_rows: config.telemetry.state_warn_rows,
            commit_interval: job.delivery.commit_interval,
            last_commit: Instant::now(),
            emit_commit_floor: job.delivery.emit_commit_floor,
            last_emit_commit: Instant::now(),
            last_emit_took: Duration::ZERO,
            emitting: false,
            // due at once: the first records show in /metrics without waiting an interval
            last_metrics: Instant::now()
                .checked_sub(METRICS_INTERVAL)
                .unwrap_or_else(Instant::now),
            started: Instant::now(),
            idle_before: Duration::ZERO,
            progress_reading: Reading::default(),
            commits: Commits::default(),
        }
    }

    /// Reads the errors of the job's Kafka clients from now on.
    pub(super) fn watch_kafka(&self, source: &KafkaSource, producer: &Producer) {
        self.metrics.watch_kafka(vec![
            Arc::clone(source.health()),
            Arc::clone(producer.health()),
        ]);
    }

    /// Whether the commit interval has passed since the end of the last commit.
    pub(super) fn commit_due(&self) -> bool {
        self.last_commit.elapsed() >= self.commit_interval
    }

    /// Whether windows that became final may end the epoch now: the floor has passed since the
    /// last commit they triggered started, and at least twice as long as that one took (on a
    /// slow storage, e.g. HDFS, such commits take at most half the time). Commits by the
    /// interval do not hold them back: a window that became final during one waits for its end
    /// only. Notes that one starts when it says so.
    pub(super) fn emit_commit_starts(&mut self) -> bool {
        let spacing = self.emit_commit_floor.max(2 * self.last_emit_took);
        let due = !self.emit_commit_floor.is_zero() && self.last_emit_commit.elapsed() >= spacing;
        if due {
            self.last_emit_commit = Instant::now();
            self.emitting = true;
        }
        due
    }

    /// Notes an epoch committed and the output latency of the windows it published.
    pub(super) fn epoch_committed(&self, windows: Unpublished) {
        self.metrics.epoch_committed();
        let latency = self.metrics.latency();
        for became_final in windows.finals {
            latency.observe(became_final.elapsed());
        }
    }

    /// Notes a commit attempt that took `duration` and whether it committed anything (an empty
    /// epoch, or one still waiting for Kafka, did not). The interval runs from the end of a
    /// commit: a slow storage gets longer epochs, not back-to-back commits of a few records.
    pub(super) fn committed(&mut self, duration: Duration, counted: bool) {
        self.last_commit = Instant::now();
        if std::mem::take(&mut self.emitting) {
            self.last_emit_took = duration;
        }
        if counted {
            self.commits.count += 1;
            self.commits.total += duration;
        }
    }

    /// Publishes the metrics and reports progress when their intervals have passed.
    pub(super) fn on_timers(
        &mut self,
        pipeline: &Pipeline,
        source: &KafkaSource,
        producer: &Producer,
    ) -> anyhow::Result<()> {
        if self.last_metrics.elapsed() >= METRICS_INTERVAL {
            self.publish(pipeline, source, producer);
        }
        if self.started.elapsed() >= self.progress_interval {
            self.report(pipeline, source, producer)?;
        }
        Ok(())
    }

    /// Brings the Prometheus metrics up to date (consumer lag included).
    pub(super) fn publish(
        &mut self,
        pipeline: &Pipeline,
        source: &KafkaSource,
        producer: &Producer,
    ) {
        self.metrics.publish(reading(pipeline, source, producer));
        self.last_metrics = Instant::now();
    }

    /// Logs a progress report for the interval since the previous one.
    pub(super) fn report(
        &mut self,
        pipeline: &Pipeline,
        source: &KafkaSource,
        producer: &Producer,
    ) -> anyhow::Result<()> {
        let now = reading(pipeline, source, producer);
        let elapsed = self.started.elapsed();
        let busy = elapsed.saturating_sub(source.idle_time() - self.idle_before);
        self.commits.latency = self.metrics.latency().take_interval();
        let mut progress = Progress::between(
            &self.progress_reading,
            &now,
            elapsed,
            busy,
            self.commit_interval,
            std::mem::take(&mut self.commits),
        );
        progress.active_since =
            (self.metrics.active_since()).map(|millis| rfc3339_seconds(millis / 1000));
        progress.state_warning = state_warning(now.state_rows, self.state_warn_rows);
        let text = match self.progress_json {
            true => serde_json::to_string(&progress)?,
            false => progress.line(),
        };
        match progress.state_warning {
            Some(_) => tracing::warn!("{text}"),
            None => tracing::info!("{text}"),
        }
        self.progress_reading = now;
        self.started = Instant::now();
        self.idle_before = source.idle_time();
        Ok(())
    }
}

/// The warning of a state holding `rows` per-movie rows, over the threshold `warn_rows`.
fn state_warning(rows: usize, warn_rows: Option<usize>) -> Option<String> {
    let threshold = warn_rows.filter(|t| rows > *t)?;
    Some(format!(
        "the state holds {rows} per-movie rows (more than --state-warn-rows {threshold}; about \
         {} MB): very many distinct movie ids in the open windows — a producer sending bad ids?",
        rows * STATE_BYTES_PER_ROW / 1_000_000
    ))
}

/// Memory per per-movie row of the state with exactly-once checkpoints, as measured
/// (BENCHMARKS.md, `scripts/bench-cardinality.sh`).
const STATE_BYTES_PER_ROW: usize = 90;

/// Everything measured now, with the consumer lag (from the last end offsets the broker gave)
/// and Kafka health.
fn reading(pipeline: &Pipeline, source: &KafkaSource, producer: &Producer) -> Reading {
    let (consumer, output) = (source.health(), producer.health());
    let last_error = output.last_error().or_else(|| consumer.last_error());
    Reading::of(
        pipeline,
        source.lag(),
        consumer.errors() + output.errors(),
        last_error,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_warning_starts_above_the_threshold_and_estimates_the_memory() {
        assert_eq!(state_warning(5_000_000, Some(5_000_000)), None);
        assert_eq!(state_warning(9_000_000, None), None);
        let warning = state_warning(15_000_000, Some(5_000_000)).unwrap();
        assert!(
            warning.starts_with("the state holds 15000000 per-movie rows (more than --state-warn-rows 5000000; about 1350 MB)"),
            "{warning}"
        );
        let mut progress = Progress::between(
            &crate::telemetry::Reading::default(),
            &crate::telemetry::Reading::default(),
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(1),
            Commits::default(),
        );
        assert!(!progress.line().contains("WARNING"));
        progress.state_warning = Some(warning);
        assert!(progress
            .line()
            .contains(", WARNING: the state holds 15000000"));
        let json = serde_json::to_value(&progress).unwrap();
        assert!(json["stateWarning"].as_str().unwrap().contains("15000000"));
    }
}
