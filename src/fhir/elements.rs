//! The small FHIR data types every resource here is made of, built one way: identifiers,
//! codings, references to the patient and the clinic, instants, notes.

use fhirbolt::model::r4::types::{
    Annotation, CodeableConcept, Coding, Identifier, Markdown, Meta, Reference,
};
use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use super::records::{Identifiers, PatientRef};
use crate::domain::Priority;

/// HL7 v3 ParticipationMode: how a communication reached its recipient (R4 `Communication.medium`).
pub(crate) const PARTICIPATION_MODE: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode";
/// HL7 communication-category: alert, notification, reminder, instruction.
pub(crate) const COMMUNICATION_CATEGORY: &str =
    "http://terminology.hl7.org/CodeSystem/communication-category";

/// A FHIR resource id made of one of ours: FHIR ids take letters, digits, `-` and `.` only, so
/// `ntf_0193…` is `ntf-0193…` (our ids are a prefix, `_` and hex digits, so this is reversible).
pub fn resource_id(id: &str) -> String {
    id.replace('_', "-")
}

/// Our id from a FHIR resource id ([`resource_id`] undone).
pub fn our_id(resource_id: &str) -> String {
    resource_id.replace('-', "_")
}

/// A literal reference to one of our resources, as this server serves it.
pub(crate) fn local_reference(resource_type: &str, id: &str) -> Reference {
    Reference {
        reference: Some(format!("{resource_type}/{}", resource_id(id)).into()),
        ..Default::default()
    }
}

/// An instant as FHIR writes it (RFC 3339, UTC).
pub(crate) fn instant(at: Timestamp) -> String {
    at.to_string()
}

pub(crate) fn meta(last_updated: Timestamp) -> Box<Meta> {
    Box::new(Meta {
        last_updated: Some(instant(last_updated).into()),
        ..Default::default()
    })
}

pub(crate) fn identifier(system: String, value: &str) -> Identifier {
    Identifier {
        system: Some(system.into()),
        value: Some(value.into()),
        ..Default::default()
    }
}

pub(crate) fn coding(system: &str, code: &str, display: Option<&str>) -> Coding {
    Coding {
        system: Some(system.into()),
        code: Some(code.into()),
        display: display.map(Into::into),
        ..Default::default()
    }
}

pub(crate) fn concept(codings: Vec<Coding>, text: Option<String>) -> CodeableConcept {
    CodeableConcept {
        coding: codings,
        text: text.map(Into::into),
        ..Default::default()
    }
}

/// A concept with only words, for what no code system names (a provider's error, say).
pub(crate) fn text_concept(text: String) -> CodeableConcept {
    concept(Vec::new(), Some(text))
}

/// The patient, by the clinic's identifier for them (never a server id: a clinic's server
/// matches it to its own Patient), with their name while it is kept.
pub(crate) fn patient(patient: &PatientRef, ids: &Identifiers) -> Reference {
    Reference {
        r#type: Some("Patient".into()),
        identifier: Some(Box::new(identifier(
            ids.patient().to_owned(),
            &patient.external_id,
        ))),
        display: patient.name.as_deref().and_then(non_empty).map(Into::into),
        ..Default::default()
    }
}

/// The clinic, by name: it sends and receives on its patients' behalf.
pub(crate) fn clinic(name: &str) -> Reference {
    Reference {
        r#type: Some("Organization".into()),
        display: non_empty(name).map(Into::into),
        ..Default::default()
    }
}

/// The clinic's topic: a code under `<base>/topic`.
pub(crate) fn topic(topic: &str, ids: &Identifiers) -> CodeableConcept {
    concept(
        vec![coding(&ids.topic(), topic, None)],
        Some(topic.replace('_', " ")),
    )
}

/// What kind of communication a topic makes: a reminder for appointment reminders, else a
/// notification.
pub(crate) fn category(topic: &str) -> CodeableConcept {
    let code = if topic == crate::domain::Topic::AppointmentReminder.as_str() {
        "reminder"
    } else {
        "notification"
    };
    concept(vec![coding(COMMUNICATION_CATEGORY, code, None)], None)
}

/// R4 request-priority: normal is `routine`, urgent `urgent`.
pub(crate) fn priority(priority: Priority) -> &'static str {
    match priority {
        Priority::Normal => "routine",
        Priority::Urgent => "urgent",
    }
}

/// How a channel reaches the patient: written (v3 `WRITTEN`) or by telephone (`PHONE`), then the
/// channel itself under `<base>/channel`.
pub(crate) fn medium(channel: ChannelKind, ids: &Identifiers) -> Vec<CodeableConcept> {
    let (code, display) = match channel {
        ChannelKind::Voice => ("PHONE", "telephone"),
        ChannelKind::Whatsapp | ChannelKind::Sms | ChannelKind::Email => ("WRITTEN", "written"),
    };
    vec![
        concept(vec![coding(PARTICIPATION_MODE, code, Some(display))], None),
        concept(
            vec![coding(&ids.channel(), channel.as_str(), None)],
            Some(channel.as_str().to_owned()),
        ),
    ]
}

/// A note, dated when it is about a moment.
pub(crate) fn note(text: String, at: Option<Timestamp>) -> Annotation {
    Annotation {
        text: Markdown::from(text),
        time: at.map(|at| instant(at).into()),
        ..Default::default()
    }
}

/// FHIR strings are never empty: an empty text is none.
pub(crate) fn non_empty(text: &str) -> Option<&str> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// Why a text is missing from a record, said in its note.
pub(crate) fn removed_text(patient: &PatientRef) -> String {
    if patient.erased {
        "erased on request".to_owned()
    } else {
        "text removed under the clinic's retention policy".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_ids_become_fhir_ids_and_back() {
        let ours = "ntf_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b";

        let fhir = resource_id(ours);

        assert_eq!(fhir, "ntf-0193a1b2c3d47e8f9a0b1c2d3e4f5a6b");
        assert!(
            fhir.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        );
        assert_eq!(our_id(&fhir), ours);
    }
}
