//! The dashboard's HTTP server: the page and its assets, the REST API and the live pushes
//! (Server-Sent Events), with an optional bearer token.
//!
//! Requests are answered on one thread, in turn (each is a lookup in memory); a live stream gets
//! a thread of its own for as long as the page stays connected.

mod api;
mod assets;
mod live;
mod query;

use std::net::SocketAddr;
use std::sync::Arc;

use std::io::Read;

use anyhow::Context;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::board::Board;
use query::Query;

/// Who may read the dashboard.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// When set, every request but the page's assets needs it: `Authorization: Bearer TOKEN`,
    /// or `token=TOKEN` in the query (the browser's live stream cannot send headers).
    pub token: Option<String>,
}

/// A running server.
pub struct Running {
    pub address: SocketAddr,
    server: Arc<Server>,
}

impl Running {
    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// Stops accepting requests.
    pub fn stop(&self) {
        self.server.unblock();
    }
}

/// Listens on `address` and serves `board` from a background thread. A non-loopback address
/// must be asked for: the caller decides; see [`requires_token_warning`].
pub fn serve(board: Arc<Board>, address: &str, access: Access) -> anyhow::Result<Running> {
    let server = Server::http(address)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot listen on {address} for the dashboard"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .context("the dashboard listens on an IP address")?;
    let server = Arc::new(server);
    let serving = Arc::clone(&server);
    std::thread::Builder::new()
        .name("dashboard-http".into())
        .spawn(move || {
            for request in serving.incoming_requests() {
                handle(&board, &access, request);
            }
        })?;
    Ok(Running {
        address: bound,
        server,
    })
}

/// Whether serving on `address` without a token exposes the dashboard beyond this machine.
pub fn requires_token_warning(address: &SocketAddr, access: &Access) -> bool {
    !address.ip().is_loopback() && access.token.is_none()
}

/// Largest request body read (a silence).
const MAX_BODY: u64 = 16 * 1024;

/// Answers one request.
fn handle(board: &Arc<Board>, access: &Access, mut request: Request) {
    let (path, query) = match request.url().split_once('?') {
        Some((path, query)) => (path.to_string(), Query::parse(query)),
        None => (request.url().to_string(), Query::default()),
    };
    if let Some(asset) = assets::find(&path) {
        let _ = request.respond(asset);
        return;
    }
    if !authorized(&request, &query, access) {
        let _ = request.respond(error(
            401,
            "a valid token is needed (Authorization: Bearer …)",
        ));
        return;
    }
    let response = match (request.method(), path.as_str()) {
        (Method::Get, "/api/events") => return live::stream(Arc::clone(board), request, &query),
        (Method::Get, "/api/windows") => api::windows(board, &query),
        (Method::Get, "/api/windows.csv") => api::windows_csv(board, &query),
        (Method::Get, "/api/status") => api::status(board),
        (Method::Get, "/api/alerts") => api::alerts(board),
        (Method::Post, "/api/silences") => match body(&mut request) {
            Ok(body) => api::add_silence(board, &body),
            Err(failure) => Err(failure),
        },
        (Method::Delete, p) if p.starts_with("/api/silences/") => {
            api::expire_silence(board, &p["/api/silences/".len()..])
        }
        (_, p) if p.starts_with("/api/") => Err(api::Failure::NotFound(p.to_string())),
        _ => Err(api::Failure::NotFound(path.clone())),
    };
    let _ = request.respond(response.unwrap_or_else(api::Failure::response));
}

/// The request's body as text, at most [`MAX_BODY`] bytes.
fn body(request: &mut Request) -> Result<String, api::Failure> {
    let mut text = String::new();
    std::io::Read::take(request.as_reader(), MAX_BODY + 1)
        .read_to_string(&mut text)
        .map_err(|e| api::Failure::BadRequest(format!("cannot read the request body: {e}")))?;
    if text.len() as u64 > MAX_BODY {
        return Err(api::Failure::BadRequest(
            "the request body is too large".into(),
        ));
    }
    Ok(text)
}

/// Whether the request carries the token, when one is required.
fn authorized(request: &Request, query: &Query, access: &Access) -> bool {
    let Some(token) = &access.token else {
        return true;
    };
    let bearer = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .and_then(|h| h.value.as_str().strip_prefix("Bearer "));
    let given = bearer.or_else(|| query.get("token"));
    given.is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
}

/// Compares without stopping at the first difference (a token is a secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON error response: `{"error": message}`.
fn error(status: u16, message: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    json_response(status, &serde_json::json!({ "error": message }))
}

/// A JSON response.
fn json_response<T: serde::Serialize>(status: u16, body: &T) -> Response<std::io::Cursor<Vec<u8>>> {
    let text = serde_json::to_vec(body).expect("JSON serialization of API values cannot fail");
    Response::from_data(text)
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
        .with_header(header("Cache-Control", "no-store"))
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name, value).expect("valid header")
}
