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
    /// The original record, as text (invalid UTF-8 replaced); its first
    /// [`DEAD_LETTER_COPY_BYTES`] bytes when it is longer (then `truncated` says so).
    pub record: &'a str,
    /// Whether `record` is a truncated copy.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The original record's size in bytes, when `record` is a truncated copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_bytes: Option<usize>,
}

/// The longest copy of a record a dead letter carries: escaped as JSON (at most six bytes per
/// byte), it still fits in a Kafka record of the broker's default 1 MB limit.
pub const DEAD_LETTER_COPY_BYTES: usize = 64 * 1024;

/// The copy of `payload` a dead letter carries (invalid UTF-8 replaced), and the original
/// size when the copy is truncated to [`DEAD_LETTER_COPY_BYTES`].
pub fn dead_letter_copy(payload: &[u8]) -> (std::borrow::Cow<'_, str>, Option<usize>) {
    if payload.len() <= DEAD_LETTER_COPY_BYTES {
        return (String::from_utf8_lossy(payload), None);
    }
    let copy = String::from_utf8_lossy(&payload[..DEAD_LETTER_COPY_BYTES]);
    (copy, Some(payload.len()))
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

    /// A dead letter of `payload` as JSON.
    fn letter_of(payload: &[u8]) -> serde_json::Value {
        let copy = dead_letter_copy(payload);
        let letter = DeadLetter {
            reason: "oversized",
            detail: "",
            source: "ratings",
            partition: 2,
            offset: 7,
            record: &copy.0,
            truncated: copy.1.is_some(),
            record_bytes: copy.1,
        };
        serde_json::from_str(&letter.to_json()).unwrap()
    }

    #[test]
    fn a_dead_letter_copies_records_up_to_the_limit_and_says_when_it_truncated() {
        let small = letter_of(b"not json\0\xff");
        assert_eq!(small["record"], "not json\u{0}\u{fffd}");
        assert!(small.get("truncated").is_none() && small.get("record_bytes").is_none());

        // a record near the broker's limit, all control bytes: the worst case for escaping
        let huge = vec![1u8; 1_000_000];
        let json = {
            let copy = dead_letter_copy(&huge);
            assert_eq!(copy.0.len(), DEAD_LETTER_COPY_BYTES);
            letter_of(&huge)
        };
        assert_eq!(json["truncated"], true);
        assert_eq!(json["record_bytes"], 1_000_000);
        assert_eq!(
            (json["partition"].as_i64(), json["offset"].as_i64()),
            (Some(2), Some(7))
        );
        assert!(
            json.to_string().len() < 1_000_000,
            "fits in a default Kafka record"
        );
    }
}
