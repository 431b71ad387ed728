//! Live pushes as Server-Sent Events: every change of the history after the point the page
//! names, as it happens. Each event's id is `instance:seq`; a page that reconnects sends the
//! last id it saw (the browser does so by itself) and gets what it missed. When the dashboard
//! restarted in between (another instance), the page is told to fetch its range again
//! (`event: resync`), since sequence numbers start over.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ratings_httpd::{header, HeaderName, Request, Response, StreamSender};

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
    let last_id = request.header("last-event-id").map(str::to_string);
    let named = match (query.get("instance"), query.get("after")) {
        (Some(instance), Some(after)) => Some(format!("{instance}:{after}")),
        _ => None,
    };
    let id = last_id.or(named)?;
    let (instance, seq) = id.split_once(':')?;
    Some((instance.to_string(), seq.parse().ok()?))
}

/// Answers `GET /api/events`: a stream fed by a thread of its own.
pub(super) fn stream(board: Arc<Board>, request: &Request, query: &Query) -> Response {
    if STREAMS.fetch_add(1, Ordering::SeqCst) >= MAX_STREAMS {
        STREAMS.fetch_sub(1, Ordering::SeqCst);
        return too_many();
    }
    let resume = resume_point(request, query);
    let (response, sender) = Response::stream(200, "text/event-stream", 16);
    let spawned = std::thread::Builder::new()
        .name("dashboard-live".into())
        .spawn(move || {
            let _ = push(&board, &mut Chunks::new(sender), resume);
            STREAMS.fetch_sub(1, Ordering::SeqCst);
        });
    if spawned.is_err() {
        STREAMS.fetch_sub(1, Ordering::SeqCst);
        return too_many();
    }
    response
        .with_header(header::CACHE_CONTROL, "no-store")
        .with_header(HeaderName::from_static("x-accel-buffering"), "no")
}

/// 503: the live streams are all taken; the browser tries again later.
fn too_many() -> Response {
    error(503, "too many live streams").with_header(header::RETRY_AFTER, "5")
}

/// What the stream's thread writes: sent to the client at each flush.
struct Chunks {
    sender: StreamSender,
    pending: Vec<u8>,
}

impl Chunks {
    fn new(sender: StreamSender) -> Chunks {
        Chunks {
            sender,
            pending: Vec::new(),
        }
    }
}

impl Write for Chunks {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() || self.sender.send(std::mem::take(&mut self.pending)) {
            return Ok(());
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "the page went away",
        ))
    }
}

/// Writes the stream until the page goes away.
fn push(board: &Board, out: &mut dyn Write, resume: Option<(String, u64)>) -> std::io::Result<()> {
    write!(out, "retry: {RETRY_MILLIS}\n\n")?;
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
