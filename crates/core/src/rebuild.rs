//! Rebuilding the engine's open state for changed window types from the raw ratings, so that a
//! job's windows can change across a restart without losing a minute.
//!
//! The rule is the live engine's: a rating counts in a window when that window was not final
//! under the watermark the rating was read with. Every window still open at the restored
//! watermark `w` ends after `w`, and every rating read before the checkpoint was read under a
//! watermark of at most `w`: so each open window of the new types holds exactly the raw ratings
//! of its span. The [`Rebuilder`] takes the restored engine (its watermark and counters) and the
//! raw ratings from [`Rebuilder::since`] on, in any order, and builds the engine of the new
//! window types; the unchanged types' open windows get the same ratings they held (a rating late
//! for every old type lies in none of their open windows).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::engine::{Engine, EngineConfig, EngineState};
use crate::rating::Rating;
use crate::time::align_down;
use crate::window::WindowSpec;

/// Builds an engine for new window types from a restored one and the raw ratings.
pub struct Rebuilder {
    engine: Engine,
    /// The restored engine's window types.
    old_windows: Vec<WindowSpec>,
    /// Open windows of the restored engine per type (for the removed ones' count).
    old_open: Vec<usize>,
    rows_read: u64,
    rows_used: u64,
}

/// What a rebuild did, for the banner and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Window types in both the restored and the new settings.
    pub kept: Vec<WindowSpec>,
    /// Window types new in the settings.
    pub added: Vec<WindowSpec>,
    /// Window types dropped, with their windows that were open (never emitted now).
    pub removed: Vec<(WindowSpec, usize)>,
    /// The earliest event time read (`None`: no watermark yet, every rating).
    pub since: Option<i64>,
    /// Raw ratings read, and those that lie in an open window of the new types.
    pub rows_read: u64,
    pub rows_used: u64,
    /// Open windows of the rebuilt engine, per new window type.
    pub open_windows: Vec<usize>,
}

/// A raw rating that cannot have been read before the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a raw rating (event time {event_time}) was read under watermark {read_under}, later than \
     the checkpoint's watermark {checkpoint}: the raw data is not the checkpoint's"
)]
pub struct AfterTheCheckpoint {
    pub event_time: i64,
    pub read_under: i64,
    pub checkpoint: i64,
}

impl Rebuilder {
    /// Starts a rebuild of `restored` (an engine of the old window types) for `config`.
    pub fn new(config: EngineConfig, catalog: Arc<Catalog>, restored: &Engine) -> Rebuilder {
        let old = &restored.state;
        let old_windows = restored.config.windows.clone();
        let late_by_window = config
            .windows
            .iter()
            .map(|spec| {
                old_windows
                    .iter()
                    .position(|o| o == spec)
                    .map_or(0, |k| old.counters.late_by_window[k])
            })
            .collect();
        let mut counters = old.counters.clone();
        counters.late_by_window = late_by_window;
        let state = EngineState {
            watermark: crate::watermark::Watermark::restored(
                config.watermark_delay,
                old.watermark.current(),
            ),
            panes: Default::default(),
            pane_starts: BTreeSet::new(),
            open: vec![BTreeSet::new(); config.windows.len()],
            dirty: BTreeSet::new(),
            counters,
            pane_capacity: old.pane_capacity,
        };
        Rebuilder {
            engine: Engine::with_state(config, catalog, state),
            old_open: old.open.iter().map(BTreeSet::len).collect(),
            old_windows,
            rows_read: 0,
            rows_used: 0,
        }
    }

    /// The earliest event time an open window of the new types can hold: raw ratings before it
    /// are not needed (`None`: no watermark yet, all of them are).
    pub fn since(&self) -> Option<i64> {
        let watermark = self.engine.state.watermark.current()?;
        self.engine
            .config
            .windows
            .iter()
            .map(|spec| align_down(watermark - spec.size, spec.slide) + spec.slide)
            .min()
    }

    /// Adds a raw rating read under `read_under` (its `watermark` column).
    pub fn add(
        &mut self,
        rating: &Rating,
        read_under: Option<i64>,
    ) -> Result<(), AfterTheCheckpoint> {
        self.rows_read += 1;
        let watermark = self.engine.state.watermark;
        if let (Some(read_under), Some(checkpoint)) = (read_under, watermark.current()) {
            if read_under > checkpoint {
                return Err(AfterTheCheckpoint {
                    event_time: rating.timestamp,
                    read_under,
                    checkpoint,
                });
            }
        }
        let t = rating.timestamp;
        let open = (self.engine.config.windows.iter()).any(|w| !watermark.is_final(w.last_end(t)));
        if open {
            self.engine.add_to_pane(rating);
            self.rows_used += 1;
        }
        Ok(())
    }

    /// The rebuilt engine and what was done.
    pub fn finish(self) -> (Engine, RebuildReport) {
        let new = &self.engine.config.windows;
        let report = RebuildReport {
            kept: (new.iter().filter(|w| self.old_windows.contains(w)).copied()).collect(),
            added: (new
                .iter()
                .filter(|w| !self.old_windows.contains(w))
                .copied())
            .collect(),
            removed: (self.old_windows.iter().zip(&self.old_open))
                .filter(|(w, _)| !new.contains(w))
                .map(|(w, open)| (*w, *open))
                .collect(),
            since: self.since(),
            rows_read: self.rows_read,
            rows_used: self.rows_used,
            open_windows: self.engine.state.open.iter().map(BTreeSet::len).collect(),
        };
        (self.engine, report)
    }
}

#[cfg(test)]
mod tests;
