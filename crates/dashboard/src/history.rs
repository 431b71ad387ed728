//! The dashboard's memory: the latest record of each window (by window type and start) within
//! the retention, each stamped with the sequence number of its last change, so that a page can
//! ask for everything that changed after the last change it saw (live pushes and their resync
//! after a reconnect are the same question).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::window::{Kind, Window};

/// Where a window is kept: family, start, then type name (one family may have several types).
type Key = (Kind, i64, Arc<str>);

/// A window and the sequence number of its last change.
#[derive(Debug, Clone)]
pub struct Entry {
    pub window: Arc<Window>,
    pub seq: u64,
}

/// Windows by family and start; see the module documentation.
#[derive(Debug)]
pub struct History {
    /// Seconds of windows kept before the head (see [`History::head`]).
    retention: i64,
    windows: BTreeMap<Key, Entry>,
    /// Sequence number of the last change (0: none yet).
    seq: u64,
    /// The latest window end seen, epoch seconds.
    latest_end: Option<i64>,
    /// One copy of each name (window types, titles, genres) the windows share.
    names: HashSet<Arc<str>>,
}

impl History {
    /// An empty history keeping `retention_seconds` of windows.
    pub fn new(retention_seconds: i64) -> History {
        History {
            retention: retention_seconds,
            windows: BTreeMap::new(),
            seq: 0,
            latest_end: None,
            names: HashSet::new(),
        }
    }

    /// Keeps `window` unless a record of the same window that supersedes it is there already (a
    /// final record supersedes an update; among equals, the later processing time wins).
    /// Returns whether anything changed.
    pub fn insert(&mut self, mut window: Window, now: i64) -> bool {
        if window.end() < self.head(now) - self.retention {
            return false;
        }
        for name in window.names_mut() {
            *name = self.intern(name);
        }
        // kept for days: no room to grow (a parsed list has up to twice its length)
        window.top_movies.shrink_to_fit();
        window.metrics_by_genre.shrink_to_fit();
        let key = (
            window.kind(),
            window.start(),
            Arc::clone(&window.window_type),
        );
        if let Some(kept) = self.windows.get(&key) {
            if !supersedes(&window, &kept.window) {
                return false;
            }
        }
        self.latest_end = self.latest_end.max(Some(window.end()));
        self.seq += 1;
        let entry = Entry {
            window: Arc::new(window),
            seq: self.seq,
        };
        self.windows.insert(key, entry);
        true
    }

    /// The end of the time axis: the wall clock, or the latest window end when the data runs
    /// ahead of it (a synthetic stream with event time sped up).
    pub fn head(&self, now: i64) -> i64 {
        self.latest_end.map_or(now, |end| end.max(now))
    }

    /// The shared copy of `name`.
    fn intern(&mut self, name: &Arc<str>) -> Arc<str> {
        match self.names.get(name) {
            Some(shared) => Arc::clone(shared),
            None => {
                self.names.insert(Arc::clone(name));
                Arc::clone(name)
            }
        }
    }

    /// Forgets windows that ended more than the retention before the head, and the names no
    /// window uses any more.
    pub fn prune(&mut self, now: i64) {
        let oldest = self.head(now) - self.retention;
        self.windows.retain(|_, entry| entry.window.end() >= oldest);
        self.names.retain(|name| Arc::strong_count(name) > 1);
    }

    /// Windows of `kind` that end within `(from, to]`, by start, then type.
    pub fn range(&self, kind: Kind, from: i64, to: i64) -> Vec<Arc<Window>> {
        self.windows
            .range((kind, i64::MIN, Arc::from(""))..)
            .take_while(|((k, _, _), _)| *k == kind)
            .map(|(_, entry)| &entry.window)
            .filter(|w| w.end() > from && w.end() <= to)
            .cloned()
            .collect()
    }

    /// Every window changed after change `seq`, in the order of their changes.
    pub fn changed_after(&self, seq: u64) -> Vec<Entry> {
        let mut changed: Vec<Entry> = self
            .windows
            .values()
            .filter(|entry| entry.seq > seq)
            .cloned()
            .collect();
        changed.sort_by_key(|entry| entry.seq);
        changed
    }

    /// Ratings per minute in the windows of `kind` published within `over` before `now`
    /// (epoch seconds); 0 when none was.
    pub fn published_per_minute(&self, kind: Kind, over: i64, now: i64) -> f64 {
        let since = (now - over) * 1000;
        let ratings: u64 = self
            .windows
            .range((kind, i64::MIN, Arc::from(""))..)
            .take_while(|((k, _, _), _)| *k == kind)
            .filter(|(_, e)| {
                e.window.published_millis > since && e.window.published_millis <= now * 1000
            })
            .map(|(_, e)| e.window.count)
            .sum();
        ratings as f64 * 60.0 / over.max(1) as f64
    }

    /// The sequence number of the last change.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The latest window end seen (epoch seconds), if any.
    pub fn latest_end(&self) -> Option<i64> {
        self.latest_end
    }

    /// Number of windows kept.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

/// Whether `new` should replace `kept`, two records of the same window.
fn supersedes(new: &Window, kept: &Window) -> bool {
    match (new.is_final, kept.is_final) {
        (true, false) => true,
        (false, true) => false,
        // RFC 3339 UTC times of one format order as text
        _ => new.processing_time > kept.processing_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::Window;

    const T0: i64 = 1_761_764_400; // 2025-10-29T19:00:00Z

    fn window(
        kind: &str,
        start: i64,
        minutes: i64,
        count: u64,
        processed: i64,
        is_final: bool,
    ) -> Window {
        let time = |t: i64| ratings_core::time::rfc3339_seconds(t);
        let json = serde_json::json!({
            "window_start": time(start),
            "window_end": time(start + minutes * 60),
            "window_type": kind,
            "count": count,
            "avg_rating": 3.5,
            "p50_rating": 3.5,
            "p95_rating": 4.5,
            "top_movies": [],
            "metrics_by_genre": [],
            "final": is_final,
            "processing_time": ratings_core::time::rfc3339_millis(processed * 1000),
        });
        Window::parse(json.to_string().as_bytes()).unwrap()
    }

    fn counts(windows: &[Arc<Window>]) -> Vec<u64> {
        windows.iter().map(|w| w.count).collect()
    }

    #[test]
    fn the_latest_record_of_a_window_is_kept_and_finals_win() {
        let mut history = History::new(3600);
        let now = T0 + 120;
        assert!(history.insert(window("tumbling_1min", T0, 1, 5, T0 + 61, false), now));
        assert!(history.insert(window("tumbling_1min", T0, 1, 7, T0 + 62, false), now));
        assert!(
            !history.insert(window("tumbling_1min", T0, 1, 6, T0 + 61, false), now),
            "older update"
        );
        assert!(history.insert(window("tumbling_1min", T0, 1, 9, T0 + 63, true), now));
        assert!(
            !history.insert(window("tumbling_1min", T0, 1, 10, T0 + 70, false), now),
            "update after final"
        );
        assert!(
            !history.insert(window("tumbling_1min", T0, 1, 9, T0 + 63, true), now),
            "same final again"
        );
        assert_eq!(counts(&history.range(Kind::Tumbling, T0, T0 + 60)), [9]);
        assert_eq!(history.seq(), 3);
    }

    #[test]
    fn ranges_select_the_family_and_window_ends() {
        let mut history = History::new(86_400);
        for i in 0..10 {
            history.insert(
                window("tumbling_1min", T0 + i * 60, 1, i as u64, T0, true),
                T0,
            );
            history.insert(
                window(
                    "sliding_5min_1min",
                    T0 + i * 60,
                    5,
                    100 + i as u64,
                    T0,
                    true,
                ),
                T0,
            );
        }
        // tumbling windows ending in (T0 + 3 min, T0 + 6 min]: starts 3, 4, 5 minutes
        assert_eq!(
            counts(&history.range(Kind::Tumbling, T0 + 180, T0 + 360)),
            [3, 4, 5]
        );
        // sliding windows (5 min long) ending in the same span: starts -2..=1 min, i.e. 0 and 1
        assert_eq!(
            counts(&history.range(Kind::Sliding, T0 + 180, T0 + 360)),
            [100, 101]
        );
    }

    #[test]
    fn changes_after_a_sequence_number_come_in_change_order() {
        let mut history = History::new(86_400);
        for i in 0..4 {
            history.insert(
                window("tumbling_1min", T0 + i * 60, 1, i as u64, T0, false),
                T0,
            );
        }
        let seen = history.seq();
        history.insert(window("tumbling_1min", T0 + 120, 1, 20, T0 + 1, true), T0);
        history.insert(window("tumbling_1min", T0, 1, 30, T0 + 1, true), T0);
        let changed: Vec<u64> = history
            .changed_after(seen)
            .iter()
            .map(|e| e.window.count)
            .collect();
        assert_eq!(changed, [20, 30]);
        assert!(history.changed_after(history.seq()).is_empty());
        assert_eq!(history.changed_after(0).len(), 4);
    }

    #[test]
    fn names_are_shared_between_windows_and_forgotten_with_them() {
        let mut history = History::new(3600);
        let with_genre = |start: i64| {
            let mut w = window("tumbling_1min", start, 1, 1, T0, true);
            w.metrics_by_genre.push(crate::window::GenreMetric {
                genre: Arc::from("Drama"),
                count: 1,
                avg_rating: 4.0,
            });
            w
        };
        history.insert(with_genre(T0), T0);
        history.insert(with_genre(T0 + 60), T0);
        let windows = history.range(Kind::Tumbling, T0, T0 + 120);
        let genre = |i: usize| &windows[i].metrics_by_genre[0].genre;
        assert!(Arc::ptr_eq(genre(0), genre(1)));
        assert!(Arc::ptr_eq(
            &windows[0].window_type,
            &windows[1].window_type
        ));
        drop(windows);
        history.prune(T0 + 3 * 3600);
        assert!(history.is_empty());
        assert!(history.names.is_empty());
    }

    #[test]
    fn the_published_rate_counts_windows_by_their_processing_time() {
        let mut history = History::new(86_400);
        // published at T0 + 10, + 70, + 130 s; 60, 120, 180 ratings
        for i in 0..3 {
            history.insert(
                window(
                    "tumbling_1min",
                    T0 + i * 60,
                    1,
                    60 * (i as u64 + 1),
                    T0 + 10 + i * 60,
                    true,
                ),
                T0,
            );
            history.insert(
                window(
                    "sliding_5min_1min",
                    T0 + i * 60,
                    5,
                    1000,
                    T0 + 10 + i * 60,
                    true,
                ),
                T0,
            );
        }
        // the last 120 s before T0 + 130: the windows published at + 70 and + 130
        assert_eq!(
            history.published_per_minute(Kind::Tumbling, 120, T0 + 130),
            150.0
        );
        assert_eq!(
            history.published_per_minute(Kind::Tumbling, 60, T0 + 200),
            0.0
        );
    }

    #[test]
    fn retention_counts_back_from_the_wall_clock_or_the_data_when_it_runs_ahead() {
        let mut history = History::new(3600);
        let now = T0 + 2 * 3600;
        assert!(
            !history.insert(window("tumbling_1min", T0, 1, 1, T0, true), now),
            "too old"
        );
        assert!(history.insert(window("tumbling_1min", now - 600, 1, 2, now, true), now));
        assert_eq!(history.head(now), now);
        // a synthetic stream 5 h ahead of the clock: the head follows the data
        let ahead = now + 5 * 3600;
        assert!(history.insert(window("tumbling_1min", ahead, 1, 3, now, true), now));
        assert_eq!(history.head(now), ahead + 60);
        history.prune(now);
        assert_eq!(
            counts(&history.range(Kind::Tumbling, i64::MIN, i64::MAX)),
            [3]
        );
    }
}
