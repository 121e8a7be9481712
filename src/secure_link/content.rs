//! The message a secure link shows: what the notification says, rendered as its email would be
//! (email is a channel allowed to carry the content), in the patient's language.

use std::collections::BTreeMap;

use medrelay_channels::ChannelKind;

use super::{Found, MessageView, SecureLinkError};
use crate::intake::ClinicSettingsCache;
use crate::policy::templates::{self, TemplateError};
use crate::store::{Store, StoreError};

pub(super) async fn render(
    settings: &ClinicSettingsCache,
    store: &Store,
    found: &Found,
) -> Result<MessageView, SecureLinkError> {
    let (patient, clinic) = (&found.patient, &found.clinic);
    let message = &found.link.message;
    if let Some(body) = &message.body {
        let language = patient.language.as_str();
        return Ok(MessageView {
            subject: templates::email_subject(language, &clinic.name),
            language: language.to_owned(),
            body: body.clone(),
        });
    }
    let name = message.template.clone().unwrap_or_default();
    let own = settings.get(store, &clinic.id).await?;
    let languages = [patient.language.as_str(), clinic.default_language.as_str()];
    let chosen = templates::choose(&name, &own.templates, languages)
        .ok_or_else(|| unreadable(TemplateError::Unknown(name)))?;
    let params: BTreeMap<String, String> = message
        .params
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let rendering = templates::render(
        &chosen,
        ChannelKind::Email,
        &params,
        &clinic.name,
        &patient.name,
    )
    .map_err(unreadable)?;
    Ok(MessageView {
        language: chosen.language,
        subject: rendering.subject.unwrap_or_default(),
        body: rendering.body,
    })
}

/// Intake checked the template; one that no longer renders was changed or removed since.
fn unreadable(error: TemplateError) -> SecureLinkError {
    SecureLinkError::Store(StoreError::Corrupt(format!("secure link message: {error}")))
}
