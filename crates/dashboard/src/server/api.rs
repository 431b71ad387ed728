//! The REST API: windows of a range (JSON or CSV), the dashboard's status, the alerts and their
//! silences.
//!
//! `GET /api/windows?type=tumbling|sliding&range=15m|1h|6h|24h` (or `from=…&to=…`, epoch
//! seconds) answers the windows that end in the range, with the sequence number of the history
//! at that moment: live pushes after that number continue it without a gap.

use std::sync::Arc;

use ratings_httpd::{header, Response};
use serde::Serialize;

use super::query::Query;
use super::{error, json_response};
use crate::alerts::{Alert, Silence, Transition};
use crate::board::{now_seconds, Board, FeedStatus};
use crate::scrape::EndpointView;
use crate::window::{Kind, Window, HISTOGRAM_BINS};

type Body = Response;

/// Parameters of the window queries.
const WINDOW_PARAMETERS: [&str; 5] = ["type", "range", "from", "to", "token"];

/// Why a request got no answer.
#[derive(Debug)]
pub(super) enum Failure {
    BadRequest(String),
    NotFound(String),
}

impl Failure {
    pub(super) fn response(self) -> Body {
        match self {
            Failure::BadRequest(message) => error(400, &message),
            Failure::NotFound(path) => error(404, &format!("no such resource: {path}")),
        }
    }
}

/// The windows of one family ending in `(from, to]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Selection {
    pub kind: Kind,
    pub from: i64,
    pub to: i64,
}

impl Selection {
    /// Reads the selection of a query; the range counts back from `head`.
    pub(super) fn of(query: &Query, head: i64) -> Result<Selection, Failure> {
        let unknown = query.unknown(&WINDOW_PARAMETERS);
        if let Some(name) = unknown.first() {
            return Err(bad(format!(
                "unknown parameter {name:?} (known: type, range, from, to)"
            )));
        }
        let kind = match query.get("type") {
            None => Kind::Tumbling,
            Some(text) => Kind::parse(text)
                .ok_or_else(|| bad(format!("type must be tumbling or sliding, not {text:?}")))?,
        };
        let (from, to) = match (query.get("from"), query.get("to"), query.get("range")) {
            (Some(from), Some(to), None) => (epoch(from, "from")?, epoch(to, "to")?),
            (None, None, range) => {
                let seconds = range_seconds(range.unwrap_or("1h"))?;
                (head - seconds, head)
            }
            _ => return Err(bad("give either range, or both from and to".into())),
        };
        if to <= from {
            return Err(bad(format!("to ({to}) must be after from ({from})")));
        }
        Ok(Selection { kind, from, to })
    }
}

fn bad(message: String) -> Failure {
    Failure::BadRequest(message)
}

fn epoch(text: &str, name: &str) -> Result<i64, Failure> {
    text.parse()
        .map_err(|_| bad(format!("{name} must be epoch seconds, not {text:?}")))
}

/// Seconds of a range such as `15m`, `1h`, `24h` or `7d` (at most 31 days).
fn range_seconds(text: &str) -> Result<i64, Failure> {
    let seconds = humantime::parse_duration(text)
        .map_err(|e| {
            bad(format!(
                "range {text:?} is not a duration such as 15m, 1h, 24h: {e}"
            ))
        })?
        .as_secs() as i64;
    if !(60..=31 * 86_400).contains(&seconds) {
        return Err(bad(format!(
            "range {text:?} must be between 1 minute and 31 days"
        )));
    }
    Ok(seconds)
}

/// The answer to a window query.
#[derive(Serialize)]
struct Windows {
    #[serde(rename = "type")]
    kind: Kind,
    from: i64,
    to: i64,
    now: i64,
    instance: String,
    seq: u64,
    windows: Vec<Arc<Window>>,
}

/// The windows of a query and the history's sequence number.
fn select(board: &Board, query: &Query) -> Result<Windows, Failure> {
    let state = board.state();
    let now = now_seconds();
    let selection = Selection::of(query, state.history.head(now))?;
    Ok(Windows {
        kind: selection.kind,
        from: selection.from,
        to: selection.to,
        now,
        instance: board.instance().to_string(),
        seq: state.history.seq(),
        windows: state
            .history
            .range(selection.kind, selection.from, selection.to),
    })
}

/// `GET /api/windows`.
pub(super) fn windows(board: &Board, query: &Query) -> Result<Body, Failure> {
    Ok(json_response(200, &select(board, query)?))
}

/// `GET /api/windows.csv`: the same windows, one row each; top movies and genres as JSON text.
pub(super) fn windows_csv(board: &Board, query: &Query) -> Result<Body, Failure> {
    let selected = select(board, query)?;
    let name = format!(
        "attachment; filename=\"windows-{}-{}-{}.csv\"",
        selected.kind.name(),
        selected.from,
        selected.to
    );
    Ok(
        Response::new(200, "text/csv; charset=utf-8", csv_text(&selected.windows))
            .with_header(header::CONTENT_DISPOSITION, &name)
            .with_header(header::CACHE_CONTROL, "no-store"),
    )
}

/// The CSV columns: the window's scalar fields, one per histogram bin, the lists as JSON.
pub(super) fn csv_header() -> Vec<String> {
    let mut columns: Vec<String> = [
        "window_start",
        "window_end",
        "window_type",
        "final",
        "count",
        "avg_rating",
        "p50_rating",
        "p95_rating",
    ]
    .map(String::from)
    .to_vec();
    columns.extend((1..=HISTOGRAM_BINS).map(|bin| format!("ratings_{:.1}", bin as f64 / 2.0)));
    columns.extend(["top_movies", "metrics_by_genre", "processing_time"].map(String::from));
    columns
}

fn csv_text(windows: &[Arc<Window>]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let write = |writer: &mut csv::Writer<Vec<u8>>, row: Vec<String>| {
        writer
            .write_record(row)
            .expect("CSV into memory cannot fail");
    };
    write(&mut writer, csv_header());
    for w in windows {
        let mut row = vec![
            w.window_start.clone(),
            w.window_end.clone(),
            w.window_type.to_string(),
            w.is_final.to_string(),
            w.count.to_string(),
            w.avg_rating.to_string(),
            w.p50_rating.to_string(),
            w.p95_rating.to_string(),
        ];
        let bins = w.rating_histogram.map(|h| h.map(|c| c.to_string()));
        row.extend(bins.unwrap_or_default());
        row.push(serde_json::to_string(&w.top_movies).expect("JSON"));
        row.push(serde_json::to_string(&w.metrics_by_genre).expect("JSON"));
        row.push(w.processing_time.clone());
        write(&mut writer, row);
    }
    writer.into_inner().expect("CSV into memory cannot fail")
}

/// The dashboard's status.
#[derive(Serialize)]
struct Status {
    instance: String,
    now: i64,
    head: i64,
    seq: u64,
    windows_kept: usize,
    latest_window_end: Option<i64>,
    feed: FeedStatus,
    processors: Vec<EndpointView>,
}

/// `GET /api/status`.
pub(super) fn status(board: &Board) -> Result<Body, Failure> {
    let state = board.state();
    let now = now_seconds();
    Ok(json_response(
        200,
        &Status {
            instance: board.instance().to_string(),
            now,
            head: state.history.head(now),
            seq: state.history.seq(),
            windows_kept: state.history.len(),
            latest_window_end: state.history.latest_end(),
            feed: state.feed.clone(),
            processors: state.endpoints.iter().map(|e| e.view()).collect(),
        },
    ))
}

/// The answer to `GET /api/alerts`.
#[derive(Serialize)]
struct AlertsView<'a> {
    now: i64,
    alerts: &'a [Alert],
    silences: &'a [Silence],
    history: Vec<&'a Transition>,
}

/// `GET /api/alerts`: every rule's alert, the silences, the transitions (newest first).
pub(super) fn alerts(board: &Board) -> Result<Body, Failure> {
    let state = board.state();
    let alerts = &state.alerts;
    Ok(json_response(
        200,
        &AlertsView {
            now: now_seconds(),
            alerts: &alerts.alerts,
            silences: &alerts.silences,
            history: alerts.history.iter().collect(),
        },
    ))
}

/// The body of `POST /api/silences`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSilence {
    /// The rule silenced; all rules when absent.
    rule: Option<String>,
    /// How long, e.g. `2h`.
    duration: String,
    comment: String,
}

/// `POST /api/silences` with `{"rule": …, "duration": "2h", "comment": …}`: 201 and the silence.
pub(super) fn add_silence(board: &Board, body: &str) -> Result<Body, Failure> {
    let asked: NewSilence = serde_json::from_str(body).map_err(|e| {
        bad(format!(
            "a silence is {{\"rule\": name (optional), \"duration\": \"2h\", \"comment\": text}}: {e}"
        ))
    })?;
    let duration = humantime::parse_duration(&asked.duration)
        .map_err(|e| bad(format!("duration {:?}: {e}", asked.duration)))?;
    let silence = board
        .state()
        .alerts
        .silence(asked.rule, duration, asked.comment, now_seconds())
        .map_err(bad)?;
    Ok(json_response(201, &silence))
}

/// `DELETE /api/silences/ID`: ends a silence now.
pub(super) fn expire_silence(board: &Board, id: &str) -> Result<Body, Failure> {
    let id: u64 = id
        .parse()
        .map_err(|_| bad(format!("silence id {id:?} is not a number")))?;
    if !board.state().alerts.expire(id) {
        return Err(Failure::NotFound(format!("/api/silences/{id}")));
    }
    Ok(json_response(200, &serde_json::json!({ "expired": id })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(query: &str) -> Result<Selection, String> {
        Selection::of(&Query::parse(query), 10_000).map_err(|f| match f {
            Failure::BadRequest(m) | Failure::NotFound(m) => m,
        })
    }

    #[test]
    fn ranges_count_back_from_the_head_and_default_to_an_hour_of_tumbling_windows() {
        let tumbling = |from, to| Selection {
            kind: Kind::Tumbling,
            from,
            to,
        };
        assert_eq!(selection(""), Ok(tumbling(6_400, 10_000)));
        assert_eq!(selection("range=15m"), Ok(tumbling(9_100, 10_000)));
        assert_eq!(
            selection("type=sliding&range=24h").map(|s| (s.kind, s.from)),
            Ok((Kind::Sliding, 10_000 - 86_400))
        );
        assert_eq!(selection("from=100&to=200"), Ok(tumbling(100, 200)));
    }

    #[test]
    fn bad_parameters_are_refused_with_a_message() {
        for (query, message) in [
            ("type=hopping", "type must be tumbling or sliding"),
            ("range=forever", "is not a duration"),
            ("range=1s", "between 1 minute and 31 days"),
            ("range=90d", "between 1 minute and 31 days"),
            ("from=100", "either range, or both from and to"),
            ("from=1&to=2&range=1h", "either range, or both from and to"),
            ("from=a&to=2", "from must be epoch seconds"),
            ("from=5&to=5", "must be after from"),
            ("tpye=sliding", "unknown parameter \"tpye\""),
        ] {
            let error = selection(query).unwrap_err();
            assert!(error.contains(message), "{query}: {error}");
        }
    }

    #[test]
    fn the_csv_has_a_column_per_histogram_bin() {
        let header = csv_header();
        assert_eq!(header.len(), 8 + HISTOGRAM_BINS + 3);
        assert_eq!(header[8], "ratings_0.5");
        assert_eq!(header[17], "ratings_5.0");
    }
}
