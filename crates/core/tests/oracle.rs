//! Property test: the engine against a brute-force oracle written independently here.
//!
//! The oracle keeps every rating of every window in a list, decides lateness by scanning all
//! candidate window starts, and computes each metric from the sorted list when the window closes.
//! Random window sizes and slides (including slides that do not divide the size), watermark
//! delays, disorder, late records, negative times, unknown movies, one or two window types, and
//! a snapshot/restore at a random point are compared on thousands of cases.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use ratings_core::{Catalog, Engine, EngineConfig, OutputMode, Rating, WindowResult, WindowSpec};

const MOVIES: &str = "movieId,title,genres\n\
    1,One,Comedy|Drama\n2,Two,Drama\n3,Three,(no genres listed)\n4,Four,Action|Comedy|Horror\n";

/// One window's expected metrics.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    window_type: String,
    start: i64,
    end: i64,
    count: u64,
    avg: f64,
    p50: f64,
    p95: f64,
    histogram: [u64; 10],
    top: Vec<(i32, u64, f64)>,
    genres: Vec<(String, u64, f64)>,
}

struct Oracle {
    specs: Vec<WindowSpec>,
    delay: i64,
    top_n: usize,
    genres_of: BTreeMap<i32, Vec<&'static str>>,
    watermark: Option<i64>,
    windows: BTreeMap<(usize, i64), Vec<(i32, f64)>>,
    late: u64,
}

impl Oracle {
    fn new(specs: Vec<WindowSpec>, delay: i64, top_n: usize) -> Self {
        let genres_of = BTreeMap::from([
            (1, vec!["Comedy", "Drama"]),
            (2, vec!["Drama"]),
            (3, vec![]),
            (4, vec!["Action", "Comedy", "Horror"]),
        ]);
        Oracle {
            specs,
            delay,
            top_n,
            genres_of,
            watermark: None,
            windows: BTreeMap::new(),
            late: 0,
        }
    }

    fn push(&mut self, r: &Rating) -> Vec<Expected> {
        let t = r.timestamp;
        let mut added = false;
        for (k, spec) in self.specs.iter().enumerate() {
            // every multiple of the slide from (t - size] up to t is a candidate start
            let mut start = (t - spec.size).div_euclid(spec.slide) * spec.slide;
            while start <= t {
                let contains = start <= t && t < start + spec.size;
                let open = self.watermark.is_none_or(|w| start + spec.size > w);
                if contains && open {
                    self.windows
                        .entry((k, start))
                        .or_default()
                        .push((r.movie_id, r.rating));
                    added = true;
                }
                start += spec.slide;
            }
        }
        if !added {
            self.late += 1;
        }
        let candidate = t - self.delay;
        self.watermark = Some(self.watermark.map_or(candidate, |w| w.max(candidate)));
        let w = self.watermark.unwrap();
        self.close(|end| end <= w)
    }

    fn finish(&mut self) -> Vec<Expected> {
        self.close(|_| true)
    }

    fn close(&mut self, is_final: impl Fn(i64) -> bool) -> Vec<Expected> {
        let keys: Vec<(usize, i64)> = self
            .windows
            .keys()
            .filter(|(k, start)| is_final(start + self.specs[*k].size))
            .copied()
            .collect();
        let mut closed: Vec<Expected> = keys
            .into_iter()
            .map(|key| {
                let ratings = self.windows.remove(&key).unwrap();
                self.metrics(key, &ratings)
            })
            .collect();
        let type_index = |e: &Expected| self.specs.iter().position(|s| s.name() == e.window_type);
        closed.sort_by_key(|e| (e.end, type_index(e)));
        closed
    }

    fn metrics(&self, (k, start): (usize, i64), ratings: &[(i32, f64)]) -> Expected {
        let n = ratings.len();
        let mut values: Vec<f64> = ratings.iter().map(|r| r.1).collect();
        values.sort_by(f64::total_cmp);
        let pick = |p: f64| values[((p * n as f64).ceil() as usize).max(1) - 1];
        let mut movies: BTreeMap<i32, (u64, f64)> = BTreeMap::new();
        let mut genres: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
        for (movie, rating) in ratings {
            let m = movies.entry(*movie).or_default();
            *m = (m.0 + 1, m.1 + rating);
            for g in self.genres_of.get(movie).into_iter().flatten() {
                let e = genres.entry(g).or_default();
                *e = (e.0 + 1, e.1 + rating);
            }
        }
        let mut top: Vec<(i32, u64, f64)> = movies
            .into_iter()
            .map(|(m, (c, s))| (m, c, s / c as f64))
            .collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(self.top_n);
        let mut genres: Vec<(String, u64, f64)> = genres
            .into_iter()
            .map(|(g, (c, s))| (g.to_string(), c, s / c as f64))
            .collect();
        genres.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let spec = self.specs[k];
        Expected {
            window_type: spec.name(),
            start,
            end: start + spec.size,
            count: n as u64,
            avg: ratings.iter().map(|r| r.1).sum::<f64>() / n as f64,
            p50: pick(0.5),
            p95: pick(0.95),
            histogram: half_stars(&values),
            top,
            genres,
        }
    }
}

/// Ratings per half-star, each value in the nearest one (ties upward), by plain search.
fn half_stars(values: &[f64]) -> [u64; 10] {
    let mut counts = [0; 10];
    for v in values {
        let nearest = (1..=10)
            .min_by(|a, b| {
                let distance = |i: &i32| (v - *i as f64 / 2.0).abs();
                distance(a).total_cmp(&distance(b)).then(b.cmp(a))
            })
            .unwrap();
        counts[nearest as usize - 1] += 1;
    }
    counts
}

fn observed(w: &WindowResult) -> Expected {
    Expected {
        window_type: w.window_type.to_string(),
        start: w.window_start,
        end: w.window_end,
        count: w.metrics.count,
        avg: w.metrics.avg_rating,
        p50: w.metrics.p50_rating,
        p95: w.metrics.p95_rating,
        histogram: w.metrics.rating_histogram,
        top: w
            .metrics
            .top_movies
            .iter()
            .map(|m| (m.movie_id, m.count, m.avg_rating))
            .collect(),
        genres: w
            .metrics
            .metrics_by_genre
            .iter()
            .map(|g| (g.genre.to_string(), g.count, g.avg_rating))
            .collect(),
    }
}

/// Exact equality, except averages of non-half-step ratings, whose float sums depend on the
/// summation order (panes are summed separately); those must agree to 1e-12 relative.
fn assert_same(got: &[Expected], want: &[Expected], exact: bool, step: usize) {
    assert_eq!(
        got.len(),
        want.len(),
        "step {step}: got {got:#?}\nwant {want:#?}"
    );
    let close = |a: f64, b: f64| {
        if exact {
            a == b
        } else {
            (a - b).abs() <= 1e-12 * b.abs().max(1.0)
        }
    };
    for (g, w) in got.iter().zip(want) {
        let same = g.window_type == w.window_type
            && (g.start, g.end, g.count, g.p50, g.p95) == (w.start, w.end, w.count, w.p50, w.p95)
            && g.histogram == w.histogram
            && close(g.avg, w.avg)
            && g.top.len() == w.top.len()
            && g.top
                .iter()
                .zip(&w.top)
                .all(|(a, b)| (a.0, a.1) == (b.0, b.1) && close(a.2, b.2))
            && g.genres.len() == w.genres.len()
            && g.genres
                .iter()
                .zip(&w.genres)
                .all(|(a, b)| (&a.0, a.1) == (&b.0, b.1) && close(a.2, b.2));
        assert!(same, "step {step}: engine {g:#?}\noracle {w:#?}");
    }
}

#[derive(Debug, Clone)]
struct Case {
    specs: Vec<WindowSpec>,
    delay: i64,
    top_n: usize,
    half_steps: bool,
    ratings: Vec<Rating>,
    snapshot_at: usize,
    final_flush: bool,
}

fn spec() -> impl Strategy<Value = WindowSpec> {
    (1i64..=20, 1i64..=300).prop_flat_map(|(ratio, slide)| {
        let max_size = slide * ratio;
        (Just(slide), slide..=max_size)
            .prop_map(|(slide, size)| WindowSpec::sliding(size, slide).unwrap())
    })
}

fn case() -> impl Strategy<Value = Case> {
    let specs = prop::collection::vec(spec(), 1..=2);
    let events = prop::collection::vec(
        (
            1i32..=6,
            1u32..=10,
            0u32..100,
            0i64..=60,
            -400i64..=400,
            0u32..100,
        ),
        0..150,
    );
    (
        specs,
        0i64..=400,
        1usize..=4,
        any::<bool>(),
        -2_000_000i64..2_000_000,
        events,
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(
            |(specs, delay, top_n, half_steps, base, events, cut, final_flush)| {
                let mut clock = base;
                let ratings: Vec<Rating> = events
                    .into_iter()
                    .map(|(movie_id, step, fraction, advance, jitter, late_roll)| {
                        clock += advance;
                        let late_jump = if late_roll < 10 { 2 * delay + 700 } else { 0 };
                        let rating = if half_steps {
                            step as f64 * 0.5
                        } else {
                            0.5 + (step - 1) as f64 * 0.45 + fraction as f64 / 1000.0
                        };
                        Rating {
                            user_id: 1,
                            movie_id,
                            rating,
                            timestamp: clock + jitter - late_jump,
                        }
                    })
                    .collect();
                let snapshot_at = cut.index(ratings.len() + 1);
                Case {
                    specs,
                    delay,
                    top_n,
                    half_steps,
                    ratings,
                    snapshot_at,
                    final_flush,
                }
            },
        )
}

fn check(case: &Case) {
    let catalog = Arc::new(Catalog::from_csv(MOVIES.as_bytes()).unwrap());
    let config = EngineConfig {
        windows: case.specs.clone(),
        watermark_delay: case.delay,
        top_n: case.top_n,
        mode: OutputMode::Append,
    };
    let mut engine = Engine::new(config.clone(), catalog.clone());
    let mut oracle = Oracle::new(case.specs.clone(), case.delay, case.top_n);
    let mut out = Vec::new();
    for (i, r) in case.ratings.iter().enumerate() {
        if i == case.snapshot_at {
            engine = Engine::restore(config.clone(), catalog.clone(), &engine.snapshot()).unwrap();
        }
        out.clear();
        engine.push(r, &mut out);
        let got: Vec<Expected> = out.iter().map(observed).collect();
        assert_same(&got, &oracle.push(r), case.half_steps, i);
    }
    if case.final_flush {
        out.clear();
        engine.finish(&mut out);
        let got: Vec<Expected> = out.iter().map(observed).collect();
        assert_same(&got, &oracle.finish(), case.half_steps, usize::MAX);
    }
    assert_eq!(engine.counters().late, oracle.late, "late count");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn engine_matches_brute_force_oracle(case in case()) {
        check(&case);
    }
}
