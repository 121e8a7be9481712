//! What intake stores for a draft that broke no rule: the notification's row and the event
//! that records its receipt.

use jiff::Timestamp;

use super::appointments::NoticeIntake;
use super::{Actor, Draft, StaffReply, checks};
use crate::domain::{Event, NotificationId, Origin, Patient, Priority, Reason};
use crate::store::NewNotification;

/// Who the audit trail says handed the notification in: the staff member for their reply, else
/// the caller key.
fn received_by(actor: &Actor, reply: Option<&StaffReply>) -> crate::domain::Actor {
    reply.map_or_else(
        || actor.recorded_as(),
        |r| crate::domain::Actor::Staff(r.by.clone()),
    )
}

/// A draft that broke no rule: its patient and text, when it is stored as due (and why, when
/// the hours moved it), and the event that records its receipt.
pub(super) struct Approved {
    pub(super) patient: Patient,
    pub(super) text: checks::Text,
    pub(super) send_at: Timestamp,
    pub(super) hours_note: Option<Reason>,
    pub(super) received: Event,
}

/// The row stored for an approved draft, linked to the appointment whose change it tells or the
/// patient's message a staff reply answers.
pub(super) fn new_notification(
    draft: Draft,
    approved: Approved,
    actor: &Actor,
    notice: Option<NoticeIntake>,
    reply: Option<StaffReply>,
    now: Timestamp,
) -> NewNotification {
    let text = approved.text;
    NewNotification {
        id: NotificationId::generate(),
        clinic_id: draft.clinic.id,
        patient_id: approved.patient.id,
        topic: draft.topic,
        body: text.body,
        template: text.template,
        params: text
            .params
            .map(|p| serde_json::to_string(&p).unwrap_or_default()),
        channel: draft.channel,
        priority: draft.priority,
        send_at: approved.send_at,
        expires_at: draft.expires_at,
        idempotency_key: draft.idempotency_key,
        request_hash: draft.request_hash,
        received_at: now,
        received: approved.received,
        received_by: received_by(actor, reply.as_ref()),
        hours_note: approved.hours_note,
        appointment: notice.map(|n| n.link),
        origin: if reply.is_some() {
            Origin::StaffReply
        } else {
            Origin::Api
        },
        in_reply_to: reply.and_then(|r| r.in_reply_to),
        reference: draft.reference,
        metadata: draft.metadata,
        audit: draft.audit,
    }
}

/// The audit trail's first event: a notification received, or an appointment's notice, naming
/// the template copy or quick reply it carries.
pub(super) fn received_event(
    notice: Option<&NoticeIntake>,
    priority: Priority,
    requested: Timestamp,
    now: Timestamp,
    text: &checks::Text,
) -> Event {
    let content = text.note.strip_prefix("; ").map(str::to_owned);
    match notice {
        None => Event::Received {
            priority,
            scheduled_for: (requested > now).then_some(requested),
            content,
        },
        Some(notice) => Event::AppointmentNotice {
            change: notice.change.clone(),
            priority,
            deadline: notice.deadline,
            content,
        },
    }
}
