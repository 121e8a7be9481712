//! A conversation as `/v1/conversations` shows it: its state, and its messages both ways in the
//! order they happened. Only staff and admin keys read conversations, and they may read what
//! staff wrote on every topic (as on `/v1/notifications`), so nothing here is withheld.

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use serde::Serialize;
use utoipa::ToSchema;

use super::notification_out::EventOut;
use crate::domain::{
    ConversationStatus, InboundMedia, InboundMessageId, Intent, NotificationId, NotificationStatus,
    PatientId,
};
use crate::store::{ConversationRecord, ConversationTimeline, InboundRecord, OutboundRecord};

/// How much of the patient's last message a list shows.
const PREVIEW_CHARS: usize = 100;

/// The patient a conversation is with.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ConversationPatient)]
pub(super) struct PatientOut {
    id: PatientId,
    /// The booking system's id.
    external_id: String,
    name: String,
    /// Written by a number no patient of the clinic has.
    unknown_contact: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ConversationOut {
    /// The patient's id: a conversation is one patient's.
    id: PatientId,
    patient: PatientOut,
    status: ConversationStatus,
    labels: Vec<String>,
    urgent: bool,
    urgent_since: Option<Timestamp>,
    last_message_at: Option<Timestamp>,
    last_inbound_at: Option<Timestamp>,
    /// Since when the oldest unanswered message waits; null: nothing waits.
    awaiting_since: Option<Timestamp>,
    /// Whether the waiting message is past the clinic's response target now.
    overdue: bool,
    overdue_at: Option<Timestamp>,
    last_staff_reply_at: Option<Timestamp>,
    /// The first characters of what the patient last wrote (lists only).
    #[serde(skip_serializing_if = "Option::is_none")]
    preview: Option<String>,
}

impl ConversationOut {
    pub(super) fn new(record: ConversationRecord, now: Timestamp) -> Self {
        let preview = record
            .last_inbound_text
            .map(|text| text.chars().take(PREVIEW_CHARS).collect());
        Self {
            id: record.patient.id.clone(),
            patient: PatientOut {
                id: record.patient.id,
                external_id: record.patient.external_id,
                name: record.patient.name,
                unknown_contact: record.patient.unknown_contact,
            },
            status: record.status,
            labels: record.labels,
            urgent: record.urgent_since.is_some(),
            urgent_since: record.urgent_since,
            last_message_at: record.last_message_at,
            last_inbound_at: record.last_inbound_at,
            awaiting_since: record.awaiting_since,
            overdue: record.overdue_at.is_some_and(|at| at <= now),
            overdue_at: record.overdue_at,
            last_staff_reply_at: record.last_staff_reply_at,
            preview,
        }
    }
}

/// What came with an inbound message besides text: the provider's reference stays inside
/// medrelay; staff fetch the file through `media_url`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
enum MediaOut {
    File {
        mime_type: Option<String>,
        filename: Option<String>,
        media_url: String,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// Removed by the clinic's retention or an erasure: only the file's type is kept.
    Removed { mime_type: Option<String> },
}

impl MediaOut {
    fn new(media: InboundMedia, message: &InboundMessageId) -> Self {
        let media_url = format!("/v1/messages/{message}/media");
        match media {
            InboundMedia::WhatsApp {
                mime_type,
                filename,
                ..
            } => Self::File {
                mime_type,
                filename,
                media_url,
            },
            InboundMedia::Twilio { mime_type, .. } => Self::File {
                mime_type,
                filename: None,
                media_url,
            },
            InboundMedia::Location {
                latitude,
                longitude,
                name,
                address,
            } => Self::Location {
                latitude,
                longitude,
                name,
                address,
            },
            InboundMedia::Removed { mime_type } => Self::Removed { mime_type },
        }
    }
}

/// One message of a conversation, either way.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "direction", rename_all = "snake_case")]
enum MessageOut {
    Inbound {
        id: InboundMessageId,
        at: Timestamp,
        channel: ChannelKind,
        kind: String,
        text: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        media: Option<MediaOut>,
        intent: Intent,
        answered_at: Option<Timestamp>,
        answered_by: Option<String>,
        handled_at: Option<Timestamp>,
        handled_by: Option<String>,
    },
    Outbound {
        id: NotificationId,
        at: Timestamp,
        /// `api`, `auto:<kind>` or `staff_reply`.
        origin: String,
        in_reply_to: Option<InboundMessageId>,
        topic: String,
        channel: Option<ChannelKind>,
        status: NotificationStatus,
        body: Option<String>,
        template: Option<String>,
    },
}

impl MessageOut {
    fn at(&self) -> Timestamp {
        match self {
            Self::Inbound { at, .. } | Self::Outbound { at, .. } => *at,
        }
    }
}

impl From<InboundRecord> for MessageOut {
    fn from(m: InboundRecord) -> Self {
        Self::Inbound {
            media: m.media.map(|media| MediaOut::new(media, &m.id)),
            id: m.id,
            at: m.received_at,
            channel: m.channel,
            kind: m.kind,
            text: m.text,
            intent: m.intent,
            answered_at: m.answered_at,
            answered_by: m.answered_by,
            handled_at: m.handled_at,
            handled_by: m.handled_by,
        }
    }
}

impl From<OutboundRecord> for MessageOut {
    fn from(n: OutboundRecord) -> Self {
        Self::Outbound {
            id: n.id,
            at: n.went_at,
            origin: n.origin.stored(),
            in_reply_to: n.in_reply_to,
            topic: n.topic,
            channel: n.channel,
            status: n.status,
            body: n.body,
            template: n.template,
        }
    }
}

/// One conversation: its state, its latest messages both ways oldest first, and its own events
/// (staff actions, overdue).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TimelineOut {
    #[serde(flatten)]
    conversation: ConversationOut,
    messages: Vec<MessageOut>,
    events: Vec<EventOut>,
}

impl TimelineOut {
    pub(super) fn new(timeline: ConversationTimeline, now: Timestamp) -> Self {
        let mut messages: Vec<MessageOut> = timeline
            .inbound
            .into_iter()
            .map(MessageOut::from)
            .chain(timeline.outbound.into_iter().map(MessageOut::from))
            .collect();
        // Stable: at the same millisecond the patient's message comes before our answer.
        messages.sort_by_key(MessageOut::at);
        Self {
            conversation: ConversationOut::new(timeline.conversation, now),
            messages,
            events: timeline.events.into_iter().map(EventOut::from).collect(),
        }
    }
}
