//! Every error the API returns, rendered once as `application/problem+json` (RFC 9457). An error
//! keeps its cause for the one log line `request_log` writes; the client sees only the problem.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Serialize;

use crate::batch::BatchError;
pub use crate::domain::FieldError;
use crate::intake::{IntakeError, PatientLimitReached};
use crate::store::{FailureKind, StoreError};

/// When to try again after the database could not be reached: it is usually back within seconds
/// (a restart, a fail-over), and a busy lock clears sooner.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;
/// When to try again after a full disk: freeing space takes an operator, so retrying within
/// seconds only adds load.
const DISK_FULL_RETRY_AFTER_SECS: u64 = 30;

/// What went wrong underneath an error of ours, kept for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("the request is malformed")]
    Malformed(FieldError),
    #[error("the request breaks {} rule(s)", .0.len())]
    Invalid(Vec<FieldError>),
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// None of the formats the client accepts is one this answer comes in; says which do.
    #[error("{0}")]
    NotAcceptable(&'static str),
    #[error("the request body is larger than this server accepts (api.max_request_bytes)")]
    TooLarge,
    #[error("a provider webhook body may be at most 1 MiB")]
    WebhookTooLarge,
    #[error("too many requests for this API key")]
    RateLimited { retry_after_secs: u64 },
    #[error("too many failed API key checks from this address; wait before trying again")]
    AuthFailures { retry_after_secs: u64 },
    #[error("the request took longer than this server allows (http.request_timeout_ms)")]
    RequestTimeout,
    #[error("too many provider webhooks are being read at once; send it again shortly")]
    WebhooksBusy { retry_after_secs: u64 },
    #[error("{0}")]
    PatientLimit(PatientLimitReached),
    #[error("the database is full and nothing was stored; try again once space is freed")]
    InsufficientStorage(#[source] Cause),
    #[error("the database cannot be reached right now and nothing was changed; try again shortly")]
    Unavailable(#[source] Cause),
    /// A read of patients' content whose audit entry could not be written: the content is
    /// withheld, since every such read must be on record.
    #[error(
        "the audit trail cannot be written right now, so this content is withheld; try again shortly"
    )]
    AuditUnavailable(#[source] Cause),
    /// A client error raised outside the handlers (a path or query the router or an extractor
    /// could not read), as its text.
    #[error("{detail}")]
    Rejected { status: StatusCode, detail: String },
    #[error("internal error")]
    Internal(#[source] Cause),
    /// What was asked for existed and is gone for good (past retention, deleted at the provider).
    #[error("{0}")]
    Gone(String),
    /// A provider (or the sandbox playing one) refused or answered nonsense.
    #[error("{0}")]
    BadGateway(String),
    /// A provider cannot be reached now; asking again later may work.
    #[error("{0}")]
    ProviderUnavailable(String),
}

/// An error, as RFC 9457 describes it (`application/problem+json`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "https://medrelay.dev/problems/validation",
    "title": "Invalid request",
    "status": 422,
    "detail": "the request breaks 2 rule(s)",
    "errors": [
        {"field": "patient_id", "rule": "is required"},
        {"field": "send_at", "rule": "must be an RFC 3339 timestamp with an offset, e.g. 2026-12-01T09:00:00+02:00"}
    ]
}))]
pub(super) struct Problem<'a> {
    /// `https://medrelay.dev/problems/<slug>`: what kind of error, for code to match on.
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    /// The HTTP status.
    status: u16,
    /// What went wrong, for people.
    detail: String,
    /// Every broken rule, each naming its field (a JSON path, a header or a query parameter).
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    #[schema(required = false)]
    errors: &'a [FieldError],
    /// Which limit a 429 is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(key_limit|auth_failures|patient_limit)$")]
    reason: Option<&'static str>,
    /// The patient whose daily limit a `patient_limit` 429 is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    patient_id: Option<&'a str>,
    /// When a `patient_limit` frees up.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_at: Option<Timestamp>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, rule)])
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or wrong API key",
            ),
            Self::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed for this key",
            ),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Self::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed", "Malformed request"),
            Self::Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Self::NotAcceptable(_) => (
                StatusCode::NOT_ACCEPTABLE,
                "not-acceptable",
                "Not acceptable",
            ),
            Self::TooLarge | Self::WebhookTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Request too large",
            ),
            Self::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            Self::AuthFailures { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many failed authentications",
            ),
            Self::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "Request timeout",
            ),
            Self::WebhooksBusy { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "webhooks-busy",
                "Webhooks busy",
            ),
            Self::PatientLimit(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "patient-limit",
                "Too many notifications for this patient",
            ),
            Self::InsufficientStorage(_) => (
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient-storage",
                "Database full",
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Database unavailable",
            ),
            Self::AuditUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "audit-unavailable",
                "Audit trail unavailable",
            ),
            Self::Rejected { status, .. } if *status == StatusCode::BAD_REQUEST => {
                (*status, "malformed", "Malformed request")
            }
            Self::Rejected { status, .. } => (*status, "rejected", "Request refused"),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
            Self::Gone(_) => (StatusCode::GONE, "gone", "Gone"),
            Self::BadGateway(_) => (StatusCode::BAD_GATEWAY, "bad-gateway", "Provider error"),
            Self::ProviderUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "provider-unavailable",
                "Provider unavailable",
            ),
        }
    }
}

/// The store's answers, mapped once: what was not there is a 404, what clashed with what is
/// there a 409, and a failure the client can wait out is theirs to retry.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound("resource"),
            StoreError::Conflict(_) => Self::Conflict(error.to_string()),
            other => Self::storage(other.kind(), Box::new(other)),
        }
    }
}

impl From<BatchError> for ApiError {
    fn from(error: BatchError) -> Self {
        let kind = match &error {
            BatchError::Failed(cause) => cause.kind(),
            // The writer stops only when the gateway does.
            BatchError::Closed => FailureKind::Unavailable,
        };
        Self::storage(kind, Box::new(error))
    }
}

impl From<IntakeError> for ApiError {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::Invalid(errors) => Self::Invalid(errors),
            IntakeError::Forbidden(why) => Self::Forbidden(why),
            IntakeError::KeyReused => Self::invalid(
                "Idempotency-Key",
                "was already used with a different request; use a new key for a new notification",
            ),
            IntakeError::PatientLimit(limit) => Self::PatientLimit(limit),
            IntakeError::Store(error) => error.into(),
            IntakeError::Writer(error) | IntakeError::Reader(error) => error.into(),
            IntakeError::QuickReply(_) => Self::Internal(Box::new(error)),
        }
    }
}

impl ApiError {
    fn storage(kind: FailureKind, cause: Cause) -> Self {
        match kind {
            FailureKind::DiskFull => Self::InsufficientStorage(cause),
            FailureKind::Unavailable => Self::Unavailable(cause),
            FailureKind::Other => Self::Internal(cause),
        }
    }

    /// The store's `NotFound` named as `what`; every other store error as `From` maps it.
    pub fn not_found(what: &'static str) -> impl Fn(StoreError) -> Self {
        move |error| match error {
            StoreError::NotFound => Self::NotFound(what),
            other => other.into(),
        }
    }

    /// The problem type's last segment, for logs.
    pub(super) fn slug(&self) -> &'static str {
        self.parts().1
    }
}

impl ApiError {
    /// Seconds a client should wait before sending it again, where waiting helps.
    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs }
            | Self::AuthFailures { retry_after_secs }
            | Self::WebhooksBusy { retry_after_secs } => Some(*retry_after_secs),
            Self::PatientLimit(limit) => Some(limit.retry_after_secs),
            Self::InsufficientStorage(_) => Some(DISK_FULL_RETRY_AFTER_SECS),
            Self::Unavailable(_) | Self::AuditUnavailable(_) | Self::ProviderUnavailable(_) => {
                Some(UNAVAILABLE_RETRY_AFTER_SECS)
            }
            _ => None,
        }
    }

    /// Which limit a `429` is about: `key_limit`, `auth_failures` or `patient_limit`.
    pub(super) fn limit(&self) -> Option<&'static str> {
        match self {
            Self::RateLimited { .. } => Some("key_limit"),
            Self::AuthFailures { .. } => Some("auth_failures"),
            Self::PatientLimit(_) => Some("patient_limit"),
            _ => None,
        }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Invalid(errors) => errors,
            Self::Malformed(error) => std::slice::from_ref(error),
            _ => &[],
        }
    }

    /// What went wrong, for people: never the cause of an internal error.
    pub(super) fn detail(&self) -> String {
        let errors = self.field_errors();
        match self {
            Self::Internal(_) => "something went wrong on our side; it has been logged".to_owned(),
            _ if errors.len() == 1 => format!("{}: {}", errors[0].field, errors[0].rule),
            other => other.to_string(),
        }
    }

    /// The body: the fields every problem has, and a 429's account of whose limit it is.
    fn problem(&self) -> Problem<'_> {
        let (status, slug, title) = self.parts();
        let errors = self.field_errors();
        let detail = self.detail();
        let (patient_id, retry_at) = match self {
            Self::PatientLimit(limit) => (Some(limit.patient_id.as_str()), Some(limit.frees_at)),
            _ => (None, None),
        };
        Problem {
            kind: format!("https://medrelay.dev/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail,
            errors,
            reason: self.limit(),
            patient_id,
            retry_at,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.parts().0;
        let mut response = (status, axum::Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(retry_after_secs) = self.retry_after_secs() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if matches!(self, Self::Unauthorized(_)) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // The error rides along to the middleware that logs it, once.
        response
            .extensions_mut()
            .insert(super::request_log::Failure(Arc::new(self)));
        response
    }
}

/// Largest text of a rejection carried into a problem's `detail`.
const MAX_REJECTION_BYTES: usize = 4096;

/// Every 4xx is problem+json: a client error produced outside the handlers (axum rejecting a
/// path parameter that is not UTF-8, say, as text/plain) is rendered again as a problem, with
/// its text as the detail and its other headers kept.
pub(super) async fn problem_for_client_errors(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !status.is_client_error() || is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let detail = axum::body::to_bytes(body, MAX_REJECTION_BYTES)
        .await
        .map(|text| String::from_utf8_lossy(&text).trim().to_owned())
        .ok()
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
    let mut problem = ApiError::Rejected { status, detail }.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_conflicts_nobody_caught_are_409_and_other_store_failures_500() {
        let conflict = ApiError::from(StoreError::Conflict("topic")).into_response();
        let corrupt = ApiError::from(StoreError::Corrupt("x".to_owned())).into_response();
        let missing = ApiError::from(StoreError::NotFound).into_response();

        assert_eq!(conflict.status(), StatusCode::CONFLICT);
        assert_eq!(corrupt.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(
            corrupt
                .extensions()
                .get::<super::super::request_log::Failure>()
                .is_some()
        );
    }
}
