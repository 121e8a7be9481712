//! `GET /v1/appointments`: the clinic's appointments by patient or by day of the clinic's
//! calendar, optionally of one status, earliest first, a page at a time.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::appointment_out::AppointmentOut;
use super::paging::checked_page;
use super::patients::checked;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::problem::ApiError;
use crate::domain::{AppointmentId, AppointmentStatus, Clinic};
use crate::store::{AppointmentCursor, AppointmentFilter};

const DAY_RULE: &str = "must be a date written YYYY-MM-DD";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AppointmentQuery {
    /// The booking system's id of the patient.
    patient_id: Option<String>,
    /// A day of the clinic's calendar, in its time zone: `YYYY-MM-DD`.
    #[param(example = "2026-12-06")]
    day: Option<String>,
    /// `booked`, `confirmed`, `cancellation_requested` or `cancelled`.
    status: Option<String>,
    /// Appointments per page, 1 to 500 (50 unless given).
    limit: Option<u32>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AppointmentList {
    items: Vec<AppointmentOut>,
    /// Where the next page starts; null on the last page.
    next_cursor: Option<String>,
}

/// The day's bounds in the clinic's zone (a day of a clock change is 23 or 25 hours).
fn day_bounds(text: &str, clinic: &Clinic) -> Option<(Timestamp, Timestamp)> {
    let day: Date = text.parse().ok().filter(|_| text.len() == 10)?;
    let zone = clinic.timezone.zone();
    let from = day.to_zoned(zone.clone()).ok()?.timestamp();
    let to = day.tomorrow().ok()?.to_zoned(zone).ok()?.timestamp();
    Some((from, to))
}

/// `<starts_at ms>.<appointment id>`.
fn decode_cursor(cursor: &str) -> Option<AppointmentCursor> {
    let (at, id) = cursor.split_once('.')?;
    Some(AppointmentCursor {
        starts_at: at.parse().ok()?,
        id: AppointmentId::parse(id)?.as_str().to_owned(),
    })
}

impl AppointmentQuery {
    fn filter(self, clinic: &Clinic) -> Result<AppointmentFilter, ApiError> {
        let mut errors = Vec::new();
        let starts = checked(
            &mut errors,
            "day",
            self.day,
            |d| day_bounds(d, clinic),
            DAY_RULE,
        );
        let status = checked(
            &mut errors,
            "status",
            self.status,
            AppointmentStatus::parse,
            &format!("must be one of {}", AppointmentStatus::names()),
        );
        let (limit, after) = checked_page(&mut errors, self.limit, self.cursor, decode_cursor);
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        Ok(AppointmentFilter {
            patient_id: self.patient_id,
            starts,
            status,
            limit,
            after,
        })
    }
}

/// Lists the clinic's appointments, earliest first, each with its reminders.
#[utoipa::path(
    get,
    path = "/v1/appointments",
    tag = "appointments",
    params(AppointmentQuery),
    responses(
        (status = 200, description = "A page of appointments", body = AppointmentList),
        (status = 422, description = "A query parameter breaks its rule"),
    )
)]
pub(super) async fn list_appointments(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AppointmentQuery>, QueryRejection>,
) -> Result<Json<AppointmentList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let clinic = &caller.0.clinic;
    let filter = query.filter(clinic)?;
    let page = state.store.appointments(&clinic.id, &filter).await?;
    Ok(Json(AppointmentList {
        items: page.items.into_iter().map(AppointmentOut::from).collect(),
        next_cursor: page.next.map(|c| format!("{}.{}", c.starts_at, c.id)),
    }))
}
