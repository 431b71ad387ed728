//! Field-by-field comparison of the windows a source holds (aggregate Parquet rows, records on
//! `metrics`) with the windows recomputed from the raw data: every window missing, extra,
//! repeated or different is one line naming the window and each differing field.

use std::collections::{BTreeMap, BTreeSet};

use ratings_core::published::Window;

/// Averages are sums divided by counts; summed in another order (panes, then windows) they
/// may differ in the last bits when ratings are not half-stars.
const RELATIVE_TOLERANCE: f64 = 1e-9;

fn same_float(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= RELATIVE_TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

/// `window_type [start, end)`.
fn label(window: &Window) -> String {
    format!(
        "{} [{}, {})",
        window.window_type, window.window_start, window.window_end
    )
}

/// What the windows `found` in a source (of one type, starting in the audited range) differ in
/// from the `expected` ones, skipping the starts in `skip` (undecidable).
pub fn differences(
    expected: &BTreeMap<i64, Window>,
    found: &[Window],
    skip: &BTreeSet<i64>,
) -> Vec<String> {
    let mut by_start: BTreeMap<i64, Vec<&Window>> = BTreeMap::new();
    for window in found {
        by_start.entry(window.start()).or_default().push(window);
    }
    let starts: BTreeSet<i64> = expected.keys().chain(by_start.keys()).copied().collect();
    let mut out = Vec::new();
    for start in starts.difference(skip) {
        let found = by_start.get(start).map_or(&[][..], |f| &f[..]);
        match (expected.get(start), found) {
            (Some(want), []) => out.push(format!(
                "{}: missing (the raw data gives count {})",
                label(want),
                want.count
            )),
            (None, [got, ..]) => out.push(format!(
                "{}: not in the raw data (count {})",
                label(got),
                got.count
            )),
            (Some(want), [got]) => {
                let fields = field_differences(got, want);
                if !fields.is_empty() {
                    out.push(format!("{}: {}", label(want), fields.join("; ")));
                }
            }
            (Some(want), many) => out.push(format!("{}: {} times", label(want), many.len())),
            (None, []) => {}
        }
    }
    out
}

/// Each field of `got` that differs from `want`: `name got (raw data: want)`. A missing
/// `rating_histogram` (written before it existed) is not a difference.
pub fn field_differences(got: &Window, want: &Window) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, same: bool, got: String, want: String| {
        if !same {
            out.push(format!("{name} {got} (raw data: {want})"));
        }
    };
    field(
        "window_end",
        got.end() == want.end(),
        got.window_end.clone(),
        want.window_end.clone(),
    );
    field(
        "count",
        got.count == want.count,
        got.count.to_string(),
        want.count.to_string(),
    );
    for (name, g, w) in [
        ("avg_rating", got.avg_rating, want.avg_rating),
        ("p50_rating", got.p50_rating, want.p50_rating),
        ("p95_rating", got.p95_rating, want.p95_rating),
    ] {
        field(name, same_float(g, w), g.to_string(), w.to_string());
    }
    if let (Some(g), Some(w)) = (&got.rating_histogram, &want.rating_histogram) {
        field(
            "rating_histogram",
            g == w,
            format!("{g:?}"),
            format!("{w:?}"),
        );
    }
    let movie = |m: &ratings_core::published::TopMovie| {
        format!(
            "{} {:?} ×{} avg {}",
            m.movie_id,
            m.title.as_deref().unwrap_or("(no title)"),
            m.count,
            m.avg_rating
        )
    };
    list_differences(
        "top_movies",
        &got.top_movies,
        &want.top_movies,
        |a, b| {
            a.movie_id == b.movie_id
                && a.title == b.title
                && a.count == b.count
                && same_float(a.avg_rating, b.avg_rating)
        },
        movie,
        &mut field,
    );
    let genre = |g: &ratings_core::published::GenreMetric| {
        format!("{} ×{} avg {}", g.genre, g.count, g.avg_rating)
    };
    list_differences(
        "metrics_by_genre",
        &got.metrics_by_genre,
        &want.metrics_by_genre,
        |a, b| a.genre == b.genre && a.count == b.count && same_float(a.avg_rating, b.avg_rating),
        genre,
        &mut field,
    );
    out
}

/// The first differing entry (`name[i]`, with how many differ), and the lengths when they
/// differ: enough to find the window's problem without a line per entry.
fn list_differences<T>(
    name: &str,
    got: &[T],
    want: &[T],
    same: impl Fn(&T, &T) -> bool,
    show: impl Fn(&T) -> String,
    field: &mut impl FnMut(&str, bool, String, String),
) {
    let differing: Vec<usize> = (0..got.len().min(want.len()))
        .filter(|i| !same(&got[*i], &want[*i]))
        .collect();
    if let Some(&first) = differing.first() {
        let label = match differing.len() {
            1 => format!("{name}[{first}]"),
            n => format!("{name}[{first}] (and {} more entries)", n - 1),
        };
        field(&label, false, show(&got[first]), show(&want[first]));
    }
    field(
        &format!("{name} length"),
        got.len() == want.len(),
        got.len().to_string(),
        want.len().to_string(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"window_start":"2025-10-29T19:00:00Z","window_end":"2025-10-29T19:01:00Z","window_type":"tumbling_1min","count":2,"avg_rating":3.75,"p50_rating":3.5,"p95_rating":4.0,"rating_histogram":[0,0,0,0,0,0,1,1,0,0],"top_movies":[{"movieId":7,"title":null,"count":2,"avg_rating":3.75}],"metrics_by_genre":[{"genre":"Drama","count":2,"avg_rating":3.75}],"final":true,"processing_time":"2025-10-29T19:01:10.005Z"}"#;

    fn window(edit: impl Fn(&mut Window)) -> Window {
        let mut window = Window::parse(RECORD.as_bytes()).unwrap();
        edit(&mut window);
        window
    }

    fn expected() -> BTreeMap<i64, Window> {
        let w = window(|_| {});
        BTreeMap::from([(w.start(), w)])
    }

    #[test]
    fn equal_windows_differ_in_nothing_but_the_processing_time() {
        let later = window(|w| w.processing_time = "2026-01-01T00:00:00Z".into());
        assert!(differences(&expected(), &[later], &BTreeSet::new()).is_empty());
        let old = window(|w| w.rating_histogram = None);
        assert!(differences(&expected(), &[old], &BTreeSet::new()).is_empty());
        let rounded = window(|w| w.avg_rating = 3.75 + 1e-12);
        assert!(differences(&expected(), &[rounded], &BTreeSet::new()).is_empty());
    }

    #[test]
    fn each_differing_field_is_named_with_both_values() {
        let altered = window(|w| {
            w.count = 3;
            w.p95_rating = 4.5;
            w.top_movies[0].title = Some("Heat (1995)".into());
            w.metrics_by_genre.push(w.metrics_by_genre[0].clone());
        });
        let found = differences(&expected(), &[altered], &BTreeSet::new());
        assert_eq!(found.len(), 1, "{found:?}");
        let line = &found[0];
        assert!(line.starts_with("tumbling_1min [2025-10-29T19:00:00Z, 2025-10-29T19:01:00Z): count 3 (raw data: 2); p95_rating 4.5 (raw data: 4)"), "{line}");
        assert!(line.contains(r#"top_movies[0] 7 "Heat (1995)" ×2 avg 3.75 (raw data: 7 "(no title)" ×2 avg 3.75)"#), "{line}");
        assert!(
            line.ends_with("metrics_by_genre length 2 (raw data: 1)"),
            "{line}"
        );
    }

    #[test]
    fn missing_extra_and_repeated_windows_are_found_and_undecidable_ones_skipped() {
        let next = window(|w| {
            w.window_start = "2025-10-29T19:01:00Z".into();
            w.window_end = "2025-10-29T19:02:00Z".into();
            w.span = (w.span.0 + 60, w.span.1 + 60);
        });
        let same = window(|_| {});
        let found = differences(&expected(), std::slice::from_ref(&next), &BTreeSet::new());
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].ends_with("19:01:00Z): missing (the raw data gives count 2)"));
        assert!(found[1].ends_with("19:02:00Z): not in the raw data (count 2)"));
        let twice = differences(&expected(), &[same.clone(), same], &BTreeSet::new());
        assert_eq!(twice.len(), 1);
        assert!(twice[0].ends_with(": 2 times"), "{twice:?}");
        let skip = BTreeSet::from([next.start(), expected().keys().next().copied().unwrap()]);
        assert!(differences(&expected(), &[next], &skip).is_empty());
    }

    #[test]
    fn a_list_reports_its_first_differing_entry_and_how_many_more() {
        let mut lines = Vec::new();
        let mut field = |name: &str, same: bool, got: String, want: String| {
            if !same {
                lines.push(format!("{name} {got} (raw data: {want})"));
            }
        };
        let show = |v: &i32| v.to_string();
        list_differences(
            "l",
            &[1, 5, 6, 4],
            &[1, 2, 3, 4, 9],
            |a, b| a == b,
            show,
            &mut field,
        );
        assert_eq!(
            lines,
            vec![
                "l[1] (and 1 more entries) 5 (raw data: 2)",
                "l length 4 (raw data: 5)"
            ]
        );
    }
}
