use std::collections::BTreeMap;
use std::sync::Arc;

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
use crate::domain::{Clinic, NotificationId, NotificationStatus, Priority, Sensitivity};
use crate::policy::{MessagingHours, SendTime};
use crate::store::{
    ApiKeyRole, IntakeResult, NewNotification, NotificationFilter, NotificationView, Receipt,
    StoreError,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotificationIn {
    patient_id: String,
    topic: String,
    body: Option<String>,
    template: Option<String>,
    params: Option<BTreeMap<String, String>>,
    /// A staff quick reply by name, sent in the patient's language instead of body or template.
    quick_reply: Option<String>,
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

    let priority = checked(
        &mut errors,
        "priority",
        input.priority,
        Priority::parse,
        &format!("must be one of {}", Priority::names()),
    )
    .unwrap_or(Priority::Normal);
    if priority == Priority::Urgent && !may_send_urgent(&state, &caller) {
        errors.push(FieldError::new(
            "priority",
            "urgent is for staff and admin keys: it skips the clinic's hours and the patient's \
             quiet hours, so a booking key may send it only where the clinic allows \
             (api.booking_urgent_clinics)",
        ));
    }
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
    match (&input.body, &input.template, &input.quick_reply) {
        (Some(_), Some(_), _) => errors.push(FieldError::new(
            "body",
            "give either body or template, not both",
        )),
        (None, None, None) => errors.push(FieldError::new(
            "body",
            "give either body or template (or, from staff, a quick_reply)",
        )),
        (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => errors.push(FieldError::new(
            "quick_reply",
            "goes instead of body and template, not with them",
        )),
        (Some(body), None, None) => {
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
        // Checked against the clinic's templates once the patient is known.
        (None, Some(_), None) => {}
        (None, None, Some(_)) => {
            if input.params.is_some() {
                errors.push(FieldError::new("params", "only goes with template"));
            }
        }
    }
    let patient = patient_of(&state, clinic, &input.patient_id, &mut errors).await?;
    let sensitivity = topic_sensitivity(&state, clinic, &input.topic, &mut errors).await?;
    if sensitivity == Some(Sensitivity::Restricted)
        && input.body.is_some()
        && let Some(channel) = channel
    {
        errors.push(FieldError::new(
            "channel",
            format!(
                "topic {} is restricted: no message channel may carry its content, so this text \
                 cannot go on {channel}; leave channel out: the patient gets a content-free notice \
                 and staff a callback task to talk to them in person",
                input.topic
            ),
        ));
    }
    let mut body_text = input.body;
    // Which template copy or quick reply the patient gets, for the notification's record.
    let mut text_note = String::new();
    match (&input.template, &input.quick_reply, &body_text) {
        (Some(template), None, None) => {
            let params = input.params.clone().unwrap_or_default();
            match super::templates::check_notification_template(
                &state,
                clinic,
                template,
                &params,
                patient.as_ref(),
            )
            .await?
            {
                Ok(note) => text_note = note,
                Err(error) => errors.push(error),
            }
        }
        (None, Some(name), None) => {
            if let Some(patient) = &patient {
                match super::templates::quick_reply_text(&state, &caller, name, patient).await? {
                    Ok((text, language)) => {
                        body_text = Some(text);
                        text_note = format!("; quick reply {name} in {language}");
                    }
                    Err(error) => errors.push(error),
                }
            }
        }
        _ => {}
    }
    let (Some(_), Some(patient), true) = (sensitivity, patient, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let patient_external_id = patient.external_id.clone();

    let request_hash = hex::encode(Sha256::digest(body.canonical.to_string().as_bytes()));
    let due = if send_at > now {
        format!("scheduled for {send_at}")
    } else {
        "due now".to_owned()
    };
    // A normal notification due outside the messaging hours is stored for the next moment they
    // allow; an urgent one is the dispatcher's to explain when it sends it.
    let mut hours_note = None;
    let mut send_at = send_at;
    if priority == Priority::Normal {
        let settings = state.clinic_settings.get(&state.store, &clinic.id).await?;
        let hours = MessagingHours::for_patient(Arc::clone(&settings.hours), clinic, &patient);
        match hours.send_time(priority, send_at, expires_at) {
            // Stored as expired: its send time past its expiry says so (see the store).
            SendTime::Defer { until, reason } | SendTime::Expire { until, reason } => {
                send_at = until;
                hours_note = Some(reason);
            }
            // Failing needs the whole picture; the dispatcher decides it at once.
            SendTime::Now { .. } | SendTime::Fail { .. } => {}
        }
    }

    let notification = NewNotification {
        id: NotificationId::generate(),
        clinic_id: clinic.id.clone(),
        patient_id: patient.id,
        topic: input.topic,
        body: body_text,
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
            "received from {} key {}; priority {}; {due}{text_note}",
            caller.0.role.as_str(),
            caller.0.id,
            priority.as_str()
        ),
        hours_note,
        reminder: None,
    };
    match state.intake.submit(notification).await? {
        IntakeResult::Created(receipt) => {
            if receipt.status == NotificationStatus::Queued {
                state.dispatcher_wake.notify_one();
            }
            Ok((StatusCode::ACCEPTED, Json(receipt)))
        }
        IntakeResult::Replayed(receipt) => Ok((StatusCode::ACCEPTED, Json(receipt))),
        IntakeResult::PatientLimit { priority, frees_at } => Err(ApiError::PatientLimit {
            patient_id: patient_external_id,
            kind: match priority {
                Priority::Normal => "non-urgent",
                Priority::Urgent => "urgent",
            },
            cap: match priority {
                Priority::Normal => state.config.api.patient_daily_cap,
                Priority::Urgent => state.config.api.patient_daily_urgent_cap,
            },
            frees_at,
            retry_after_secs: now.duration_until(frees_at).as_secs_f64().ceil().max(1.0) as u64,
        }),
        IntakeResult::KeyReused => Err(ApiError::invalid(
            "Idempotency-Key",
            "was already used with a different request; use a new key for a new notification",
        )),
    }
}

/// Urgent skips every hour rule, so it is for people, and for booking systems only where the
/// clinic says so.
fn may_send_urgent(state: &AppState, caller: &Caller) -> bool {
    match caller.0.role {
        ApiKeyRole::Staff | ApiKeyRole::Admin => true,
        ApiKeyRole::Booking => state
            .config
            .api
            .booking_urgent_clinics
            .contains(&caller.0.clinic.slug),
    }
}

/// The sensitivity of the clinic's topic `name`; `None`, with the error recorded, when the
/// clinic has no such topic.
pub(super) async fn topic_sensitivity(
    state: &AppState,
    clinic: &Clinic,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Result<Option<Sensitivity>, ApiError> {
    let settings = state.clinic_settings.get(&state.store, &clinic.id).await?;
    if let Some(sensitivity) = settings.sensitivity_of(name) {
        return Ok(Some(sensitivity));
    }
    let names: Vec<&str> = settings.topics.iter().map(|t| t.name.as_str()).collect();
    errors.push(FieldError::new(
        "topic",
        format!(
            "must be one of this clinic's topics: {} (GET /v1/topics; an admin adds one with PUT /v1/topics/{{name}})",
            names.join(", ")
        ),
    ));
    Ok(None)
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

/// A notification as the caller may see it.
#[derive(Debug, Serialize)]
pub(super) struct NotificationOut {
    #[serde(flatten)]
    view: NotificationView,
    /// The fields left out because this key may not read them.
    #[serde(skip_serializing_if = "Option::is_none")]
    withheld: Option<Withheld>,
}

#[derive(Debug, Serialize)]
struct Withheld {
    fields: Vec<&'static str>,
    reason: String,
}

/// What staff wrote on sensitive and restricted topics (and the values filled into their
/// templates) is for people at the clinic: a booking key sees that there is a notification and
/// how it went, not what it says.
async fn as_seen_by(
    state: &AppState,
    caller: &Caller,
    views: Vec<NotificationView>,
) -> Result<Vec<NotificationOut>, ApiError> {
    if caller.0.role != ApiKeyRole::Booking {
        return Ok(views
            .into_iter()
            .map(|view| NotificationOut {
                view,
                withheld: None,
            })
            .collect());
    }
    let settings = state
        .clinic_settings
        .get(&state.store, &caller.0.clinic.id)
        .await?;
    Ok(views
        .into_iter()
        .map(|mut view| {
            // A topic the clinic no longer has is treated as the most private.
            let sensitivity = settings
                .sensitivity_of(&view.topic)
                .unwrap_or(Sensitivity::Restricted);
            let withheld = (sensitivity != Sensitivity::Normal).then(|| {
                view.body = None;
                view.params = None;
                let mut fields = vec!["body", "params"];
                // What each attempt carried is the same text, rendered.
                if let Some(attempts) = view.attempts.as_mut() {
                    attempts.iter_mut().for_each(|a| a.content = None);
                    fields.push("attempts[].content");
                }
                Withheld {
                    fields,
                    reason: format!(
                        "topic {} is {}: its text is shown to staff and admin keys only",
                        view.topic,
                        sensitivity.as_str()
                    ),
                }
            });
            NotificationOut { view, withheld }
        })
        .collect())
}

/// One notification with what each attempt put in front of the patient, as the caller may see it.
async fn one_as_seen_by(
    state: &AppState,
    caller: &Caller,
    mut view: NotificationView,
) -> Result<Json<NotificationOut>, ApiError> {
    if let Some(attempts) = view.attempts.as_mut() {
        let mut contents = state
            .store
            .attempt_contents(&caller.0.clinic.id, &view.id)
            .await?;
        for attempt in attempts {
            attempt.content = contents.remove(&attempt.id);
        }
    }
    as_seen_by(state, caller, vec![view])
        .await?
        .pop()
        .map(Json)
        .ok_or(ApiError::NotFound("notification"))
}

pub(super) async fn get_notification(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<NotificationOut>, ApiError> {
    let id = notification_id(&id)?;
    let view = state
        .store
        .notification(&caller.0.clinic.id, &id)
        .await
        .map_err(not_found_as("notification"))?;
    one_as_seen_by(&state, &caller, view).await
}

pub(super) async fn cancel_notification(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<NotificationOut>, ApiError> {
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
    let view = state.store.notification(clinic, &id).await?;
    one_as_seen_by(&state, &caller, view).await
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
    items: Vec<NotificationOut>,
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
        items: as_seen_by(&state, &caller, page.items).await?,
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
