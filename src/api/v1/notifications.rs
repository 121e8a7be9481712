use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::notification_out::NotificationFields;
use super::patients::checked;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::{self, ApiJson};
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{NotificationId, NotificationStatus, OriginFamily, Priority, Sensitivity};
use crate::intake::{Content, Draft};
use crate::store::{ApiKeyRole, NotificationFilter, NotificationRecord, Receipt, StoreError};

/// A notification for one patient: exactly one of `body`, `template` (with `params`) and
/// `quick_reply`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "patient_id": "P-1042",
    "topic": "appointment_reminder",
    "template": "appointment_reminder",
    "params": {"date": "1 December", "time": "09:30"},
    "send_at": "2026-12-01T09:00:00+02:00"
}))]
pub(super) struct NotificationIn {
    /// The patient's id in the booking system (`PUT /v1/patients/{id}`).
    patient_id: String,
    /// One of the clinic's topics (`GET /v1/topics`); its sensitivity decides what channels
    /// may carry.
    topic: String,
    /// Text written by staff, sent as it is.
    body: Option<String>,
    /// A template by name (`GET /v1/templates`), rendered in the patient's language.
    template: Option<String>,
    /// The template's parameters.
    params: Option<BTreeMap<String, String>>,
    /// A staff quick reply by name, sent in the patient's language instead of body or template.
    quick_reply: Option<String>,
    /// Send on this channel only (staff's choice); absent: the patient's order.
    channel: Option<ChannelKind>,
    /// `urgent` goes at once, outside messaging hours too; default `normal`.
    priority: Option<Priority>,
    /// Not before this instant (RFC 3339 with an offset); absent: now.
    #[serde(default, deserialize_with = "json::optional_timestamp")]
    send_at: Option<Timestamp>,
    /// Not after this instant: a notification still unsent then is `expired`.
    #[serde(default, deserialize_with = "json::optional_timestamp")]
    expires_at: Option<Timestamp>,
}

impl NotificationIn {
    /// Exactly one of body, template and quick reply, with params only beside a template.
    fn content(&mut self) -> Result<Content, ApiError> {
        let params = self.params.take();
        let (field, rule) = match (
            self.body.take(),
            self.template.take(),
            self.quick_reply.take(),
        ) {
            (Some(body), None, None) if params.is_none() => return Ok(Content::Body(body)),
            (None, Some(name), None) => return Ok(Content::Template { name, params }),
            (None, None, Some(name)) if params.is_none() => {
                return Ok(Content::QuickReply(name));
            }
            (Some(_), None, None) | (None, None, Some(_)) => ("params", "only goes with template"),
            (Some(_), Some(_), _) => ("body", "give either body or template, not both"),
            (None, None, None) => (
                "body",
                "give either body or template (or, from staff, a quick_reply)",
            ),
            (_, _, Some(_)) => (
                "quick_reply",
                "goes instead of body and template, not with them",
            ),
        };
        Err(ApiError::invalid(field, rule))
    }
}

/// A notification taken: where it stands, and when it goes.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ReceiptOut {
    id: NotificationId,
    status: NotificationStatus,
    send_at: Timestamp,
}

impl From<Receipt> for ReceiptOut {
    fn from(receipt: Receipt) -> Self {
        Self {
            id: receipt.id,
            status: receipt.status,
            send_at: receipt.send_at,
        }
    }
}

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

/// Fingerprint of a request body, to tell a replay from a reused idempotency key.
pub(super) fn request_hash<T>(body: &ApiJson<T>) -> String {
    hex::encode(Sha256::digest(body.canonical.to_string().as_bytes()))
}

/// Takes a notification: it is on disk before the answer. With an `Idempotency-Key`, the same
/// request again gets the same answer and creates nothing.
#[utoipa::path(
    post,
    path = "/v1/notifications",
    tag = "notifications",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 255 visible ASCII characters; a request sent again with the same key \
            and body gets the first answer and creates nothing")),
    request_body = NotificationIn,
    responses(
        (status = 202, description = "Taken: where it stands and when it goes", body = ReceiptOut),
        (status = 403, description = "This key may not send this (a quick reply needs staff)"),
        (status = 429, description = "The patient's daily limit, this key's rate, or failed key checks"),
    )
)]
pub(super) async fn create_notification(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    mut body: ApiJson<NotificationIn>,
) -> Result<(StatusCode, Json<ReceiptOut>), ApiError> {
    let draft = Draft {
        idempotency_key: idempotency_key(&headers)?,
        request_hash: request_hash(&body),
        content: body.value.content()?,
        clinic: caller.0.clinic.clone(),
        patient_id: body.value.patient_id,
        topic: body.value.topic,
        channel: body.value.channel,
        priority: body.value.priority.unwrap_or(Priority::Normal),
        send_at: body.value.send_at,
        expires_at: body.value.expires_at,
    };
    let receipt = state.intake.accept(draft, &caller.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(receipt.into())))
}

fn notification_id(id: &str) -> Result<NotificationId, ApiError> {
    NotificationId::parse(id).ok_or(ApiError::NotFound("notification"))
}

/// A notification as the caller may see it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NotificationOut {
    #[serde(flatten)]
    view: NotificationFields,
    /// The fields left out because this key may not read them.
    #[serde(skip_serializing_if = "Option::is_none")]
    withheld: Option<Withheld>,
}

/// What a booking key is not shown of a sensitive or restricted topic's notification.
#[derive(Debug, Serialize, ToSchema)]
struct Withheld {
    #[schema(example = json!(["body", "params", "attempts[].content"]))]
    fields: Vec<&'static str>,
    reason: String,
}

/// What staff wrote on sensitive and restricted topics (and the values filled into their
/// templates) is for people at the clinic: a booking key sees that there is a notification and
/// how it went, not what it says.
async fn as_seen_by(
    state: &AppState,
    caller: &Caller,
    records: Vec<NotificationRecord>,
) -> Result<Vec<NotificationOut>, ApiError> {
    let views = records.into_iter().map(NotificationFields::from);
    if caller.has(ApiKeyRole::Staff) {
        return Ok(views
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
    mut view: NotificationRecord,
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

#[utoipa::path(
    get,
    path = "/v1/notifications/{id}",
    tag = "notifications",
    params(("id" = NotificationId, Path, description = "The notification's id")),
    responses(
        (status = 200, description = "The notification with its attempts and events", body = NotificationOut),
        (status = 404, description = "No such notification for this clinic"),
    )
)]
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
        .map_err(ApiError::not_found("notification"))?;
    one_as_seen_by(&state, &caller, view).await
}

/// Cancels a notification no provider may have yet.
#[utoipa::path(
    delete,
    path = "/v1/notifications/{id}",
    tag = "notifications",
    params(("id" = NotificationId, Path, description = "The notification's id")),
    responses(
        (status = 200, description = "Cancelled", body = NotificationOut),
        (status = 404, description = "No such notification for this clinic"),
        (status = 409, description = "Too late: it is finished or may be with a provider"),
    )
)]
pub(super) async fn cancel_notification(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<NotificationOut>, ApiError> {
    let id = notification_id(&id)?;
    let clinic = &caller.0.clinic.id;
    let by = caller.recorded_as();
    match state
        .store
        .cancel_notification(clinic, &id, &by, state.clock.now())
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            let current = state.store.notification(clinic, &id).await?;
            return Err(ApiError::Conflict(why_not_cancellable(&current)));
        }
        Err(other) => return Err(ApiError::not_found("notification")(other)),
    }
    let view = state.store.notification(clinic, &id).await?;
    one_as_seen_by(&state, &caller, view).await
}

/// Why the store refused to cancel, as true for the notification's state: a finished one says
/// how it finished; only one still on its way may be with a provider right now.
fn why_not_cancellable(current: &NotificationRecord) -> String {
    let on = current
        .channel
        .map(|channel| format!(" on {channel}"))
        .unwrap_or_default();
    match current.status {
        NotificationStatus::Cancelled => "notification is already cancelled".to_owned(),
        NotificationStatus::Sent => format!(
            "notification was already sent{on}: the provider has it and it cannot be called back"
        ),
        NotificationStatus::Delivered => {
            format!("notification was already delivered to the patient{on}")
        }
        NotificationStatus::Read => {
            format!("notification was already delivered{on} and read by the patient")
        }
        NotificationStatus::Failed => "notification has already failed: no channel reached the \
                                       patient, so there is nothing left to cancel"
            .to_owned(),
        NotificationStatus::Expired => {
            let at = current
                .expires_at
                .map(|at| format!(" at {at}"))
                .unwrap_or_default();
            format!(
                "notification already expired{at} without being sent; there is nothing left to cancel"
            )
        }
        NotificationStatus::Scheduled
        | NotificationStatus::Queued
        | NotificationStatus::Sending => {
            format!(
                "notification is {}: it is being handed to a provider right now, or a provider \
                 may already have it, and it can no longer be cancelled",
                current.status.as_str()
            )
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only this patient's (the booking system's id).
    patient_id: Option<String>,
    /// Only notifications in this state.
    #[param(value_type = Option<NotificationStatus>)]
    status: Option<String>,
    /// Only those from here: `api`, `auto` (medrelay answering a patient) or `staff_reply`.
    #[param(value_type = Option<OriginFamily>)]
    origin: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

impl ListQuery {
    fn filter(self) -> Result<NotificationFilter, ApiError> {
        let mut errors = Vec::new();
        let status = checked(
            &mut errors,
            "status",
            self.status,
            NotificationStatus::parse,
            &format!("must be one of {}", NotificationStatus::names()),
        );
        let origin = checked(
            &mut errors,
            "origin",
            self.origin,
            OriginFamily::parse,
            &format!("must be one of {}", OriginFamily::names()),
        );
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            errors.push(FieldError::new("limit", "must be between 1 and 500"));
        }
        let after = checked(
            &mut errors,
            "cursor",
            self.cursor,
            decode_cursor,
            "must be a next_cursor value from an earlier page",
        );
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        Ok(NotificationFilter {
            patient_external_id: self.patient_id,
            status,
            origin,
            limit,
            after,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NotificationList {
    items: Vec<NotificationOut>,
    /// Where the next page starts; `null` on the last page.
    next_cursor: Option<String>,
}

/// The clinic's notifications, newest first.
#[utoipa::path(
    get,
    path = "/v1/notifications",
    tag = "notifications",
    params(ListQuery),
    responses((status = 200, description = "A page of notifications", body = NotificationList))
)]
pub(super) async fn list_notifications(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<NotificationList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let filter = query.filter()?;
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
