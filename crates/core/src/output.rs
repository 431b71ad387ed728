//! What the engine emits: window metrics ([`WindowResult`]) and the JSON object published for
//! each window; and [`DeadLetter`], the record written for every rejected or late input.

use std::sync::Arc;

use serde::Serialize;

use crate::time::{rfc3339_millis, rfc3339_seconds};

/// One of the most rated movies of a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopMovie {
    #[serde(rename = "movieId")]
    pub movie_id: i32,
    /// `None` (JSON null) when the movie is not in the catalog.
    pub title: Option<Arc<str>>,
    pub count: u64,
    pub avg_rating: f64,
}

/// Ratings of one genre in a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenreMetric {
    pub genre: Arc<str>,
    pub count: u64,
    pub avg_rating: f64,
}

/// The aggregate values of a window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowMetrics {
    pub count: u64,
    pub avg_rating: f64,
    pub p50_rating: f64,
    pub p95_rating: f64,
    /// Ratings per half-star, 0.5 … 5.0 (see [`crate::histogram::ValueHistogram::half_star_counts`]).
    pub rating_histogram: [u64; 10],
    pub top_movies: Vec<TopMovie>,
    pub metrics_by_genre: Vec<GenreMetric>,
}

/// The metrics of one window, as emitted.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult {
    /// Inclusive start, epoch seconds.
    pub window_start: i64,
    /// Exclusive end, epoch seconds.
    pub window_end: i64,
    /// `tumbling_1min`, `sliding_5min_1min`, ...
    pub window_type: Arc<str>,
    pub metrics: WindowMetrics,
    /// False for intermediate values in update mode.
    pub is_final: bool,
}

/// The JSON shape of a window: exactly these keys, in this order.
#[derive(Serialize)]
struct WindowJson<'a> {
    window_start: String,
    window_end: String,
    window_type: &'a str,
    count: u64,
    avg_rating: f64,
    p50_rating: f64,
    p95_rating: f64,
    rating_histogram: &'a [u64; 10],
    top_movies: &'a [TopMovie],
    metrics_by_genre: &'a [GenreMetric],
    #[serde(rename = "final")]
    is_final: bool,
    processing_time: String,
}

impl WindowResult {
    /// The JSON object for the `metrics` topic / metrics file. `processing_time_millis` is the
    /// wall-clock time of emission (epoch milliseconds), supplied by the driver.
    pub fn to_json(&self, processing_time_millis: i64) -> String {
        let m = &self.metrics;
        let json = WindowJson {
            window_start: rfc3339_seconds(self.window_start),
            window_end: rfc3339_seconds(self.window_end),
            window_type: &self.window_type,
            count: m.count,
            avg_rating: m.avg_rating,
            p50_rating: m.p50_rating,
            p95_rating: m.p95_rating,
            rating_histogram: &m.rating_histogram,
            top_movies: &m.top_movies,
            metrics_by_genre: &m.metrics_by_genre,
            is_final: self.is_final,
            processing_time: rfc3339_millis(processing_time_millis),
        };
        serde_json::to_string(&json).expect("window JSON serialization cannot fail")
    }
}

/// A rejected or late input record with where it came from and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter<'a> {
    /// A [`crate::RejectReason`] name, or `late`.
    pub reason: &'a str,
    pub detail: &'a str,
    /// The source: a Kafka topic or a file path.
    pub source: &'a str,
    /// Kafka partition (0 for files).
    pub partition: i32,
    /// Kafka offset, or the 1-based line number in a file.
    pub offset: i64,
    /// The original record, as text (invalid UTF-8 replaced).
    pub record: &'a str,
}

impl DeadLetter<'_> {
    /// One JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("dead-letter JSON serialization cannot fail")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tumbling window with one movie and one genre (shared by the tests of the records).
    pub(crate) fn sample_window() -> WindowResult {
        WindowResult {
            window_start: 1_761_764_400,
            window_end: 1_761_764_460,
            window_type: "tumbling_1min".into(),
            metrics: WindowMetrics {
                count: 2,
                avg_rating: 3.75,
                p50_rating: 3.5,
                p95_rating: 4.0,
                rating_histogram: [0, 0, 0, 0, 0, 0, 1, 1, 0, 0],
                top_movies: vec![TopMovie {
                    movie_id: 7,
                    title: None,
                    count: 2,
                    avg_rating: 3.75,
                }],
                metrics_by_genre: vec![GenreMetric {
                    genre: "Drama".into(),
                    count: 2,
                    avg_rating: 3.75,
                }],
            },
            is_final: true,
        }
    }

    #[test]
    fn window_json_has_exactly_the_documented_keys_in_order() {
        let w = sample_window();
        assert_eq!(
            w.to_json(1_761_764_470_005),
            r#"{"window_start":"2025-10-29T19:00:00Z","window_end":"2025-10-29T19:01:00Z","#
                .to_owned()
                + r#""window_type":"tumbling_1min","count":2,"avg_rating":3.75,"p50_rating":3.5,"#
                + r#""p95_rating":4.0,"rating_histogram":[0,0,0,0,0,0,1,1,0,0],"#
                + r#""top_movies":[{"movieId":7,"title":null,"count":2,"#
                + r#""avg_rating":3.75}],"metrics_by_genre":[{"genre":"Drama","count":2,"#
                + r#""avg_rating":3.75}],"final":true,"processing_time":"2025-10-29T19:01:10.005Z"}"#
        );
    }
}
