//! `GET/PUT /v1/clinic/retention`: how long the clinic keeps message texts and media
//! references, and what its daily run (03:00 clinic time) last removed. A privacy decision of
//! the clinic's, so admin keys only.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::ApiError;
use crate::domain::{RetentionCounts, RetentionPeriods};
use crate::store::{ApiKeyRole, RetentionRunRecord, RetentionStatus};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"message_text_days": 730, "media_days": 90}))]
pub(super) struct RetentionIn {
    /// Days message texts are kept (30 to 3650); absent: 730.
    message_text_days: Option<u32>,
    /// Days media references are kept (1 to 3650); absent: 90.
    media_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RetentionOut {
    message_text_days: u32,
    media_days: u32,
    /// When the next run is due; `null` until an instance has first looked at the clinic.
    next_run_at: Option<Timestamp>,
    /// The last finished run; `null` before the first.
    last_run: Option<RetentionRunOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RetentionRunOut {
    started_at: Timestamp,
    finished_at: Timestamp,
    /// How many records lost their texts or media: counts only.
    removed: RetentionCounts,
}

impl From<RetentionStatus> for RetentionOut {
    fn from(status: RetentionStatus) -> Self {
        Self {
            message_text_days: status.periods.message_text_days,
            media_days: status.periods.media_days,
            next_run_at: status.next_run_at,
            last_run: status
                .last_run
                .map(|run: RetentionRunRecord| RetentionRunOut {
                    started_at: run.started_at,
                    finished_at: run.finished_at,
                    removed: run.removed,
                }),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/clinic/retention",
    tag = "clinic",
    responses(
        (status = 200, description = "The periods in effect and how the daily run stands", body = RetentionOut),
        (status = 403, description = "Needs an admin key"),
    )
)]
pub(super) async fn get_retention(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<RetentionOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let status = state.store.retention_status(&caller.0.clinic.id).await?;
    Ok(Json(status.into()))
}

#[utoipa::path(
    put,
    path = "/v1/clinic/retention",
    tag = "clinic",
    request_body = RetentionIn,
    responses(
        (status = 200, description = "The periods as set; the next run applies them", body = RetentionOut),
        (status = 403, description = "Needs an admin key"),
    )
)]
/// Replaces the periods: a field left out takes its default. Shortening one removes more at the
/// next run; what is removed cannot be brought back.
pub(super) async fn put_retention(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<RetentionIn>,
) -> Result<Json<RetentionOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let defaults = RetentionPeriods::DEFAULT;
    let periods = RetentionPeriods {
        message_text_days: body
            .value
            .message_text_days
            .unwrap_or(defaults.message_text_days),
        media_days: body.value.media_days.unwrap_or(defaults.media_days),
    };
    let broken = periods.check();
    if !broken.is_empty() {
        return Err(ApiError::Invalid(broken));
    }
    let clinic = &caller.0.clinic;
    state
        .store
        .set_retention_periods(&clinic.id, periods)
        .await?;
    tracing::info!(clinic = %clinic.slug, text_days = periods.message_text_days,
        media_days = periods.media_days, "retention periods set");
    let status = state.store.retention_status(&clinic.id).await?;
    Ok(Json(status.into()))
}
