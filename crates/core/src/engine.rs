//! The windowing engine: accepts valid ratings in arrival order, decides lateness against the
//! watermark, keeps pane state, and emits window metrics when windows become final.
//!
//! Per record: (1) the rating is late for a window type when the latest window of that type
//! containing it is already final (`end <= watermark`); late for every type, it is counted and
//! reported as [`PushOutcome::Late`]; otherwise (2) it is added to its pane, which every
//! non-final window containing it will read at emission; then (3) the watermark advances and
//! (4) every window whose end it reached is emitted once, ordered by (end, window type), and
//! panes no window needs any more are dropped.

use std::collections::BTreeSet;
use std::sync::Arc;

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;
use crate::catalog::Catalog;
use crate::output::WindowResult;
use crate::rating::Rating;
use crate::time::align_down;
use crate::watermark::Watermark;
use crate::window::{gcd, WindowSpec};

/// Append: each window once, when final (the default). Update: also intermediate values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    #[default]
    Append,
    Update,
}

/// What the engine computes.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Window types, in output order for windows ending together.
    pub windows: Vec<WindowSpec>,
    /// Watermark delay in seconds.
    pub watermark_delay: i64,
    /// Number of movies in `top_movies`.
    pub top_n: usize,
    pub mode: OutputMode,
}

impl Default for EngineConfig {
    /// The original job: tumbling 1 min, sliding 5 min every 1 min, 10 min watermark, top 10.
    fn default() -> Self {
        EngineConfig {
            windows: vec![
                WindowSpec {
                    size: 60,
                    slide: 60,
                },
                WindowSpec {
                    size: 300,
                    slide: 60,
                },
            ],
            watermark_delay: 600,
            top_n: 10,
            mode: OutputMode::Append,
        }
    }
}

impl EngineConfig {
    /// The longest window size, seconds (0 without windows).
    pub fn largest_size(&self) -> i64 {
        self.windows.iter().map(|w| w.size).max().unwrap_or(0)
    }

    /// The longest slide, seconds (0 without windows).
    pub fn largest_slide(&self) -> i64 {
        self.windows.iter().map(|w| w.slide).max().unwrap_or(0)
    }
}

/// Running totals of the engine, part of its state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineCounters {
    /// Ratings added to at least one window.
    pub accepted: u64,
    /// Ratings that reached no window of any type.
    pub late: u64,
    /// Per window type: ratings that reached no window of that type (fully late ones included).
    pub late_by_window: Vec<u64>,
    /// Accepted ratings whose movie is not in the catalog.
    pub unknown_movie: u64,
    /// Final window results emitted.
    pub windows_emitted: u64,
    /// Non-final (update mode) results emitted.
    pub updates_emitted: u64,
}

impl EngineCounters {
    /// What was counted after `start` (an earlier reading of these counters, e.g. the ones a
    /// restart restored): a run's own counts.
    pub fn since(&self, start: &EngineCounters) -> EngineCounters {
        EngineCounters {
            accepted: self.accepted.saturating_sub(start.accepted),
            late: self.late.saturating_sub(start.late),
            late_by_window: self
                .late_by_window
                .iter()
                .enumerate()
                .map(|(i, n)| n.saturating_sub(start.late_by_window.get(i).copied().unwrap_or(0)))
                .collect(),
            unknown_movie: self.unknown_movie.saturating_sub(start.unknown_movie),
            windows_emitted: self.windows_emitted.saturating_sub(start.windows_emitted),
            updates_emitted: self.updates_emitted.saturating_sub(start.updates_emitted),
        }
    }
}

/// Whether a pushed rating was aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Accepted,
    /// Every window containing the rating was already final at this watermark.
    Late {
        watermark: i64,
    },
}

/// A window of one type, identified for ordering: (end, type index, start).
type WindowKey = (i64, usize, i64);

/// Everything that a checkpoint must hold to resume exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EngineState {
    pub(crate) watermark: Watermark,
    pub(crate) panes: FxHashMap<i64, Aggregate>,
    /// Pane starts, ordered, for range queries and eviction.
    pub(crate) pane_starts: BTreeSet<i64>,
    /// Per window type: starts of windows holding data and not yet emitted.
    pub(crate) open: Vec<BTreeSet<i64>>,
    /// Update mode: windows changed since the last [`Engine::flush_updates`].
    pub(crate) dirty: BTreeSet<WindowKey>,
    pub(crate) counters: EngineCounters,
    /// Largest number of distinct movies seen in a pane: new panes start with this capacity,
    /// so they do not rehash while filling.
    pub(crate) pane_capacity: usize,
}

/// Registers as open every window of every type that contains the pane starting at `pane_start`
/// and is not final yet.
fn register_windows(
    windows: &[WindowSpec],
    open: &mut [BTreeSet<i64>],
    watermark: Watermark,
    pane_start: i64,
) {
    for (spec, open) in windows.iter().zip(open) {
        open.extend(
            spec.starts_containing(pane_start)
                .filter(|start| !watermark.is_final(start + spec.size)),
        );
    }
}

/// The most recently used pane and, per window type, the end of its last window.
#[derive(Default)]
struct PaneCache {
    start: i64,
    last_ends: Vec<i64>,
}

/// The windowing engine. See the module documentation.
pub struct Engine {
    pub(crate) config: EngineConfig,
    names: Vec<Arc<str>>,
    pane_size: i64,
    last_pane: PaneCache,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) state: EngineState,
}

impl Engine {
    /// A new engine with empty state. Panics if `config.windows` is empty.
    pub fn new(config: EngineConfig, catalog: Arc<Catalog>) -> Engine {
        let state = EngineState {
            watermark: Watermark::new(config.watermark_delay),
            panes: FxHashMap::default(),
            pane_starts: BTreeSet::new(),
            open: vec![BTreeSet::new(); config.windows.len()],
            dirty: BTreeSet::new(),
            pane_capacity: 0,
            counters: EngineCounters {
                late_by_window: vec![0; config.windows.len()],
                ..EngineCounters::default()
            },
        };
        Self::with_state(config, catalog, state)
    }

    pub(crate) fn with_state(
        config: EngineConfig,
        catalog: Arc<Catalog>,
        state: EngineState,
    ) -> Engine {
        assert!(
            !config.windows.is_empty(),
            "at least one window type is required"
        );
        let pane_size = config
            .windows
            .iter()
            .map(WindowSpec::pane_size)
            .reduce(gcd)
            .expect("non-empty");
        let names = config.windows.iter().map(|w| w.name().into()).collect();
        Engine {
            config,
            names,
            pane_size,
            last_pane: PaneCache::default(),
            catalog,
            state,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The catalog used for titles and genres.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Current watermark (epoch seconds), `None` before the first rating.
    pub fn watermark(&self) -> Option<i64> {
        self.state.watermark.current()
    }

    /// Running totals.
    pub fn counters(&self) -> &EngineCounters {
        &self.state.counters
    }

    /// Windows holding data and not yet emitted as final, over all types.
    pub fn open_windows(&self) -> usize {
        self.state.open.iter().map(BTreeSet::len).sum()
    }

    /// Per-movie rows held in pane state (the bulk of the state's memory).
    pub fn state_rows(&self) -> usize {
        self.state.panes.values().map(|p| p.movies.len()).sum()
    }

    /// Panes held in state.
    pub fn pane_count(&self) -> usize {
        self.state.panes.len()
    }

    /// Processes one valid rating; final windows it causes are appended to `out`.
    pub fn push(&mut self, rating: &Rating, out: &mut Vec<WindowResult>) -> PushOutcome {
        let t = rating.timestamp;
        let watermark = self.state.watermark;
        let pane_start = self.locate_pane(t);
        let mut reaches_any = false;
        for (k, last_end) in self.last_pane.last_ends.iter().enumerate() {
            if watermark.is_final(*last_end) {
                self.state.counters.late_by_window[k] += 1;
            } else {
                reaches_any = true;
            }
        }
        let outcome = if reaches_any {
            self.add(rating, pane_start);
            PushOutcome::Accepted
        } else {
            self.state.counters.late += 1;
            PushOutcome::Late {
                watermark: watermark.current().expect("late implies a watermark"),
            }
        };
        if let Some(new_watermark) = self.state.watermark.observe(t) {
            self.emit_until(new_watermark, out);
        }
        outcome
    }

    /// Start of the pane holding `t`. The pane of the previous rating is cached with the end of
    /// the last window of each type containing it (every window boundary is a pane boundary, so
    /// that end is the same for all of the pane's times): most ratings need no division.
    #[inline]
    fn locate_pane(&mut self, t: i64) -> i64 {
        let cache = &mut self.last_pane;
        if !(cache.start..cache.start + self.pane_size).contains(&t) || cache.last_ends.is_empty() {
            cache.start = align_down(t, self.pane_size);
            cache.last_ends.clear();
            cache
                .last_ends
                .extend(self.config.windows.iter().map(|w| w.last_end(cache.start)));
        }
        cache.start
    }

    fn add(&mut self, rating: &Rating, pane_start: i64) {
        self.insert(rating, pane_start);
        let counters = &mut self.state.counters;
        counters.accepted += 1;
        counters.unknown_movie += u64::from(!self.catalog.contains(rating.movie_id));
        if self.config.mode == OutputMode::Update {
            self.mark_dirty(rating.timestamp);
        }
    }

    /// Adds a rating to its pane, registering the open windows of a new pane (a rebuild: see
    /// [`crate::rebuild`]; the counters stay as they were restored).
    pub(crate) fn add_to_pane(&mut self, rating: &Rating) {
        self.insert(rating, align_down(rating.timestamp, self.pane_size));
    }

    fn insert(&mut self, rating: &Rating, pane_start: i64) {
        let state = &mut self.state;
        let pane = match state.panes.entry(pane_start) {
            Entry::Occupied(pane) => pane.into_mut(),
            Entry::Vacant(slot) => {
                state.pane_starts.insert(pane_start);
                register_windows(
                    &self.config.windows,
                    &mut state.open,
                    state.watermark,
                    pane_start,
                );
                slot.insert(Aggregate::with_capacity(state.pane_capacity))
            }
        };
        pane.add(rating.movie_id, rating.rating);
        state.pane_capacity = state.pane_capacity.max(pane.movies.len());
    }

    fn mark_dirty(&mut self, t: i64) {
        let watermark = self.state.watermark;
        for (k, spec) in self.config.windows.iter().enumerate() {
            for start in spec.starts_containing(t) {
                if !watermark.is_final(start + spec.size) {
                    self.state.dirty.insert((start + spec.size, k, start));
                }
            }
        }
    }

    /// Emits, in (end, type) order, every open window ending at or before `watermark`, then
    /// drops the panes that no remaining window can read.
    fn emit_until(&mut self, watermark: i64, out: &mut Vec<WindowResult>) {
        let ready = self.take_open(Some(watermark));
        self.emit_final(ready, out);
        self.evict_panes(watermark);
    }

    /// Removes from the open sets and returns the windows ending at or before `until` (all of
    /// them for `None`).
    fn take_open(&mut self, until: Option<i64>) -> Vec<WindowKey> {
        let mut ready: Vec<WindowKey> = Vec::new();
        let windows = self.config.windows.iter().zip(&mut self.state.open);
        for (k, (spec, open)) in windows.enumerate() {
            while let Some(start) = open.first().copied() {
                if until.is_some_and(|until| start + spec.size > until) {
                    break;
                }
                open.pop_first();
                ready.push((start + spec.size, k, start));
            }
        }
        ready
    }

    fn emit_final(&mut self, mut ready: Vec<WindowKey>, out: &mut Vec<WindowResult>) {
        ready.sort_unstable();
        for key in ready {
            self.state.dirty.remove(&key);
            out.push(self.window_result(key, true));
            self.state.counters.windows_emitted += 1;
        }
    }

    fn evict_panes(&mut self, watermark: i64) {
        while let Some(pane_start) = self.state.pane_starts.first().copied() {
            let needed = self
                .config
                .windows
                .iter()
                .any(|spec| spec.last_end(pane_start) > watermark);
            if needed {
                break;
            }
            self.state.pane_starts.pop_first();
            self.state.panes.remove(&pane_start);
        }
    }

    /// Update mode: emits the current (non-final) values of every window changed since the
    /// last call, in (end, type) order. Drivers call it once per batch of input.
    pub fn flush_updates(&mut self, out: &mut Vec<WindowResult>) {
        for key in std::mem::take(&mut self.state.dirty) {
            out.push(self.window_result(key, false));
            self.state.counters.updates_emitted += 1;
        }
    }

    /// End of a bounded input: emits every open window as final, as if the watermark had
    /// jumped past all of them, and clears the window state.
    pub fn finish(&mut self, out: &mut Vec<WindowResult>) {
        let ready = self.take_open(None);
        self.emit_final(ready, out);
        self.state.dirty.clear();
        self.state.panes.clear();
        self.state.pane_starts.clear();
    }

    /// The metrics of one window, merged from its panes.
    fn window_result(&self, (end, k, start): WindowKey, is_final: bool) -> WindowResult {
        let state = &self.state;
        let mut panes = state.pane_starts.range(start..end).map(|p| &state.panes[p]);
        let metrics = match (panes.next(), panes.next()) {
            (Some(only), None) => only.summarize(&self.catalog, self.config.top_n),
            (first, second) => {
                let mut merged = Aggregate::with_capacity(state.pane_capacity);
                for pane in first.into_iter().chain(second).chain(panes) {
                    merged.merge(pane);
                }
                merged.summarize(&self.catalog, self.config.top_n)
            }
        };
        WindowResult {
            window_start: start,
            window_end: end,
            window_type: Arc::clone(&self.names[k]),
            metrics,
            is_final,
        }
    }
}
