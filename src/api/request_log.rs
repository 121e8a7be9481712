//! One id, one log line and one count per request. The id is the client's `X-Request-Id` when
//! it sent a sane one, else a new one; it is echoed in the response and carried by every log line
//! written while the request runs, with the method, the matched route and the caller's key id.
//! Each request ends in one line with its status and latency, and is counted in the request
//! metrics (a `429` also by its limit); a failure's line is written here and only here, with the
//! chain of causes. Nothing of the body, the path's values or the problem's
//! text is logged: they can hold phone numbers and emails.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::problem::ApiError;

pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client request id taken as is.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The error a response was rendered from, for [`log_requests`].
#[derive(Debug, Clone)]
pub(super) struct Failure(pub Arc<ApiError>);

/// The request's id, for whatever else records the request (the audit trail).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Gives the request its id and logs how it ended.
pub(super) async fn log_requests(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane(id))
        .map_or_else(|| uuid::Uuid::now_v7().simple().to_string(), str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    // `key` is filled in by authentication, once the caller is known.
    let span = tracing::info_span!(
        "request",
        %method,
        %route,
        request_id = %id,
        key = tracing::field::Empty
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let took = started.elapsed();
    crate::observability::record_request(&route, method.as_str(), status, took);
    let latency_ms = took.as_secs_f64() * 1000.0;
    span.in_scope(|| match response.extensions_mut().remove::<Failure>() {
        Some(Failure(error)) => log_failure(&error, status, latency_ms),
        // Load balancers and Prometheus poll these every few seconds: that is noise at info.
        None if is_polled(&route) => tracing::debug!(status, latency_ms, "request done"),
        None => tracing::info!(status, latency_ms, "request done"),
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Routes machines ask every few seconds.
fn is_polled(route: &str) -> bool {
    matches!(route, "/health" | "/ready" | "/metrics")
}

/// Short visible ASCII without spaces: safe to echo in a header and to log.
fn is_sane(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

fn log_failure(error: &ApiError, status: u16, latency_ms: f64) {
    if let Some(limit) = error.limit() {
        crate::observability::record_rate_limit_refusal(limit);
    }
    let causes = causes(error);
    match error {
        ApiError::Internal(_) => tracing::error!(status, latency_ms, causes, "request failed"),
        ApiError::InsufficientStorage(_) => tracing::error!(
            status,
            latency_ms,
            causes,
            "the database is full; requests are refused until space is freed"
        ),
        ApiError::AuditUnavailable(_) => tracing::error!(
            status,
            latency_ms,
            causes,
            "the audit entry of a read could not be written; its content was withheld"
        ),
        ApiError::Unavailable(_) => tracing::warn!(
            status,
            latency_ms,
            causes,
            "the database is unavailable; request refused"
        ),
        other => tracing::info!(
            status,
            latency_ms,
            problem = other.slug(),
            "request refused"
        ),
    }
}

/// Every error under `error`, outermost first.
fn causes(error: &ApiError) -> String {
    std::iter::successors(std::error::Error::source(error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_is_taken_only_when_short_and_plain() {
        assert!(is_sane("req-01HZ.abc_9:x"));
        assert!(!is_sane(""));
        assert!(!is_sane("has space"));
        assert!(!is_sane("a\u{0}b"));
        assert!(!is_sane(&"x".repeat(MAX_REQUEST_ID_LEN + 1)));
    }

    #[test]
    fn causes_are_kept_outermost_first() {
        let error = ApiError::from(crate::batch::BatchError::Failed(Arc::new(
            crate::store::StoreError::Corrupt("bad row".to_owned()),
        )));
        assert!(matches!(error, ApiError::Internal(_)));
        assert_eq!(
            causes(&error),
            "the batch could not be written: stored value is not valid: bad row"
        );
    }
}
