//! Pins every windowing rule of DESIGN.md §2 on the public engine API.

use std::sync::Arc;

use ratings_core::snapshot::SnapshotError;
use ratings_core::{
    Catalog, Engine, EngineConfig, OutputMode, PushOutcome, Rating, WindowResult, WindowSpec,
};

/// 2023-11-14T22:13:00Z, aligned to the minute.
const B: i64 = 1_699_999_980;

const MOVIES: &str = "movieId,title,genres\r\n\
    1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\r\n\
    2,Jumanji (1995),Adventure|Children|Fantasy\r\n\
    3,\"American President, The (1995)\",Comedy|Drama|Romance\r\n\
    4,Heat (1995),Action|Crime|Thriller\r\n";

fn catalog() -> Arc<Catalog> {
    Arc::new(Catalog::from_csv(MOVIES.as_bytes()).unwrap())
}

fn config(windows: &[(i64, i64)], delay: i64) -> EngineConfig {
    EngineConfig {
        windows: windows
            .iter()
            .map(|(size, slide)| WindowSpec::sliding(*size, *slide).unwrap())
            .collect(),
        watermark_delay: delay,
        top_n: 10,
        mode: OutputMode::Append,
    }
}

fn rating(movie_id: i32, rating: f64, timestamp: i64) -> Rating {
    Rating {
        user_id: 1,
        movie_id,
        rating,
        timestamp,
    }
}

/// Pushes every rating, then flushes; returns everything emitted.
fn run(engine: &mut Engine, ratings: &[Rating]) -> Vec<WindowResult> {
    let mut out = Vec::new();
    for r in ratings {
        engine.push(r, &mut out);
    }
    engine.finish(&mut out);
    out
}

/// (count, avg, p50, p95) of a window.
fn stats(w: &WindowResult) -> (u64, f64, f64, f64) {
    let m = &w.metrics;
    (m.count, m.avg_rating, m.p50_rating, m.p95_rating)
}

/// Genre names of a window's metrics_by_genre, in order.
fn genre_names(w: &WindowResult) -> Vec<&str> {
    w.metrics
        .metrics_by_genre
        .iter()
        .map(|g| &*g.genre)
        .collect()
}

fn window<'a>(out: &'a [WindowResult], window_type: &str, start: i64) -> &'a WindowResult {
    out.iter()
        .find(|w| &*w.window_type == window_type && w.window_start == start)
        .unwrap_or_else(|| panic!("no {window_type} window at {start} in {out:#?}"))
}

#[test]
fn worked_tumbling_example() {
    let mut engine = Engine::new(config(&[(60, 60)], 0), catalog());
    let mut out = Vec::new();
    for (dt, r) in [(0, 1.0), (30, 2.0), (59, 3.0)] {
        engine.push(&rating(1, r, B + dt), &mut out);
    }
    assert!(
        out.is_empty(),
        "nothing is final before the watermark reaches B+60"
    );
    engine.push(&rating(1, 4.0, B + 60), &mut out);
    assert_eq!(
        out.len(),
        1,
        "B+60 moves the watermark (delay 0) to the window end"
    );
    let w = &out[0];
    assert_eq!((w.window_start, w.window_end), (B, B + 60));
    assert_eq!(
        w.to_json(0)[..63].to_string(),
        "{\"window_start\":\"2023-11-14T22:13:00Z\",\"window_end\":\"2023-11-14"
    );
    assert_eq!(stats(w), (3, 2.0, 2.0, 3.0));
    assert!(w.is_final);
    engine.finish(&mut out);
    assert_eq!(out[1].window_start, B + 60);
    assert_eq!(out[1].metrics.count, 1);
}

#[test]
fn worked_example_with_the_default_watermark_emits_at_end_of_input() {
    let mut engine = Engine::new(EngineConfig::default(), catalog());
    let mut out = Vec::new();
    for (dt, r) in [(0, 1.0), (30, 2.0), (59, 3.0), (60, 4.0)] {
        engine.push(&rating(1, r, B + dt), &mut out);
    }
    assert!(
        out.is_empty(),
        "a 10 minute watermark keeps every window open"
    );
    engine.finish(&mut out);
    let w = window(&out, "tumbling_1min", B);
    assert_eq!(stats(w), (3, 2.0, 2.0, 3.0));
    // sliding 5min/1min: the window [B-240, B+60) holds the first three, [B, B+300) all four
    let s = window(&out, "sliding_5min_1min", B - 240);
    assert_eq!((s.metrics.count, s.metrics.avg_rating), (3, 2.0));
    let s = window(&out, "sliding_5min_1min", B);
    assert_eq!(stats(s), (4, 2.5, 2.0, 4.0));
    assert_eq!(
        out.iter()
            .filter(|w| &*w.window_type == "sliding_5min_1min")
            .count(),
        6
    );
}

#[test]
fn spark_percentile_examples_through_the_engine() {
    let cases: [(&[f64], f64, f64, f64); 3] = [
        (&[1.0, 2.0, 3.0, 4.0], 2.5, 2.0, 4.0),
        (
            &[0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0],
            2.75,
            2.5,
            5.0,
        ),
        (&[3.0, 5.0, 4.0], 4.0, 4.0, 5.0),
    ];
    for (values, avg, p50, p95) in cases {
        let mut engine = Engine::new(config(&[(60, 60)], 0), catalog());
        let ratings: Vec<Rating> = values.iter().map(|v| rating(1, *v, B + 1)).collect();
        let out = run(&mut engine, &ratings);
        assert_eq!(out.len(), 1);
        let w = &out[0];
        assert_eq!(stats(w), (values.len() as u64, avg, p50, p95), "{values:?}");
    }
}

#[test]
fn windows_are_half_open_and_epoch_aligned_also_before_1970() {
    let mut engine = Engine::new(config(&[(60, 60)], 0), catalog());
    let out = run(
        &mut engine,
        &[
            rating(1, 1.0, -61),
            rating(1, 2.0, -60),
            rating(1, 3.0, -1),
            rating(1, 4.0, 0),
        ],
    );
    let bounds: Vec<(i64, i64, u64)> = out
        .iter()
        .map(|w| (w.window_start, w.window_end, w.metrics.count))
        .collect();
    assert_eq!(bounds, [(-120, -60, 1), (-60, 0, 2), (0, 60, 1)]);
}

#[test]
fn late_ratings_are_counted_and_not_aggregated() {
    let mut engine = Engine::new(config(&[(60, 60)], 600), catalog());
    let mut out = Vec::new();
    engine.push(&rating(1, 5.0, B + 1000), &mut out); // watermark B+400
                                                      // latest window containing B+339 ends at B+360 <= B+400: late
    assert_eq!(
        engine.push(&rating(1, 1.0, B + 339), &mut out),
        PushOutcome::Late { watermark: B + 400 }
    );
    // B+340 is in [B+300, B+360)... also late; B+360 is in [B+360, B+420): accepted
    assert!(matches!(
        engine.push(&rating(1, 1.0, B + 359), &mut out),
        PushOutcome::Late { .. }
    ));
    assert_eq!(
        engine.push(&rating(1, 2.0, B + 360), &mut out),
        PushOutcome::Accepted
    );
    engine.finish(&mut out);
    let counters = engine.counters();
    assert_eq!(
        (
            counters.accepted,
            counters.late,
            counters.late_by_window.clone()
        ),
        (2, 2, vec![2])
    );
    assert_eq!(out.iter().map(|w| w.metrics.count).sum::<u64>(), 2);
    assert_eq!(
        window(&out, "tumbling_1min", B + 360).metrics.avg_rating,
        2.0
    );
}

#[test]
fn a_rating_missing_only_some_windows_is_added_to_the_others_and_counted_per_type() {
    let mut engine = Engine::new(config(&[(60, 60), (300, 60)], 600), catalog());
    let mut out = Vec::new();
    engine.push(&rating(1, 5.0, B + 1000), &mut out); // watermark B+400
                                                      // t = B+200: tumbling [B+180,B+240) is final; sliding [B+180,B+480) and [B+120,B+420) are not
    assert_eq!(
        engine.push(&rating(2, 1.0, B + 200), &mut out),
        PushOutcome::Accepted
    );
    engine.finish(&mut out);
    assert_eq!(engine.counters().late_by_window, vec![1, 0]);
    assert_eq!(engine.counters().late, 0);
    assert!(!out
        .iter()
        .any(|w| &*w.window_type == "tumbling_1min" && w.window_start == B + 180));
    for start in [B + 120, B + 180] {
        let s = window(&out, "sliding_5min_1min", start);
        assert!(
            s.metrics.top_movies.iter().any(|m| m.movie_id == 2),
            "{s:?}"
        );
    }
    // the sliding windows ending at or before B+400 were final: they never got the rating
    assert!(!out
        .iter()
        .any(|w| w.window_end <= B + 400 && w.metrics.top_movies.iter().any(|m| m.movie_id == 2)));
}

#[test]
fn each_window_is_emitted_once_when_final_and_its_state_dropped() {
    let mut engine = Engine::new(config(&[(60, 60), (300, 60)], 120), catalog());
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..2000 {
        let t = B + i * 7 - (i % 5) * 20; // mild disorder
        let before = engine.watermark();
        engine.push(&rating(1 + (i % 4) as i32, 3.0, t), &mut out);
        assert!(engine.watermark() >= before, "watermark decreased");
        for w in out.drain(..) {
            assert!(
                w.window_end <= engine.watermark().unwrap(),
                "emitted before final"
            );
            assert!(
                seen.insert((w.window_type.clone(), w.window_start)),
                "emitted twice: {w:?}"
            );
        }
    }
    // with watermark W and max event time W+120: panes in (W-300, W+120], at most 8;
    // open windows start in (W-60, W+120] (tumbling, 4) or (W-300, W+120] (sliding, 8)
    assert!(
        engine.pane_count() <= 8,
        "stale panes kept: {}",
        engine.pane_count()
    );
    assert!(
        engine.open_windows() <= 12,
        "stale windows kept: {}",
        engine.open_windows()
    );
    assert!(
        engine.open_windows() >= 5,
        "windows lost: {}",
        engine.open_windows()
    );
}

#[test]
fn windows_ending_together_come_out_in_end_then_type_order() {
    let mut engine = Engine::new(config(&[(60, 60), (300, 60)], 0), catalog());
    let mut out = Vec::new();
    engine.push(&rating(1, 3.0, B), &mut out);
    engine.push(&rating(1, 3.0, B + 600), &mut out);
    let keys: Vec<(i64, &str)> = out
        .iter()
        .map(|w| (w.window_end, &*w.window_type))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by_key(|(end, ty)| (*end, *ty != "tumbling_1min"));
    assert_eq!(keys, sorted);
    assert_eq!(keys.first(), Some(&(B + 60, "tumbling_1min")));
    assert_eq!(out.len(), 6);
}

#[test]
fn top_movies_and_genres_follow_the_ordering_rules() {
    let mut cfg = config(&[(60, 60)], 0);
    cfg.top_n = 2;
    let mut engine = Engine::new(cfg, catalog());
    let ratings = [
        rating(4, 5.0, B),
        rating(3, 1.0, B),
        rating(3, 2.0, B),
        rating(4, 4.0, B),
        rating(99, 3.0, B), // not in the catalog
        rating(1, 2.0, B),
    ];
    let out = run(&mut engine, &ratings);
    let w = &out[0];
    assert_eq!((w.metrics.count, w.metrics.avg_rating), (6, 17.0 / 6.0));
    let top: Vec<(i32, u64, f64)> = w
        .metrics
        .top_movies
        .iter()
        .map(|m| (m.movie_id, m.count, m.avg_rating))
        .collect();
    assert_eq!(
        top,
        [(3, 2, 1.5), (4, 2, 4.5)],
        "ties by smaller movieId, limited to N"
    );
    assert_eq!(
        w.metrics.top_movies[0].title.as_deref(),
        Some("American President, The (1995)")
    );
    let genres: Vec<(&str, u64, f64)> = w
        .metrics
        .metrics_by_genre
        .iter()
        .map(|g| (&*g.genre, g.count, g.avg_rating))
        .collect();
    let expected: [(&str, u64, f64); 10] = [
        ("Comedy", 3, 5.0 / 3.0),
        ("Action", 2, 4.5),
        ("Crime", 2, 4.5),
        ("Drama", 2, 1.5),
        ("Romance", 2, 1.5),
        ("Thriller", 2, 4.5),
        ("Adventure", 1, 2.0),
        ("Animation", 1, 2.0),
        ("Children", 1, 2.0),
        ("Fantasy", 1, 2.0),
    ];
    assert_eq!(genres, expected, "count descending, ties by name");
    assert_eq!(engine.counters().unknown_movie, 1);
}

#[test]
fn unknown_movies_count_everywhere_but_in_genres() {
    let mut engine = Engine::new(config(&[(60, 60)], 0), catalog());
    let out = run(&mut engine, &[rating(12345, 4.0, B), rating(1, 2.0, B)]);
    let w = &out[0];
    assert_eq!(
        (w.metrics.count, w.metrics.avg_rating, w.metrics.p50_rating),
        (2, 3.0, 2.0)
    );
    let unknown = w
        .metrics
        .top_movies
        .iter()
        .find(|m| m.movie_id == 12345)
        .unwrap();
    assert_eq!((unknown.title.clone(), unknown.count), (None, 1));
    assert!(w.metrics.metrics_by_genre.iter().all(|g| g.count == 1));
    assert!(w
        .to_json(0)
        .contains(r#"{"movieId":12345,"title":null,"count":1,"avg_rating":4.0}"#));
    assert_eq!(engine.counters().unknown_movie, 1);
}

#[test]
fn update_mode_emits_changes_as_not_final_then_the_final_value() {
    let mut cfg = config(&[(60, 60)], 0);
    cfg.mode = OutputMode::Update;
    let mut engine = Engine::new(cfg, catalog());
    let mut out = Vec::new();
    engine.push(&rating(1, 2.0, B), &mut out);
    engine.flush_updates(&mut out);
    engine.push(&rating(1, 4.0, B + 1), &mut out);
    engine.flush_updates(&mut out);
    engine.flush_updates(&mut out); // nothing changed: nothing emitted
    engine.push(&rating(1, 5.0, B + 60), &mut out); // closes [B, B+60)
    let summary: Vec<(i64, u64, bool)> = out
        .iter()
        .map(|w| (w.window_start, w.metrics.count, w.is_final))
        .collect();
    assert_eq!(summary, [(B, 1, false), (B, 2, false), (B, 2, true)]);
    assert!(out[0].to_json(0).contains(r#""final":false"#));
    assert_eq!(engine.counters().updates_emitted, 2);
}

fn sample_stream() -> Vec<Rating> {
    (0..600)
        .map(|i| {
            rating(
                1 + (i % 5) as i32,
                0.5 + (i % 10) as f64 * 0.5,
                B + i * 3 - (i % 7) * 40,
            )
        })
        .collect()
}

#[test]
fn snapshot_restore_resumes_exactly() {
    let cfg = config(&[(60, 60), (300, 60)], 120);
    let stream = sample_stream();
    let expected = run(&mut Engine::new(cfg.clone(), catalog()), &stream);

    let mut first = Engine::new(cfg.clone(), catalog());
    let mut out = Vec::new();
    for r in &stream[..250] {
        first.push(r, &mut out);
    }
    let bytes = first.snapshot();
    drop(first);
    let mut resumed = Engine::restore(cfg, catalog(), &bytes).unwrap();
    for r in &stream[250..] {
        resumed.push(r, &mut out);
    }
    resumed.finish(&mut out);
    assert_eq!(out, expected);
    assert!(expected.len() > 40);
}

#[test]
fn restore_maps_genres_of_a_reordered_catalog() {
    let cfg = config(&[(60, 60)], 0);
    let mut engine = Engine::new(cfg.clone(), catalog());
    let mut out = Vec::new();
    engine.push(&rating(1, 4.0, B), &mut out);
    let bytes = engine.snapshot();
    let reordered = "movieId,title,genres\n4,Heat (1995),Thriller|Crime|Action\n1,Toy Story (1995),Fantasy|Comedy|Children|Animation|Adventure\n";
    let mut restored = Engine::restore(
        cfg,
        Arc::new(Catalog::from_csv(reordered.as_bytes()).unwrap()),
        &bytes,
    )
    .unwrap();
    restored.finish(&mut out);
    let genres = genre_names(&out[0]);
    assert_eq!(
        genres,
        ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    );
}

#[test]
fn damaged_snapshots_are_refused_with_the_reason() {
    let cfg = config(&[(60, 60)], 0);
    let mut engine = Engine::new(cfg.clone(), catalog());
    engine.push(&rating(1, 4.0, B), &mut Vec::new());
    let bytes = engine.snapshot();
    let restore = |b: &[u8]| Engine::restore(cfg.clone(), catalog(), b).err();

    let mut flipped = bytes.clone();
    *flipped.last_mut().unwrap() ^= 0x40;
    assert!(matches!(
        restore(&flipped),
        Some(SnapshotError::Checksum { .. })
    ));
    assert!(matches!(
        restore(&bytes[..bytes.len() - 1]),
        Some(SnapshotError::LengthMismatch { .. })
    ));
    assert_eq!(restore(&bytes[..5]), Some(SnapshotError::NotASnapshot));
    let mut future = bytes.clone();
    future[8] = 99;
    assert_eq!(
        restore(&future),
        Some(SnapshotError::FutureVersion {
            found: 99,
            supported: 1
        })
    );
    let other = config(&[(120, 60)], 0);
    assert!(matches!(
        Engine::restore(other, catalog(), &bytes).err(),
        Some(SnapshotError::WindowsChanged { .. })
    ));
}

#[test]
fn after_restore_genres_and_titles_come_from_the_current_catalog() {
    let cfg = config(&[(60, 60)], 0);
    let mut engine = Engine::new(cfg.clone(), catalog());
    engine.push(&rating(1, 4.0, B), &mut Vec::new());
    let bytes = engine.snapshot();
    let updated =
        Arc::new(Catalog::from_csv("movieId,title,genres\n1,Renamed,Drama\n".as_bytes()).unwrap());
    let mut restored = Engine::restore(cfg, updated, &bytes).unwrap();
    let mut out = Vec::new();
    restored.finish(&mut out);
    assert_eq!(
        out[0].metrics.top_movies[0].title.as_deref(),
        Some("Renamed")
    );
    let genres = genre_names(&out[0]);
    assert_eq!(genres, ["Drama"]);
}
