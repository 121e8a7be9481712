//! A notification as a CommunicationRequest: what the clinic asked to tell the patient, when,
//! on what topic and by whose request. It is the clinic's own record, so it carries the content
//! asked for in full, with a note of what was withheld from which channel.
//!
//! Status (R4 request-status) from the notification's status:
//! | notification | request |
//! | --- | --- |
//! | scheduled, queued, sending | `active` |
//! | sent by email (final: email has no receipt) | `completed` |
//! | sent on another channel (a receipt is awaited; it may still fall back) | `active` |
//! | delivered, read | `completed` |
//! | failed, cancelled, expired | `revoked`, with the reason in `statusReason` |
//!
//! `draft`, `on-hold`, `entered-in-error` and `unknown` are never used: a deferred notification
//! (clinic hours) is still planned, so `active`.

use fhirbolt::model::r4::resources::{
    CommunicationRequest, CommunicationRequestOccurrence, CommunicationRequestPayload,
    CommunicationRequestPayloadContent,
};
use fhirbolt::model::r4::types::{Annotation, CodeableConcept, Reference};
use medrelay_channels::ChannelKind;

use super::elements::{
    self, category, clinic, coding, concept, identifier, instant, meta, non_empty, note, patient,
    priority, resource_id, text_concept,
};
use super::records::{AppointmentRef, Identifiers, NotificationRecord, Requester};
use crate::domain::{ContentKind, NotificationStatus, Origin, Sensitivity};

/// The notification's CommunicationRequest.
pub fn communication_request(
    record: &NotificationRecord,
    ids: &Identifiers,
) -> CommunicationRequest {
    let (status, reason) = request_status(record);
    let mut categories = vec![category(&record.topic)];
    categories.push(elements::topic(&record.topic, ids));
    CommunicationRequest {
        id: Some(resource_id(record.id.as_str()).into()),
        meta: Some(meta(record.updated_at)),
        identifier: vec![identifier(ids.notification(), record.id.as_str())],
        status: status.into(),
        status_reason: reason.map(|(code, text)| {
            Box::new(concept(
                vec![coding(&ids.status_reason(), code, None)],
                Some(text.to_owned()),
            ))
        }),
        category: categories,
        priority: Some(priority(record.priority).into()),
        medium: requested_media(record, ids),
        subject: Some(Box::new(patient(&record.patient, ids))),
        about: record
            .appointment
            .iter()
            .map(|a| appointment(a, ids))
            .collect(),
        payload: payload(record)
            .into_iter()
            .map(|text| CommunicationRequestPayload {
                content: CommunicationRequestPayloadContent::String(text.into()),
                ..Default::default()
            })
            .collect(),
        occurrence: Some(CommunicationRequestOccurrence::DateTime(
            instant(record.send_at).into(),
        )),
        authored_on: Some(instant(record.created_at).into()),
        requester: Some(Box::new(requester(record, ids))),
        recipient: vec![patient(&record.patient, ids)],
        sender: Some(Box::new(clinic(&record.clinic_name))),
        reason_code: reply_reason(record).into_iter().collect(),
        note: notes(record),
        ..Default::default()
    }
}

/// The appointment a reminder or notice is about, by our id for it under `<base>/appointment`.
pub(crate) fn appointment(appointment: &AppointmentRef, ids: &Identifiers) -> Reference {
    Reference {
        r#type: Some("Appointment".into()),
        identifier: Some(Box::new(identifier(
            ids.appointment(),
            appointment.id.as_str(),
        ))),
        display: (appointment.external_id.as_deref())
            .and_then(non_empty)
            .map(|external| format!("appointment {external}").into()),
        ..Default::default()
    }
}

/// The request status, and for a revoked one why (a code under `<base>/status-reason`, words).
fn request_status(record: &NotificationRecord) -> (&'static str, Option<(&str, &str)>) {
    match record.status {
        NotificationStatus::Scheduled
        | NotificationStatus::Queued
        | NotificationStatus::Sending => ("active", None),
        NotificationStatus::Sent if record.delivered_channel == Some(ChannelKind::Email) => {
            ("completed", None)
        }
        NotificationStatus::Sent => ("active", None),
        NotificationStatus::Delivered | NotificationStatus::Read => ("completed", None),
        NotificationStatus::Failed => (
            "revoked",
            Some(("failed", "not delivered: no channel reached the patient")),
        ),
        NotificationStatus::Cancelled => ("revoked", Some(("cancelled", "cancelled"))),
        NotificationStatus::Expired => (
            "revoked",
            Some(("expired", "expired before it could be delivered")),
        ),
    }
}

/// The channel staff chose, else the channels it went on.
fn requested_media(record: &NotificationRecord, ids: &Identifiers) -> Vec<CodeableConcept> {
    let tried: Vec<ChannelKind> = match record.requested_channel {
        Some(channel) => vec![channel],
        None => record.sent.iter().map(|a| a.channel).collect(),
    };
    let mut channels = Vec::new();
    for channel in tried {
        if !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    channels
        .into_iter()
        .map(|channel| {
            concept(
                vec![coding(&ids.channel(), channel.as_str(), None)],
                Some(channel.as_str().to_owned()),
            )
        })
        .collect()
}

/// What the clinic asked to say: its own text; else the content as an attempt rendered it;
/// else the template and its parameters. Nothing once the text was removed.
fn payload(record: &NotificationRecord) -> Option<String> {
    if let Some(body) = record.body.as_deref() {
        return non_empty(body).map(str::to_owned);
    }
    let rendered = record.sent.iter().rev().find_map(|attempt| {
        let content = attempt.content.as_ref()?;
        (content.kind == ContentKind::Content)
            .then(|| content.text.as_deref().and_then(non_empty))
            .flatten()
    });
    if let Some(text) = rendered {
        return Some(text.to_owned());
    }
    let template = record.template.as_deref()?;
    let params = record.params.as_ref().and_then(|p| p.as_object());
    let listed = params
        .into_iter()
        .flatten()
        .map(|(name, value)| match value.as_str() {
            Some(text) => format!("; {name}: {text}"),
            None => format!("; {name}: {value}"),
        });
    Some(format!("template {template}{}", listed.collect::<String>()))
}

fn requester(record: &NotificationRecord, ids: &Identifiers) -> Reference {
    match &record.requester {
        Requester::ApiKey { id, role } => Reference {
            r#type: Some("Device".into()),
            identifier: Some(Box::new(identifier(ids.api_key(), id))),
            display: Some(match role {
                Some(role) => format!("{role} key {id}").into(),
                None => format!("API key {id}").into(),
            }),
            ..Default::default()
        },
        Requester::Staff(name) => Reference {
            display: Some(
                non_empty(name)
                    .map_or_else(|| "clinic staff".to_owned(), |n| format!("{n} (staff)"))
                    .into(),
            ),
            ..Default::default()
        },
        Requester::Clinic => Reference {
            display: Some(format!("{} (medrelay)", record.clinic_name.trim()).into()),
            ..clinic(&record.clinic_name)
        },
    }
}

/// Why medrelay or staff sent it, when it answers a patient.
pub(crate) fn reply_reason(record: &NotificationRecord) -> Option<CodeableConcept> {
    let text = match record.origin {
        Origin::Api => return None,
        Origin::Auto(kind) => format!("automatic reply ({})", kind.as_str()),
        Origin::StaffReply => "staff reply to the patient".to_owned(),
    };
    Some(text_concept(text))
}

/// What was withheld from which channel, and whether the text was removed.
fn notes(record: &NotificationRecord) -> Vec<Annotation> {
    let mut notes = Vec::new();
    let mut noticed: Vec<&str> = Vec::new();
    for attempt in &record.sent {
        let is_notice = (attempt.content.as_ref()).is_some_and(|c| c.kind == ContentKind::Notice);
        if is_notice && !noticed.contains(&attempt.channel.as_str()) {
            noticed.push(attempt.channel.as_str());
        }
    }
    if !noticed.is_empty() {
        notes.push(note(
            format!(
                "{} topic {}: the content was withheld from {}; the patient got a notice without content there",
                record.sensitivity.as_str(),
                record.topic,
                noticed.join(", ")
            ),
            None,
        ));
    }
    if record.sensitivity == Sensitivity::Restricted {
        notes.push(note(
            format!(
                "restricted topic {}: no message channel carries its content; staff call the patient",
                record.topic
            ),
            None,
        ));
    }
    let body_removed = record
        .body
        .as_deref()
        .is_some_and(|b| non_empty(b).is_none());
    let text_removed = record
        .sent
        .iter()
        .any(|a| a.content.as_ref().is_some_and(|c| c.text.is_none()));
    if body_removed || text_removed {
        notes.push(note(elements::removed_text(&record.patient), None));
    }
    notes
}
