//! The console's part of the audit trail: every request a signed-in person makes (each page they
//! saw, each form they sent) is one entry naming them (`staff:<id>`), apart from the stylesheet
//! and scripts. As for the API ([`crate::audit::AuditLog::append_before_answer`]), a page is
//! shown only once its entry is written, and a change's entry is written after the change and
//! before its answer.

use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::page::ConsoleError;
use crate::api::AppState;
use crate::domain::{AuditEntryId, ClinicId, StaffId};
use crate::store::{ApiKeyRole, AuditEntry};

/// The signed-in person of a request, left by the session extractor for this middleware.
#[derive(Debug, Clone, Default)]
pub(super) struct StaffSlot(Arc<OnceLock<(StaffId, ApiKeyRole, ClinicId)>>);

impl StaffSlot {
    pub(super) fn fill(extensions: &axum::http::Extensions, who: (StaffId, ApiKeyRole, ClinicId)) {
        if let Some(slot) = extensions.get::<Self>() {
            let _ = slot.0.set(who);
        }
    }
}

/// `console.page` for what was shown, `console.form` for what was sent.
fn action(method: &Method) -> &'static str {
    if method == Method::GET {
        "console.page"
    } else {
        "console.form"
    }
}

pub(super) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path.starts_with("/console/assets/") || path.starts_with("/console/sign-in") {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let slot = StaffSlot::default();
    parts.extensions.insert(slot.clone());
    // The route's template names the page (`/console/patients/{id}`); its values, what it showed.
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path().to_owned(), |m| m.as_str().to_owned());
    let values = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok()
        .map(|params| params.iter().map(|(_, v)| v).collect::<Vec<_>>().join("/"))
        .filter(|values| !values.is_empty());
    let request_id = parts
        .extensions
        .get::<crate::api::RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let client_address = crate::http::peer(&parts.extensions).map(|p| p.ip().to_canonical());
    let method = parts.method.clone();
    let response = next.run(Request::from_parts(parts, body)).await;
    let Some((staff, role, clinic)) = slot.0.get().cloned() else {
        return response;
    };
    let entry = AuditEntry {
        id: AuditEntryId::generate(),
        clinic,
        at: state.clock.now(),
        actor: format!("staff:{staff}"),
        actor_role: role,
        action: action(&method).to_owned(),
        resource_type: route.chars().take(200).collect(),
        resource_id: values.map(|v| v.chars().take(200).collect()),
        outcome: response.status().as_u16(),
        request_id,
        client_address,
    };
    match state
        .audit
        .append_before_answer(entry, method == Method::GET)
        .await
    {
        Ok(()) => response,
        Err(_) => ConsoleError::AuditUnavailable.into_response(),
    }
}
