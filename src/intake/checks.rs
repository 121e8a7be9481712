//! The checks intake makes against what the clinic has: the patient, the topic, the template
//! or quick reply. Each records the rule a draft breaks and carries on, so a refusal lists them
//! all.

use std::collections::BTreeMap;

use medrelay_channels::{ChannelKind, twilio};

use super::{Actor, Content, Intake, IntakeError};
use crate::domain::{Clinic, FieldError, Patient, Sensitivity};
use crate::policy::privacy::{self, Carries};
use crate::policy::templates::{
    self, OwnTemplate, QuickReply, Source, TemplateCopy, TemplateError,
};
use crate::policy::{WhatsAppContent, channel_plan, skip_sms_for_overlong_text};
use crate::store::{ApiKeyRole, StoreError};

pub const EXTERNAL_ID_RULE: &str =
    "must be 1 to 128 characters of letters, digits, '.', '_', '-' or ':'";

/// Whether `id` may be a booking system's id (of a patient, an appointment).
pub fn is_external_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
}

/// Refuses a staff text that none of the channels the patient would get it on can carry: one
/// longer than an SMS may be (Twilio refuses it, 21617) when SMS is the only such channel.
/// Without any channel at all, the dispatcher explains why.
pub(super) fn text_fits_no_channel(
    clinic: &Clinic,
    patient: &Patient,
    requested: Option<ChannelKind>,
    sensitivity: Sensitivity,
    body: &str,
) -> Option<FieldError> {
    // A content-free notice goes on SMS instead of the text.
    if privacy::carries(sensitivity, ChannelKind::Sms) == Carries::Notice {
        return None;
    }
    let mut plan = channel_plan(
        requested,
        patient,
        clinic,
        &[],
        &[],
        WhatsAppContent::Template,
    );
    if plan.channels.is_empty() {
        return None;
    }
    skip_sms_for_overlong_text(&mut plan, body);
    plan.channels.is_empty().then(|| {
        FieldError::new(
            "body",
            format!(
                "is {} characters (UTF-16 code units, as Twilio counts them): SMS, the only \
                 channel this patient can get it on, carries at most {}; shorten it or send it \
                 on a channel that carries more (email, WhatsApp)",
                twilio::body_units(body),
                twilio::MAX_BODY_UNITS
            ),
        )
    })
}

/// What the patient will read, as stored.
#[derive(Debug)]
pub(super) struct Text {
    pub body: Option<String>,
    pub template: Option<String>,
    pub params: Option<BTreeMap<String, String>>,
    /// Which template copy or quick reply the patient gets, for the notification's record.
    pub note: String,
}

impl Intake {
    /// The clinic's patient a draft names as `patient_id`, or the rule the id breaks.
    pub async fn patient(
        &self,
        clinic: &Clinic,
        external_id: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<Patient>, IntakeError> {
        // An unknown contact's id is medrelay's own (`unknown:<E.164>`), not a booking system's.
        if !is_external_id(external_id) && !external_id.starts_with("unknown:+") {
            errors.push(FieldError::new(
                "patient_id",
                "must be a patient id as given to PUT /v1/patients/{id}",
            ));
            return Ok(None);
        }
        let found = self
            .patients
            .submit((clinic.id.clone(), external_id.to_owned()))
            .await
            .map_err(IntakeError::Reader)?;
        if found.is_none() {
            errors.push(FieldError::new(
                "patient_id",
                "no patient with this id in this clinic; create it with PUT /v1/patients/{id}",
            ));
        }
        Ok(found)
    }

    /// The sensitivity of the clinic's topic `name`; `None`, with the error recorded, when the
    /// clinic has no such topic.
    pub async fn topic_sensitivity(
        &self,
        clinic: &Clinic,
        name: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<Sensitivity>, StoreError> {
        let settings = self.settings.get(&self.store, &clinic.id).await?;
        if let Some(sensitivity) = settings.sensitivity_of(name) {
            return Ok(Some(sensitivity));
        }
        let names: Vec<&str> = settings.topics.iter().map(|t| t.name.as_str()).collect();
        errors.push(FieldError::new(
            "topic",
            format!(
                "must be one of this clinic's topics: {} (GET /v1/topics; an admin adds one with PUT /v1/topics/{{name}})",
                names.join(", ")
            ),
        ));
        Ok(None)
    }

    /// The text `content` stands for, checked against the patient's copy; `None`, with the
    /// errors recorded, when it cannot be known.
    pub(super) async fn text(
        &self,
        clinic: &Clinic,
        content: Content,
        patient: Option<&Patient>,
        actor: &Actor,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<Text>, IntakeError> {
        match content {
            Content::Body(body) => Ok(Some(Text {
                body: Some(body),
                template: None,
                params: None,
                note: String::new(),
            })),
            Content::Template { name, params } => {
                let values = params.clone().unwrap_or_default();
                match self.check_template(clinic, &name, &values, patient).await? {
                    Ok(note) => Ok(Some(Text {
                        body: None,
                        template: Some(name),
                        params,
                        note,
                    })),
                    Err(error) => {
                        errors.push(error);
                        Ok(None)
                    }
                }
            }
            Content::QuickReply(name) => {
                if actor.role < ApiKeyRole::Staff {
                    return Err(IntakeError::Forbidden(
                        "quick replies are sent with a staff or admin key",
                    ));
                }
                let Some(patient) = patient else {
                    return Ok(None);
                };
                match self.quick_reply_text(clinic, &name, patient).await? {
                    Ok((text, language)) => Ok(Some(Text {
                        body: Some(text),
                        template: None,
                        params: None,
                        note: format!("; quick reply {name} in {language}"),
                    })),
                    Err(error) => {
                        errors.push(error);
                        Ok(None)
                    }
                }
            }
        }
    }

    /// Checks a notification's template and parameters against the copy the patient will get: the
    /// clinic's own or the built-in, in the patient's language (else the clinic's, else English).
    /// Without a known patient only the name is checked. Returns which copy was found, for the
    /// notification's record.
    pub async fn check_template(
        &self,
        clinic: &Clinic,
        name: &str,
        params: &BTreeMap<String, String>,
        patient: Option<&Patient>,
    ) -> Result<Result<String, FieldError>, StoreError> {
        let settings = self.settings.get(&self.store, &clinic.id).await?;
        let own: Vec<OwnTemplate<TemplateCopy>> = settings
            .templates
            .iter()
            .filter(|t| t.name == name)
            .cloned()
            .collect();
        let languages = [
            patient.map_or(clinic.default_language.as_str(), |p| p.language.as_str()),
            clinic.default_language.as_str(),
        ];
        let Some(chosen) = templates::choose(name, &own, languages) else {
            let mut names: Vec<String> = templates::builtins()
                .map(|(name, _, _)| name.to_owned())
                .chain(settings.templates.iter().map(|t| t.name.clone()))
                .collect();
            names.sort();
            names.dedup();
            let rule = if own.is_empty() {
                format!("must be one of {}", names.join(", "))
            } else {
                let languages: Vec<&str> = own.iter().map(|t| t.language.as_str()).collect();
                format!(
                    "has no copy in the patient's language, the clinic's or English (it has {})",
                    languages.join(", ")
                )
            };
            return Ok(Err(FieldError::new("template", rule)));
        };
        let source = match chosen.source {
            Source::Builtin => "built-in",
            Source::Clinic => "clinic's own",
        };
        let found = format!(
            "; template {name}: the {source} copy in {}",
            chosen.language
        );
        if patient.is_none() {
            return Ok(Ok(found));
        }
        Ok(templates::check_params(&chosen.copy, params)
            .map(|()| found)
            .map_err(|error| match &error {
                TemplateError::MissingParam(p) | TemplateError::UnknownParam(p) => {
                    FieldError::new(format!("params.{p}"), error.to_string())
                }
                TemplateError::MultiLineParam(p) => {
                    FieldError::new(format!("params.{p}"), crate::domain::ONE_LINE_RULE)
                }
                _ => FieldError::new("template", error.to_string()),
            }))
    }

    /// A quick reply as the patient will read it: in their language (else the clinic's, else
    /// English), names filled in. Only staff send quick replies.
    async fn quick_reply_text(
        &self,
        clinic: &Clinic,
        name: &str,
        patient: &Patient,
    ) -> Result<Result<(String, String), FieldError>, IntakeError> {
        let own = self
            .store
            .clinic_texts::<QuickReply>(&clinic.id, Some(name))
            .await?;
        if own.is_empty() {
            return Ok(Err(FieldError::new(
                "quick_reply",
                "no quick reply with this name in this clinic; create it with PUT /v1/quick-replies/{name}",
            )));
        }
        let languages = [patient.language.as_str(), clinic.default_language.as_str()];
        let Some((language, reply)) = templates::choose_quick_reply(&own, languages) else {
            return Ok(Err(FieldError::new(
                "quick_reply",
                "has no text in the patient's language, the clinic's or English",
            )));
        };
        let text = templates::render_quick_reply(reply, &clinic.name, &patient.name)
            .map_err(IntakeError::QuickReply)?;
        Ok(Ok((text, language)))
    }
}
