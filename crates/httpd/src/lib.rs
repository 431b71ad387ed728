//! A small HTTP/1.1 server for the monitoring ports (a processor's `/metrics`, the dashboard):
//! hyper on a tokio runtime of its own thread, with every limit a broken or hostile client
//! could push against, so that no client — however slow, many or large — stops the process or
//! delays another client's answer beyond the work that answer takes.
//!
//! | a client that …                              | gets                                   |
//! |----------------------------------------------|----------------------------------------|
//! | sends headers above [`Limits::max_header_bytes`] or [`Limits::max_headers`] | 431 |
//! | sends malformed HTTP                         | 400                                    |
//! | is slower than [`Limits::header_timeout`] with its headers | 408 (idle keep-alive: closed) |
//! | sends a body to a route that takes none      | 413                                    |
//! | declares or sends more than [`Limits::max_body`] | 413, before anything is read       |
//! | is slower than [`Limits::body_timeout`] with its body | 408                           |
//! | does not read its answers for [`Limits::write_timeout`] (a pipelining flood) | closed |
//! | is one more than [`Limits::max_connections`] | 503 with `Retry-After`                 |
//!
//! Each of these answers carries `Connection: close`. Handlers are plain functions of a
//! [`Request`] (its body read in full and bounded), run on tokio's blocking pool so a slow one
//! never holds the connections; a handler's panic is a 500, never the process's end. A
//! [`Response`] can also be a stream (Server-Sent Events) fed from any thread through a bounded
//! channel.

#![warn(unreachable_pub)]

mod guarded;
mod message;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use guarded::Guarded;
pub use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
pub use hyper::{Method, StatusCode};
pub use message::{Body, Request, Response, StreamSender};

/// What one client may take.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Request line and headers together, in bytes.
    pub max_header_bytes: usize,
    /// Header fields in one request.
    pub max_headers: usize,
    /// From a connection's first byte (or the end of its last answer) to the end of its
    /// headers; also how long an idle keep-alive connection is kept.
    pub header_timeout: Duration,
    /// Largest request body (only POST, PUT and PATCH take one).
    pub max_body: usize,
    /// How long reading the whole body may take.
    pub body_timeout: Duration,
    /// How long an answer may wait for the client to read it.
    pub write_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Handlers running at once (threads of the blocking pool); more requests wait their turn.
    /// Each thread that ever ran a handler keeps its own memory (stack, allocator arena) until
    /// it has been idle for 10 s, so this bounds the server's memory under load.
    pub handler_threads: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            header_timeout: Duration::from_secs(10),
            max_body: 16 * 1024,
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_connections: 1024,
            handler_threads: 4,
        }
    }
}

/// A request handler: called on tokio's blocking pool, once per request.
pub trait Handler: Fn(Request) -> Response + Send + Sync + 'static {}
impl<F: Fn(Request) -> Response + Send + Sync + 'static> Handler for F {}

/// A running server; it stops when [`Server::stop`] is called or the value is dropped.
pub struct Server {
    address: SocketAddr,
    stop: Arc<Notify>,
}

impl Server {
    /// The address it listens on (the port chosen when asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting connections and drops the open ones.
    pub fn stop(&self) {
        self.stop.notify_one();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Listens on `address` (`host:port`) and serves `handler` from a thread named `name`.
pub fn serve(
    name: &str,
    address: &str,
    limits: Limits,
    handler: impl Handler,
) -> anyhow::Result<Server> {
    // the caller says what the port is for
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(limits.handler_threads.max(1))
        .thread_name(format!("{name}-work"))
        .build()?;
    let stop = Arc::new(Notify::new());
    let stopped = Arc::clone(&stop);
    let (limits, handler) = (Arc::new(limits), Arc::new(handler));
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            runtime.block_on(async move {
                let accepting = accept_all(listener, limits, handler);
                futures::pin_mut!(accepting);
                let stopping = stopped.notified();
                futures::pin_mut!(stopping);
                futures::future::select(accepting, stopping).await;
            })
        })?;
    Ok(Server {
        address: bound,
        stop,
    })
}

/// Accepts connections for ever, each served on a task of its own while a permit lasts.
async fn accept_all<H: Handler>(
    listener: std::net::TcpListener,
    limits: Arc<Limits>,
    handler: Arc<H>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => return tracing::error!("http: cannot serve the listening socket: {error}"),
    };
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // out of file descriptors, most likely: wait for some to close
                tracing::warn!("http: cannot accept a connection: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(connection(
                    tcp,
                    peer,
                    Arc::clone(&limits),
                    Arc::clone(&handler),
                    permit,
                ));
            }
            Err(_) => refuse(&tcp),
        }
    }
}

/// Answers a connection beyond the cap with a 503, without waiting for the client.
fn refuse(tcp: &TcpStream) {
    let _ = tcp.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n\
          Content-Type: text/plain\r\nContent-Length: 21\r\n\r\ntoo many connections\n",
    );
}

/// Serves one connection until it closes, breaks a limit or stays idle too long.
async fn connection<H: Handler>(
    tcp: TcpStream,
    peer: SocketAddr,
    limits: Arc<Limits>,
    handler: Arc<H>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = tcp.set_nodelay(true);
    // a second handle on the socket, to say 408 once hyper gave up on slow headers
    let Ok((tcp, spare)) = with_spare(tcp) else {
        return;
    };
    let io = Guarded::new(tcp, limits.write_timeout);
    let unanswered = io.unanswered();
    let answered = Arc::clone(&unanswered);
    let serving = Arc::clone(&limits);
    let service = service_fn(move |request| {
        answered.store(false, Ordering::Relaxed);
        respond(request, peer, Arc::clone(&serving), Arc::clone(&handler))
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .max_buf_size((limits.max_header_bytes + 1024).max(8192))
        .serve_connection(TokioIo::new(io), service)
        .await;
    if let Err(error) = served {
        if error.is_timeout() && unanswered.load(Ordering::Relaxed) {
            let _ = std::io::Write::write(
                &mut &spare,
                b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            );
        }
    }
}

/// The stream, and a second handle on its socket.
fn with_spare(tcp: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std = tcp.into_std()?;
    let spare = std.try_clone()?;
    Ok((TcpStream::from_std(std)?, spare))
}

/// Reads the request's body within the limits, then has the handler answer it.
async fn respond<H: Handler>(
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
    limits: Arc<Limits>,
    handler: Arc<H>,
) -> Result<hyper::Response<message::Outgoing>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match read_body(&parts, body, &limits).await {
        Ok(body) => body,
        Err(refusal) => return Ok(refusal.closing().into_hyper()),
    };
    let request = Request::new(parts, body, peer);
    let response = match tokio::task::spawn_blocking(move || handler(request)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!("http: a request handler failed: {error}");
            Response::text(500, "the server failed to answer this request\n").closing()
        }
    };
    Ok(response.into_hyper())
}

/// The request's body, or the answer that refuses it.
async fn read_body(
    parts: &hyper::http::request::Parts,
    body: Incoming,
    limits: &Limits,
) -> Result<Bytes, Response> {
    let takes_body = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    if !takes_body {
        return Err(Response::text(413, "this request takes no body\n"));
    }
    let declared = body.size_hint().exact().or(body.size_hint().upper());
    if declared.is_some_and(|size| size > limits.max_body as u64) {
        return Err(too_large(limits));
    }
    let reading = Limited::new(body, limits.max_body).collect();
    match tokio::time::timeout(limits.body_timeout, reading).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => Err(too_large(limits)),
        Ok(Err(error)) => Err(Response::text(
            400,
            &format!("cannot read the body: {error}\n"),
        )),
        Err(_) => Err(Response::text(408, "the body did not arrive in time\n")),
    }
}

fn too_large(limits: &Limits) -> Response {
    Response::text(
        413,
        &format!("the body is larger than {} bytes\n", limits.max_body),
    )
}
