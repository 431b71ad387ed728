//! Requests as handlers see them, and the answers they give: a whole body, or a stream fed
//! from another thread through a bounded channel.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{Either, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use tokio::sync::mpsc;

/// A request whose body (if any) was read in full within the limits.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The query, without the `?`.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
}

impl Request {
    pub(crate) fn new(
        parts: hyper::http::request::Parts,
        body: Bytes,
        peer: SocketAddr,
    ) -> Request {
        Request {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
            body,
            peer,
        }
    }

    /// A request from 127.0.0.1 without headers or body (to test handlers with).
    pub fn local(method: Method, path: &str) -> Request {
        Request {
            method,
            path: path.to_string(),
            query: None,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// The same request with a header added (a name or value that is not valid is left out).
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            self.headers.append(name, value);
        }
        self
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// What a response carries.
pub enum Body {
    Full(Bytes),
    /// Chunks as they come, until every sender is gone.
    Stream(mpsc::Receiver<Bytes>),
}

/// An answer.
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body,
}

/// Feeds a streamed [`Response`] from any thread that is not the server's.
pub struct StreamSender(mpsc::Sender<Bytes>);

impl StreamSender {
    /// Sends a chunk, waiting while the channel is full; `false` once the client is gone (it
    /// closed the connection, or did not read for the write timeout).
    pub fn send(&self, chunk: impl Into<Bytes>) -> bool {
        self.0.blocking_send(chunk.into()).is_ok()
    }
}

impl Response {
    /// A whole answer.
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response {
        Response {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: HeaderMap::new(),
            body: Body::Full(body.into()),
        }
        .with_header(CONTENT_TYPE, content_type)
    }

    /// A plain-text answer.
    pub fn text(status: u16, text: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", text.to_string())
    }

    /// A streamed answer of `content_type`, and its sender; `capacity` chunks may wait.
    pub fn stream(status: u16, content_type: &str, capacity: usize) -> (Response, StreamSender) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let mut response = Response::new(status, content_type, Bytes::new());
        response.body = Body::Stream(receiver);
        (response, StreamSender(sender))
    }

    /// The same answer with a header set (a value that is not valid in a header is left out
    /// and logged: it is a bug of the caller's, not the client's).
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Response {
        match HeaderValue::from_str(value) {
            Ok(value) => {
                self.headers.insert(name, value);
            }
            Err(_) => tracing::error!("http: header {name} cannot carry {value:?}"),
        }
        self
    }

    /// The same answer, after which the connection closes.
    pub fn closing(self) -> Response {
        self.with_header(CONNECTION, "close")
    }

    pub(crate) fn into_hyper(self) -> hyper::Response<Outgoing> {
        let body = match self.body {
            Body::Full(bytes) => Either::Left(Full::new(bytes)),
            Body::Stream(receiver) => Either::Right(ChannelBody(receiver)),
        };
        let mut response = hyper::Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response.headers_mut().insert(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}

/// The body hyper writes.
pub(crate) type Outgoing = Either<Full<Bytes>, ChannelBody>;

/// A body read from a channel.
pub(crate) struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}
