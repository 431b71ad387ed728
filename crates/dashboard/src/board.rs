//! The board: what the feeds fill and the server reads — the window history, the state of the
//! feed that fills it, the processors' scraped metrics and the alerts, and a signal for every
//! change of the history, so that live pushes wake at once.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;

use crate::alerts::{Alerts, Measure, Rule, Signal};
use crate::history::History;
use crate::scrape::Endpoint;
use crate::window::{Kind, Window};

/// How the feed of windows is doing, as the page shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FeedStatus {
    /// Where windows come from, e.g. `kafka 127.0.0.1:9092 topic metrics`.
    pub source: String,
    /// Whether the source answers now.
    pub connected: bool,
    /// The last error of the source, while it lasts.
    pub error: Option<String>,
    /// Whether the history up to start-up has been read (the backfill).
    pub backfilled: bool,
    /// Records read, and those skipped because they are not windows.
    pub records: u64,
    pub skipped: u64,
    /// Why the last skipped record was skipped.
    pub last_skipped: Option<String>,
}

/// See the module documentation.
pub struct Board {
    state: Mutex<State>,
    changed: Condvar,
    /// Tells this process's sequence numbers from an earlier one's (a page that reconnects
    /// after a restart must fetch its range again).
    instance: String,
    /// See [`BoardSettings::max_ahead`].
    max_ahead: Option<i64>,
}

/// What the board guards.
pub struct State {
    pub history: History,
    pub feed: FeedStatus,
    /// The processors' metrics endpoints, as scraped.
    pub endpoints: Vec<Endpoint>,
    pub alerts: Alerts,
}

/// What a board is made of.
#[derive(Debug, Clone)]
pub struct BoardSettings {
    /// How much history is kept.
    pub retention: Duration,
    /// How the page names the feed.
    pub source: String,
    pub rules: Vec<Rule>,
    /// Processors' `/metrics` URLs to scrape.
    pub endpoints: Vec<String>,
    /// See [`crate::feed::TopicFeed::max_ahead`].
    pub max_ahead: Option<i64>,
}

impl Board {
    /// An empty board.
    pub fn new(settings: BoardSettings) -> Board {
        Board {
            state: Mutex::new(State {
                history: History::new(settings.retention.as_secs() as i64),
                feed: FeedStatus {
                    source: settings.source,
                    ..FeedStatus::default()
                },
                endpoints: settings
                    .endpoints
                    .iter()
                    .map(|u| Endpoint::new(u))
                    .collect(),
                alerts: Alerts::new(settings.rules, now_seconds()),
            }),
            changed: Condvar::new(),
            instance: format!("{:x}", fastrand::u64(..)),
            max_ahead: settings.max_ahead,
        }
    }

    /// This process's instance id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The state, locked.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one record of the windows topic: kept when it is a window (and wakes the live
    /// pushes when it changed the history), counted and skipped otherwise.
    pub fn offer(&self, value: &[u8]) {
        let mut state = self.state();
        state.feed.records += 1;
        let now = now_seconds();
        let parsed = Window::parse(value)
            .map_err(|reason| reason.to_string())
            .and_then(|window| match self.max_ahead {
                Some(ahead) if window.end() > now + ahead => Err(format!(
                    "the window ends at {}, more than {} after the clock",
                    ratings_core::time::rfc3339_seconds(window.end()),
                    humantime::format_duration(std::time::Duration::from_secs(ahead.max(0) as u64))
                )),
                _ => Ok(window),
            });
        match parsed {
            Ok(window) => {
                if state.history.insert(window, now) {
                    self.changed.notify_all();
                }
            }
            Err(reason) => {
                state.feed.skipped += 1;
                state.feed.last_skipped = Some(reason.clone());
                tracing::debug!("dashboard: skipped a record: {reason}");
            }
        }
    }

    /// Updates the feed's status.
    pub fn feed(&self, update: impl FnOnce(&mut FeedStatus)) {
        update(&mut self.state().feed);
    }

    /// Waits until the history changed after change `seen`, at most `timeout`; returns the
    /// sequence number of the last change.
    pub fn wait_for_change(&self, seen: u64, timeout: Duration) -> u64 {
        let state = self.state();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |s| s.history.seq() <= seen)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.history.seq()
    }

    /// Forgets windows older than the retention.
    pub fn prune(&self) {
        self.state().history.prune(now_seconds());
    }
}

impl State {
    /// Evaluates the alert rules at `now`.
    pub fn evaluate_alerts(&mut self, now: i64) {
        let signals = Signals {
            history: &self.history,
            endpoints: &self.endpoints,
        };
        self.alerts.evaluate(&signals, now);
    }
}

/// What the alert rules measure: the history and the scraped endpoints.
struct Signals<'a> {
    history: &'a History,
    endpoints: &'a [Endpoint],
}

impl Measure for Signals<'_> {
    fn measure(&self, signal: Signal, over: Duration, now: i64) -> Option<f64> {
        let endpoints = self.endpoints.iter();
        let worst = |values: Vec<Option<f64>>| values.into_iter().flatten().reduce(f64::max);
        match signal {
            // what the processors read when they are scraped (windows only appear a watermark
            // delay after their ratings), else what the published windows hold
            Signal::RatingsPerMinute => {
                let rates: Vec<f64> = self.endpoints.iter().filter_map(|e| e.rate(over)).collect();
                Some(match rates.is_empty() {
                    true => self.history.published_per_minute(
                        Kind::Tumbling,
                        over.as_secs() as i64,
                        now,
                    ),
                    false => rates.iter().sum::<f64>() * 60.0,
                })
            }
            Signal::Freshness => self.history.latest_end().map(|end| (now - end) as f64),
            Signal::OutputLatency => {
                worst(endpoints.map(|e| e.latency_quantile(0.99, over)).collect())
            }
            Signal::DeadLetterShare => {
                worst(endpoints.map(|e| e.dead_letter_share(over)).collect())
            }
            Signal::KafkaErrors => worst(
                endpoints
                    .map(|e| e.increase(over, |c| c.kafka_errors))
                    .collect(),
            ),
            Signal::StorageRetries => worst(
                endpoints
                    .map(|e| e.increase(over, |c| c.storage_retries))
                    .collect(),
            ),
        }
    }
}

/// The wall clock, epoch seconds.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::Counters;

    fn signals(board: &Board, signal: Signal, now: i64) -> Option<f64> {
        let state = board.state();
        let signals = Signals {
            history: &state.history,
            endpoints: &state.endpoints,
        };
        signals.measure(signal, Duration::from_secs(300), now)
    }

    #[test]
    fn throughput_is_what_scraped_processors_read_else_what_windows_hold() {
        let settings = |endpoints: Vec<String>| BoardSettings {
            retention: Duration::from_secs(86_400),
            source: "test".into(),
            rules: Vec::new(),
            endpoints,
            max_ahead: Some(86_400),
        };
        let now = now_seconds();
        let unscraped = Board::new(settings(Vec::new()));
        assert_eq!(
            signals(&unscraped, Signal::RatingsPerMinute, now),
            Some(0.0)
        );
        assert_eq!(signals(&unscraped, Signal::Freshness, now), None);
        assert_eq!(signals(&unscraped, Signal::KafkaErrors, now), None);

        let scraped = Board::new(settings(vec![
            "http://p1/metrics".into(),
            "http://p2/metrics".into(),
        ]));
        {
            let mut state = scraped.state();
            let read = |records| {
                Ok(Counters {
                    records_in: records,
                    kafka_errors: records / 100.0,
                    ..Counters::default()
                })
            };
            state.endpoints[0].record(now - 60, read(0.0));
            state.endpoints[0].record(now, read(600.0));
            state.endpoints[1].record(now - 60, read(1000.0));
            state.endpoints[1].record(now, read(1300.0));
        }
        // 10/s and 5/s: 900 ratings per minute, though no window was published
        assert_eq!(
            signals(&scraped, Signal::RatingsPerMinute, now),
            Some(900.0)
        );
        // errors: the worst endpoint
        assert_eq!(signals(&scraped, Signal::KafkaErrors, now), Some(6.0));
    }

    #[test]
    fn a_window_far_ahead_of_the_clock_is_counted_and_ignored() {
        let board = Board::new(BoardSettings {
            retention: Duration::from_secs(3600),
            source: "test".into(),
            rules: Vec::new(),
            endpoints: Vec::new(),
            max_ahead: Some(86_400),
        });
        let record = |start: i64| {
            let time = ratings_core::time::rfc3339_seconds;
            serde_json::json!({
                "window_start": time(start), "window_end": time(start + 60),
                "window_type": "tumbling_1min", "count": 1, "avg_rating": 3.5,
                "p50_rating": 3.5, "p95_rating": 3.5, "top_movies": [], "metrics_by_genre": [],
                "final": true, "processing_time": ratings_core::time::rfc3339_millis(0),
            })
            .to_string()
        };
        let now = now_seconds();
        board.offer(record(now - 120).as_bytes());
        board.offer(record(now + 400 * 86_400).as_bytes());
        let state = board.state();
        assert_eq!(state.history.len(), 1, "the real window stays");
        let later = now_seconds();
        assert_eq!(state.history.head(later), later, "the clock stays the head");
        assert_eq!(state.feed.skipped, 1);
        let reason = state.feed.last_skipped.as_deref().unwrap_or_default();
        assert!(reason.contains("after the clock"), "{reason}");
    }
}
