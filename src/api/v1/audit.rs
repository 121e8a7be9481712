//! `GET /v1/audit`: the clinic's audit trail, newest first, for its admins. Reading it is itself
//! recorded. Nothing in the API changes or removes an entry.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::notification_query::{decode_cursor_of, encode_cursor, query_time};
use super::paging::checked_page;
use super::patients::checked;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::TIMESTAMP_RULE;
use crate::api::problem::ApiError;
use crate::audit::export::AuditEntryOut;
use crate::domain::{ApiKeyId, AuditEntryId, is_one_line};
use crate::store::{ApiKeyRole, AuditFilter};

const ACTOR_RULE: &str =
    "must be key:<key id> or staff:<staff id>, e.g. key:key_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b";
const ACTION_RULE: &str = "must be an action name of 1 to 100 characters, e.g. notification.cancel";
const RESOURCE_RULE: &str =
    "must be a resource type (patient) or a type and id (patient/p-1042), at most 300 characters";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Who: `key:<key id>`, or `staff:<staff id>` for a person in the console.
    #[param(example = "key:key_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b")]
    actor: Option<String>,
    /// What was done, e.g. `notification.read`, `patient.update`, `fhir.search`.
    #[param(example = "notification.read")]
    action: Option<String>,
    /// On what: a type (`notification`), or a type and id (`notification/ntf_01…`,
    /// `patient/p-1042`).
    #[param(example = "patient/p-1042")]
    resource: Option<String>,
    /// At or after this time (RFC 3339).
    from: Option<String>,
    /// Before this time (RFC 3339).
    to: Option<String>,
    /// Entries per page, 1 to 500 (50 unless given).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

impl AuditQuery {
    fn filter(self) -> Result<AuditFilter, ApiError> {
        let mut errors = Vec::new();
        let actor = checked(&mut errors, "actor", self.actor, actor, ACTOR_RULE);
        let action = checked(&mut errors, "action", self.action, action, ACTION_RULE);
        let resource = checked(
            &mut errors,
            "resource",
            self.resource,
            resource,
            RESOURCE_RULE,
        );
        let from = checked(&mut errors, "from", self.from, query_time, TIMESTAMP_RULE);
        let to = checked(&mut errors, "to", self.to, query_time, TIMESTAMP_RULE);
        let (limit, after) = checked_page(&mut errors, self.limit, self.cursor, |c| {
            decode_cursor_of(c, |id| AuditEntryId::parse(id).is_some())
        });
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        let (resource_type, resource_id) = resource.unzip();
        Ok(AuditFilter {
            actor,
            action,
            resource_type,
            resource_id: resource_id.flatten(),
            from,
            to,
            limit,
            after,
            oldest_first: false,
        })
    }
}

/// `key:<key id>` or `staff:<staff id>` (a person in the console).
fn actor(text: &str) -> Option<String> {
    let valid = match text.split_once(':')? {
        ("key", id) => ApiKeyId::parse(id).is_some(),
        ("staff", id) => crate::domain::StaffId::parse(id).is_some(),
        _ => false,
    };
    valid.then(|| text.to_owned())
}

fn action(text: &str) -> Option<String> {
    is_short_line(text, 100).then(|| text.to_owned())
}

/// `patient`, or `patient/p-1042`: a type, and maybe an id (which may hold `/` itself).
fn resource(text: &str) -> Option<(String, Option<String>)> {
    if !is_short_line(text, 300) {
        return None;
    }
    match text.split_once('/') {
        Some((kind, id)) if !kind.is_empty() && !id.is_empty() => {
            Some((kind.to_owned(), Some(id.to_owned())))
        }
        Some(_) => None,
        None => Some((text.to_owned(), None)),
    }
}

fn is_short_line(text: &str, max_chars: usize) -> bool {
    (1..=max_chars).contains(&text.chars().count()) && is_one_line(text)
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AuditList {
    items: Vec<AuditEntryOut>,
    /// Where the next page starts; null on the last page.
    next_cursor: Option<String>,
}

/// Who changed what, and who read patients' content, newest first. Reading the trail is itself
/// recorded, after the page is read: a page never holds its own reading.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of the audit trail, newest first", body = AuditList),
        (status = 403, description = "Needs an admin key"),
    )
)]
pub(super) async fn list_audit_entries(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let page = state
        .store
        .audit_entries(&caller.0.clinic.id, &query.filter()?)
        .await?;
    Ok(Json(AuditList {
        items: page.items.into_iter().map(AuditEntryOut::from).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}
