use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::booking_fields::booking_fields;
use super::notification_out::NotificationFields;
use super::notification_query::{ListQuery, Listing, encode_cursor, encode_feed_cursor};
use crate::api::AppState;
use crate::api::audit_trail::AuditWithChange;
use crate::api::auth::Caller;
use crate::api::created::Created;
use crate::api::json::{self, ApiJson};
use crate::api::problem::ApiError;
use crate::domain::{
    Metadata, NotificationId, NotificationStatus, Priority, Reference, Sensitivity,
};
use crate::intake::{Content, Draft};
use crate::store::{ApiKeyRole, NotificationRecord, Receipt, StoreError};

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
    /// The booking system's id for this notification, returned with it everywhere.
    reference: Option<String>,
    /// The booking system's own fields, returned with it everywhere.
    metadata: Option<serde_json::Value>,
}

impl NotificationIn {
    /// The booking system's reference and metadata, or every rule they break.
    fn booking_fields(&mut self) -> Result<(Option<Reference>, Metadata), ApiError> {
        let mut errors = Vec::new();
        let fields = booking_fields(&mut errors, self.reference.take(), self.metadata.take());
        if errors.is_empty() {
            Ok(fields)
        } else {
            Err(ApiError::Invalid(errors))
        }
    }

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

/// A notification taken: where it stands, when it goes, and the booking system's reference and
/// metadata given with it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ReceiptOut {
    id: NotificationId,
    status: NotificationStatus,
    send_at: Timestamp,
    reference: Option<Reference>,
    metadata: Metadata,
}

/// Where a notification is read: what `Location` names.
pub(super) fn notification_path(id: &NotificationId) -> String {
    format!("/v1/notifications/{id}")
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
        (status = 202, description = "Taken: where it stands and when it goes", body = ReceiptOut,
            headers(
                ("Location" = String, description = "The notification: `/v1/notifications/{id}`"),
                ("Idempotent-Replayed" = bool, description = "`true`: the answer to an earlier request with this Idempotency-Key, nothing new was created; `false`: this request created it"),
            )),
        (status = 403, description = "This key may not send this (a quick reply needs staff)"),
        (status = 429, description = "The patient's daily limit, this key's rate, or failed key checks"),
    )
)]
pub(super) async fn create_notification(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditWithChange,
    headers: HeaderMap,
    mut body: ApiJson<NotificationIn>,
) -> Result<Created<ReceiptOut>, ApiError> {
    let (reference, metadata) = body.value.booking_fields()?;
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
        // A replay's request is this one, so what it stored is what this one gives.
        reference: reference.clone(),
        metadata: metadata.clone(),
        audit: audit.entry(StatusCode::ACCEPTED, state.clock.now()),
    };
    let accepted = state.intake.accept(draft, &caller.actor()).await?;
    if !accepted.replayed {
        audit.stored();
    }
    let Receipt {
        id,
        status,
        send_at,
    } = accepted.receipt;
    let location = notification_path(&id);
    let out = ReceiptOut {
        id,
        status,
        send_at,
        reference,
        metadata,
    };
    Ok(Created::accepted(location, out).replay(accepted.replayed))
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
pub(crate) fn why_not_cancellable(current: &NotificationRecord) -> String {
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

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NotificationList {
    items: Vec<NotificationOut>,
    /// Newest-first list: the `cursor` of the next page, `null` on the last. Change feed: always
    /// given, the `updated_after` that continues the feed.
    next_cursor: Option<String>,
}

/// The clinic's notifications, newest first.
#[utoipa::path(
    get,
    path = "/v1/notifications",
    tag = "notifications",
    description = "Newest first, paged with `cursor`; or, with `updated_after`, the change feed: \
        the notifications in the order their last change was written, continued with \
        `updated_after=<next_cursor>`. The feed gives every change once (a notification \
        changed twice between two reads shows once, as it is now) and never skips one.",
    params(ListQuery),
    responses((status = 200, description = "A page of notifications", body = NotificationList))
)]
pub(super) async fn list_notifications(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<NotificationList>, ApiError> {
    let clinic = &caller.0.clinic.id;
    let (items, next_cursor) = match ListQuery::from_uri(&uri)?.listing()? {
        Listing::Newest(filter) => {
            let page = state.store.notifications(clinic, &filter).await?;
            (page.items, page.next.as_ref().map(encode_cursor))
        }
        Listing::Feed(filter, start) => {
            let page = state
                .store
                .notification_feed(clinic, &filter, &start)
                .await?;
            (page.items, Some(encode_feed_cursor(&page.next)))
        }
    };
    Ok(Json(NotificationList {
        items: as_seen_by(&state, &caller, items).await?,
        next_cursor,
    }))
}
