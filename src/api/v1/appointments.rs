//! `/v1/appointments`: an appointment and the reminder series it owns. Booking creates the
//! clinic's configured reminders, at times the patient's messaging hours allow; moving or
//! cancelling the appointment moves or cancels the reminders no provider has yet, and, when asked
//! (`notify_patient`), tells the patient through intake. Booking a cancelled appointment's id
//! books it again.
//!
//! Reminders are ordinary normal-priority notifications, but the patient cap neither refuses nor
//! counts them: the series is bounded by the clinic's own configuration (a few per appointment),
//! and a booking must not fail half-way, nor use up the day's places for other messages because
//! its reminders were created on the day it was booked.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::appointment_out::{AppointmentOut, NoticeOut};
use super::booking_fields::{booking_fields, unchanged_booking_fields};
use super::notifications::{idempotency_key, request_hash};
use super::patients::checked;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::created::Created;
use crate::api::json::{ApiJson, TIMESTAMP_RULE};
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{AppointmentId, Clinic, NotificationStatus, Patient};
use crate::intake::{
    AppointmentChanged, AppointmentNotice, EXTERNAL_ID_RULE, IntakeError, is_external_id,
};
use crate::policy::{FILLED_FROM_STARTS_AT, MessagingHours};
use crate::store::{AppointmentChange, AppointmentView, Booking, NewAppointment, StoreError};

const DEFAULT_TEMPLATE: &str = "appointment_reminder";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "appointment_id": "A-20261201-0930",
    "patient_id": "P-1042",
    "starts_at": "2026-12-01T09:30:00+02:00"
}))]
pub(super) struct AppointmentIn {
    /// The booking system's id for the appointment.
    appointment_id: Option<String>,
    /// The patient's id in the booking system.
    patient_id: String,
    /// Text, not a typed field: a booking is refused with every rule it breaks at once, and a
    /// typed field would stop at the first.
    #[schema(format = DateTime)]
    starts_at: String,
    /// Default `appointment_reminder`.
    topic: Option<String>,
    /// The reminders' template; default `appointment_reminder`.
    template: Option<String>,
    /// The template's parameters, other than the date and time, which come from `starts_at`.
    params: Option<BTreeMap<String, String>>,
    /// The booking system's id for the booking: 1 to 128 printable characters.
    #[schema(example = "booking-48213")]
    reference: Option<String>,
    /// The booking system's own fields: a JSON object of at most 16 keys whose values are
    /// strings (up to 500 characters), numbers, booleans or null; at most 2 KiB. Returned with
    /// the appointment and in every webhook about it.
    #[schema(value_type = Option<Object>, example = json!({"room": 4, "first_visit": true}))]
    metadata: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"starts_at": "2026-12-02T11:00:00+02:00", "notify_patient": true}))]
pub(super) struct AppointmentMove {
    /// RFC 3339 with an offset, in the future.
    #[schema(format = DateTime)]
    starts_at: String,
    /// May be sent again as booked; it never changes.
    reference: Option<String>,
    /// May be sent again as booked; it never changes.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// Send the patient a confirmation of the new time.
    #[serde(default)]
    notify_patient: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct CancelQuery {
    /// Send the patient a cancellation notice.
    #[serde(default)]
    notify_patient: bool,
}

/// `starts_at`, which must be ahead of `now`.
fn starts_at(errors: &mut Vec<FieldError>, value: String, now: Timestamp) -> Option<Timestamp> {
    let at = checked(
        errors,
        "starts_at",
        Some(value),
        |t| t.parse::<Timestamp>().ok(),
        TIMESTAMP_RULE,
    )?;
    if at <= now {
        errors.push(FieldError::new("starts_at", "must be in the future"));
        return None;
    }
    Some(at)
}

fn clinic_zone(caller: &Caller) -> Result<TimeZone, ApiError> {
    TimeZone::get(caller.0.clinic.timezone.as_str()).map_err(|e| ApiError::Internal(Box::new(e)))
}

/// Appointment `id` as it is, and the messaging hours of its patient, as its reminders are
/// planned in.
async fn appointment_hours(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(AppointmentView, MessagingHours), ApiError> {
    let clinic = &caller.0.clinic;
    let view = state
        .store
        .appointment(&clinic.id, id)
        .await
        .map_err(ApiError::not_found("appointment"))?;
    let patient = state
        .store
        .patient_by_external_id(&clinic.id, &view.patient_id)
        .await?;
    let hours = state.intake.messaging_hours(clinic, &patient).await?;
    Ok((view, hours))
}

/// When the caller `asked` for one, sends the patient the notice of `change` to `view`'s
/// appointment, or says why there is none: `change` is the reason when there is nothing to tell,
/// and intake may refuse it (a clinic's own template needing more than the date and time). The
/// change made stands either way.
async fn patient_notice(
    state: &AppState,
    caller: &Caller,
    view: &AppointmentView,
    asked: bool,
    change: Result<AppointmentChanged, &'static str>,
) -> Result<Option<NoticeOut>, ApiError> {
    let change = match (asked, change) {
        (false, _) => return Ok(None),
        (true, Err(why)) => return Ok(Some(NoticeOut::not_sent(why))),
        (true, Ok(change)) => change,
    };
    let notice = AppointmentNotice {
        clinic: caller.0.clinic.clone(),
        appointment: view.id.clone(),
        patient_id: view.patient_id.clone(),
        change,
    };
    match state
        .intake
        .accept_appointment_notice(notice, &caller.actor())
        .await
    {
        Ok(receipt) => Ok(Some(receipt.into())),
        Err(IntakeError::Invalid(errors)) => Ok(Some(NoticeOut::not_sent(
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.rule))
                .collect::<Vec<_>>()
                .join("; "),
        ))),
        Err(other) => Err(other.into()),
    }
}

/// Wakes the dispatcher when a reminder is due at once (booked or moved at short notice).
fn wake_if_due(state: &AppState, view: &AppointmentView) {
    if view
        .reminders
        .iter()
        .any(|r| r.status == NotificationStatus::Queued)
    {
        state.dispatcher_wake.notify_one();
    }
}

/// A booking checked against the clinic's topics, patients and templates, refused with every
/// rule it breaks.
async fn checked_booking(
    state: &AppState,
    caller: &Caller,
    input: AppointmentIn,
    now: Timestamp,
    idempotency_key: Option<String>,
    request_hash: String,
) -> Result<(NewAppointment, MessagingHours), ApiError> {
    let clinic = &caller.0.clinic;
    let mut errors = Vec::new();

    if let Some(id) = &input.appointment_id
        && !is_external_id(id)
    {
        errors.push(FieldError::new("appointment_id", EXTERNAL_ID_RULE));
    }
    let starts = starts_at(&mut errors, input.starts_at, now);
    let (reference, metadata) = booking_fields(&mut errors, input.reference, input.metadata);
    let topic = input.topic.unwrap_or_else(|| DEFAULT_TEMPLATE.to_owned());
    let sensitivity = state
        .intake
        .topic_sensitivity(clinic, &topic, &mut errors)
        .await?;
    let template = input
        .template
        .unwrap_or_else(|| DEFAULT_TEMPLATE.to_owned());
    let params = input.params.unwrap_or_default();
    errors.extend(filled_by_hand(&params));
    let patient = state
        .intake
        .patient(clinic, &input.patient_id, &mut errors)
        .await?;
    errors.extend(reminder_copy_breaks(state, clinic, &template, &params, patient.as_ref()).await?);
    let (Some(starts_at), Some(_), Some(patient), true) =
        (starts, sensitivity, patient, errors.is_empty())
    else {
        return Err(ApiError::Invalid(errors));
    };

    let hours = state.intake.messaging_hours(clinic, &patient).await?;
    let appointment = NewAppointment {
        id: AppointmentId::generate(),
        clinic_id: clinic.id.clone(),
        patient_id: patient.id,
        external_id: input.appointment_id,
        starts_at,
        topic,
        template,
        params,
        offsets: state.config.appointments.offsets_for(&clinic.slug),
        idempotency_key,
        request_hash,
        reference,
        metadata,
    };
    Ok((appointment, hours))
}

/// Parameters the caller gave that reminders fill from `starts_at` themselves.
fn filled_by_hand(params: &BTreeMap<String, String>) -> impl Iterator<Item = FieldError> + '_ {
    FILLED_FROM_STARTS_AT
        .iter()
        .filter(|filled| params.contains_key(**filled))
        .map(|filled| {
            FieldError::new(
                format!("params.{filled}"),
                "is filled from starts_at in the clinic's time zone; leave it out",
            )
        })
}

/// The rule the reminders' template breaks, checked against the copy this patient gets with the
/// date and time every reminder carries: a copy that cannot take them is the template's fault,
/// not the caller's parameters'.
async fn reminder_copy_breaks(
    state: &AppState,
    clinic: &Clinic,
    template: &str,
    params: &BTreeMap<String, String>,
    patient: Option<&Patient>,
) -> Result<Option<FieldError>, ApiError> {
    let mut with_date = params.clone();
    for filled in FILLED_FROM_STARTS_AT {
        with_date.insert(filled.to_owned(), String::new());
    }
    let checked = state
        .intake
        .check_template(clinic, template, &with_date, patient)
        .await?;
    Ok(match checked {
        Ok(_) => None,
        Err(error)
            if FILLED_FROM_STARTS_AT
                .iter()
                .any(|f| error.field == format!("params.{f}")) =>
        {
            Some(FieldError::new(
                "template",
                "must take the date and time parameters, which reminders fill from starts_at",
            ))
        }
        Err(other) => Some(other),
    })
}

/// The answer to a booking, new (`replayed` false) or the same request again; a reminder due at
/// once wakes the dispatcher.
fn booked(state: &AppState, view: AppointmentView, replayed: bool) -> Created<AppointmentOut> {
    wake_if_due(state, &view);
    let location = format!("/v1/appointments/{}", view.id);
    Created::at(location, view.into()).replay(replayed)
}

/// Books an appointment and plans its reminders. Booking a cancelled appointment's
/// `appointment_id` again books it again.
#[utoipa::path(
    post,
    path = "/v1/appointments",
    tag = "appointments",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 255 visible ASCII characters; a request sent again with the same key \\
            and body gets the first answer and creates nothing")),
    request_body = AppointmentIn,
    responses(
        (status = 201, description = "Booked, with its reminders", body = AppointmentOut,
            headers(
                ("Location" = String, description = "The appointment: `/v1/appointments/{id}`"),
                ("Idempotent-Replayed" = bool, description = "`true`: the answer to an earlier request with this Idempotency-Key, nothing new was created; `false`: this request created it"),
            )),
        (status = 409, description = "This appointment_id is booked with other details"),
    )
)]
pub(super) async fn book_appointment(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<AppointmentIn>,
) -> Result<Created<AppointmentOut>, ApiError> {
    let key = idempotency_key(&headers)?;
    let hash = request_hash(&body);
    let now = state.clock.now();
    let (appointment, hours) = checked_booking(&state, &caller, body.value, now, key, hash).await?;
    let zone = clinic_zone(&caller)?;
    let by = caller.recorded_as();
    let change = AppointmentChange {
        by: &by,
        at: now,
        clinic_zone: &zone,
    };
    match state
        .store
        .book_appointment(&appointment, change, &hours)
        .await?
    {
        Booking::Created(view) | Booking::BookedAgain(view) => Ok(booked(&state, view, false)),
        Booking::Replayed(view) => Ok(booked(&state, view, true)),
        Booking::KeyReused => Err(ApiError::invalid(
            "Idempotency-Key",
            "was already used with a different request; use a new key for a new appointment",
        )),
        Booking::AppointmentIdTaken => Err(ApiError::Conflict(
            "an appointment with this appointment_id is already booked with other details; \
             move it with PUT /v1/appointments/{id} or cancel it with DELETE"
                .to_owned(),
        )),
    }
}

#[utoipa::path(
    get,
    path = "/v1/appointments/{id}",
    tag = "appointments",
    params(("id" = String, Path, description = "Our id (`apt_…`) or the booking system's `appointment_id`")),
    responses(
        (status = 200, description = "The appointment and its reminders", body = AppointmentOut),
        (status = 404, description = "No such appointment"),
    )
)]
pub(super) async fn get_appointment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AppointmentOut>, ApiError> {
    let view = state
        .store
        .appointment(&caller.0.clinic.id, &id)
        .await
        .map_err(ApiError::not_found("appointment"))?;
    Ok(Json(view.into()))
}

/// Moves the appointment: reminders no provider has yet move with it.
#[utoipa::path(
    put,
    path = "/v1/appointments/{id}",
    tag = "appointments",
    params(("id" = String, Path, description = "Our id (`apt_…`) or the booking system's `appointment_id`")),
    request_body = AppointmentMove,
    responses(
        (status = 200, description = "Moved", body = AppointmentOut),
        (status = 404, description = "No such appointment"),
        (status = 409, description = "The appointment is cancelled"),
    )
)]
pub(super) async fn move_appointment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<AppointmentMove>,
) -> Result<Json<AppointmentOut>, ApiError> {
    let now = state.clock.now();
    let mut input = body.value;
    let mut errors = Vec::new();
    let starts = starts_at(&mut errors, std::mem::take(&mut input.starts_at), now);
    let clinic = &caller.0.clinic;
    let (before, hours) = appointment_hours(&state, &caller, &id).await?;
    let given = (input.reference.take(), input.metadata.take());
    unchanged_booking_fields(&mut errors, given, &before);
    let (Some(starts_at), true) = (starts, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let zone = clinic_zone(&caller)?;
    let by = caller.recorded_as();
    let change = AppointmentChange {
        by: &by,
        at: now,
        clinic_zone: &zone,
    };
    let view = match state
        .store
        .move_appointment(&clinic.id, &id, starts_at, change, &hours)
        .await
    {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(
                "the appointment is cancelled; to book it again, POST /v1/appointments with its \
                 appointment_id and the new starts_at"
                    .to_owned(),
            ));
        }
        other => other.map_err(ApiError::not_found("appointment"))?,
    };
    wake_if_due(&state, &view);
    let moved = if before.starts_at == starts_at {
        Err("the appointment's time did not change")
    } else {
        Ok(AppointmentChanged::Moved {
            from: before.starts_at,
            to: starts_at,
        })
    };
    let asked = input.notify_patient;
    let notice = patient_notice(&state, &caller, &view, asked, moved).await?;
    Ok(Json(AppointmentOut::with_notice(view, notice)))
}

/// Cancels the appointment and the reminders no provider has yet.
#[utoipa::path(
    delete,
    path = "/v1/appointments/{id}",
    tag = "appointments",
    params(("id" = String, Path, description = "Our id (`apt_…`) or the booking system's `appointment_id`"), CancelQuery),
    responses(
        (status = 200, description = "Cancelled (or already cancelled)", body = AppointmentOut),
        (status = 404, description = "No such appointment"),
    )
)]
pub(super) async fn cancel_appointment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<CancelQuery>, QueryRejection>,
) -> Result<Json<AppointmentOut>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let zone = clinic_zone(&caller)?;
    let by = caller.recorded_as();
    let now = state.clock.now();
    let change = AppointmentChange {
        by: &by,
        at: now,
        clinic_zone: &zone,
    };
    let cancelled = state
        .store
        .cancel_appointment(&caller.0.clinic.id, &id, change)
        .await
        .map_err(ApiError::not_found("appointment"))?;
    let view = cancelled.view;
    let change = if !cancelled.cancelled_now {
        Err("the appointment was already cancelled; a notice goes only with the cancellation")
    } else if view.starts_at <= now {
        Err("the appointment has already begun")
    } else {
        Ok(AppointmentChanged::Cancelled {
            starts_at: view.starts_at,
        })
    };
    let asked = query.notify_patient;
    let notice = patient_notice(&state, &caller, &view, asked, change).await?;
    Ok(Json(AppointmentOut::with_notice(view, notice)))
}
