//! The audit middleware: one entry per recorded request (`crate::audit::routes` says which),
//! written here and nowhere else, so no handler can forget it. The caller is the one the
//! `Caller` extractor authenticated, handed over through a [`CallerSlot`]: nothing is checked
//! twice. A request that never named a known key belongs to no clinic and is not recorded (the
//! request log and the failed-key limit see it).
//!
//! A read is recorded before its answer leaves: when the entry cannot be written, the caller gets
//! 503 instead of the content. A change is committed by its handler before the entry is written;
//! when the entry then fails, the change stands, the failure is logged and counted in `/metrics`.

use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::problem::ApiError;
use super::request_log::RequestId;
use crate::audit::routes::{self, Recorded};
use crate::batch::BatchError;
use crate::domain::{ApiKeyId, AuditEntryId, ClinicId};
use crate::store::{ApiKeyRole, AuditEntry};

/// Longest resource id kept: ids are short; anything longer is not one of ours.
const MAX_RESOURCE_ID_CHARS: usize = 200;

/// Who a request came from, as far as the key it named tells.
#[derive(Debug, Clone)]
pub(super) struct KeyHolder {
    pub key: ApiKeyId,
    pub role: ApiKeyRole,
    pub clinic: ClinicId,
}

/// Where authentication leaves the caller for the audit middleware. Present only on recorded
/// requests, so other requests cost nothing.
#[derive(Debug, Clone, Default)]
pub(super) struct CallerSlot(Arc<OnceLock<KeyHolder>>);

impl CallerSlot {
    /// Leaves `holder` for the middleware, when the request is recorded. The first caller found
    /// is the one recorded.
    pub(super) fn fill(extensions: &axum::http::Extensions, holder: impl FnOnce() -> KeyHolder) {
        if let Some(slot) = extensions.get::<Self>() {
            let _ = slot.0.get_or_init(holder);
        }
    }

    /// Whether this request is recorded, so worth an extra look at a key that failed.
    pub(super) fn is_wanted(extensions: &axum::http::Extensions) -> bool {
        extensions.get::<Self>().is_some()
    }
}

/// Records the request, if it is one the trail keeps (see the module's documentation).
pub(super) async fn audit_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let recorded = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| routes::recorded(request.method(), route.as_str()));
    let Some(recorded) = recorded else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let slot = CallerSlot::default();
    parts.extensions.insert(slot.clone());
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map(|RequestId(id)| id.clone())
        .unwrap_or_default();
    let client_address = crate::http::peer(&parts.extensions).map(|p| p.ip().to_canonical());
    let path_values = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok()
        .map(|params| {
            params
                .iter()
                .map(|(_, value)| value)
                .collect::<Vec<_>>()
                .join("/")
        })
        .filter(|values| !values.is_empty());

    let response = next.run(Request::from_parts(parts, body)).await;

    let Some(holder) = slot.0.get() else {
        return response;
    };
    let entry = AuditEntry {
        id: AuditEntryId::generate(),
        clinic: holder.clinic.clone(),
        at: state.clock.now(),
        actor: format!("key:{}", holder.key),
        actor_role: holder.role,
        resource_id: path_values
            .or_else(|| created_id(&response))
            .map(|id| id.chars().take(MAX_RESOURCE_ID_CHARS).collect()),
        outcome: response.status().as_u16(),
        request_id,
        client_address,
        action: recorded.action.clone(),
        resource_type: recorded.resource.clone(),
    };
    // Its own task: should the request be dropped now (its deadline passed), the entry of what
    // was done is still written.
    let audit = state.audit.clone();
    let writing = tokio::spawn(async move { audit.append(entry).await });
    let status = response.status().as_u16();
    if response.status().is_server_error() {
        // The server failed it (the database locked, gone or full): nothing changed and nothing
        // was shown, and its entry needs that same database, so waiting for the entry would
        // outlast the request's deadline. It is written when the database lets it.
        tokio::spawn(async move {
            if let Err(error) = writing.await.unwrap_or(Err(BatchError::Closed)) {
                report_unrecorded(&recorded, status, &error);
            }
        });
        return response;
    }
    match writing.await.unwrap_or(Err(BatchError::Closed)) {
        Ok(()) => response,
        Err(error) if recorded.is_read => {
            crate::observability::record_audit_failure("withheld");
            ApiError::AuditUnavailable(Box::new(error)).into_response()
        }
        Err(error) => {
            report_unrecorded(&recorded, status, &error);
            response
        }
    }
}

/// A request answered without its entry: counted and logged with what it was.
fn report_unrecorded(recorded: &Recorded, status: u16, error: &BatchError) {
    crate::observability::record_audit_failure("unrecorded");
    tracing::error!(
        action = recorded.action,
        status,
        error = %error,
        causes = %std::error::Error::source(error).map(ToString::to_string).unwrap_or_default(),
        "audit entry not written; the request was answered without it"
    );
}

/// The id of what a `POST` made, from its `Location` (`/v1/notifications/ntf_01…`).
fn created_id(response: &Response) -> Option<String> {
    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
    location
        .rsplit('/')
        .next()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}
