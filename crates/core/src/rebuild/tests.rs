//! A rebuild against an oracle: an engine of the new window types fed the whole stream from the
//! start. After the restart point, the rebuilt engine must emit exactly the oracle's windows, and
//! the window types both settings have exactly the windows of the old engine run on.

use super::*;
use crate::output::WindowResult;
use crate::snapshot::SnapshotError;

const START: i64 = 1_700_000_000;

/// A disorderly stream with late ratings: ~2 ratings per second of event time for 2 hours,
/// jittered by up to 4 minutes back, and 1 in 25 ratings 12–40 minutes late.
fn stream() -> Vec<Rating> {
    let mut seed: u64 = 0x2026_1205;
    let mut next = move |bound: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % bound
    };
    (0..14_400)
        .map(|i| {
            let mut t = START + i / 2 - next(240) as i64;
            if next(25) == 0 {
                t -= 720 + next(1_680) as i64;
            }
            Rating {
                user_id: next(500) as i32,
                movie_id: 1 + next(300) as i32,
                rating: 0.5 * (1 + next(10)) as f64,
                timestamp: t,
            }
        })
        .collect()
}

fn config(windows: &[(i64, i64)]) -> EngineConfig {
    EngineConfig {
        windows: (windows.iter())
            .map(|(size, slide)| WindowSpec::sliding(*size, *slide).unwrap())
            .collect(),
        ..EngineConfig::default()
    }
}

/// Pushes `ratings`, returning the final windows emitted; with `raw`, records each rating with
/// the watermark it was read under, as the raw dataset does.
fn run(
    engine: &mut Engine,
    ratings: &[Rating],
    mut raw: Option<&mut Vec<(Rating, Option<i64>)>>,
) -> Vec<WindowResult> {
    let mut out = Vec::new();
    for rating in ratings {
        if let Some(raw) = raw.as_deref_mut() {
            raw.push((*rating, engine.watermark()));
        }
        engine.push(rating, &mut out);
    }
    out
}

fn of_type(windows: &[WindowResult], spec: &WindowSpec) -> Vec<WindowResult> {
    let name = spec.name();
    (windows.iter())
        .filter(|w| *w.window_type == *name)
        .cloned()
        .collect()
}

/// Runs the old settings up to the middle of the stream, restarts with `new` (through a
/// snapshot and a rebuild from the raw ratings, given newest first), and checks every window
/// emitted after the restart against the oracle and the old engine.
fn restart_with(new: &[(i64, i64)]) -> RebuildReport {
    let catalog = Arc::new(Catalog::default());
    let ratings = stream();
    let (before, after) = ratings.split_at(ratings.len() / 2);
    let old_config = EngineConfig::default();
    let mut old = Engine::new(old_config.clone(), Arc::clone(&catalog));
    let mut raw = Vec::new();
    run(&mut old, before, Some(&mut raw));
    let snapshot = old.snapshot();

    let new_config = config(new);
    let refused = Engine::restore(new_config.clone(), Arc::clone(&catalog), &snapshot);
    assert!(matches!(refused, Err(SnapshotError::WindowsChanged { .. })));
    let restored = Engine::restore(old_config, Arc::clone(&catalog), &snapshot).unwrap();
    let mut rebuilder = Rebuilder::new(new_config.clone(), Arc::clone(&catalog), &restored);
    let since = rebuilder.since().expect("a watermark");
    for (rating, read_under) in raw.iter().rev().filter(|(r, _)| r.timestamp >= since) {
        rebuilder.add(rating, *read_under).unwrap();
    }
    let (mut rebuilt, report) = rebuilder.finish();
    let mut resumed = run(&mut rebuilt, after, None);
    rebuilt.finish(&mut resumed);

    let mut oracle = Engine::new(new_config.clone(), Arc::clone(&catalog));
    run(&mut oracle, before, None);
    let mut expected = run(&mut oracle, after, None);
    oracle.finish(&mut expected);
    assert!(expected.len() > 50, "{} windows", expected.len());
    assert_eq!(resumed, expected, "the oracle's windows after the restart");

    let mut unchanged = restored;
    let mut old_after = run(&mut unchanged, after, None);
    unchanged.finish(&mut old_after);
    for spec in &report.kept {
        assert_eq!(
            of_type(&resumed, spec),
            of_type(&old_after, spec),
            "{spec:?}"
        );
    }
    report
}

#[test]
fn an_added_15_minute_tumbling_window_is_complete_from_its_first_window() {
    let report = restart_with(&[(60, 60), (300, 60), (900, 900)]);
    assert_eq!(report.kept.len(), 2);
    assert_eq!(report.added, [WindowSpec::tumbling(900).unwrap()]);
    assert!(report.removed.is_empty());
    assert!(report.open_windows[2] >= 1);
    assert!(report.rows_used > 0 && report.rows_used <= report.rows_read);
}

#[test]
fn the_sliding_window_changed_to_10_minutes_every_minute() {
    let report = restart_with(&[(60, 60), (600, 60)]);
    assert_eq!(report.added, [WindowSpec::sliding(600, 60).unwrap()]);
    assert_eq!(report.removed.len(), 1);
    assert!(report.removed[0].1 >= 5, "{:?}", report.removed);
}

#[test]
fn the_sliding_window_changed_to_5_minutes_every_2_and_a_half() {
    // panes of 30 s now, where they were 60 s
    let report = restart_with(&[(60, 60), (300, 150)]);
    assert_eq!(report.added, [WindowSpec::sliding(300, 150).unwrap()]);
}

#[test]
fn the_sliding_window_removed() {
    let report = restart_with(&[(60, 60)]);
    assert!(report.added.is_empty());
    assert_eq!(report.kept, [WindowSpec::tumbling(60).unwrap()]);
    assert_eq!(report.removed[0].0, WindowSpec::sliding(300, 60).unwrap());
}

#[test]
fn a_raw_rating_read_after_the_checkpoints_watermark_is_refused() {
    let catalog = Arc::new(Catalog::default());
    let mut old = Engine::new(EngineConfig::default(), Arc::clone(&catalog));
    run(&mut old, &stream()[..1000], None);
    let watermark = old.watermark().unwrap();
    let mut rebuilder = Rebuilder::new(config(&[(60, 60)]), catalog, &old);
    let rating = stream()[0];
    assert!(rebuilder.add(&rating, Some(watermark)).is_ok());
    let refused = rebuilder.add(&rating, Some(watermark + 1)).unwrap_err();
    assert_eq!(refused.checkpoint, watermark);
}
