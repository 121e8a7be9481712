//! `GET /v1/patients`: the clinic's patients, found by name or number a page at a time, and
//! `DELETE /v1/patients/{id}`: erasing a patient's personal data on request (admin keys only).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging::checked_page;
use super::patients::checked;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::problem::ApiError;
use crate::domain::{Clinic, Patient, QuietHours, WindowText};
use crate::store::{ApiKeyRole, Erasure, PatientFilter, PatientSearch};

const Q_RULE: &str = "must be 1 to 100 characters on one line: part of a name, or a phone number";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct PatientQuery {
    /// Part of a name (in any script; cased ones — Latin, Cyrillic — in any case), or a phone number
    /// written any way (`054-123 4567`, `+972541234567`, `4567`). Left out: every patient.
    q: Option<String>,
    /// Patients per page, 1 to 500 (50 unless given).
    limit: Option<u32>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

/// A patient as a list shows them; `GET /v1/patients/{id}` adds the channel order in effect.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PatientSummary {
    /// The booking system's id for the patient.
    #[schema(example = "p-1042")]
    id: String,
    /// Empty once erased.
    #[schema(example = "Dana Levi")]
    name: String,
    #[schema(example = "he")]
    language: String,
    #[schema(example = "Asia/Jerusalem")]
    timezone: String,
    /// E.164.
    #[schema(example = "+972541234567")]
    phone: Option<String>,
    whatsapp: bool,
    email: Option<String>,
    #[schema(value_type = Vec<String>, example = json!(["whatsapp", "sms"]))]
    channels: Vec<String>,
    #[schema(value_type = Vec<String>)]
    opted_out: Vec<String>,
    #[schema(value_type = Option<Object>)]
    quiet_hours: Option<WindowText>,
    #[schema(value_type = Option<String>, format = Date)]
    birth_date: Option<jiff::civil::Date>,
    /// When the clinic erased the patient's personal data.
    erased_at: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<Patient> for PatientSummary {
    fn from(p: Patient) -> Self {
        let names = |channels: &[medrelay_channels::ChannelKind]| {
            channels.iter().map(|c| c.as_str().to_owned()).collect()
        };
        Self {
            channels: names(&p.channels),
            opted_out: names(&p.opted_out),
            id: p.external_id,
            name: p.name,
            language: p.language.as_str().to_owned(),
            timezone: p.timezone.as_str().to_owned(),
            phone: p.phone.map(|x| x.as_str().to_owned()),
            whatsapp: p.whatsapp,
            email: p.email.map(|x| x.as_str().to_owned()),
            quiet_hours: p.quiet_hours.map(QuietHours::to_text),
            birth_date: p.birth_date,
            erased_at: p.erased_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PatientList {
    items: Vec<PatientSummary>,
    /// Where the next page starts; null on the last page.
    next_cursor: Option<String>,
}

impl PatientQuery {
    fn filter(self, clinic: &Clinic) -> Result<PatientFilter, ApiError> {
        let mut errors = Vec::new();
        let q = checked(
            &mut errors,
            "q",
            self.q,
            |q| {
                let q = q.trim();
                let fits = (1..=100).contains(&q.chars().count());
                (fits && !q.chars().any(char::is_control)).then(|| q.to_owned())
            },
            Q_RULE,
        );
        let (limit, after) = checked_page(&mut errors, self.limit, self.cursor, decode_cursor);
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        Ok(PatientFilter {
            search: q.map_or(PatientSearch::All, |q| {
                PatientSearch::for_text(&q, clinic.phone_region)
            }),
            limit,
            after,
        })
    }
}

/// A cursor is the last external id of a page, hex-encoded so that clients treat it as opaque.
fn decode_cursor(cursor: &str) -> Option<String> {
    String::from_utf8(hex::decode(cursor).ok()?).ok()
}

/// Lists the clinic's patients in the order of their ids, found by name or phone number.
#[utoipa::path(
    get,
    path = "/v1/patients",
    tag = "patients",
    params(PatientQuery),
    responses(
        (status = 200, description = "A page of patients", body = PatientList),
        (status = 422, description = "A query parameter breaks its rule"),
    )
)]
pub(super) async fn list_patients(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<PatientQuery>, QueryRejection>,
) -> Result<Json<PatientList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let clinic = &caller.0.clinic;
    let filter = query.filter(clinic)?;
    let page = state.store.patients(&clinic.id, &filter).await?;
    Ok(Json(PatientList {
        items: page.items.into_iter().map(PatientSummary::from).collect(),
        next_cursor: page.next.map(hex::encode),
    }))
}

/// Erases the patient's personal data: name, contacts, date of birth and every message text
/// kept for them; ids, statuses and counts stay, with an audit event naming the key. Waiting
/// notifications are cancelled first. Erasing an erased patient changes nothing.
#[utoipa::path(
    delete,
    path = "/v1/patients/{external_id}",
    tag = "patients",
    params(("external_id" = String, Path, description = "The patient's id in the booking system")),
    responses(
        (status = 204, description = "Erased, now or before"),
        (status = 403, description = "Not an admin key"),
        (status = 404, description = "No such patient"),
    )
)]
pub(super) async fn erase_patient(
    State(state): State<AppState>,
    caller: Caller,
    Path(external_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let clinic = &caller.0.clinic;
    let erasure = state
        .store
        .erase_patient(
            &clinic.id,
            &external_id,
            &caller.recorded_as(),
            state.clock.now(),
        )
        .await
        .map_err(ApiError::not_found("patient"))?;
    if let Erasure::Erased { cancelled } = erasure {
        tracing::info!(cancelled, "a patient's personal data was erased");
    }
    Ok(StatusCode::NO_CONTENT)
}
