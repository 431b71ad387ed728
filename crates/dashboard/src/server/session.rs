//! Sessions of the page: it sends its token in a header (`Authorization: Bearer …`), never in
//! a URL, and trades it (`POST /api/session`) for a cookie that what cannot send headers — the
//! live stream (`EventSource`) and the export links — carries instead. The cookie is
//! `HttpOnly` and `SameSite=Strict`: scripts cannot read it and other sites' pages cannot send
//! it. Sessions are random, expire after [`LIFETIME`], and at most [`MAX_SESSIONS`] are kept
//! (the oldest goes first).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie's name.
pub(super) const COOKIE: &str = "ratings_session";
/// How long a session lasts.
pub(super) const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at once.
const MAX_SESSIONS: usize = 256;

/// See the module documentation.
#[derive(Default)]
pub(super) struct Sessions {
    open: Mutex<VecDeque<(String, Instant)>>,
}

impl Sessions {
    /// A new session's id.
    pub(super) fn open(&self) -> String {
        let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        open.retain(|(_, expires)| *expires > now);
        if open.len() >= MAX_SESSIONS {
            open.pop_front();
        }
        open.push_back((id.clone(), now + LIFETIME));
        id
    }

    /// Whether `id` is a session still open.
    pub(super) fn valid(&self, id: &str) -> bool {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        open.iter().any(|(known, expires)| {
            *expires > now && super::constant_time_eq(known.as_bytes(), id.as_bytes())
        })
    }

    /// The `Set-Cookie` value of session `id`.
    pub(super) fn cookie(id: &str) -> String {
        format!(
            "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
            LIFETIME.as_secs()
        )
    }
}

/// The session id in a `Cookie` header, if any.
pub(super) fn from_cookies(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_valid_until_pushed_out_and_unknown_ids_are_not() {
        let sessions = Sessions::default();
        let first = sessions.open();
        assert!(sessions.valid(&first));
        assert!(!sessions.valid("0123"));
        for _ in 0..MAX_SESSIONS {
            sessions.open();
        }
        assert!(!sessions.valid(&first), "the oldest went first");
        let cookies = format!("theme=dark; {COOKIE}={first}; x=y");
        assert_eq!(from_cookies(&cookies), Some(first.as_str()));
        assert!(Sessions::cookie(&first).contains("HttpOnly; SameSite=Strict"));
    }
}
