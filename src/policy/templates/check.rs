//! The rules a clinic's template, a quick reply and a notification's parameters must follow.

use std::collections::BTreeMap;

use super::render::{Piece, is_name, pieces, placeholders};
use super::{QuickReply, TemplateCopy, TemplateError, WhatsAppCopy};
use crate::domain::is_one_line;

const FILLED_BY_MEDRELAY: [&str; 2] = ["clinic", "patient"];

/// Checks a notification's parameters against the copy it will go out with.
pub fn check_params(
    copy: &TemplateCopy,
    params: &BTreeMap<String, String>,
) -> Result<(), TemplateError> {
    if let Some(missing) = copy.params.iter().find(|p| !params.contains_key(*p)) {
        return Err(TemplateError::MissingParam(missing.clone()));
    }
    if let Some(extra) = params.keys().find(|k| !copy.params.contains(k)) {
        return Err(TemplateError::UnknownParam(extra.clone()));
    }
    if let Some((name, _)) = params.iter().find(|(_, v)| !is_one_line(v)) {
        return Err(TemplateError::MultiLineParam(name.clone()));
    }
    Ok(())
}

/// Template and quick-reply names: what the API paths and the notifications' `template` use.
pub fn is_template_name(name: &str) -> bool {
    is_name(name)
}

pub const TEMPLATE_NAME_RULE: &str =
    "must be 1 to 64 lowercase letters, digits and _, starting with a letter";

/// Longest texts per channel: Meta's limit on a template body, Twilio's on a message body, and
/// lengths past which an email subject or a spoken call stops being read or heard.
const MAX_WHATSAPP_CHARS: usize = 1024;
const MAX_SMS_CHARS: usize = 1600;
const MAX_SUBJECT_CHARS: usize = 200;
const MAX_EMAIL_CHARS: usize = 10_000;
const MAX_VOICE_CHARS: usize = 2000;

/// A broken rule in a clinic's template, by field path in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flaw {
    pub field: String,
    pub rule: String,
}

impl Flaw {
    fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

/// Checks a text's length and placeholders; returns the placeholders it uses.
fn check_text<'t>(
    flaws: &mut Vec<Flaw>,
    field: &str,
    text: &'t str,
    max_chars: usize,
    known: &[&str],
) -> Vec<&'t str> {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        flaws.push(Flaw::new(field, "must not be empty"));
    } else if chars > max_chars {
        flaws.push(Flaw::new(
            field,
            format!("must be at most {max_chars} characters (it has {chars})"),
        ));
    }
    let used = match placeholders(text) {
        Ok(used) => used,
        Err(rule) => {
            flaws.push(Flaw::new(field, rule));
            return Vec::new();
        }
    };
    for name in &used {
        if !known.contains(name) {
            flaws.push(Flaw::new(
                field,
                format!(
                    "uses {{{{{name}}}}}, which is not declared in params (medrelay itself fills only {{{{clinic}}}} and {{{{patient}}}})"
                ),
            ));
        }
    }
    used
}

/// Every broken rule of a clinic's template copy, each named by its field.
pub fn check_copy(copy: &TemplateCopy) -> Vec<Flaw> {
    let mut flaws = Vec::new();
    check_declared_params(&mut flaws, &copy.params);
    let known: Vec<&str> = FILLED_BY_MEDRELAY
        .iter()
        .copied()
        .chain(copy.params.iter().map(String::as_str))
        .collect();
    let mut used = check_whatsapp(&mut flaws, &copy.whatsapp, &known);
    for (field, text, max) in [
        ("sms.text", &copy.sms.text, MAX_SMS_CHARS),
        ("email.subject", &copy.email.subject, MAX_SUBJECT_CHARS),
        ("email.text", &copy.email.text, MAX_EMAIL_CHARS),
        ("voice.text", &copy.voice.text, MAX_VOICE_CHARS),
    ] {
        used.extend(check_text(&mut flaws, field, text, max, &known));
    }
    if copy.email.subject.contains(['\n', '\r']) {
        flaws.push(Flaw::new("email.subject", "must be one line"));
    }
    for (i, param) in copy.params.iter().enumerate() {
        if is_name(param) && !used.contains(&param.as_str()) {
            flaws.push(Flaw::new(format!("params[{i}]"), "is used in no rendering"));
        }
    }
    flaws
}

/// The parameters a copy declares: named as names are, each once, none of medrelay's own.
fn check_declared_params(flaws: &mut Vec<Flaw>, params: &[String]) {
    for (i, param) in params.iter().enumerate() {
        let field = format!("params[{i}]");
        if !is_name(param) {
            flaws.push(Flaw::new(field, TEMPLATE_NAME_RULE));
        } else if FILLED_BY_MEDRELAY.contains(&param.as_str()) {
            flaws.push(Flaw::new(
                field,
                "is filled by medrelay; use it without declaring it",
            ));
        } else if params[..i].contains(param) {
            flaws.push(Flaw::new(field, "is declared twice"));
        }
    }
}

/// The WhatsApp copy as Meta approved it: its name there, and its text using exactly the
/// approved parameters, since Meta fills no others. Returns the placeholders its text uses.
fn check_whatsapp<'c>(
    flaws: &mut Vec<Flaw>,
    whatsapp: &'c WhatsAppCopy,
    known: &[&str],
) -> Vec<&'c str> {
    let meta_name = |n: &str| {
        (1..=512).contains(&n.len())
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    if !meta_name(&whatsapp.name) {
        flaws.push(Flaw::new(
            "whatsapp.name",
            "must be the template's name at Meta: lowercase letters, digits and _",
        ));
    }
    check_whatsapp_parameters(flaws, &whatsapp.parameters, known);
    let field = "whatsapp.text";
    let in_text = check_text(flaws, field, &whatsapp.text, MAX_WHATSAPP_CHARS, known);
    for name in &in_text {
        if known.contains(name) && !whatsapp.parameters.iter().any(|p| p == name) {
            flaws.push(Flaw::new(
                field,
                format!(
                    "uses {{{{{name}}}}}, which is not in whatsapp.parameters: Meta fills only the approved parameters"
                ),
            ));
        }
    }
    for (i, parameter) in whatsapp.parameters.iter().enumerate() {
        // An undeclared parameter was named by check_whatsapp_parameters already.
        if known.contains(&parameter.as_str()) && !in_text.contains(&parameter.as_str()) {
            flaws.push(Flaw::new(
                format!("whatsapp.parameters[{i}]"),
                "is not used in whatsapp.text",
            ));
        }
    }
    in_text
}

/// The approved parameters, in order: each one known, each once.
fn check_whatsapp_parameters(flaws: &mut Vec<Flaw>, parameters: &[String], known: &[&str]) {
    for (i, parameter) in parameters.iter().enumerate() {
        let field = format!("whatsapp.parameters[{i}]");
        if !known.contains(&parameter.as_str()) {
            flaws.push(Flaw::new(
                field,
                "must be clinic, patient or a parameter declared in params",
            ));
        } else if parameters[..i].contains(parameter) {
            flaws.push(Flaw::new(field, "is listed twice"));
        }
    }
}

/// The broken rules of a quick reply's text, which may use only `{{clinic}}` and `{{patient}}`.
pub fn check_quick_reply(field: &str, reply: &QuickReply, max_chars: usize) -> Vec<Flaw> {
    let mut flaws = Vec::new();
    check_text(
        &mut flaws,
        field,
        &reply.text,
        max_chars,
        &FILLED_BY_MEDRELAY,
    );
    flaws
}

/// Past this many SMS segments a template is flagged: every segment is billed as one message.
pub const SMS_SEGMENTS_WARNING: usize = 3;

/// A template's (or quick reply's) name and, for a template, its language, as a path or a form
/// gives them: checked before anything is read or written.
pub fn check_name_and_language(name: &str, language: Option<&str>) -> Vec<Flaw> {
    let mut flaws = Vec::new();
    if !is_template_name(name) {
        flaws.push(Flaw::new("name", TEMPLATE_NAME_RULE));
    }
    if language.is_some_and(|l| crate::domain::Language::parse(l).is_none()) {
        flaws.push(Flaw::new("language", crate::domain::Language::RULE));
    }
    flaws
}

/// A quick reply's texts, one per language, each checked: the copies to store, or every broken
/// rule (fields `texts` and `texts.<language>`).
pub fn quick_reply_copies(
    texts: BTreeMap<String, String>,
    max_chars: usize,
) -> Result<Vec<(String, QuickReply)>, Vec<Flaw>> {
    let mut flaws = Vec::new();
    if texts.is_empty() {
        flaws.push(Flaw::new("texts", "give a text in at least one language"));
    }
    let mut copies = Vec::new();
    for (language, text) in texts {
        let field = format!("texts.{language}");
        if crate::domain::Language::parse(&language).is_none() {
            flaws.push(Flaw::new(field, crate::domain::Language::RULE));
            continue;
        }
        let reply = QuickReply { text };
        flaws.extend(check_quick_reply(&field, &reply, max_chars));
        copies.push((language, reply));
    }
    if flaws.is_empty() {
        Ok(copies)
    } else {
        Err(flaws)
    }
}

/// The SMS text as a patient would get it, each parameter standing in as its own name and the
/// clinic as its real name: what the segment count is shown for.
pub fn sms_sample(copy: &TemplateCopy, clinic: &str) -> String {
    let sample = |name: &str| -> String {
        match name {
            "clinic" => clinic.to_owned(),
            other => other.to_owned(),
        }
    };
    match pieces(&copy.sms.text) {
        Ok(pieces) => pieces
            .into_iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.to_owned(),
                Piece::Placeholder(name) => sample(name),
            })
            .collect(),
        Err(_) => copy.sms.text.clone(),
    }
}
