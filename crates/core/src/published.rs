//! A window as published on `metrics`: read from its JSON, checked, and written back unchanged
//! in shape (the dashboard's API serves the topic's records as they are; `verify --audit`
//! compares them with the Parquet rows and with windows recomputed from the raw data).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::output::WindowResult;
use crate::time::{rfc3339_millis, rfc3339_seconds};

/// Half-star bins of `rating_histogram`: 0.5, 1.0, …, 5.0.
pub const HISTOGRAM_BINS: usize = 10;

/// One of the most rated movies of a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopMovie {
    #[serde(rename = "movieId")]
    pub movie_id: i64,
    pub title: Option<Arc<str>>,
    pub count: u64,
    pub avg_rating: f64,
}

/// Ratings of one genre in a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenreMetric {
    pub genre: Arc<str>,
    pub count: u64,
    pub avg_rating: f64,
}

/// A window record of the `metrics` topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// RFC 3339, as published.
    pub window_start: String,
    pub window_end: String,
    pub window_type: Arc<str>,
    pub count: u64,
    pub avg_rating: f64,
    pub p50_rating: f64,
    pub p95_rating: f64,
    /// Absent in records of processors older than the dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_histogram: Option<[u64; HISTOGRAM_BINS]>,
    pub top_movies: Vec<TopMovie>,
    pub metrics_by_genre: Vec<GenreMetric>,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub processing_time: String,
    /// Window start and end, epoch seconds (derived, not serialized).
    #[serde(skip)]
    pub span: (i64, i64),
    /// `processing_time` as epoch milliseconds (derived, not serialized).
    #[serde(skip)]
    pub published_millis: i64,
}

/// Why a record of `metrics` is not a window the dashboard can show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAWindow {
    #[error("not a window record: {0}")]
    Json(String),
    #[error("bad window time {0:?}")]
    Time(String),
    #[error("window end {end} is not after its start {start}")]
    EmptySpan { start: String, end: String },
    #[error("rating_histogram adds up to {sum}, count is {count}")]
    Histogram { sum: u64, count: u64 },
}

impl Window {
    /// Reads and checks one record's value.
    pub fn parse(value: &[u8]) -> Result<Window, NotAWindow> {
        let mut window: Window =
            serde_json::from_slice(value).map_err(|e| NotAWindow::Json(e.to_string()))?;
        let start = epoch_seconds(&window.window_start)?;
        let end = epoch_seconds(&window.window_end)?;
        if end <= start {
            return Err(NotAWindow::EmptySpan {
                start: window.window_start,
                end: window.window_end,
            });
        }
        if let Some(histogram) = &window.rating_histogram {
            let sum = histogram.iter().sum();
            if sum != window.count {
                return Err(NotAWindow::Histogram {
                    sum,
                    count: window.count,
                });
            }
        }
        window.span = (start, end);
        window.published_millis = chrono::DateTime::parse_from_rfc3339(&window.processing_time)
            .map(|t| t.timestamp_millis())
            .map_err(|_| NotAWindow::Time(window.processing_time.clone()))?;
        Ok(window)
    }

    /// The record a processor publishes for `result` at `processing_time_millis`.
    pub fn of(result: &WindowResult, processing_time_millis: i64) -> Window {
        let m = &result.metrics;
        Window {
            window_start: rfc3339_seconds(result.window_start),
            window_end: rfc3339_seconds(result.window_end),
            window_type: Arc::clone(&result.window_type),
            count: m.count,
            avg_rating: m.avg_rating,
            p50_rating: m.p50_rating,
            p95_rating: m.p95_rating,
            rating_histogram: Some(m.rating_histogram),
            top_movies: m
                .top_movies
                .iter()
                .map(|t| TopMovie {
                    movie_id: i64::from(t.movie_id),
                    title: t.title.clone(),
                    count: t.count,
                    avg_rating: t.avg_rating,
                })
                .collect(),
            metrics_by_genre: m
                .metrics_by_genre
                .iter()
                .map(|g| GenreMetric {
                    genre: Arc::clone(&g.genre),
                    count: g.count,
                    avg_rating: g.avg_rating,
                })
                .collect(),
            is_final: result.is_final,
            processing_time: rfc3339_millis(processing_time_millis),
            span: (result.window_start, result.window_end),
            published_millis: processing_time_millis,
        }
    }

    pub fn start(&self) -> i64 {
        self.span.0
    }

    pub fn end(&self) -> i64 {
        self.span.1
    }

    /// Every name of the window (type, titles, genres), to share one copy of each.
    pub fn names_mut(&mut self) -> impl Iterator<Item = &mut Arc<str>> {
        let titles = self.top_movies.iter_mut().filter_map(|m| m.title.as_mut());
        let genres = self.metrics_by_genre.iter_mut().map(|g| &mut g.genre);
        std::iter::once(&mut self.window_type)
            .chain(titles)
            .chain(genres)
    }

    /// `tumbling` or `sliding`, from the window type's name (`tumbling_1min`, …).
    pub fn kind(&self) -> Kind {
        Kind::of(&self.window_type)
    }
}

/// The two families of windows the page switches between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Tumbling,
    Sliding,
}

impl Kind {
    /// The family of a window type name: `sliding_…` is sliding, anything else tumbling.
    pub fn of(window_type: &str) -> Kind {
        if window_type.starts_with("sliding") {
            Kind::Sliding
        } else {
            Kind::Tumbling
        }
    }

    /// Parses `tumbling` or `sliding`.
    pub fn parse(text: &str) -> Option<Kind> {
        [Kind::Tumbling, Kind::Sliding]
            .into_iter()
            .find(|kind| kind.name() == text)
    }

    /// `tumbling` or `sliding`, as in the API.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tumbling => "tumbling",
            Kind::Sliding => "sliding",
        }
    }
}

/// Epoch seconds of an RFC 3339 time.
fn epoch_seconds(text: &str) -> Result<i64, NotAWindow> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .map_err(|_| NotAWindow::Time(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"window_start":"2025-10-29T19:00:00Z","window_end":"2025-10-29T19:01:00Z","window_type":"tumbling_1min","count":2,"avg_rating":3.75,"p50_rating":3.5,"p95_rating":4.0,"rating_histogram":[0,0,0,0,0,0,1,1,0,0],"top_movies":[{"movieId":7,"title":null,"count":2,"avg_rating":3.75}],"metrics_by_genre":[{"genre":"Drama","count":2,"avg_rating":3.75}],"final":true,"processing_time":"2025-10-29T19:01:10.005Z"}"#;

    #[test]
    fn a_window_result_becomes_the_record_the_processor_publishes() {
        let result = crate::output::tests::sample_window();
        let millis = 1_761_764_470_005;
        assert_eq!(result.to_json(millis), RECORD);
        assert_eq!(
            Window::of(&result, millis),
            Window::parse(RECORD.as_bytes()).unwrap()
        );
    }

    #[test]
    fn a_published_window_is_read_and_written_back_unchanged() {
        let window = Window::parse(RECORD.as_bytes()).unwrap();
        assert_eq!(window.span, (1_761_764_400, 1_761_764_460));
        assert_eq!(window.kind(), Kind::Tumbling);
        assert_eq!(serde_json::to_string(&window).unwrap(), RECORD);
    }

    #[test]
    fn a_window_without_histogram_is_accepted() {
        let old = RECORD.replace(r#""rating_histogram":[0,0,0,0,0,0,1,1,0,0],"#, "");
        let window = Window::parse(old.as_bytes()).unwrap();
        assert_eq!(window.rating_histogram, None);
        assert_eq!(serde_json::to_string(&window).unwrap(), old);
    }

    #[test]
    fn foreign_or_inconsistent_records_are_refused_with_the_reason() {
        let cases = [
            (b"garbage".to_vec(), "not a window record"),
            (br#"{"hello":1}"#.to_vec(), "not a window record"),
            (
                RECORD.replace("19:01:00Z", "18:59:00Z").into_bytes(),
                "is not after its start",
            ),
            (
                RECORD
                    .replace("2025-10-29T19:00:00Z", "yesterday")
                    .into_bytes(),
                "bad window time",
            ),
            (
                RECORD
                    .replace(
                        "\"count\":2,\"avg_rating\":3.75,\"p50",
                        "\"count\":3,\"avg_rating\":3.75,\"p50",
                    )
                    .into_bytes(),
                "adds up to 2, count is 3",
            ),
        ];
        for (value, reason) in cases {
            let error = Window::parse(&value).unwrap_err().to_string();
            assert!(error.contains(reason), "{error}");
        }
    }

    #[test]
    fn window_types_map_to_the_two_families() {
        assert_eq!(Kind::of("tumbling_1min"), Kind::Tumbling);
        assert_eq!(Kind::of("sliding_5min_1min"), Kind::Sliding);
        assert_eq!(Kind::parse("sliding"), Some(Kind::Sliding));
        assert_eq!(Kind::parse("hopping"), None);
    }
}
