//! The page and its script and style, embedded in the binary (no CDN, no build step: the
//! charts are SVG drawn by the script).

use ratings_httpd::{header, Response};

/// Path, content type, content.
const ASSETS: [(&str, &str, &str); 3] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../assets/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    ),
    (
        "/app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    ),
];

/// The asset at `path`, if there is one.
pub(super) fn find(path: &str) -> Option<Response> {
    let path = if path == "/index.html" { "/" } else { path };
    let (_, content_type, content) = ASSETS.iter().find(|(p, _, _)| *p == path)?;
    Some(
        Response::new(200, content_type, content.as_bytes())
            .with_header(header::CACHE_CONTROL, "no-cache")
            .with_header(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
    )
}
