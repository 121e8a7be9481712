//! `POST /v1/conversations/{patient_id}/reply`: a staff member answers the patient. The answer
//! is a notification (origin `staff_reply`) taken through intake like any other, so routing,
//! opt-outs and events apply; it answers every message the patient left waiting.
//!
//! It goes on the channel staff name, else the one the patient last wrote on. WhatsApp carries
//! free text only within 24 hours of the patient's last message there; outside that window a
//! quick reply goes as the clinic's approved template of the same name if it has one, and
//! anything else goes on the patient's next channel. The answer says which, and why. A reply
//! that no channel can carry (the patient left every channel they have) is refused with the
//! reasons, and leaves the messages waiting.
//!
//! A reply goes now, whatever the hours: they hold back what medrelay sends on its own, not a
//! person answering a patient who wrote (so it is stored as `urgent`). It counts toward no daily
//! cap: the caps are against flooding, not against answering.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::conversations::{conversation_of, staff_member};
use super::notifications::{idempotency_key, notification_path, request_hash};
use crate::api::AppState;
use crate::api::audit_trail::AuditWithChange;
use crate::api::auth::Caller;
use crate::api::created::Created;
use crate::api::json::ApiJson;
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{
    Actor, Clinic, InboundMessageId, Metadata, NotificationId, NotificationStatus, Patient,
    PatientId, Priority, Reason, SkipReason,
};
use crate::intake::{Content, Draft, StaffReply};
use crate::policy::{WHATSAPP_WINDOW, WhatsAppContent, channel_plan};
use crate::store::AuditEntry;

/// Staff replies go as notifications of this topic.
const REPLY_TOPIC: &str = "general";

/// Staff's answer: exactly one of `text` and `quick_reply`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"by": "Rivka", "text": "Yes, 10:00 is fine. See you tomorrow."}))]
pub(super) struct ReplyIn {
    /// The staff member: 1 to 100 characters on one line.
    by: String,
    text: Option<String>,
    /// One of the clinic's quick replies, by name.
    quick_reply: Option<String>,
    /// For a quick reply that goes as the clinic's approved WhatsApp template of the same name.
    params: Option<BTreeMap<String, String>>,
    /// Send on this channel; absent: the one the patient last wrote on.
    channel: Option<ChannelKind>,
}

/// What staff asked to say: their own text, or a quick reply by name.
#[derive(Debug, Clone)]
pub(crate) enum Said {
    Text(String),
    QuickReply {
        name: String,
        params: Option<BTreeMap<String, String>>,
    },
}

/// A reply request read: the staff member who answers and what they said.
struct Reply {
    by: String,
    said: Said,
}

impl ReplyIn {
    /// Reads who answers and what they said; every broken field is named at once.
    fn parse(&mut self) -> Result<Reply, ApiError> {
        let mut errors = Vec::new();
        let by = staff_member(&self.by, &mut errors);
        let said = self.said(&mut errors);
        let (Some(said), Actor::Staff(by), true) = (said, by, errors.is_empty()) else {
            return Err(ApiError::Invalid(errors));
        };
        Ok(Reply { by, said })
    }

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
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ReplyOut {
    id: NotificationId,
    status: NotificationStatus,
    send_at: Timestamp,
    /// The channel it is planned to go on first (a reply no channel can carry is refused).
    channel: ChannelKind,
    /// The inbound message it answers.
    in_reply_to: Option<InboundMessageId>,
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

const WINDOW_CLOSED: &str = "WhatsApp window closed: the patient has not written on WhatsApp in \
                             the last 24 hours, and free text may go there only within 24 hours \
                             of their last message";

/// Whether the patient wrote to the clinic's WhatsApp number in the last 24 hours, so free text
/// may go to them there (Meta's customer service window).
async fn whatsapp_window_open(
    state: &AppState,
    clinic: &Clinic,
    patient: &Patient,
    now: Timestamp,
) -> Result<bool, ApiError> {
    let (Some(sender), Some(phone)) = (
        state.providers.channel(&clinic.slug, ChannelKind::Whatsapp),
        patient.phone.as_ref(),
    ) else {
        return Ok(false);
    };
    let since = now.checked_sub(WHATSAPP_WINDOW).unwrap_or(now);
    let open = state
        .store
        .open_whatsapp_windows(&[phone.as_str()], since)
        .await?;
    Ok(open.contains(&(sender.sender_id().to_owned(), phone.as_str().to_owned())))
}

/// The clinic's approved template named like the quick reply, as the content of a reply outside
/// the window; `None` when it has none the patient can get with these params.
async fn approved_template(
    state: &AppState,
    clinic: &Clinic,
    patient: &Patient,
    said: &Said,
) -> Result<Option<Route>, ApiError> {
    let Said::QuickReply { name, params } = said else {
        return Ok(None);
    };
    let values = params.clone().unwrap_or_default();
    let checked = state
        .intake
        .check_template(clinic, name, &values, Some(patient))
        .await?;
    Ok(checked.is_ok().then(|| Route {
        content: Content::Template {
            name: name.clone(),
            params: params.clone(),
        },
        pinned: Some(ChannelKind::Whatsapp),
        whatsapp: WhatsAppContent::Template,
        note: Some(format!(
            "{WINDOW_CLOSED}; it goes as the clinic's approved template {name} instead"
        )),
    }))
}

/// Free text goes on WhatsApp only inside the window. Outside it a reply pinned to WhatsApp goes
/// as the clinic's approved template of a quick reply's name, or else on the patient's next
/// channel, unpinned, so the usual fallback applies.
async fn reply_route(
    state: &AppState,
    clinic: &Clinic,
    patient: &Patient,
    said: Said,
    channel: Option<ChannelKind>,
    now: Timestamp,
) -> Result<Route, ApiError> {
    let window_open = whatsapp_window_open(state, clinic, patient, now).await?;
    let unpinned = channel == Some(ChannelKind::Whatsapp) && !window_open;
    if unpinned && let Some(route) = approved_template(state, clinic, patient, &said).await? {
        return Ok(route);
    }
    let content = match said {
        Said::Text(text) => Content::Body(text),
        Said::QuickReply { name, .. } => Content::QuickReply(name),
    };
    Ok(Route {
        content,
        pinned: if unpinned { None } else { channel },
        whatsapp: if window_open {
            WhatsAppContent::FreeTextInWindow
        } else {
            WhatsAppContent::FreeTextOutsideWindow
        },
        note: unpinned.then(|| format!("{WINDOW_CLOSED}; it goes on the patient's next channel")),
    })
}

/// The channel a reply goes on first, as the patient's contacts and opt-outs allow; a reply no
/// channel can carry is refused with the reasons, before anything is written. When the closed
/// WhatsApp window moved an unpinned reply off WhatsApp, the route's note says so.
fn first_channel(
    route: &mut Route,
    patient: &Patient,
    clinic: &Clinic,
) -> Result<ChannelKind, ApiError> {
    let planned = channel_plan(route.pinned, patient, clinic, &[], &[], route.whatsapp);
    let Some(first) = planned.channels.first().map(|c| c.channel) else {
        let reasons: Vec<String> = planned.skipped.iter().map(ToString::to_string).collect();
        return Err(ApiError::invalid(
            "channel",
            format!("no channel can reach the patient: {}", reasons.join("; ")),
        ));
    };
    let window_moved_it = planned.skipped.iter().any(|reason| {
        matches!(
            reason,
            Reason::Skipped {
                reason: SkipReason::OutsideWhatsAppWindow,
                ..
            }
        )
    });
    if route.note.is_none() && window_moved_it {
        route.note = Some(format!("{WINDOW_CLOSED}; it goes on {first}"));
    }
    Ok(first)
}

/// The notification that carries a reply, as intake takes it.
fn reply_draft(
    clinic: &Clinic,
    patient: &Patient,
    route: &mut Route,
    idempotency_key: Option<String>,
    request_hash: String,
    audit: Option<AuditEntry>,
) -> Draft {
    Draft {
        idempotency_key,
        request_hash,
        content: std::mem::replace(&mut route.content, Content::Body(String::new())),
        clinic: clinic.clone(),
        patient_id: patient.external_id.clone(),
        topic: REPLY_TOPIC.to_owned(),
        channel: route.pinned,
        // An answer goes now (see the module's note).
        priority: Priority::Urgent,
        send_at: None,
        expires_at: None,
        reference: None,
        metadata: Metadata::default(),
        audit,
    }
}

/// A staff member's answer to a patient, from the API or the console.
#[derive(Debug)]
pub(crate) struct StaffAnswer {
    pub patient: PatientId,
    /// The staff member, as the messages they answer record them.
    pub by: String,
    pub said: Said,
    /// Staff's channel; none: the one the patient last wrote on.
    pub channel: Option<ChannelKind>,
    /// The same key and hash again give the first answer and send nothing more.
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    /// The request's audit entry, stored with the answer (see [`AuditWithChange`]).
    pub audit: Option<AuditEntry>,
}

/// An answer taken: the notification that carries it, where it goes first and why.
#[derive(Debug)]
pub(crate) struct AnswerTaken {
    pub id: NotificationId,
    pub status: NotificationStatus,
    pub send_at: Timestamp,
    pub channel: ChannelKind,
    pub in_reply_to: Option<InboundMessageId>,
    pub note: Option<String>,
    pub replayed: bool,
}

/// Where a reply to the patient would go now, without sending it: what the console shows
/// beside its reply form.
#[derive(Debug)]
pub(crate) struct ReplyPlan {
    /// The patient wrote on WhatsApp in the last 24 hours: free text may go there.
    pub window_open: bool,
    /// The channel staff's free text would go on first; `Err`: why none can carry it.
    pub channel: Result<ChannelKind, String>,
    /// Why the closed WhatsApp window moves free text off WhatsApp.
    pub note: Option<String>,
}

/// The plan for free text to `patient` on `channel` (none: where the patient last wrote).
pub(crate) async fn plan_reply(
    state: &AppState,
    clinic: &Clinic,
    patient: &Patient,
    channel: Option<ChannelKind>,
) -> Result<ReplyPlan, ApiError> {
    let target = state.store.reply_target(&clinic.id, &patient.id).await?;
    let channel = channel.or(target.last_channel);
    let now = state.clock.now();
    let window_open = whatsapp_window_open(state, clinic, patient, now).await?;
    let said = Said::Text(String::new());
    let mut route = reply_route(state, clinic, patient, said, channel, now).await?;
    let channel = match first_channel(&mut route, patient, clinic) {
        Ok(channel) => Ok(channel),
        Err(ApiError::Invalid(errors)) => Err(errors.into_iter().map(|e| e.rule).collect()),
        Err(other) => return Err(other),
    };
    Ok(ReplyPlan {
        window_open,
        channel,
        note: route.note,
    })
}

/// Answers the patient through intake: the WhatsApp window's rules decide the content and the
/// channel, and the answer answers every message the patient left waiting.
pub(crate) async fn answer_patient(
    state: &AppState,
    clinic: &Clinic,
    actor: &crate::intake::Actor,
    answer: StaffAnswer,
) -> Result<AnswerTaken, ApiError> {
    let patient = state
        .store
        .clinic_patient(&clinic.id, &answer.patient)
        .await
        .map_err(ApiError::not_found("conversation"))?;
    let target = state
        .store
        .reply_target(&clinic.id, &answer.patient)
        .await?;
    let channel = answer.channel.or(target.last_channel);
    let now = state.clock.now();
    let mut route = reply_route(state, clinic, &patient, answer.said, channel, now).await?;
    let first = first_channel(&mut route, &patient, clinic)?;
    let draft = reply_draft(
        clinic,
        &patient,
        &mut route,
        answer.idempotency_key,
        answer.request_hash,
        answer.audit,
    );
    let answers = StaffReply {
        by: answer.by,
        in_reply_to: target.waiting.clone(),
    };
    let accepted = state
        .intake
        .accept_staff_reply(draft, actor, answers)
        .await?;
    Ok(AnswerTaken {
        id: accepted.receipt.id,
        status: accepted.receipt.status,
        send_at: accepted.receipt.send_at,
        channel: first,
        in_reply_to: target.waiting,
        note: route.note,
        replayed: accepted.replayed,
    })
}

/// Answers the patient; the answer goes now, and answers every message left waiting.
#[utoipa::path(
    post,
    path = "/v1/conversations/{patient_id}/reply",
    tag = "conversations",
    params(
        ("patient_id" = String, Path, description = "The patient: our id (`pat_…`) or the booking system's"),
        ("Idempotency-Key" = Option<String>, Header,
            description = "1 to 255 visible ASCII characters; a request sent again with the same \\
                key and body gets the first answer and creates nothing"),
    ),
    request_body = ReplyIn,
    responses(
        (status = 202, description = "Taken: the notification that carries it, where it goes and why", body = ReplyOut,
            headers(
                ("Location" = String, description = "The notification: `/v1/notifications/{id}`"),
                ("Idempotent-Replayed" = bool, description = "`true`: the answer to an earlier request with this Idempotency-Key, nothing new was created; `false`: this request created it"),
            )),
        (status = 403, description = "Needs a staff or admin key"),
        (status = 404, description = "No such patient"),
    )
)]
pub(super) async fn reply(
    State(state): State<AppState>,
    caller: Caller,
    audit: AuditWithChange,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut body: ApiJson<ReplyIn>,
) -> Result<Created<ReplyOut>, ApiError> {
    let id = conversation_of(&state, &caller, &id).await?;
    let Reply { by, said } = body.value.parse()?;
    let answer = StaffAnswer {
        patient: id,
        by,
        said,
        channel: body.value.channel,
        idempotency_key: idempotency_key(&headers)?,
        request_hash: request_hash(&body),
        audit: audit.entry(StatusCode::ACCEPTED, state.clock.now()),
    };
    let taken = answer_patient(&state, &caller.0.clinic, &caller.actor(), answer).await?;
    if !taken.replayed {
        audit.stored();
    }
    let location = notification_path(&taken.id);
    let out = ReplyOut {
        id: taken.id,
        status: taken.status,
        send_at: taken.send_at,
        channel: taken.channel,
        in_reply_to: taken.in_reply_to,
        note: taken.note,
    };
    Ok(Created::accepted(location, out).replay(taken.replayed))
}
