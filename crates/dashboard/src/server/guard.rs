//! Which requests may reach the dashboard at all. Every request's `Host` must be an IP address,
//! `localhost`, or a name the operator allowed (`--dashboard-allowed-host`): a page on another
//! site that has its own name resolve to this machine (DNS rebinding) sends its own name and
//! is refused. A request that changes something (a silence) must be JSON and come from the
//! dashboard's own page: browsers name the page that sent a request (`Origin`,
//! `Sec-Fetch-Site`), and a cross-site form or `fetch` cannot send JSON without asking first.

use std::net::IpAddr;

use ratings_httpd::{Method, Request};

/// Why a request is refused: its status and message.
pub(super) type Refusal = (u16, String);

/// `None` when the request may go on.
pub(super) fn refuse(request: &Request, allowed_hosts: &[String]) -> Option<Refusal> {
    if let Some(host) = request.header("host") {
        if !host_allowed(host, allowed_hosts) {
            return Some((
                421,
                format!(
                    "this dashboard does not answer to the name {host:?} (start it with \
                     --dashboard-allowed-host NAME to allow one)"
                ),
            ));
        }
    }
    let changes = !matches!(request.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !changes {
        return None;
    }
    if request.method == Method::POST && !is_json(request.header("content-type")) {
        return Some((415, "send the request as application/json".into()));
    }
    if !same_origin(request) {
        return Some((
            403,
            "only the dashboard's own page can change silences".into(),
        ));
    }
    None
}

/// Whether `host` (a `Host` header: name or address, with or without a port) is allowed.
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = without_port(host);
    let literal = name.trim_start_matches('[').trim_end_matches(']');
    literal.parse::<IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || allowed
            .iter()
            .any(|a| a.eq_ignore_ascii_case(name) || a.eq_ignore_ascii_case(host))
}

/// `host` without its `:port` (IPv6 addresses keep their brackets).
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    }
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        let essence = value.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/json")
    })
}

/// Whether the browser says the request comes from the dashboard's own page (a client that is
/// not a browser, like curl, names no page and is let through: it is the operator's).
fn same_origin(request: &Request) -> bool {
    if let Some(site) = request.header("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match request.header("origin") {
        None => true,
        Some(origin) => {
            let authority = origin.split_once("://").map(|(_, rest)| rest);
            authority.is_some_and(|a| Some(a) == request.header("host"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut request = Request::local(method, "/api/silences");
        for (name, value) in headers {
            request = request.with_header(name, value);
        }
        request
    }

    #[test]
    fn a_foreign_host_name_is_refused_and_addresses_localhost_and_allowed_names_pass() {
        let allowed = vec!["dash.example.org".to_string()];
        for host in [
            "127.0.0.1:8080",
            "[::1]:8080",
            "localhost:8080",
            "10.1.2.3",
            "dash.example.org:8080",
            "DASH.example.org",
        ] {
            assert_eq!(
                refuse(&request(Method::GET, &[("host", host)]), &allowed),
                None,
                "{host}"
            );
        }
        for host in [
            "attacker.example",
            "attacker.example:8080",
            "localhost.attacker.example",
        ] {
            let refused = refuse(&request(Method::GET, &[("host", host)]), &allowed);
            assert_eq!(refused.map(|r| r.0), Some(421), "{host}");
        }
    }

    #[test]
    fn a_change_needs_json_and_the_dashboards_own_origin() {
        let host = ("host", "127.0.0.1:8080");
        let json = ("content-type", "application/json");
        let ok = [
            host,
            json,
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert_eq!(refuse(&request(Method::POST, &ok), &[]), None);
        assert_eq!(
            refuse(&request(Method::POST, &[host, json]), &[]),
            None,
            "curl"
        );
        let plain = [
            host,
            ("content-type", "text/plain"),
            ("origin", "http://127.0.0.1:8080"),
        ];
        assert_eq!(
            refuse(&request(Method::POST, &plain), &[]).map(|r| r.0),
            Some(415)
        );
        let cross = [host, json, ("origin", "https://attacker.example")];
        assert_eq!(
            refuse(&request(Method::POST, &cross), &[]).map(|r| r.0),
            Some(403)
        );
        let site = [host, json, ("sec-fetch-site", "cross-site")];
        assert_eq!(
            refuse(&request(Method::POST, &site), &[]).map(|r| r.0),
            Some(403)
        );
        let delete = [host, ("origin", "null")];
        assert_eq!(
            refuse(&request(Method::DELETE, &delete), &[]).map(|r| r.0),
            Some(403)
        );
    }
}
