//! The staff callback queue: tasks to call a patient back when no channel delivered. Calling
//! patients is people's work: booking-system keys may not touch the queue.

use axum::Json;
use axum::extract::{Path, Query, State};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::patients::checked;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{
    Actor, CallbackOutcome, CallbackStatus, CallbackTaskId, ONE_LINE_RULE, is_one_line,
};
use crate::store::{ApiKeyRole, CallbackView, StoreError};

fn task_id(id: &str) -> Result<CallbackTaskId, ApiError> {
    CallbackTaskId::parse(id).ok_or(ApiError::NotFound("callback task"))
}

fn map_store(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(_) => {
            ApiError::Conflict("the callback task is already claimed or closed".to_owned())
        }
        other => ApiError::not_found("callback task")(other),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct CallbackQuery {
    /// Only tasks in this state.
    #[param(value_type = Option<CallbackStatus>, inline)]
    status: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A staff callback task as the queue shows it: who to call, on what number, and why.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CallbackOut {
    id: CallbackTaskId,
    notification_id: String,
    /// The patient's id in the booking system.
    patient_id: String,
    patient_name: String,
    phone: Option<String>,
    language: String,
    reason: String,
    status: CallbackStatus,
    claimed_by: Option<String>,
    claimed_at: Option<Timestamp>,
    outcome: Option<CallbackOutcome>,
    note: Option<String>,
    created_at: Timestamp,
    closed_at: Option<Timestamp>,
}

impl From<CallbackView> for CallbackOut {
    fn from(task: CallbackView) -> Self {
        Self {
            id: task.id,
            notification_id: task.notification_id,
            patient_id: task.patient_id,
            patient_name: task.patient_name,
            phone: task.phone,
            language: task.language,
            reason: task.reason,
            status: task.status,
            claimed_by: task.claimed_by,
            claimed_at: task.claimed_at,
            outcome: task.outcome,
            note: task.note,
            created_at: task.created_at,
            closed_at: task.closed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CallbackList {
    items: Vec<CallbackOut>,
}

#[utoipa::path(
    get,
    path = "/v1/callbacks",
    tag = "callbacks",
    params(CallbackQuery),
    responses(
        (status = 200, description = "The queue, oldest first", body = CallbackList),
        (status = 403, description = "Needs a staff or admin key"),
    )
)]
pub(super) async fn list_callbacks(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CallbackList>, ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let mut errors = Vec::new();
    let rule = format!("must be one of {}", CallbackStatus::names());
    let status = checked(
        &mut errors,
        "status",
        query.status,
        CallbackStatus::parse,
        &rule,
    );
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 500"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let items = state
        .store
        .callbacks(&caller.0.clinic.id, status, limit)
        .await?;
    Ok(Json(CallbackList {
        items: items.into_iter().map(CallbackOut::from).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"by": "Rivka, front desk"}))]
pub(super) struct ClaimIn {
    /// Who is calling, as staff want it shown ("Rivka, front desk").
    by: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "reached", "note": "Will come on Tuesday"}))]
pub(super) struct CloseIn {
    #[schema(value_type = CallbackOutcome)]
    outcome: String,
    /// At most 2000 characters on one line.
    note: Option<String>,
    /// Who called; absent: whoever claimed the task.
    by: Option<String>,
}

impl CloseIn {
    /// The outcome, once the outcome and the note are known to keep the rules.
    fn outcome(&self) -> Result<CallbackOutcome, ApiError> {
        checked_outcome(&self.outcome, self.note.as_deref()).map_err(ApiError::Invalid)
    }
}

/// How a call went, one of the outcomes, with a note of at most 2000 characters on one line;
/// else every rule broken.
pub(crate) fn checked_outcome(
    outcome: &str,
    note: Option<&str>,
) -> Result<CallbackOutcome, Vec<FieldError>> {
    let mut errors = Vec::new();
    let rule = format!("must be one of {}", CallbackOutcome::names());
    let outcome = checked(
        &mut errors,
        "outcome",
        Some(outcome.to_owned()),
        CallbackOutcome::parse,
        &rule,
    );
    if note.is_some_and(|n| n.chars().count() > 2000) {
        errors.push(FieldError::new("note", "must be at most 2000 characters"));
    } else if note.is_some_and(|n| !is_one_line(n)) {
        errors.push(FieldError::new("note", ONE_LINE_RULE));
    }
    match (outcome, errors.is_empty()) {
        (Some(outcome), true) => Ok(outcome),
        _ => Err(errors),
    }
}

fn who(caller: &Caller, by: Option<String>) -> Result<Actor, ApiError> {
    match by.map(|b| b.trim().to_owned()) {
        Some(by) if by.is_empty() || by.chars().count() > 100 => {
            Err(ApiError::invalid("by", "must be 1 to 100 characters"))
        }
        Some(by) if !is_one_line(&by) => Err(ApiError::invalid("by", ONE_LINE_RULE)),
        Some(by) => Ok(Actor::Staff(by)),
        None => Ok(caller.recorded_as()),
    }
}

/// Takes a task: this caller is calling the patient now.
#[utoipa::path(
    post,
    path = "/v1/callbacks/{id}/claim",
    tag = "callbacks",
    params(("id" = CallbackTaskId, Path, description = "The task's id")),
    request_body = ClaimIn,
    responses(
        (status = 200, description = "Claimed", body = CallbackOut),
        (status = 403, description = "Needs a staff or admin key"),
        (status = 404, description = "No such task"),
        (status = 409, description = "Already claimed or closed"),
    )
)]
pub(super) async fn claim_callback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<ClaimIn>,
) -> Result<Json<CallbackOut>, ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    let id = task_id(&id)?;
    let by = who(&caller, body.value.by)?;
    let clinic = &caller.0.clinic.id;
    state
        .store
        .claim_callback(clinic, &id, &by, state.clock.now())
        .await
        .map_err(map_store)?;
    let task = state.store.callback(clinic, &id).await.map_err(map_store)?;
    Ok(Json(task.into()))
}

/// Ends a task with how the call went.
#[utoipa::path(
    post,
    path = "/v1/callbacks/{id}/close",
    tag = "callbacks",
    params(("id" = CallbackTaskId, Path, description = "The task's id")),
    request_body = CloseIn,
    responses(
        (status = 200, description = "Closed", body = CallbackOut),
        (status = 403, description = "Needs a staff or admin key"),
        (status = 404, description = "No such task"),
        (status = 409, description = "Already closed"),
    )
)]
pub(super) async fn close_callback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<CloseIn>,
) -> Result<Json<CallbackOut>, ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    let id = task_id(&id)?;
    let input = body.value;
    let outcome = input.outcome()?;
    let clinic = &caller.0.clinic.id;
    // Unless told otherwise, whoever claimed the task is the one who called.
    let claimed_by = state
        .store
        .callback(clinic, &id)
        .await
        .map_err(map_store)?
        .claimed_by;
    let by = who(&caller, input.by.or(claimed_by))?;
    state
        .store
        .close_callback(
            clinic,
            &id,
            outcome,
            input.note.as_deref(),
            &by,
            state.clock.now(),
        )
        .await
        .map_err(map_store)?;
    let task = state.store.callback(clinic, &id).await.map_err(map_store)?;
    Ok(Json(task.into()))
}
