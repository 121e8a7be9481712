//! The staff callback queue: tasks to call a patient back when no channel delivered. Calling
//! patients is people's work: booking-system keys may not touch the queue.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::patients::checked;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::ApiError;
use crate::domain::{CallbackOutcome, CallbackStatus, CallbackTaskId, ONE_LINE_RULE, is_one_line};
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CallbackQuery {
    status: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(super) struct CallbackList {
    items: Vec<CallbackView>,
}

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
        errors.push(crate::api::FieldError::new(
            "limit",
            "must be between 1 and 500",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let items = state
        .store
        .callbacks(&caller.0.clinic.id, status, limit)
        .await?;
    Ok(Json(CallbackList { items }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClaimIn {
    /// Who is calling, as staff want it shown ("Rivka, front desk").
    by: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CloseIn {
    outcome: String,
    note: Option<String>,
    by: Option<String>,
}

fn who(caller: &Caller, by: Option<String>) -> Result<String, ApiError> {
    match by.map(|b| b.trim().to_owned()) {
        Some(by) if by.is_empty() || by.chars().count() > 100 => {
            Err(ApiError::invalid("by", "must be 1 to 100 characters"))
        }
        Some(by) if !is_one_line(&by) => Err(ApiError::invalid("by", ONE_LINE_RULE)),
        Some(by) => Ok(by),
        None => Ok(caller.label()),
    }
}

pub(super) async fn claim_callback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<ClaimIn>,
) -> Result<Json<CallbackView>, ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    let id = task_id(&id)?;
    let by = who(&caller, body.value.by)?;
    let clinic = &caller.0.clinic.id;
    state
        .store
        .claim_callback(clinic, &id, &by, state.clock.now())
        .await
        .map_err(map_store)?;
    Ok(Json(
        state.store.callback(clinic, &id).await.map_err(map_store)?,
    ))
}

pub(super) async fn close_callback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<CloseIn>,
) -> Result<Json<CallbackView>, ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    let id = task_id(&id)?;
    let input = body.value;
    let mut errors = Vec::new();
    let rule = format!("must be one of {}", CallbackOutcome::names());
    let outcome = checked(
        &mut errors,
        "outcome",
        Some(input.outcome),
        CallbackOutcome::parse,
        &rule,
    );
    if input
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > 2000)
    {
        errors.push(crate::api::FieldError::new(
            "note",
            "must be at most 2000 characters",
        ));
    } else if input.note.as_deref().is_some_and(|n| !is_one_line(n)) {
        errors.push(crate::api::FieldError::new("note", ONE_LINE_RULE));
    }
    let (Some(outcome), true) = (outcome, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
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
    Ok(Json(
        state.store.callback(clinic, &id).await.map_err(map_store)?,
    ))
}
