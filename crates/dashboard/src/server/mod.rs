//! The dashboard's HTTP server: the page and its assets, the REST API and the live pushes
//! (Server-Sent Events), with an optional bearer token.
//!
//! Requests are answered by [`ratings_httpd`] (its limits hold against slow, many or large
//! clients); a live stream gets a thread of its own for as long as the page stays connected.

mod api;
mod assets;
mod guard;
mod live;
mod query;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ratings_httpd::{header, Limits, Method, Request, Response, Server};

use crate::board::Board;
use query::Query;

/// Who may read the dashboard.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// When set, every request but the page's assets needs it: `Authorization: Bearer TOKEN`,
    /// or the cookie of a session opened with it (see [`session`]).
    pub token: Option<String>,
    /// Host names the dashboard answers to besides addresses and `localhost` (see [`guard`]).
    pub allowed_hosts: Vec<String>,
}

/// A running server; it stops when dropped.
pub struct Running {
    pub address: SocketAddr,
    server: Server,
}

impl Running {
    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// Stops accepting requests.
    pub fn stop(&self) {
        self.server.stop();
    }
}

/// Listens on `address` and serves `board` from a background thread, within the limits of
/// [`ratings_httpd`] (a silence's body is at most 16 KiB). A non-loopback address must be asked
/// for: the caller decides; see [`requires_token_warning`].
pub fn serve(board: Arc<Board>, address: &str, access: Access) -> anyhow::Result<Running> {
    let sessions = session::Sessions::default();
    let answer = move |request: Request| handle(&board, &access, &sessions, request);
    let server = ratings_httpd::serve("dashboard-http", address, Limits::default(), answer)
        .with_context(|| format!("cannot listen on {address} for the dashboard"))?;
    Ok(Running {
        address: server.address(),
        server,
    })
}

/// Whether serving on `address` without a token exposes the dashboard beyond this machine.
pub fn requires_token_warning(address: &SocketAddr, access: &Access) -> bool {
    !address.ip().is_loopback() && access.token.is_none()
}

/// Answers one request.
fn handle(
    board: &Arc<Board>,
    access: &Access,
    sessions: &session::Sessions,
    request: Request,
) -> Response {
    if let Some((status, message)) = guard::refuse(&request, &access.allowed_hosts) {
        return error(status, &message);
    }
    let query = request
        .query
        .as_deref()
        .map(Query::parse)
        .unwrap_or_default();
    if let Some(asset) = assets::find(&request.path) {
        return asset;
    }
    if !authorized(&request, access, sessions) {
        return error(401, "a valid token is needed (Authorization: Bearer …)");
    }
    let path = request.path.as_str();
    let response = match (&request.method, path) {
        (&Method::POST, "/api/session") => {
            let cookie = session::Sessions::cookie(&sessions.open());
            return Response::new(204, "text/plain", "")
                .with_header(header::SET_COOKIE, &cookie)
                .with_header(header::CACHE_CONTROL, "no-store");
        }
        (&Method::GET, "/api/events") => return live::stream(Arc::clone(board), &request, &query),
        (&Method::GET, "/api/windows") => api::windows(board, &query),
        (&Method::GET, "/api/windows.csv") => api::windows_csv(board, &query),
        (&Method::GET, "/api/status") => api::status(board),
        (&Method::GET, "/api/alerts") => api::alerts(board),
        (&Method::POST, "/api/silences") => match std::str::from_utf8(&request.body) {
            Ok(body) => api::add_silence(board, body),
            Err(_) => Err(api::Failure::BadRequest(
                "the request body is not UTF-8 text".into(),
            )),
        },
        (&Method::DELETE, p) if p.starts_with("/api/silences/") => {
            api::expire_silence(board, &p["/api/silences/".len()..])
        }
        (_, p) => Err(api::Failure::NotFound(p.to_string())),
    };
    response.unwrap_or_else(api::Failure::response)
}

/// Whether the request carries the token, or a session opened with it, when one is required.
fn authorized(request: &Request, access: &Access, sessions: &session::Sessions) -> bool {
    let Some(token) = &access.token else {
        return true;
    };
    let bearer = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "));
    if bearer.is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes())) {
        return true;
    }
    let session = request.header("cookie").and_then(session::from_cookies);
    session.is_some_and(|id| sessions.valid(id))
}

/// Compares without stopping at the first difference (a token is a secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON error response: `{"error": message}`.
fn error(status: u16, message: &str) -> Response {
    json_response(status, &serde_json::json!({ "error": message }))
}

/// A JSON response.
fn json_response<T: serde::Serialize>(status: u16, body: &T) -> Response {
    let text = serde_json::to_vec(body).expect("JSON serialization of API values cannot fail");
    Response::new(status, "application/json", text).with_header(header::CACHE_CONTROL, "no-store")
}
