//! `GET/PUT /v1/clinic/hours`: when the clinic sends normal notifications (weekly hours in the
//! clinic's time zone, holidays) and its patients' default quiet hours. Set-up, so admin keys only.

use axum::Json;
use axum::extract::State;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{ClinicHours, ClinicHoursText};
use crate::store::ApiKeyRole;

#[utoipa::path(
    get,
    path = "/v1/clinic/hours",
    tag = "clinic",
    responses(
        (status = 200, description = "The clinic's hours", body = ClinicHoursText),
        (status = 403, description = "Needs an admin key"),
    )
)]
pub(super) async fn get_hours(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ClinicHoursText>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let hours = state.store.clinic_hours(&caller.0.clinic.id).await?;
    Ok(Json(hours.to_text()))
}

#[utoipa::path(
    put,
    path = "/v1/clinic/hours",
    tag = "clinic",
    request_body = ClinicHoursText,
    responses(
        (status = 200, description = "The hours as set", body = ClinicHoursText),
        (status = 403, description = "Needs an admin key"),
    )
)]
/// Replaces the clinic's hours as a whole; a day left out is closed.
pub(super) async fn put_hours(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<ClinicHoursText>,
) -> Result<Json<ClinicHoursText>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let hours = ClinicHours::parse(&body.value)
        .map_err(|broken| ApiError::Invalid(broken.into_iter().map(FieldError::from).collect()))?;
    state
        .store
        .set_clinic_hours(&caller.0.clinic.id, &hours)
        .await?;
    state.clinic_settings.forget(&caller.0.clinic.id);
    Ok(Json(hours.to_text()))
}
