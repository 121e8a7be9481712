//! Filling placeholders: a template copy rendered for one channel, a quick reply, and Meta's
//! rendering of an approved template.

use std::collections::BTreeMap;

use medrelay_channels::{ChannelKind, ProviderTemplate};

use super::{Chosen, QuickReply, TemplateError, WhatsAppCopy};

/// A template rendered for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendering {
    pub body: String,
    /// For email.
    pub subject: Option<String>,
    /// For WhatsApp: the approved template and its parameters in order.
    pub provider_template: Option<ProviderTemplate>,
}

/// Renders the chosen copy for `channel`.
pub fn render(
    chosen: &Chosen,
    channel: ChannelKind,
    params: &BTreeMap<String, String>,
    clinic: &str,
    patient: &str,
) -> Result<Rendering, TemplateError> {
    let value = |name: &str| match name {
        "clinic" => Some(clinic),
        "patient" => Some(patient),
        other => params.get(other).map(String::as_str),
    };
    let copy = &chosen.copy;
    let mut rendering = Rendering {
        body: String::new(),
        subject: None,
        provider_template: None,
    };
    match channel {
        ChannelKind::Whatsapp => {
            rendering.body = fill(&copy.whatsapp.text, value)?;
            let parameters = copy
                .whatsapp
                .parameters
                .iter()
                .map(|name| {
                    value(name)
                        .map(str::to_owned)
                        .ok_or_else(|| TemplateError::MissingParam(name.clone()))
                })
                .collect::<Result<_, _>>()?;
            rendering.provider_template = Some(ProviderTemplate {
                name: copy.whatsapp.name.clone(),
                language_code: chosen.language.clone(),
                parameters,
            });
        }
        ChannelKind::Sms => rendering.body = fill(&copy.sms.text, value)?,
        ChannelKind::Email => {
            rendering.body = fill(&copy.email.text, value)?;
            rendering.subject = Some(fill(&copy.email.subject, value)?);
        }
        ChannelKind::Voice => rendering.body = fill(&copy.voice.text, value)?,
    }
    Ok(rendering)
}

/// A quick reply's text with the clinic's and the patient's names filled in.
pub fn render_quick_reply(
    reply: &QuickReply,
    clinic: &str,
    patient: &str,
) -> Result<String, TemplateError> {
    fill(&reply.text, |name| match name {
        "clinic" => Some(clinic),
        "patient" => Some(patient),
        _ => None,
    })
}

/// The text a patient sees for an approved template sent with positional `parameters`; `None`
/// when the count is wrong, as Meta refuses such a send.
pub fn render_approved(approved: &WhatsAppCopy, parameters: &[&str]) -> Option<String> {
    if approved.parameters.len() != parameters.len() {
        return None;
    }
    fill(&approved.text, |name| {
        approved
            .parameters
            .iter()
            .position(|p| p == name)
            .map(|i| parameters[i])
    })
    .ok()
}

/// A text split into literal text and placeholder names.
pub(super) enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

const PLACEHOLDER_RULE: &str =
    "has a malformed placeholder: write {{name}} with lowercase letters, digits and _";

pub(super) fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(super) fn pieces(text: &str) -> Result<Vec<Piece<'_>>, &'static str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push(Piece::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(PLACEHOLDER_RULE)?;
        let name = &after[..end];
        if !is_name(name) {
            return Err(PLACEHOLDER_RULE);
        }
        out.push(Piece::Placeholder(name));
        rest = &after[end + 2..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// Fills every placeholder of `text`; a placeholder without a value is a missing parameter.
pub(super) fn fill<'v>(
    text: &str,
    value: impl Fn(&str) -> Option<&'v str>,
) -> Result<String, TemplateError> {
    let pieces = pieces(text).map_err(|_| TemplateError::Malformed)?;
    let mut out = String::with_capacity(text.len());
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder(name) => out
                .push_str(value(name).ok_or_else(|| TemplateError::MissingParam(name.to_owned()))?),
        }
    }
    Ok(out)
}

pub(super) fn placeholders(text: &str) -> Result<Vec<&str>, &'static str> {
    Ok(pieces(text)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Placeholder(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect())
}
