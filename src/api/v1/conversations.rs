//! `/v1/conversations`: the clinic's inbox. Staff list conversations, read one, answer the
//! patient, label it and mark it handled; every action names the person (`by`). Booking keys
//! have no business in patients' messages: every call here needs a staff or admin key.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use serde::{Deserialize, Serialize};

use super::conversation_out::{ConversationOut, TimelineOut};
use super::notifications::{idempotency_key, request_hash};
use super::patients::checked;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{
    Actor, BUILT_IN_LABELS, Clinic, ConversationStatus, NotificationId, NotificationStatus,
    Patient, PatientId, Priority,
};
use crate::intake::{Content, Draft, StaffReply};
use crate::policy::{WHATSAPP_WINDOW, WhatsAppContent, channel_plan};
use crate::store::{ApiKeyRole, ConversationCursor, ConversationFilter, LabelChange};

/// Staff replies go as notifications of this topic.
const REPLY_TOPIC: &str = "general";

const BY_RULE: &str = "must name the staff member acting: 1 to 100 characters on one line";

fn staff_only(caller: &Caller) -> Result<(), ApiError> {
    caller.require(ApiKeyRole::Staff)
}

/// The conversation's patient, named by our id or by the id the rest of the API uses.
async fn conversation_of(
    state: &AppState,
    caller: &Caller,
    named: &str,
) -> Result<PatientId, ApiError> {
    staff_only(caller)?;
    state
        .store
        .conversation_patient(&caller.0.clinic.id, named)
        .await
        .map_err(ApiError::not_found("conversation"))
}

/// The staff member named by `by`, as the audit trail records them.
fn staff_member(by: &str, errors: &mut Vec<FieldError>) -> Actor {
    let name = by.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new("by", BY_RULE));
    }
    Actor::Staff(name.to_owned())
}

/// The labels a clinic's conversations may carry: the built-in ones.
fn known_labels() -> Vec<String> {
    BUILT_IN_LABELS.iter().map(|l| (*l).to_owned()).collect()
}

fn label_rule(known: &[String]) -> String {
    format!("must be one of the clinic's labels: {}", known.join(", "))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    label: Option<String>,
    status: Option<String>,
    unanswered: Option<String>,
    overdue: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

fn flag(s: &str) -> Option<bool> {
    match s {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

impl ListQuery {
    fn filter(self, now: Timestamp) -> Result<ConversationFilter, ApiError> {
        let mut errors = Vec::new();
        let known = known_labels();
        let label = checked(
            &mut errors,
            "label",
            self.label,
            |l| known.iter().any(|k| k == l).then(|| l.to_owned()),
            &label_rule(&known),
        );
        let status = checked(
            &mut errors,
            "status",
            self.status,
            ConversationStatus::parse,
            &format!("must be one of {}", ConversationStatus::names()),
        );
        let unanswered = checked(&mut errors, "unanswered", self.unanswered, flag, BOOL);
        let overdue = checked(&mut errors, "overdue", self.overdue, flag, BOOL);
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
        Ok(ConversationFilter {
            label,
            status,
            unanswered,
            overdue,
            now,
            limit,
            after,
        })
    }
}

const BOOL: &str = "must be true or false";

/// `<urgent 0|1>.<last message, ms>.<patient id>`.
fn decode_cursor(cursor: &str) -> Option<ConversationCursor> {
    let mut parts = cursor.splitn(3, '.');
    let urgent = match parts.next()? {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    Some(ConversationCursor {
        urgent,
        last_message_at: parts.next()?.parse().ok()?,
        patient_id: PatientId::parse(parts.next()?)?.as_str().to_owned(),
    })
}

fn encode_cursor(cursor: &ConversationCursor) -> String {
    let urgent = u8::from(cursor.urgent);
    format!("{urgent}.{}.{}", cursor.last_message_at, cursor.patient_id)
}

#[derive(Debug, Serialize)]
pub(super) struct ConversationList {
    items: Vec<ConversationOut>,
    next_cursor: Option<String>,
}

pub(super) async fn list_conversations(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConversationList>, ApiError> {
    staff_only(&caller)?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let now = state.clock.now();
    let filter = query.filter(now)?;
    let page = state
        .store
        .conversations(&caller.0.clinic.id, &filter)
        .await?;
    Ok(Json(ConversationList {
        items: page
            .items
            .into_iter()
            .map(|c| ConversationOut::new(c, now))
            .collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

pub(super) async fn get_conversation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TimelineOut>, ApiError> {
    let id = conversation_of(&state, &caller, &id).await?;
    let timeline = state
        .store
        .conversation_timeline(&caller.0.clinic.id, &id)
        .await
        .map_err(ApiError::not_found("conversation"))?;
    Ok(Json(TimelineOut::new(timeline, state.clock.now())))
}

/// The conversation as it stands after a staff action.
async fn current(
    state: &AppState,
    clinic: &Clinic,
    id: &PatientId,
) -> Result<Json<ConversationOut>, ApiError> {
    let timeline = state
        .store
        .conversation_timeline(&clinic.id, id)
        .await
        .map_err(ApiError::not_found("conversation"))?;
    Ok(Json(ConversationOut::new(
        timeline.conversation,
        state.clock.now(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HandledIn {
    by: String,
}

pub(super) async fn mark_handled(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<HandledIn>,
) -> Result<Json<ConversationOut>, ApiError> {
    let id = conversation_of(&state, &caller, &id).await?;
    let mut errors = Vec::new();
    let by = staff_member(&body.value.by, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let clinic = &caller.0.clinic;
    state
        .store
        .handle_conversation(&clinic.id, &id, &by, state.clock.now())
        .await
        .map_err(ApiError::not_found("conversation"))?;
    current(&state, clinic, &id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LabelsIn {
    by: String,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

impl LabelsIn {
    /// Every label known to the clinic, none both added and removed, and `awaiting_response`
    /// left to medrelay: it is set when the patient writes and cleared when staff answer.
    fn change(self, errors: &mut Vec<FieldError>) -> LabelChange {
        let known = known_labels();
        if self.add.is_empty() && self.remove.is_empty() {
            errors.push(FieldError::new("add", "give labels to add or to remove"));
        }
        for (field, labels) in [("add", &self.add), ("remove", &self.remove)] {
            for (i, label) in labels.iter().enumerate() {
                let field = format!("{field}[{i}]");
                if label == "awaiting_response" {
                    errors.push(FieldError::new(
                        field,
                        "awaiting_response is set when the patient writes and cleared when staff \
                         answer or mark the conversation handled",
                    ));
                } else if !known.contains(label) {
                    errors.push(FieldError::new(field, label_rule(&known)));
                } else if field.starts_with("add") && self.remove.contains(label) {
                    errors.push(FieldError::new(field, "is also in remove"));
                }
            }
        }
        LabelChange {
            add: self.add,
            remove: self.remove,
        }
    }
}

pub(super) async fn change_labels(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<LabelsIn>,
) -> Result<Json<ConversationOut>, ApiError> {
    let id = conversation_of(&state, &caller, &id).await?;
    let mut errors = Vec::new();
    let by = staff_member(&body.value.by, &mut errors);
    let change = body.value.change(&mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let clinic = &caller.0.clinic;
    state
        .store
        .label_conversation(&clinic.id, &id, &by, &change, state.clock.now())
        .await
        .map_err(ApiError::not_found("conversation"))?;
    current(&state, clinic, &id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplyIn {
    by: String,
    text: Option<String>,
    quick_reply: Option<String>,
    /// For a quick reply that goes as the clinic's approved WhatsApp template of the same name.
    params: Option<BTreeMap<String, String>>,
    channel: Option<ChannelKind>,
}

/// What staff asked to say: their own text, or a quick reply by name.
enum Said {
    Text(String),
    QuickReply {
        name: String,
        params: Option<BTreeMap<String, String>>,
    },
}

impl ReplyIn {
    fn said(&mut self, errors: &mut Vec<FieldError>) -> Option<Said> {
        match (
            self.text.take(),
            self.quick_reply.take(),
            self.params.take(),
        ) {
            (Some(text), None, None) => Some(Said::Text(text)),
            (None, Some(name), params) => Some(Said::QuickReply { name, params }),
            (Some(_), None, Some(_)) => {
                errors.push(FieldError::new("params", "only goes with quick_reply"));
                None
            }
            (Some(_), Some(_), _) => {
                errors.push(FieldError::new(
                    "text",
                    "give either text or quick_reply, not both",
                ));
                None
            }
            (None, None, _) => {
                errors.push(FieldError::new("text", "give either text or quick_reply"));
                None
            }
        }
    }
}

/// A staff reply taken: the notification that carries it, where it goes and why.
#[derive(Debug, Serialize)]
pub(super) struct ReplyOut {
    id: NotificationId,
    status: NotificationStatus,
    send_at: Timestamp,
    /// The channel it is planned to go on first; null when none can carry it (the dispatcher
    /// records why).
    channel: Option<ChannelKind>,
    /// The inbound message it answers.
    in_reply_to: Option<crate::domain::InboundMessageId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// How a reply goes: its content, the channel it is pinned to, and a note when the WhatsApp
/// window changed the plan.
struct Route {
    content: Content,
    pinned: Option<ChannelKind>,
    whatsapp: WhatsAppContent,
    note: Option<String>,
}

impl AppState {
    /// Whether the patient wrote to the clinic's WhatsApp number in the last 24 hours, so free
    /// text may go to them there (Meta's customer service window).
    async fn whatsapp_window_open(
        &self,
        clinic: &Clinic,
        patient: &Patient,
        now: Timestamp,
    ) -> Result<bool, ApiError> {
        let (Some(sender), Some(phone)) = (
            self.providers.channel(&clinic.slug, ChannelKind::Whatsapp),
            patient.phone.as_ref(),
        ) else {
            return Ok(false);
        };
        let since = now.checked_sub(WHATSAPP_WINDOW).unwrap_or(now);
        let open = self
            .store
            .open_whatsapp_windows(&[phone.as_str()], since)
            .await?;
        Ok(open.contains(&(sender.sender_id().to_owned(), phone.as_str().to_owned())))
    }

    /// Free text goes on WhatsApp only inside the window. Outside it a quick reply with an
    /// approved template of the same name goes as that template; anything else goes on the
    /// patient's next channel, unpinned, so the usual fallback applies.
    async fn reply_route(
        &self,
        clinic: &Clinic,
        patient: &Patient,
        said: Said,
        channel: Option<ChannelKind>,
        now: Timestamp,
    ) -> Result<Route, ApiError> {
        let free_text = |said: Said| match said {
            Said::Text(text) => Content::Body(text),
            Said::QuickReply { name, .. } => Content::QuickReply(name),
        };
        if channel != Some(ChannelKind::Whatsapp)
            || self.whatsapp_window_open(clinic, patient, now).await?
        {
            return Ok(Route {
                content: free_text(said),
                pinned: channel,
                whatsapp: WhatsAppContent::FreeTextInWindow,
                note: None,
            });
        }
        const CLOSED: &str = "WhatsApp window closed: the patient last wrote on WhatsApp more \
                              than 24 hours ago, and free text may go there only within 24 hours";
        if let Said::QuickReply { name, params } = &said {
            let values = params.clone().unwrap_or_default();
            let template = self
                .intake
                .check_template(clinic, name, &values, Some(patient))
                .await?;
            if template.is_ok() {
                return Ok(Route {
                    content: Content::Template {
                        name: name.clone(),
                        params: params.clone(),
                    },
                    pinned: Some(ChannelKind::Whatsapp),
                    whatsapp: WhatsAppContent::Template,
                    note: Some(format!(
                        "{CLOSED}; it goes as the clinic's approved template {name} instead"
                    )),
                });
            }
        }
        Ok(Route {
            content: free_text(said),
            pinned: None,
            whatsapp: WhatsAppContent::FreeTextOutsideWindow,
            note: Some(format!("{CLOSED}; it goes on the patient's next channel")),
        })
    }
}

pub(super) async fn reply(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut body: ApiJson<ReplyIn>,
) -> Result<(StatusCode, Json<ReplyOut>), ApiError> {
    let id = conversation_of(&state, &caller, &id).await?;
    let mut errors = Vec::new();
    let by = staff_member(&body.value.by, &mut errors);
    let said = body.value.said(&mut errors);
    let (Some(said), Actor::Staff(by), true) = (said, by, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let clinic = &caller.0.clinic;
    let now = state.clock.now();
    let patient = state
        .store
        .clinic_patient(&clinic.id, &id)
        .await
        .map_err(ApiError::not_found("conversation"))?;
    let target = state.store.reply_target(&clinic.id, &id).await?;
    let channel = body.value.channel.or(target.last_channel);
    let route = state
        .reply_route(clinic, &patient, said, channel, now)
        .await?;
    let planned = channel_plan(route.pinned, &patient, clinic, &[], &[], route.whatsapp);
    let draft = Draft {
        idempotency_key: idempotency_key(&headers)?,
        request_hash: request_hash(&body),
        content: route.content,
        clinic: clinic.clone(),
        patient_id: patient.external_id.clone(),
        topic: REPLY_TOPIC.to_owned(),
        channel: route.pinned,
        // An answer goes now: the clinic's hours and the patient's quiet hours hold back what
        // medrelay sends on its own, not a person answering a patient who wrote.
        priority: Priority::Urgent,
        send_at: None,
        expires_at: None,
    };
    let reply = StaffReply {
        by,
        in_reply_to: target.waiting.clone(),
    };
    let receipt = state
        .intake
        .accept_staff_reply(draft, &caller.actor(), reply)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplyOut {
            id: receipt.id,
            status: receipt.status,
            send_at: receipt.send_at,
            channel: planned.channels.first().map(|c| c.channel),
            in_reply_to: target.waiting,
            note: route.note,
        }),
    ))
}
