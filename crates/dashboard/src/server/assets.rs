//! The page and its script and style, embedded in the binary (no CDN, no build step: the
//! charts are SVG drawn by the script).

use std::io::Cursor;

use tiny_http::Response;

use super::header;

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
pub fn find(path: &str) -> Option<Response<Cursor<Vec<u8>>>> {
    let path = if path == "/index.html" { "/" } else { path };
    let (_, content_type, content) = ASSETS.iter().find(|(p, _, _)| *p == path)?;
    Some(
        Response::from_data(content.as_bytes().to_vec())
            .with_header(header("Content-Type", content_type))
            .with_header(header("Cache-Control", "no-cache"))
            .with_header(header(
                "Content-Security-Policy",
                "default-src 'self'; style-src 'self'; img-src 'self' data:",
            )),
    )
}
