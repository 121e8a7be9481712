//! Conversations: the clinic's inbox. A conversation is one patient's inbound messages and the
//! notifications sent to them, with the labels and handling state of its `conversations` row.
//! A patient who has only been sent notifications has no row yet: they read as a handled
//! conversation without labels, and the first staff action writes the row.

mod reads;
mod writes;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

pub(super) use reads::{INBOUND_COLUMNS, inbound};
pub(crate) use writes::record_staff_replies;
pub use writes::{LabelChange, OVERDUE_BATCH};

use super::EventRecord;
use crate::domain::{
    ConversationStatus, InboundMedia, InboundMessageId, Intent, NotificationId, NotificationStatus,
    Origin, PatientId,
};

/// The patient a conversation is with.
#[derive(Debug, Clone)]
pub struct ConversationPatient {
    pub id: PatientId,
    /// The booking system's id; `unknown:<E.164>` for an unknown contact.
    pub external_id: String,
    pub name: String,
    /// A number the clinic did not know wrote to it.
    pub unknown_contact: bool,
}

/// A conversation's state, as its row holds it (or as synthesised for a patient without one).
#[derive(Debug, Clone)]
pub struct ConversationRecord {
    pub patient: ConversationPatient,
    pub status: ConversationStatus,
    /// Sorted label names.
    pub labels: Vec<String>,
    pub urgent_since: Option<Timestamp>,
    pub last_message_at: Option<Timestamp>,
    pub last_inbound_at: Option<Timestamp>,
    /// The oldest message neither answered nor handled.
    pub awaiting_since: Option<Timestamp>,
    /// When the waiting message passes the clinic's response target.
    pub overdue_at: Option<Timestamp>,
    pub last_staff_reply_at: Option<Timestamp>,
    /// What the patient last wrote (lists only).
    pub last_inbound_text: Option<String>,
}

/// Which conversations a list shows.
#[derive(Debug, Clone)]
pub struct ConversationFilter {
    pub label: Option<String>,
    pub status: Option<ConversationStatus>,
    /// `Some(true)`: only those with a message waiting; `Some(false)`: only those without.
    pub unanswered: Option<bool>,
    /// `Some(true)`: only those past the response target at `now`; `Some(false)`: the others.
    pub overdue: Option<bool>,
    pub now: Timestamp,
    pub limit: u32,
    pub after: Option<ConversationCursor>,
}

/// Where a page of conversations continues: urgent ones come first, then the newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationCursor {
    pub urgent: bool,
    pub last_message_at: i64,
    pub patient_id: String,
}

#[derive(Debug, Clone)]
pub struct ConversationPage {
    pub items: Vec<ConversationRecord>,
    pub next: Option<ConversationCursor>,
}

/// One message the patient sent.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    pub id: InboundMessageId,
    pub channel: ChannelKind,
    pub kind: String,
    pub text: Option<String>,
    pub media: Option<InboundMedia>,
    pub intent: Intent,
    pub sent_at: Timestamp,
    pub received_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub answered_by: Option<String>,
    pub handled_at: Option<Timestamp>,
    pub handled_by: Option<String>,
}

/// One notification sent to the patient, as a conversation shows it.
#[derive(Debug, Clone)]
pub struct OutboundRecord {
    pub id: NotificationId,
    pub origin: Origin,
    pub in_reply_to: Option<InboundMessageId>,
    pub topic: String,
    /// The channel that carried it, else the one staff chose.
    pub channel: Option<ChannelKind>,
    pub status: NotificationStatus,
    pub body: Option<String>,
    pub template: Option<String>,
    /// When it went to the patient (its first hand-over), else when it is due to.
    pub went_at: Timestamp,
}

/// A conversation with its latest messages both ways and its own events, each oldest first.
#[derive(Debug, Clone)]
pub struct ConversationTimeline {
    pub conversation: ConversationRecord,
    pub inbound: Vec<InboundRecord>,
    pub outbound: Vec<OutboundRecord>,
    pub events: Vec<EventRecord>,
}

/// How many of each kind a conversation's timeline shows, the latest.
pub const TIMELINE_LIMIT: u32 = 200;

/// The patient's latest message that is neither answered nor handled, and the channel of their
/// latest message: what a staff reply answers, and where it goes by default.
#[derive(Debug, Clone, Default)]
pub struct ReplyTarget {
    pub waiting: Option<InboundMessageId>,
    pub last_channel: Option<ChannelKind>,
}

fn parse_labels(stored: &str) -> Result<Vec<String>, super::StoreError> {
    serde_json::from_str(stored).map_err(|_| super::StoreError::Corrupt(format!("labels {stored}")))
}
