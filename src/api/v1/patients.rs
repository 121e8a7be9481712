use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use medrelay_channels::ChannelKind;
use serde::{Deserialize, Serialize};

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{
    EmailAddress, Language, ONE_LINE_RULE, Patient, Phone, QuietHours, TimeZoneName, WindowText,
    is_one_line,
};
use crate::intake::{EXTERNAL_ID_RULE, is_external_id};
use crate::store::PatientUpsert;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PatientIn {
    name: String,
    language: Option<String>,
    timezone: Option<String>,
    phone: Option<String>,
    whatsapp: Option<bool>,
    email: Option<String>,
    channels: Option<Vec<String>>,
    opted_out: Option<Vec<String>>,
    /// In the patient's time zone; null or absent: the clinic's default for patients.
    quiet_hours: Option<WindowText>,
    /// `YYYY-MM-DD`; lets the patient open a secure message link without an SMS code.
    birth_date: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct PatientOut {
    id: String,
    name: String,
    language: String,
    timezone: String,
    phone: Option<String>,
    whatsapp: bool,
    email: Option<String>,
    channels: Vec<ChannelKind>,
    opted_out: Vec<ChannelKind>,
    quiet_hours: Option<WindowText>,
    birth_date: Option<jiff::civil::Date>,
    created_at: jiff::Timestamp,
    updated_at: jiff::Timestamp,
}

impl From<Patient> for PatientOut {
    fn from(p: Patient) -> Self {
        Self {
            id: p.external_id,
            name: p.name,
            language: p.language.as_str().to_owned(),
            timezone: p.timezone.as_str().to_owned(),
            phone: p.phone.map(|x| x.as_str().to_owned()),
            whatsapp: p.whatsapp,
            email: p.email.map(|x| x.as_str().to_owned()),
            channels: p.channels,
            opted_out: p.opted_out,
            quiet_hours: p.quiet_hours.map(QuietHours::to_text),
            birth_date: p.birth_date,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Parses a list of channel names, naming each bad entry by its index.
pub(super) fn channel_list(
    field: &str,
    names: &[String],
    errors: &mut Vec<FieldError>,
) -> Vec<ChannelKind> {
    let mut channels = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match name.parse::<ChannelKind>() {
            Ok(c) if channels.contains(&c) => {
                errors.push(FieldError::new(format!("{field}[{i}]"), "is listed twice"))
            }
            Ok(c) => channels.push(c),
            Err(e) => errors.push(FieldError::new(format!("{field}[{i}]"), e.to_string())),
        }
    }
    channels
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

const BIRTH_DATE_RULE: &str = "must be a date written YYYY-MM-DD, not after today";

/// A date of birth: `YYYY-MM-DD` exactly, and not after `today`.
fn past_date(text: &str, today: jiff::civil::Date) -> Option<jiff::civil::Date> {
    let date: jiff::civil::Date = text.parse().ok()?;
    (text.len() == 10 && date <= today).then_some(date)
}

fn validate(
    external_id: String,
    input: PatientIn,
    caller: &Caller,
    today: jiff::civil::Date,
) -> Result<PatientUpsert, ApiError> {
    let clinic = &caller.0.clinic;
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
    let phone = checked(&mut errors, "phone", input.phone, Phone::parse, Phone::RULE);
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
        // Nine in ten Israelis are on WhatsApp: a phone number is presumed to be unless told.
        whatsapp: input.whatsapp.unwrap_or(phone.is_some()),
        phone,
        email,
        channels,
        opted_out,
        quiet_hours,
        birth_date,
    })
}

pub(super) async fn put_patient(
    State(state): State<AppState>,
    caller: Caller,
    Path(external_id): Path<String>,
    body: ApiJson<PatientIn>,
) -> Result<(StatusCode, Json<PatientOut>), ApiError> {
    let now = state.clock.now();
    let today = now.to_zoned(caller.0.clinic.timezone.zone()).date();
    let upsert = validate(external_id, body.value, &caller, today)?;
    let (patient, created) = state
        .store
        .upsert_patient(&caller.0.clinic.id, upsert, now)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(patient.into())))
}

pub(super) async fn get_patient(
    State(state): State<AppState>,
    caller: Caller,
    Path(external_id): Path<String>,
) -> Result<Json<PatientOut>, ApiError> {
    let patient = state
        .store
        .patient_by_external_id(&caller.0.clinic.id, &external_id)
        .await
        .map_err(ApiError::not_found("patient"))?;
    Ok(Json(patient.into()))
}
