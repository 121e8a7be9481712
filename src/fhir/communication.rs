//! Communications: one for every attempt that reached a provider, and one for every message a
//! patient sent. An outbound one carries exactly what the patient got (for a sensitive topic on
//! a chat channel that is the notice without content, never more).
//!
//! Status (R4 event-status) from the attempt's status:
//! | attempt | communication |
//! | --- | --- |
//! | sending, accepted, sent (WhatsApp, SMS, voice: a receipt is awaited) | `in-progress` |
//! | accepted or sent by email (final: email has no receipt) | `completed` |
//! | delivered, read | `completed` |
//! | ambiguous (the hand-over was cut off: the provider may have it) | `unknown` |
//! | timed_out (accepted, no receipt in time: it may have arrived) | `unknown` |
//! | failed after the provider took it (undelivered, not a WhatsApp user) | `stopped` |
//! | failed at the hand-over, errored, rate_limited, unsent (the provider never took it) | `not-done` |
//!
//! `preparation`, `on-hold` and `entered-in-error` are never used. Why an attempt stands where
//! it does (the provider's error) is its `statusReason`. A patient's message is `completed`.

use fhirbolt::model::r4::resources::{
    Communication, CommunicationPayload, CommunicationPayloadContent,
};
use fhirbolt::model::r4::types::{Annotation, Attachment, CodeableConcept};

use super::elements::{
    self, category, clinic, identifier, instant, local_reference, medium, meta, non_empty, note,
    patient, priority, resource_id, text_concept,
};
use super::records::{
    CommunicationRecord, Identifiers, InboundRecord, NotificationRecord, SentAttempt,
};
use super::request::reply_reason;
use crate::domain::{AttemptStatus, ContentKind, InboundMedia};

/// One Communication for each attempt of the notification that reached a provider, oldest
/// first.
pub fn communications(record: &NotificationRecord, ids: &Identifiers) -> Vec<Communication> {
    record
        .sent
        .iter()
        .map(|attempt| communication(record, attempt, ids))
        .collect()
}

/// The Communication of one attempt of `record`.
pub fn communication(
    record: &NotificationRecord,
    attempt: &SentAttempt,
    ids: &Identifiers,
) -> Communication {
    let status = event_status(attempt);
    let content = attempt.content.as_ref();
    let text = content.and_then(|c| c.text.as_deref()).and_then(non_empty);
    Communication {
        id: Some(resource_id(attempt.id.as_str()).into()),
        meta: Some(meta(attempt.updated_at)),
        identifier: vec![identifier(ids.attempt(), attempt.id.as_str())],
        based_on: vec![local_reference("CommunicationRequest", record.id.as_str())],
        in_response_to: record
            .in_reply_to
            .iter()
            .map(|message| local_reference("Communication", message.as_str()))
            .collect(),
        status: status.into(),
        status_reason: status_reason(attempt).map(Box::new),
        category: vec![category(&record.topic)],
        priority: Some(priority(record.priority).into()),
        medium: medium(attempt.channel, ids),
        subject: Some(Box::new(patient(&record.patient, ids))),
        topic: Some(Box::new(elements::topic(&record.topic, ids))),
        about: record
            .appointment
            .iter()
            .map(|appointment| super::request::appointment(appointment, ids))
            .collect(),
        sent: (status != "not-done").then(|| instant(attempt.started_at).into()),
        received: attempt
            .delivered_at
            .or(attempt.read_at)
            .map(|at| instant(at).into()),
        recipient: vec![patient(&record.patient, ids)],
        sender: Some(Box::new(clinic(&record.clinic_name))),
        reason_code: reply_reason(record).into_iter().collect(),
        payload: text.map(string_payload).into_iter().collect(),
        note: attempt_notes(record, attempt),
        ..Default::default()
    }
}

/// The Communication a search found.
pub fn found_communication(
    found: &CommunicationRecord,
    ids: &Identifiers,
) -> Option<Communication> {
    match found {
        CommunicationRecord::Sent {
            notification,
            attempt,
        } => (notification.sent.iter())
            .find(|sent| &sent.id == attempt)
            .map(|sent| communication(notification, sent, ids)),
        CommunicationRecord::Received(message) => Some(inbound_communication(message, ids)),
    }
}

fn event_status(attempt: &SentAttempt) -> &'static str {
    let final_on_acceptance = !attempt.channel.reports_delivery();
    match attempt.status {
        AttemptStatus::Delivered | AttemptStatus::Read => "completed",
        AttemptStatus::Accepted | AttemptStatus::Sent if final_on_acceptance => "completed",
        AttemptStatus::Sending | AttemptStatus::Accepted | AttemptStatus::Sent => "in-progress",
        AttemptStatus::Ambiguous | AttemptStatus::TimedOut => "unknown",
        AttemptStatus::Failed if attempt.accepted_at.is_some() => "stopped",
        AttemptStatus::Failed
        | AttemptStatus::Errored
        | AttemptStatus::RateLimited
        | AttemptStatus::Unsent => "not-done",
    }
}

/// Why an attempt did not (or may not have) reached the patient: the provider's error, or the
/// rule that settled it.
fn status_reason(attempt: &SentAttempt) -> Option<CodeableConcept> {
    let error = match (attempt.error_code.as_deref(), attempt.error_text.as_deref()) {
        (Some(code), Some(text)) => Some(format!("{code}: {text}")),
        (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
        (None, None) => None,
    };
    let fallback = match attempt.status {
        AttemptStatus::TimedOut => {
            Some("no delivery receipt within the channel's delivery timeout")
        }
        AttemptStatus::Ambiguous => {
            Some("the hand-over was cut off; the provider may have the message")
        }
        AttemptStatus::RateLimited => Some("the provider asked to slow down"),
        AttemptStatus::Failed | AttemptStatus::Errored => Some("the provider refused it"),
        _ => None,
    };
    error
        .filter(|e| non_empty(e).is_some())
        .or(fallback.map(str::to_owned))
        .map(text_concept)
}

fn attempt_notes(record: &NotificationRecord, attempt: &SentAttempt) -> Vec<Annotation> {
    let mut notes = Vec::new();
    if let Some(content) = &attempt.content {
        if content.kind == ContentKind::Notice {
            notes.push(note(
                format!(
                    "{} topic {}: a notice without the content, which is withheld from {}",
                    record.sensitivity.as_str(),
                    record.topic,
                    attempt.channel.as_str()
                ),
                None,
            ));
        }
        if content.text.is_none() {
            notes.push(note(elements::removed_text(&record.patient), None));
        }
    }
    if attempt.sandbox {
        notes.push(note(
            "handed to medrelay's sandbox, not to a provider: it reached no patient".to_owned(),
            None,
        ));
    }
    notes
}

fn string_payload(text: &str) -> CommunicationPayload {
    CommunicationPayload {
        content: CommunicationPayloadContent::String(text.into()),
        ..Default::default()
    }
}

/// A patient's message as a Communication: from the patient to the clinic, with its text and
/// what came with it (media as its type and name only: the bytes stay with the provider).
pub fn inbound_communication(record: &InboundRecord, ids: &Identifiers) -> Communication {
    let text = record.text.as_deref().and_then(non_empty);
    let mut payload: Vec<CommunicationPayload> = text.map(string_payload).into_iter().collect();
    payload.extend(record.media.as_ref().map(media_payload));
    Communication {
        id: Some(resource_id(record.id.as_str()).into()),
        meta: Some(meta(record.last_updated())),
        identifier: vec![identifier(ids.message(), record.id.as_str())],
        in_response_to: record
            .replies_to
            .iter()
            .map(|replied| local_reference("Communication", replied.attempt.as_str()))
            .collect(),
        status: "completed".into(),
        medium: medium(record.channel, ids),
        subject: Some(Box::new(patient(&record.patient, ids))),
        sent: Some(instant(record.sent_at).into()),
        received: Some(instant(record.received_at).into()),
        recipient: vec![clinic(&record.clinic_name)],
        sender: Some(Box::new(patient(&record.patient, ids))),
        payload,
        note: inbound_notes(record),
        ..Default::default()
    }
}

fn media_payload(media: &InboundMedia) -> CommunicationPayload {
    let content = match media {
        InboundMedia::WhatsApp {
            mime_type,
            filename,
            ..
        } => attachment(mime_type.as_deref(), filename.as_deref()),
        InboundMedia::Twilio { mime_type, .. } => attachment(mime_type.as_deref(), None),
        // Retention or an erasure removed the reference: say so rather than offer a file.
        InboundMedia::Removed { .. } => CommunicationPayloadContent::String(
            "media removed under the clinic's retention policy or on request".into(),
        ),
        InboundMedia::Location {
            latitude,
            longitude,
            name,
            address,
        } => {
            let named = [name.as_deref(), address.as_deref()]
                .into_iter()
                .flatten()
                .filter_map(non_empty)
                .collect::<Vec<_>>()
                .join(", ");
            let at = format!("{latitude}, {longitude}");
            CommunicationPayloadContent::String(
                if named.is_empty() {
                    format!("shared a location: {at}")
                } else {
                    format!("shared a location: {named} ({at})")
                }
                .into(),
            )
        }
    };
    CommunicationPayload {
        content,
        ..Default::default()
    }
}

fn attachment(content_type: Option<&str>, title: Option<&str>) -> CommunicationPayloadContent {
    CommunicationPayloadContent::Attachment(Box::new(Attachment {
        content_type: content_type.and_then(non_empty).map(Into::into),
        title: Some(title.and_then(non_empty).unwrap_or("media").into()),
        ..Default::default()
    }))
}

fn inbound_notes(record: &InboundRecord) -> Vec<Annotation> {
    let mut notes = Vec::new();
    if record.text.is_none() && record.media.is_none() {
        notes.push(note(elements::removed_text(&record.patient), None));
    }
    let handlings = [
        ("answered", &record.answered),
        ("marked handled", &record.handled),
    ];
    for (what, handling) in handlings {
        if let Some(handling) = handling {
            let by = handling
                .by
                .as_deref()
                .and_then(non_empty)
                .map_or_else(String::new, |by| format!(" by {by}"));
            notes.push(note(format!("{what}{by}"), Some(handling.at)));
        }
    }
    notes
}
