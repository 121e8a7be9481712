//! A notification as `/v1` shows it: its fields, attempts and events. The store reads records;
//! the JSON clients see is defined here.

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{
    AppointmentId, AttemptContent, InboundMessageId, Metadata, NotificationId, NotificationStatus,
    Priority, Reference,
};
use crate::store::{AttemptRecord, EventRecord, NotificationRecord};

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AttemptOut {
    pub(super) id: String,
    pub(super) channel: ChannelKind,
    pub(super) status: String,
    pub(super) provider_message_id: Option<String>,
    pub(super) error_code: Option<String>,
    pub(super) error_text: Option<String>,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
    pub(super) accepted_at: Option<Timestamp>,
    pub(super) delivered_at: Option<Timestamp>,
    pub(super) read_at: Option<Timestamp>,
    pub(super) failed_at: Option<Timestamp>,
    /// Sent to the sandbox, not to a provider: it reached no patient.
    pub(super) sandbox: bool,
    /// SMS only: `gsm7` or `ucs2`, and the segments billed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sms_encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sms_segments: Option<i64>,
    /// What the attempt put in front of the patient; read from `attempt_contents` on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) content: Option<AttemptContent>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventOut {
    pub(super) at: Timestamp,
    pub(super) kind: String,
    pub(super) attempt_id: Option<String>,
    pub(super) detail: String,
    /// The typed event's `type`; events stored before they were typed have none.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(super) event_type: Option<String>,
    /// The typed event, tagged by `type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) data: Option<serde_json::Value>,
    /// Who caused it: `key:<id>`, `staff:<name>` or `system`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) actor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NotificationFields {
    pub(super) id: NotificationId,
    pub(super) patient_id: String,
    pub(super) topic: String,
    pub(super) priority: Priority,
    pub(super) status: NotificationStatus,
    /// `api`, `auto:<kind>` (medrelay answering a patient) or `staff_reply`.
    pub(super) origin: String,
    /// The patient's message an auto or staff reply answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) in_reply_to: Option<InboundMessageId>,
    /// The channel it went on once a provider took it (`sent`), then the one that delivered it.
    pub(super) channel: Option<ChannelKind>,
    /// The channel staff chose for it, if any.
    pub(super) requested_channel: Option<ChannelKind>,
    pub(super) body: Option<String>,
    pub(super) template: Option<String>,
    pub(super) params: Option<serde_json::Value>,
    pub(super) send_at: Timestamp,
    pub(super) expires_at: Option<Timestamp>,
    pub(super) created_at: Timestamp,
    pub(super) updated_at: Timestamp,
    /// The appointment it reminds of or tells about, if any.
    pub(super) appointment_id: Option<AppointmentId>,
    /// The booking system's id for it, as given when it was created.
    pub(super) reference: Option<Reference>,
    /// The booking system's own fields, as given when it was created (`{}` when none were).
    pub(super) metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) attempts: Option<Vec<AttemptOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) events: Option<Vec<EventOut>>,
}

impl From<AttemptRecord> for AttemptOut {
    fn from(r: AttemptRecord) -> Self {
        Self {
            id: r.id,
            channel: r.channel,
            status: r.status,
            provider_message_id: r.provider_message_id,
            error_code: r.error_code,
            error_text: r.error_text,
            created_at: r.created_at,
            updated_at: r.updated_at,
            accepted_at: r.accepted_at,
            delivered_at: r.delivered_at,
            read_at: r.read_at,
            failed_at: r.failed_at,
            sandbox: r.sandbox,
            sms_encoding: r.sms_encoding,
            sms_segments: r.sms_segments,
            content: r.content,
        }
    }
}

impl From<EventRecord> for EventOut {
    fn from(r: EventRecord) -> Self {
        Self {
            at: r.at,
            kind: r.kind,
            attempt_id: r.attempt_id,
            detail: r.detail,
            event_type: r.event_type,
            data: r.data,
            actor: r.actor,
        }
    }
}

impl From<NotificationRecord> for NotificationFields {
    fn from(r: NotificationRecord) -> Self {
        Self {
            id: r.id,
            patient_id: r.patient_id,
            topic: r.topic,
            priority: r.priority,
            status: r.status,
            origin: r.origin.stored(),
            in_reply_to: r.in_reply_to,
            channel: r.channel,
            requested_channel: r.requested_channel,
            body: r.body,
            template: r.template,
            params: r.params,
            send_at: r.send_at,
            expires_at: r.expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            appointment_id: r.appointment_id,
            reference: r.reference,
            metadata: r.metadata,
            attempts: r
                .attempts
                .map(|a| a.into_iter().map(AttemptOut::from).collect()),
            events: r
                .events
                .map(|e| e.into_iter().map(EventOut::from).collect()),
        }
    }
}
