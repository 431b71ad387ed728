//! Live pushes as Server-Sent Events: every change of the history after the point the page
//! names, as it happens. Each event's id is `instance:seq`; a page that reconnects sends the
//! last id it saw (the browser does so by itself) and gets what it missed. When the dashboard
//! restarted in between (another instance), the page is told to fetch its range again
//! (`event: resync`), since sequence numbers start over.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tiny_http::Request;

use super::error;
use super::query::Query;
use crate::board::Board;
use crate::history::Entry;

/// How often an idle stream sends a comment, to notice a page that went away.
const KEEPALIVE: Duration = Duration::from_secs(10);
/// Streams served at once; more get 503.
const MAX_STREAMS: usize = 64;
/// How long the browser waits before reconnecting a dropped stream.
const RETRY_MILLIS: u32 = 1000;

static STREAMS: AtomicUsize = AtomicUsize::new(0);

/// Where a stream starts: the page's last event, if it names one.
fn resume_point(request: &Request, query: &Query) -> Option<(String, u64)> {
    let last_id = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Last-Event-ID"))
        .map(|h| h.value.as_str().to_string());
    let named = match (query.get("instance"), query.get("after")) {
        (Some(instance), Some(after)) => Some(format!("{instance}:{after}")),
        _ => None,
    };
    let id = last_id.or(named)?;
    let (instance, seq) = id.split_once(':')?;
    Some((instance.to_string(), seq.parse().ok()?))
}

/// Serves `GET /api/events` on a thread of its own.
pub fn stream(board: Arc<Board>, request: Request, query: &Query) {
    if STREAMS.fetch_add(1, Ordering::SeqCst) >= MAX_STREAMS {
        STREAMS.fetch_sub(1, Ordering::SeqCst);
        let _ = request.respond(error(503, "too many live streams"));
        return;
    }
    let resume = resume_point(&request, query);
    let spawned = std::thread::Builder::new()
        .name("dashboard-live".into())
        .spawn(move || {
            let mut writer = request.into_writer();
            let _ = push(&board, &mut writer, resume);
            STREAMS.fetch_sub(1, Ordering::SeqCst);
        });
    if spawned.is_err() {
        STREAMS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Writes the stream until the page goes away.
fn push(board: &Board, out: &mut dyn Write, resume: Option<(String, u64)>) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
         Connection: close\r\nX-Accel-Buffering: no\r\n\r\nretry: {RETRY_MILLIS}\n\n"
    )?;
    let mut seen = match resume {
        Some((instance, seq)) if instance == board.instance() => seq,
        other => {
            let now = board.state().history.seq();
            if other.is_some() {
                write!(
                    out,
                    "id: {}:{now}\nevent: resync\ndata: {{}}\n\n",
                    board.instance()
                )?;
            }
            now
        }
    };
    out.flush()?;
    loop {
        let latest = board.wait_for_change(seen, KEEPALIVE);
        if latest == seen {
            out.write_all(b": keepalive\n\n")?;
        } else {
            let changed = board.state().history.changed_after(seen);
            for entry in &changed {
                write_event(out, board.instance(), entry)?;
            }
            seen = changed.last().map_or(latest, |e| e.seq);
        }
        out.flush()?;
    }
}

fn write_event(out: &mut dyn Write, instance: &str, entry: &Entry) -> std::io::Result<()> {
    let data = serde_json::to_string(&*entry.window).expect("a window serializes");
    write!(
        out,
        "id: {instance}:{}\nevent: window\ndata: {data}\n\n",
        entry.seq
    )
}
