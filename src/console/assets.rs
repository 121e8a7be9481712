//! The console's stylesheet and scripts, built into the binary: nothing to install, nothing
//! fetched from elsewhere. Each is served with its type and a short cache.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::page::ConsoleError;

/// (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/console/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console/console.js"),
    ),
    (
        "segments.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console/segments.js"),
    ),
    (
        "channels.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console/channels.js"),
    ),
];

pub(super) async fn asset(Path(name): Path<String>) -> Result<Response, ConsoleError> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == name)
        .ok_or(ConsoleError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        *bytes,
    )
        .into_response())
}
