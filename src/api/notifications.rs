use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::Caller;
use super::json::ApiJson;
use super::patients::{checked, patient_of};
use super::problem::{ApiError, FieldError};
use crate::domain::{NotificationId, NotificationStatus, Priority, Topic};
use crate::policy::templates;
use crate::store::{
    IntakeResult, NewNotification, NotificationFilter, NotificationView, Receipt, StoreError,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotificationIn {
    patient_id: String,
    topic: String,
    body: Option<String>,
    template: Option<String>,
    params: Option<BTreeMap<String, String>>,
    channel: Option<String>,
    priority: Option<String>,
    send_at: Option<String>,
    expires_at: Option<String>,
}

pub(super) const TIMESTAMP_RULE: &str =
    "must be an RFC 3339 timestamp with an offset, e.g. 2026-12-01T09:00:00+02:00";
const IDEMPOTENCY_KEY_RULE: &str = "must be 1 to 255 visible ASCII characters";

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(|k| Some(k.to_owned()))
        .ok_or_else(|| ApiError::invalid("Idempotency-Key", IDEMPOTENCY_KEY_RULE))
}

pub(super) async fn create_notification(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<NotificationIn>,
) -> Result<(StatusCode, Json<Receipt>), ApiError> {
    let key = idempotency_key(&headers)?;
    let now = state.clock.now();
    let input = body.value;
    let clinic = &caller.0.clinic;
    let mut errors = Vec::new();

    let topic = checked(
        &mut errors,
        "topic",
        Some(input.topic),
        Topic::parse,
        &format!("must be one of {}", Topic::names()),
    );
    let priority = checked(
        &mut errors,
        "priority",
        input.priority,
        Priority::parse,
        &format!("must be one of {}", Priority::names()),
    )
    .unwrap_or(Priority::Normal);
    let channel = checked(
        &mut errors,
        "channel",
        input.channel,
        |c| c.parse::<ChannelKind>().ok(),
        "must be one of whatsapp, sms, email, voice",
    );
    let send_at = checked(
        &mut errors,
        "send_at",
        input.send_at,
        |t| t.parse::<Timestamp>().ok(),
        TIMESTAMP_RULE,
    );
    let expires_at = checked(
        &mut errors,
        "expires_at",
        input.expires_at,
        |t| t.parse::<Timestamp>().ok(),
        TIMESTAMP_RULE,
    );
    let send_at = send_at.unwrap_or(now);
    if let Some(expires_at) = expires_at
        && (expires_at <= send_at || expires_at <= now)
    {
        errors.push(FieldError::new(
            "expires_at",
            "must be after send_at (or after now when send_at is not given)",
        ));
    }
    match (&input.body, &input.template) {
        (Some(_), Some(_)) => errors.push(FieldError::new(
            "body",
            "give either body or template, not both",
        )),
        (None, None) => errors.push(FieldError::new("body", "give either body or template")),
        (Some(body), None) => {
            let chars = body.chars().count();
            if body.trim().is_empty() {
                errors.push(FieldError::new("body", "must not be empty"));
            } else if chars > state.config.api.max_body_chars {
                errors.push(FieldError::new(
                    "body",
                    format!(
                        "must be at most {} characters (it has {chars})",
                        state.config.api.max_body_chars
                    ),
                ));
            }
            if input.params.is_some() {
                errors.push(FieldError::new("params", "only goes with template"));
            }
        }
        (None, Some(template)) => errors.extend(template_error(
            template,
            input.params.as_ref().unwrap_or(&BTreeMap::new()),
        )),
    }
    let patient = patient_of(&state, clinic, &input.patient_id, &mut errors).await?;
    let (Some(topic), Some(patient), true) = (topic, patient, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let patient_external_id = patient.external_id.clone();

    let request_hash = hex::encode(Sha256::digest(body.canonical.to_string().as_bytes()));
    let due = if send_at > now {
        format!("scheduled for {send_at}")
    } else {
        "due now".to_owned()
    };
    let notification = NewNotification {
        id: NotificationId::generate(),
        clinic_id: clinic.id.clone(),
        patient_id: patient.id,
        topic: topic.as_str().to_owned(),
        body: input.body,
        template: input.template,
        params: input
            .params
            .map(|p| serde_json::to_string(&p).unwrap_or_default()),
        channel,
        priority,
        send_at,
        expires_at,
        idempotency_key: key,
        request_hash,
        received_at: now,
        received_note: format!(
            "received from {} key {}; priority {}; {due}",
            caller.0.role.as_str(),
            caller.0.id,
            priority.as_str()
        ),
        reminder: None,
    };
    match state
        .intake
        .submit(notification)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
    {
        IntakeResult::Created(receipt) => {
            if receipt.status == NotificationStatus::Queued {
                state.dispatcher_wake.notify_one();
            }
            Ok((StatusCode::ACCEPTED, Json(receipt)))
        }
        IntakeResult::Replayed(receipt) => Ok((StatusCode::ACCEPTED, Json(receipt))),
        IntakeResult::PatientLimit { frees_at } => Err(ApiError::PatientLimit {
            patient_id: patient_external_id,
            cap: state.config.api.patient_daily_cap,
            frees_at,
            retry_after_secs: now.duration_until(frees_at).as_secs_f64().ceil().max(1.0) as u64,
        }),
        IntakeResult::KeyReused => Err(ApiError::invalid(
            "Idempotency-Key",
            "was already used with a different request; use a new key for a new notification",
        )),
    }
}

/// What is wrong with a template and its parameters, named by field.
pub(super) fn template_error(
    template: &str,
    params: &BTreeMap<String, String>,
) -> Option<FieldError> {
    let error = templates::validate(template, params).err()?;
    let field = match &error {
        templates::TemplateError::Unknown(_) => "template".to_owned(),
        templates::TemplateError::MissingParam(p) | templates::TemplateError::UnknownParam(p) => {
            format!("params.{p}")
        }
    };
    let rule = match error {
        templates::TemplateError::Unknown(_) => format!("must be one of {}", templates::names()),
        other => other.to_string(),
    };
    Some(FieldError::new(field, rule))
}

fn notification_id(id: &str) -> Result<NotificationId, ApiError> {
    NotificationId::parse(id).ok_or(ApiError::NotFound("notification"))
}

fn not_found_as(what: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::NotFound(what),
        other => other.into(),
    }
}

pub(super) async fn get_notification(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<NotificationView>, ApiError> {
    let id = notification_id(&id)?;
    let view = state
        .store
        .notification(&caller.0.clinic.id, &id)
        .await
        .map_err(not_found_as("notification"))?;
    Ok(Json(view))
}

pub(super) async fn cancel_notification(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<NotificationView>, ApiError> {
    let id = notification_id(&id)?;
    let clinic = &caller.0.clinic.id;
    let by = format!("{} key {}", caller.0.role.as_str(), caller.0.id);
    match state
        .store
        .cancel_notification(clinic, &id, &by, state.clock.now())
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            let current = state.store.notification(clinic, &id).await?;
            return Err(ApiError::Conflict(format!(
                "notification is {}: it has been handed to a provider (or is being handed over right now) and can no longer be cancelled",
                current.status.as_str()
            )));
        }
        Err(other) => return Err(not_found_as("notification")(other)),
    }
    Ok(Json(state.store.notification(clinic, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    patient_id: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct NotificationList {
    items: Vec<NotificationView>,
    next_cursor: Option<String>,
}

pub(super) async fn list_notifications(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<NotificationList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let mut errors = Vec::new();
    let status = checked(
        &mut errors,
        "status",
        query.status,
        NotificationStatus::parse,
        &format!("must be one of {}", NotificationStatus::names()),
    );
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 500"));
    }
    let after = checked(
        &mut errors,
        "cursor",
        query.cursor,
        decode_cursor,
        "must be a next_cursor value from an earlier page",
    );
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let filter = NotificationFilter {
        patient_external_id: query.patient_id,
        status,
        limit,
        after,
    };
    let page = state
        .store
        .notifications(&caller.0.clinic.id, &filter)
        .await?;
    Ok(Json(NotificationList {
        items: page.items,
        next_cursor: page.next.map(|(at, id)| format!("{at}.{id}")),
    }))
}

fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let (at, id) = cursor.split_once('.')?;
    Some((
        at.parse().ok()?,
        NotificationId::parse(id)?.as_str().to_owned(),
    ))
}
