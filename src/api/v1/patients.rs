use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use medrelay_channels::ChannelKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::{self, ApiJson, MergePatch};
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{
    Clinic, EmailAddress, Language, LineType, ONE_LINE_RULE, Patient, Phone, QuietHours, Reason,
    TimeZoneName, WindowText, channel_list, is_one_line,
};
use crate::intake::{EXTERNAL_ID_RULE, is_external_id};
use crate::policy::{self, ChannelPlan, WhatsAppContent};
use crate::store::PatientUpsert;

/// A patient as the booking system writes it: the body of a `PUT`, and what a `PATCH` is merged
/// into.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Dana Levi",
    "language": "he",
    "timezone": "Asia/Jerusalem",
    "phone": "054-123-4567",
    "email": "dana@example.org",
    "channels": ["whatsapp", "sms"],
    "quiet_hours": {"start": "22:00", "end": "07:00"}
}))]
pub(super) struct PatientIn {
    /// 1 to 200 characters on one line.
    name: String,
    /// `he`, `ar`, `ru`, `en`, …; absent: the clinic's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<String>,
    /// An IANA time zone; absent: the clinic's.
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<String>,
    /// In any common format; read in the clinic's country unless it starts with `+`.
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    /// Whether the phone takes WhatsApp; absent: yes for a mobile number.
    #[serde(skip_serializing_if = "Option::is_none")]
    whatsapp: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// The patient's own channel order; empty or absent: the clinic's.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<ChannelKind>>)]
    channels: Option<Vec<String>>,
    /// Channels the patient asked not to be reached on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<ChannelKind>>)]
    opted_out: Option<Vec<String>>,
    /// In the patient's time zone; null or absent: the clinic's default for patients.
    #[serde(skip_serializing_if = "Option::is_none")]
    quiet_hours: Option<WindowText>,
    /// `YYYY-MM-DD`; lets the patient open a secure message link without an SMS code.
    #[serde(skip_serializing_if = "Option::is_none")]
    birth_date: Option<String>,
}

/// The stored patient written back as a `PUT` body would give it, for a merge patch to change.
impl From<Patient> for PatientIn {
    fn from(p: Patient) -> Self {
        let names = |channels: Vec<ChannelKind>| {
            Some(channels.iter().map(|c| c.as_str().to_owned()).collect())
        };
        Self {
            name: p.name,
            language: Some(p.language.as_str().to_owned()),
            timezone: Some(p.timezone.as_str().to_owned()),
            phone: p.phone.map(|x| x.as_str().to_owned()),
            whatsapp: Some(p.whatsapp),
            email: p.email.map(|x| x.as_str().to_owned()),
            channels: names(p.channels),
            opted_out: names(p.opted_out),
            quiet_hours: p.quiet_hours.map(QuietHours::to_text),
            birth_date: p.birth_date.map(|d| d.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PatientOut {
    /// The booking system's id.
    id: String,
    name: String,
    language: String,
    timezone: String,
    phone: Option<String>,
    /// What the numbering plan says the phone is: `mobile`, `landline` or `unknown`.
    phone_type: Option<LineType>,
    whatsapp: bool,
    email: Option<String>,
    /// The patient's own preference as given; empty: the clinic's order.
    channels: Vec<ChannelKind>,
    /// The order a notification for this patient takes now, unless staff choose a channel.
    effective_channels: Vec<ChannelKind>,
    /// Each channel of the order left out, and why.
    skipped_channels: Vec<SkippedChannel>,
    opted_out: Vec<ChannelKind>,
    quiet_hours: Option<WindowText>,
    birth_date: Option<jiff::civil::Date>,
    created_at: jiff::Timestamp,
    updated_at: jiff::Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
struct SkippedChannel {
    channel: ChannelKind,
    reason: String,
}

impl PatientOut {
    fn new(p: Patient, route: ChannelPlan) -> Self {
        let skipped_channels = route
            .skipped
            .iter()
            .filter_map(|reason| match reason {
                Reason::Skipped { channel, reason } => Some(SkippedChannel {
                    channel: *channel,
                    reason: reason.to_string(),
                }),
                _ => None,
            })
            .collect();
        Self {
            id: p.external_id,
            name: p.name,
            language: p.language.as_str().to_owned(),
            timezone: p.timezone.as_str().to_owned(),
            phone_type: p.phone.as_ref().map(Phone::line),
            phone: p.phone.map(|x| x.as_str().to_owned()),
            whatsapp: p.whatsapp,
            email: p.email.map(|x| x.as_str().to_owned()),
            channels: p.channels,
            effective_channels: route.channels.iter().map(|c| c.channel).collect(),
            skipped_channels,
            opted_out: p.opted_out,
            quiet_hours: p.quiet_hours.map(QuietHours::to_text),
            birth_date: p.birth_date,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// The patient as the API shows it, with the order the dispatcher would route a template
/// notification in now: what the providers told us about the patient's addresses counts, a
/// clinic's paused provider account does not (it is the clinic's outage, not the patient's
/// order).
async fn shown(
    state: &AppState,
    clinic: &Clinic,
    patient: Patient,
) -> Result<PatientOut, ApiError> {
    let facts = state.store.facts_about(&patient, state.clock.now()).await?;
    let route = policy::channel_plan(
        None,
        &patient,
        clinic,
        &facts,
        &[],
        WhatsAppContent::Template,
    );
    Ok(PatientOut::new(patient, route))
}

/// An address the mail transport will take: checked as lettre checks it when the message is
/// built, so that an address it refuses (`a..b@example.org`) is refused here, not at send time.
/// Addresses stored before are read back with the looser shape check.
fn deliverable_email(text: &str) -> Option<EmailAddress> {
    text.parse::<lettre::Address>().ok()?;
    EmailAddress::parse(text)
}

/// Parses an optional field, recording the rule it breaks.
pub(super) fn checked<T>(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<String>,
    parse: impl Fn(&str) -> Option<T>,
    rule: &str,
) -> Option<T> {
    let value = value?;
    let parsed = parse(&value);
    if parsed.is_none() {
        errors.push(FieldError::new(field, rule));
    }
    parsed
}

/// The clinic's date now: a date of birth may not be after it.
fn today(clinic: &Clinic, now: jiff::Timestamp) -> jiff::civil::Date {
    now.to_zoned(clinic.timezone.zone()).date()
}

const BIRTH_DATE_RULE: &str = "must be a date written YYYY-MM-DD, not after today";

/// A date of birth: `YYYY-MM-DD` exactly, and not after `today`.
fn past_date(text: &str, today: jiff::civil::Date) -> Option<jiff::civil::Date> {
    let date: jiff::civil::Date = text.parse().ok()?;
    (text.len() == 10 && date <= today).then_some(date)
}

fn validate(
    external_id: String,
    input: PatientIn,
    clinic: &Clinic,
    today: jiff::civil::Date,
) -> Result<PatientUpsert, ApiError> {
    let mut errors = Vec::new();
    if !is_external_id(&external_id) {
        errors.push(FieldError::new("external_id", EXTERNAL_ID_RULE));
    }
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    } else if !is_one_line(&name) {
        errors.push(FieldError::new("name", ONE_LINE_RULE));
    }
    let language = checked(
        &mut errors,
        "language",
        input.language,
        Language::parse,
        Language::RULE,
    );
    let timezone = checked(
        &mut errors,
        "timezone",
        input.timezone,
        TimeZoneName::parse,
        TimeZoneName::RULE,
    );
    let phone = input.phone.and_then(|written| {
        Phone::parse(&written, clinic.phone_region)
            .map_err(|e| errors.push(FieldError::new("phone", e.to_string())))
            .ok()
    });
    let email = checked(
        &mut errors,
        "email",
        input.email,
        deliverable_email,
        EmailAddress::RULE,
    );
    let birth_date = checked(
        &mut errors,
        "birth_date",
        input.birth_date,
        |text| past_date(text, today),
        BIRTH_DATE_RULE,
    );
    let channels = channel_list("channels", &input.channels.unwrap_or_default(), &mut errors);
    let opted_out = channel_list(
        "opted_out",
        &input.opted_out.unwrap_or_default(),
        &mut errors,
    );
    let quiet_hours = input
        .quiet_hours
        .as_ref()
        .map(|quiet| QuietHours::parse(quiet, "quiet_hours"))
        .transpose()
        .unwrap_or_else(|broken| {
            errors.extend(broken.into_iter().map(FieldError::from));
            None
        });
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    Ok(PatientUpsert {
        external_id,
        name,
        language: language.unwrap_or_else(|| clinic.default_language.clone()),
        timezone: timezone.unwrap_or_else(|| clinic.timezone.clone()),
        // Nine in ten Israelis are on WhatsApp: a phone number is presumed to be unless told,
        // or unless the numbering plan says it is a landline.
        whatsapp: input
            .whatsapp
            .unwrap_or(phone.as_ref().is_some_and(|p| !p.is_landline())),
        phone,
        email,
        channels,
        opted_out,
        quiet_hours,
        birth_date,
    })
}

/// Creates or replaces the patient with the booking system's id.
#[utoipa::path(
    put,
    path = "/v1/patients/{external_id}",
    tag = "patients",
    params(("external_id" = String, Path, description = "The patient's id in the booking system")),
    request_body = PatientIn,
    responses(
        (status = 200, description = "Replaced", body = PatientOut),
        (status = 201, description = "Created", body = PatientOut),
    )
)]
pub(super) async fn put_patient(
    State(state): State<AppState>,
    caller: Caller,
    Path(external_id): Path<String>,
    body: ApiJson<PatientIn>,
) -> Result<(StatusCode, Json<PatientOut>), ApiError> {
    let clinic = &caller.0.clinic;
    let now = state.clock.now();
    let upsert = validate(external_id, body.value, clinic, today(clinic, now))?;
    let (patient, created) = state.store.upsert_patient(&clinic.id, upsert, now).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(shown(&state, clinic, patient).await?)))
}

#[utoipa::path(
    patch,
    path = "/v1/patients/{external_id}",
    tag = "patients",
    params(("external_id" = String, Path, description = "The patient's id in the booking system")),
    request_body(content = PatientIn, content_type = "application/merge-patch+json",
        description = "A JSON merge patch (RFC 7396) of the patient; `application/json` is taken too"),
    responses(
        (status = 200, description = "Changed", body = PatientOut),
        (status = 404, description = "No such patient"),
    )
)]
/// Changes only the fields the body names (RFC 7396): `null` removes one, one left out keeps
/// its value. The result is checked as a `PUT` body is, and written whole or not at all.
pub(super) async fn patch_patient(
    State(state): State<AppState>,
    caller: Caller,
    Path(external_id): Path<String>,
    patch: MergePatch,
) -> Result<Json<PatientOut>, ApiError> {
    let clinic = &caller.0.clinic;
    let now = state.clock.now();
    let patched = state
        .store
        .edit_patient(&clinic.id, &external_id, now, |current| {
            let mut document = serde_json::to_value(PatientIn::from(current))
                .map_err(|e| ApiError::Internal(Box::new(e)))?;
            patch.apply_to(&mut document);
            let input = json::parse::<PatientIn>(document.to_string().as_bytes())?.value;
            validate(external_id.clone(), input, clinic, today(clinic, now))
        })
        .await
        .map_err(ApiError::not_found("patient"))??;
    Ok(Json(shown(&state, clinic, patched).await?))
}

#[utoipa::path(
    get,
    path = "/v1/patients/{external_id}",
    tag = "patients",
    params(("external_id" = String, Path, description = "The patient's id in the booking system")),
    responses(
        (status = 200, description = "The patient, with the channel order a notification takes now", body = PatientOut),
        (status = 404, description = "No such patient"),
    )
)]
pub(super) async fn get_patient(
    State(state): State<AppState>,
    caller: Caller,
    Path(external_id): Path<String>,
) -> Result<Json<PatientOut>, ApiError> {
    let clinic = &caller.0.clinic;
    let patient = state
        .store
        .patient_by_external_id(&clinic.id, &external_id)
        .await
        .map_err(ApiError::not_found("patient"))?;
    Ok(Json(shown(&state, clinic, patient).await?))
}
