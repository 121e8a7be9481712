//! The audit middleware: one entry per recorded request (`crate::audit::routes` says which),
//! made here and nowhere else, so no handler can forget it. The caller is the one the
//! `Caller` extractor authenticated, handed over through a [`CallerSlot`]: nothing is checked
//! twice. A request that never named a known key belongs to no clinic and is not recorded (the
//! request log and the failed-key limit see it).
//!
//! A read is recorded before its answer leaves: when the entry cannot be written, the caller gets
//! 503 instead of the content. A change is committed by its handler before the entry is written;
//! when the entry then fails, the change stands, the failure is logged and counted in `/metrics`.
//! A handler that can store the entry with its change takes it from [`AuditWithChange`] (a
//! notification handed in): the two commit together, a crash between them cannot keep the change
//! and lose its entry, and the request waits for one commit, not two.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{StatusCode, header, request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::AppState;
use super::problem::ApiError;
use super::request_log::RequestId;
use crate::audit::routes::{self, Recorded};
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
#[derive(Debug, Clone)]
pub(super) struct CallerSlot(Arc<Slot>);

#[derive(Debug)]
struct Slot {
    holder: OnceLock<KeyHolder>,
    request: RequestFacts,
    /// Set by a handler that stored the entry with its change.
    written_with_change: AtomicBool,
}

/// What the entry says of the request itself, known before its handler runs.
#[derive(Debug)]
struct RequestFacts {
    recorded: Recorded,
    request_id: String,
    client_address: Option<IpAddr>,
    /// The path's ids, `/`-joined; none on a route without any.
    path_values: Option<String>,
}

impl CallerSlot {
    /// Leaves `holder` for the middleware, when the request is recorded. The first caller found
    /// is the one recorded.
    pub(super) fn fill(extensions: &axum::http::Extensions, holder: impl FnOnce() -> KeyHolder) {
        if let Some(slot) = extensions.get::<Self>() {
            let _ = slot.0.holder.get_or_init(holder);
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
    let slot = CallerSlot(Arc::new(Slot {
        holder: OnceLock::new(),
        request: RequestFacts::of(recorded.clone(), &mut parts).await,
        written_with_change: AtomicBool::new(false),
    }));
    parts.extensions.insert(slot.clone());

    let response = next.run(Request::from_parts(parts, body)).await;

    if slot.0.written_with_change.load(Ordering::Acquire) {
        return response;
    }
    let Some(mut entry) = slot.entry(response.status(), state.clock.now()) else {
        return response;
    };
    entry.resource_id = entry.resource_id.or_else(|| created_id(&response));
    match state
        .audit
        .append_before_answer(entry, recorded.is_read)
        .await
    {
        Ok(()) => response,
        Err(error) => ApiError::AuditUnavailable(Box::new(error)).into_response(),
    }
}

impl RequestFacts {
    async fn of(recorded: Recorded, parts: &mut request::Parts) -> Self {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|RequestId(id)| id.clone())
            .unwrap_or_default();
        let client_address = crate::http::peer(&parts.extensions).map(|p| p.ip().to_canonical());
        let path_values = RawPathParams::from_request_parts(parts, &())
            .await
            .ok()
            .map(|params| {
                params
                    .iter()
                    .map(|(_, value)| value)
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .filter(|values| !values.is_empty())
            .map(|id| kept_id(&id));
        Self {
            recorded,
            request_id,
            client_address,
            path_values,
        }
    }
}

impl CallerSlot {
    /// The request's entry, answered with `outcome` at `at`; none when no caller was found.
    fn entry(&self, outcome: StatusCode, at: Timestamp) -> Option<AuditEntry> {
        let holder = self.0.holder.get()?;
        let request = &self.0.request;
        Some(AuditEntry {
            id: AuditEntryId::generate(),
            clinic: holder.clinic.clone(),
            at,
            actor: format!("key:{}", holder.key),
            actor_role: holder.role,
            resource_id: request.path_values.clone(),
            outcome: outcome.as_u16(),
            request_id: request.request_id.clone(),
            client_address: request.client_address,
            action: request.recorded.action.clone(),
            resource_type: request.recorded.resource.clone(),
        })
    }
}

/// The audit entry of a recorded request, for a handler that stores it in its change's own
/// transaction. Empty on a request the trail does not record.
pub(super) struct AuditWithChange(Option<CallerSlot>);

impl<S: Send + Sync> FromRequestParts<S> for AuditWithChange {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut request::Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self(parts.extensions.get::<CallerSlot>().cloned()))
    }
}

impl AuditWithChange {
    /// The entry of a change answered with `outcome`, made at `at`, by the caller already
    /// authenticated. Whoever stores it must say so with [`AuditWithChange::stored`].
    pub(super) fn entry(&self, outcome: StatusCode, at: Timestamp) -> Option<AuditEntry> {
        self.0.as_ref()?.entry(outcome, at)
    }

    /// The entry was committed with the change: the middleware writes none.
    pub(super) fn stored(&self) {
        if let Some(slot) = &self.0 {
            slot.0.written_with_change.store(true, Ordering::Release);
        }
    }
}

/// The id of what a `POST` made, from its `Location` (`/v1/notifications/ntf_01…`).
fn created_id(response: &Response) -> Option<String> {
    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
    location
        .rsplit('/')
        .next()
        .filter(|id| !id.is_empty())
        .map(kept_id)
}

/// A resource id as the trail keeps it.
fn kept_id(id: &str) -> String {
    id.chars().take(MAX_RESOURCE_ID_CHARS).collect()
}
