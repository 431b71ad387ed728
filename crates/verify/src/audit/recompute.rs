//! The audit's reference: the windows of one type recomputed from raw rows alone, with the
//! engine's rule for lateness — a rating counts in each window containing it that ends after
//! the watermark it was read at (every window when it was read before the first watermark) —
//! and the engine's own aggregate and summary ([`Aggregate`]), so titles, genres, top-N order
//! and percentiles follow the same code.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use ratings_connectors::parquet::RawRow;
use ratings_core::aggregate::Aggregate;
use ratings_core::published::Window;
use ratings_core::{Catalog, Rating, WindowResult, WindowSpec};

/// Windows of one type recomputed from the raw rows.
#[derive(Debug, Default)]
pub struct Recomputed {
    /// Every window holding at least one rating, by start.
    pub windows: BTreeMap<i64, Window>,
    /// Starts of windows that ratings without a recorded watermark fall in (rows written by a
    /// version before the raw dataset recorded it): whether those counted cannot be decided.
    pub undecidable: BTreeSet<i64>,
}

/// What the windows are recomputed with.
pub struct Rules<'a> {
    pub spec: WindowSpec,
    pub catalog: &'a Catalog,
    pub top_n: usize,
}

/// Whether a rating read at `watermark` counts in the window of `spec` starting at `start`
/// (the engine adds it to every window of its time that is not final yet).
pub fn counts_in(spec: &WindowSpec, start: i64, watermark: Option<i64>) -> bool {
    watermark.is_none_or(|w| start + spec.size > w)
}

impl Rules<'_> {
    /// The windows starting in `starts`, from `rows` (with their watermark) and `unrecorded`
    /// (without).
    pub fn recompute(
        &self,
        starts: Range<i64>,
        rows: &[RawRow],
        unrecorded: &[Rating],
    ) -> Recomputed {
        let spec = &self.spec;
        let mut aggregates: BTreeMap<i64, Aggregate> = BTreeMap::new();
        for row in rows {
            let rating = &row.rating;
            for start in spec.starts_containing(rating.timestamp) {
                if starts.contains(&start) && counts_in(spec, start, row.watermark) {
                    aggregates
                        .entry(start)
                        .or_default()
                        .add(rating.movie_id, rating.rating);
                }
            }
        }
        let undecidable = unrecorded
            .iter()
            .flat_map(|r| spec.starts_containing(r.timestamp))
            .filter(|start| starts.contains(start))
            .collect();
        let name: Arc<str> = spec.name().into();
        let windows = aggregates
            .into_iter()
            .map(|(start, aggregate)| {
                let result = WindowResult {
                    window_start: start,
                    window_end: start + spec.size,
                    window_type: Arc::clone(&name),
                    metrics: aggregate.summarize(self.catalog, self.top_n),
                    is_final: true,
                };
                (start, Window::of(&result, 0))
            })
            .collect();
        Recomputed {
            windows,
            undecidable,
        }
    }
}

#[cfg(test)]
mod tests {
    use ratings_core::{Engine, EngineConfig, PushOutcome};

    use super::*;

    fn catalog() -> Catalog {
        let csv = "movieId,title,genres\n1,Toy Story (1995),Animation|Children\n2,Heat (1995),Action|Crime\n3,Up (2009),Animation\n";
        Catalog::from_csv(csv.as_bytes()).unwrap()
    }

    /// A disordered stream: mostly ahead, sometimes far behind (late for some or all windows).
    fn stream(seed: u64, n: usize) -> Vec<Rating> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut now = 1_761_764_400_i64;
        (0..n)
            .map(|i| {
                now += rng.i64(0..4);
                let behind = match rng.u8(0..20) {
                    0 => rng.i64(600..1_200),
                    1..=3 => rng.i64(0..120),
                    _ => 0,
                };
                Rating {
                    user_id: i as i32 + 1,
                    movie_id: rng.i32(1..6),
                    rating: f64::from(rng.u8(1..11)) / 2.0,
                    timestamp: now - behind,
                }
            })
            .collect()
    }

    /// The engine over `ratings` (flushed at the end when `finish`): its final windows per type,
    /// and the raw rows with the watermark each rating was read at.
    fn engine_run(
        config: &EngineConfig,
        catalog: &Arc<Catalog>,
        ratings: &[Rating],
        finish: bool,
    ) -> (Vec<Vec<Window>>, Vec<RawRow>) {
        let mut engine = Engine::new(config.clone(), Arc::clone(catalog));
        let (mut out, mut rows) = (Vec::new(), Vec::new());
        let mut late = 0;
        for rating in ratings {
            rows.push(RawRow {
                rating: *rating,
                watermark: engine.watermark(),
            });
            late += u32::from(matches!(
                engine.push(rating, &mut out),
                PushOutcome::Late { .. }
            ));
        }
        if finish {
            engine.finish(&mut out);
        }
        assert!(late > 0, "the stream has late ratings");
        let by_type = config
            .windows
            .iter()
            .map(|spec| {
                out.iter()
                    .filter(|w| *w.window_type == spec.name())
                    .map(|w| Window::of(w, 0))
                    .collect()
            })
            .collect();
        (by_type, rows)
    }

    #[test]
    fn windows_recomputed_from_raw_rows_equal_the_engines() {
        let catalog = Arc::new(catalog());
        for (seed, finish) in [(1, true), (2, false), (3, true)] {
            let config = EngineConfig {
                top_n: 3,
                ..EngineConfig::default()
            };
            let ratings = stream(seed, 5_000);
            let (emitted, rows) = engine_run(&config, &catalog, &ratings, finish);
            for (spec, emitted) in config.windows.iter().zip(emitted) {
                let rules = Rules {
                    spec: *spec,
                    catalog: &catalog,
                    top_n: 3,
                };
                let range = match (emitted.first(), emitted.last()) {
                    (Some(first), Some(last)) => first.start()..last.start() + 1,
                    _ => panic!("no {} window emitted", spec.name()),
                };
                let recomputed = rules.recompute(range, &rows, &[]);
                let expected: Vec<Window> = recomputed.windows.into_values().collect();
                assert!(emitted.len() > 50, "{}", emitted.len());
                assert_eq!(expected, emitted, "{} (seed {seed})", spec.name());
            }
        }
    }

    #[test]
    fn a_rating_late_for_the_tumbling_window_counts_only_in_open_sliding_ones() {
        let catalog = catalog();
        let at = 1_761_764_400; // 19:00:00
        let rating = |t| Rating {
            user_id: 1,
            movie_id: 1,
            rating: 4.0,
            timestamp: t,
        };
        // read at 19:00:30 when the watermark stood at 19:02: late for [19:00, 19:01) and for
        // the sliding windows ending by 19:02, counted in those ending at 19:03, 19:04, 19:05
        let rows = [RawRow {
            rating: rating(at + 30),
            watermark: Some(at + 120),
        }];
        let windows = |spec: WindowSpec| {
            let rules = Rules {
                spec,
                catalog: &catalog,
                top_n: 10,
            };
            let found = rules.recompute(at - 600..at + 600, &rows, &[]);
            found.windows.keys().map(|s| s - at).collect::<Vec<_>>()
        };
        assert_eq!(
            windows(WindowSpec::tumbling(60).unwrap()),
            Vec::<i64>::new()
        );
        assert_eq!(
            windows(WindowSpec::sliding(300, 60).unwrap()),
            vec![-120, -60, 0]
        );
        let rules = Rules {
            spec: WindowSpec::tumbling(60).unwrap(),
            catalog: &catalog,
            top_n: 10,
        };
        let unknown = rules.recompute(at..at + 3600, &[], &[rating(at + 61)]);
        assert!(unknown.windows.is_empty());
        assert_eq!(
            unknown.undecidable.into_iter().collect::<Vec<_>>(),
            vec![at + 60]
        );
    }
}
