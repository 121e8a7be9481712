//! The records FHIR resources are made from, as the store reads them: one notification with
//! every attempt that reached a provider, or one message a patient sent. Each is read from one
//! snapshot of the database, so a record never mixes two moments. Plain data: the store fills
//! it, [`super`] maps it, and the push and the transcript read the same records.

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use crate::domain::{
    AppointmentId, AttemptContent, AttemptId, InboundMedia, InboundMessageId, NotificationId,
    NotificationStatus, Origin, Priority, Sensitivity,
};

/// The identifier systems of one clinic's records: every system is `<base>/<kind>`, the
/// patient's the clinic's own when it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifiers {
    base: String,
    patient_system: String,
}

impl Identifiers {
    /// A clinic's systems: `base` (`clinics.fhir_identifier_base`) or `urn:medrelay:clinic:<slug>`,
    /// and `patient_system` (`clinics.fhir_patient_system`) or `<base>/patient`.
    pub fn new(clinic_slug: &str, base: Option<&str>, patient_system: Option<&str>) -> Self {
        let base = base
            .map(|b| b.trim_end_matches('/').to_owned())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| format!("urn:medrelay:clinic:{clinic_slug}"));
        let patient_system = patient_system
            .filter(|s| !s.is_empty())
            .map_or_else(|| format!("{base}/patient"), str::to_owned);
        Self {
            base,
            patient_system,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Where the patient's external id (the booking system's) is an identifier.
    pub fn patient(&self) -> &str {
        &self.patient_system
    }

    /// `<base>/notification`: a CommunicationRequest's identifier is the notification's id.
    pub fn notification(&self) -> String {
        self.under("notification")
    }

    /// `<base>/attempt`: an outbound Communication's identifier is the attempt's id.
    pub fn attempt(&self) -> String {
        self.under("attempt")
    }

    /// `<base>/message`: an inbound Communication's identifier is the patient's message's id.
    pub fn message(&self) -> String {
        self.under("message")
    }

    /// `<base>/appointment`: the appointment a reminder or notice is about.
    pub fn appointment(&self) -> String {
        self.under("appointment")
    }

    /// `<base>/topic`: the clinic's topics as codes.
    pub fn topic(&self) -> String {
        self.under("topic")
    }

    /// `<base>/channel`: whatsapp, sms, email, voice.
    pub fn channel(&self) -> String {
        self.under("channel")
    }

    /// `<base>/api-key`: the key a notification was asked for with.
    pub fn api_key(&self) -> String {
        self.under("api-key")
    }

    /// `<base>/status-reason`: why an attempt or a notification stands where it does.
    pub fn status_reason(&self) -> String {
        self.under("status-reason")
    }

    fn under(&self, kind: &str) -> String {
        format!("{}/{kind}", self.base)
    }
}

/// The patient a record is about, as the clinic's records name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRef {
    /// The booking system's id for the patient.
    pub external_id: String,
    /// `None` once erased (or never given).
    pub name: Option<String>,
    /// The clinic erased the patient's personal data: every text of theirs is gone.
    pub erased: bool,
}

/// Who asked for a notification: the actor of its first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// A caller with an API key; `role` is the key's (booking, staff, admin) while it exists.
    ApiKey { id: String, role: Option<String> },
    /// A person at the clinic, by the name staff gave.
    Staff(String),
    /// medrelay on the clinic's behalf: an auto reply, or a record from before requesters
    /// were kept.
    Clinic,
}

/// The appointment a reminder or notice is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentRef {
    pub id: AppointmentId,
    /// The booking system's id for it, if it gave one.
    pub external_id: Option<String>,
}

/// One notification as its CommunicationRequest and Communications tell it.
#[derive(Debug, Clone)]
pub struct NotificationRecord {
    pub id: NotificationId,
    /// The clinic's name, as the sender of what went to the patient.
    pub clinic_name: String,
    pub patient: PatientRef,
    pub topic: String,
    /// The topic's sensitivity now (a clinic may change it; each attempt's content says what
    /// it actually carried).
    pub sensitivity: Sensitivity,
    pub priority: Priority,
    pub status: NotificationStatus,
    pub origin: Origin,
    pub requester: Requester,
    pub appointment: Option<AppointmentRef>,
    /// The channel staff chose, if any.
    pub requested_channel: Option<ChannelKind>,
    /// The channel a provider took it on, then the one that delivered it.
    pub delivered_channel: Option<ChannelKind>,
    /// What the clinic asked to say: its own text, or a template and its parameters. An empty
    /// body or empty parameters mean the text was removed.
    pub body: Option<String>,
    pub template: Option<String>,
    pub params: Option<serde_json::Value>,
    pub send_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The patient's message this answers (an auto or staff reply).
    pub in_reply_to: Option<InboundMessageId>,
    /// The attempts whose hand-over to a provider started, oldest first: each is a
    /// Communication.
    pub sent: Vec<SentAttempt>,
}

/// One attempt that reached a provider (its hand-over started).
#[derive(Debug, Clone)]
pub struct SentAttempt {
    pub id: AttemptId,
    pub channel: ChannelKind,
    /// The stored attempt status (`crate::domain::AttemptStatus`).
    pub status: crate::domain::AttemptStatus,
    /// When the hand-over started.
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    /// Handed to the sandbox, not to a provider: it reached no patient.
    pub sandbox: bool,
    /// What the patient got, as recorded at the hand-over; `None` for attempts from before
    /// contents were recorded. Its `text` is `None` once removed.
    pub content: Option<AttemptContent>,
}

/// A staff member's (or medrelay's) handling of a patient's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handling {
    pub at: Timestamp,
    /// A staff member's name, or `medrelay`.
    pub by: Option<String>,
}

/// Our message a patient's message replied to (WhatsApp's reply context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepliedAttempt {
    pub attempt: AttemptId,
    pub notification: NotificationId,
}

/// One message a patient sent, as its Communication tells it.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    pub id: InboundMessageId,
    pub clinic_name: String,
    pub patient: PatientRef,
    pub channel: ChannelKind,
    /// The provider's message type: `text`, `button`, `image`, ….
    pub kind: String,
    /// `None` once removed, or when there was none (media without a caption).
    pub text: Option<String>,
    /// `None` once removed, or when there was none.
    pub media: Option<InboundMedia>,
    pub sent_at: Timestamp,
    pub received_at: Timestamp,
    pub answered: Option<Handling>,
    pub handled: Option<Handling>,
    pub replies_to: Option<RepliedAttempt>,
}

impl InboundRecord {
    /// When its Communication last changed: its arrival, then its answer or handling.
    pub fn last_updated(&self) -> Timestamp {
        [&self.answered, &self.handled]
            .into_iter()
            .flatten()
            .map(|h| h.at)
            .fold(self.received_at, Timestamp::max)
    }
}

/// Which records a search reads: every condition given must hold. Read in the order of their
/// last change, then id, so a client that pages on finds every record that changed behind it.
#[derive(Debug, Clone, Default)]
pub struct RecordSearch {
    /// The patients, by external id: each list is a choice (any of them), every list must hold;
    /// an empty list holds for nobody.
    pub patients: Vec<Vec<String>>,
    /// Bounds on the last change; every one must hold.
    pub updated: Vec<UpdatedBound>,
    /// Communications only: the notifications they carry, each list a choice as `patients`.
    pub based_on: Vec<Vec<NotificationId>>,
    pub limit: u32,
    /// Continue after this record.
    pub after: Option<RecordCursor>,
}

/// A bound on when a record last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdatedBound {
    /// At this instant or later.
    Since(Timestamp),
    /// Before this instant.
    Before(Timestamp),
}

/// Where a page ends: the last record's last change and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCursor {
    pub last_updated: Timestamp,
    pub id: String,
}

/// One page of a search, and where the next begins when there is more.
#[derive(Debug, Clone)]
pub struct RecordPage<T> {
    pub items: Vec<T>,
    pub next: Option<RecordCursor>,
}

/// One Communication found by a search: an attempt of a notification, or a patient's message.
#[derive(Debug, Clone)]
pub enum CommunicationRecord {
    /// The attempt `attempt` of `notification` (the record holds all its sent attempts).
    Sent {
        notification: std::sync::Arc<NotificationRecord>,
        attempt: AttemptId,
    },
    Received(Box<InboundRecord>),
}

/// The id of a Communication: the attempt it tells, or the patient's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommunicationId {
    Attempt(AttemptId),
    Message(InboundMessageId),
}

impl CommunicationId {
    /// One of our ids (`att_…` or `msg_…`); `None` for any other.
    pub fn parse(id: &str) -> Option<Self> {
        AttemptId::parse(id)
            .map(Self::Attempt)
            .or_else(|| InboundMessageId::parse(id).map(Self::Message))
    }
}
