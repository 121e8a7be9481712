//! Message templates and quick replies, as pure values and rules.
//!
//! Built-in templates let a new clinic send appointment messages in Hebrew, Arabic, Russian and
//! English at once. A clinic's own template overrides the built-in with the same name and language
//! for that clinic, and may add names of its own. Every template has one rendering per channel; on
//! WhatsApp it goes as the copy approved at Meta, with its parameters in the approved order. Quick
//! replies are a clinic's named staff texts, one text per language for every channel.
//!
//! Placeholders are `{{name}}`; `{{clinic}}` and `{{patient}}` are filled by medrelay, the others
//! come from the notification's `params`. The language is the patient's, else the clinic's
//! default, else English: the first one with a copy.

use std::collections::BTreeMap;

use medrelay_channels::{ChannelKind, ProviderTemplate};
use serde::{Deserialize, Serialize};

use crate::domain::is_one_line;

pub struct Template {
    pub name: &'static str,
    /// Parameters the caller must give.
    pub params: &'static [&'static str],
    /// (language, text) pairs.
    pub texts: &'static [(&'static str, &'static str)],
}

const FILLED_BY_MEDRELAY: [&str; 2] = ["clinic", "patient"];

pub const TEMPLATES: &[Template] = &[
    Template {
        name: "appointment_reminder",
        params: &["date", "time"],
        texts: &[
            (
                "he",
                "שלום {{patient}}, תזכורת לתור שלך ב{{clinic}} בתאריך {{date}} בשעה {{time}}.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، تذكير بموعدك في {{clinic}} بتاريخ {{date}} الساعة {{time}}.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! Напоминаем о вашем приёме в {{clinic}} {{date}} в {{time}}.",
            ),
            (
                "en",
                "Hello {{patient}}, a reminder of your appointment at {{clinic}} on {{date}} at {{time}}.",
            ),
        ],
    },
    Template {
        name: "appointment_confirmation",
        params: &["date", "time"],
        texts: &[
            (
                "he",
                "שלום {{patient}}, התור שלך ב{{clinic}} נקבע לתאריך {{date}} בשעה {{time}}.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، تم تأكيد موعدك في {{clinic}} بتاريخ {{date}} الساعة {{time}}.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! Ваш приём в {{clinic}} назначен на {{date}} в {{time}}.",
            ),
            (
                "en",
                "Hello {{patient}}, your appointment at {{clinic}} is booked for {{date}} at {{time}}.",
            ),
        ],
    },
    Template {
        name: "appointment_cancellation",
        params: &["date", "time"],
        texts: &[
            (
                "he",
                "שלום {{patient}}, התור שלך ב{{clinic}} בתאריך {{date}} בשעה {{time}} בוטל.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، تم إلغاء موعدك في {{clinic}} بتاريخ {{date}} الساعة {{time}}.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! Ваш приём в {{clinic}} {{date}} в {{time}} отменён.",
            ),
            (
                "en",
                "Hello {{patient}}, your appointment at {{clinic}} on {{date}} at {{time}} is cancelled.",
            ),
        ],
    },
    // Content-free notices (see `policy::privacy`): what WhatsApp and SMS carry for a sensitive
    // topic, and every channel for a restricted one. The phone-less ones are for clinics that
    // have not set a phone number.
    Template {
        name: "content_free_notice",
        params: &["phone"],
        texts: &[
            (
                "he",
                "שלום {{patient}}, יש לך הודעה חדשה מ{{clinic}}; נא להתקשר ל-{{phone}} או לבדוק את הדוא״ל שלך.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، لديك رسالة جديدة من {{clinic}}؛ يرجى الاتصال على {{phone}} أو مراجعة بريدك الإلكتروني.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! У вас новое сообщение от {{clinic}}; пожалуйста, позвоните по номеру {{phone}} или проверьте электронную почту.",
            ),
            (
                "en",
                "Hello {{patient}}, you have a new message from {{clinic}}; please call {{phone}} or check your email.",
            ),
        ],
    },
    Template {
        name: "content_free_notice_check_email",
        params: &[],
        texts: &[
            (
                "he",
                "שלום {{patient}}, יש לך הודעה חדשה מ{{clinic}}; נא לבדוק את הדוא״ל שלך.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، لديك رسالة جديدة من {{clinic}}؛ يرجى مراجعة بريدك الإلكتروني.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! У вас новое сообщение от {{clinic}}; пожалуйста, проверьте электронную почту.",
            ),
            (
                "en",
                "Hello {{patient}}, you have a new message from {{clinic}}; please check your email.",
            ),
        ],
    },
    Template {
        name: "content_free_notice_call",
        params: &["phone"],
        texts: &[
            (
                "he",
                "שלום {{patient}}, יש לך הודעה חדשה מ{{clinic}}; נא להתקשר למרפאה בטלפון {{phone}}.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، لديك رسالة جديدة من {{clinic}}؛ يرجى الاتصال بالعيادة على {{phone}}.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! У вас новое сообщение от {{clinic}}; пожалуйста, позвоните в клинику по номеру {{phone}}.",
            ),
            (
                "en",
                "Hello {{patient}}, you have a new message from {{clinic}}; please call the clinic at {{phone}}.",
            ),
        ],
    },
    Template {
        name: "content_free_notice_call_clinic",
        params: &[],
        texts: &[
            (
                "he",
                "שלום {{patient}}, יש לך הודעה חדשה מ{{clinic}}; נא להתקשר למרפאה.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، لديك رسالة جديدة من {{clinic}}؛ يرجى الاتصال بالعيادة.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! У вас новое сообщение от {{clinic}}; пожалуйста, позвоните в клинику.",
            ),
            (
                "en",
                "Hello {{patient}}, you have a new message from {{clinic}}; please call the clinic.",
            ),
        ],
    },
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown template `{0}`")]
    Unknown(String),
    #[error("missing parameter `{0}`")]
    MissingParam(String),
    #[error("unknown parameter `{0}`")]
    UnknownParam(String),
    /// A value fills one placeholder inside a line; WhatsApp refuses template parameters with
    /// line breaks.
    #[error("parameter `{0}` {rule}", rule = crate::domain::ONE_LINE_RULE)]
    MultiLineParam(String),
    #[error("the template text has a malformed placeholder")]
    Malformed,
}

/// One language's copy of a message template, with one rendering per channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateCopy {
    /// Parameters the caller gives with every notification, besides `clinic` and `patient`.
    #[serde(default)]
    pub params: Vec<String>,
    pub whatsapp: WhatsAppCopy,
    pub sms: TextCopy,
    pub email: EmailCopy,
    pub voice: TextCopy,
}

/// A template as approved at Meta: its name there, the placeholders that fill its `{{1}}`,
/// `{{2}}`, … in that order, and its approved text written with those placeholders (what the
/// patient sees; the sandbox plays Meta with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppCopy {
    pub name: String,
    pub parameters: Vec<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextCopy {
    pub text: String,
}

/// The SMTP adapter makes the right-to-left HTML part from `text`; a clinic gives no HTML of its
/// own, which would need sanitising and would bypass the escaping and `dir` handling there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailCopy {
    pub subject: String,
    pub text: String,
}

/// A staff quick reply in one language: one text for every channel, sent as a staff message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickReply {
    pub text: String,
}

/// A clinic's own text in one language, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnTemplate<T> {
    pub name: String,
    pub language: String,
    pub content: T,
}

/// Where a template copy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Builtin,
    Clinic,
}

/// The copy a notification goes out with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub language: String,
    pub source: Source,
    pub copy: TemplateCopy,
}

/// The first of the patient's language, the clinic's default and English that `find` has a copy
/// in, with that language.
fn first_language<T>(
    languages: [&str; 2],
    mut find: impl FnMut(&str) -> Option<T>,
) -> Option<(String, T)> {
    languages
        .into_iter()
        .chain(["en"])
        .find_map(|language| find(language).map(|found| (language.to_owned(), found)))
}

/// Template `name` in the patient's language, else the clinic's default, else English; in each
/// language the clinic's own copy before the built-in one.
pub fn choose(
    name: &str,
    own: &[OwnTemplate<TemplateCopy>],
    languages: [&str; 2],
) -> Option<Chosen> {
    first_language(languages, |language| in_language(name, language, own)).map(
        |(language, (source, copy))| Chosen {
            language,
            source,
            copy,
        },
    )
}

/// Template `name` in exactly `language`: the clinic's own copy, else the built-in one.
pub fn in_language(
    name: &str,
    language: &str,
    own: &[OwnTemplate<TemplateCopy>],
) -> Option<(Source, TemplateCopy)> {
    own.iter()
        .find(|t| t.name == name && t.language == language)
        .map(|t| (Source::Clinic, t.content.clone()))
        .or_else(|| builtin(name, language).map(|copy| (Source::Builtin, copy)))
}

/// A quick reply in the patient's language, else the clinic's default, else English.
pub fn choose_quick_reply<'a>(
    own: &'a [OwnTemplate<QuickReply>],
    languages: [&str; 2],
) -> Option<(String, &'a QuickReply)> {
    first_language(languages, |language| {
        own.iter()
            .find(|t| t.language == language)
            .map(|t| &t.content)
    })
}

/// Every built-in template as (name, language, copy).
pub fn builtins() -> impl Iterator<Item = (&'static str, &'static str, TemplateCopy)> {
    TEMPLATES.iter().flat_map(|template| {
        template.texts.iter().map(move |(language, text)| {
            (
                template.name,
                *language,
                builtin_copy(template, language, text),
            )
        })
    })
}

/// The built-in template `name` in exactly `language`.
pub fn builtin(name: &str, language: &str) -> Option<TemplateCopy> {
    let template = TEMPLATES.iter().find(|t| t.name == name)?;
    let (language, text) = template.texts.iter().find(|(l, _)| *l == language)?;
    Some(builtin_copy(template, language, text))
}

/// A built-in has one text for every channel; on WhatsApp it is approved under its own name with
/// the patient, the clinic, then its own parameters as `{{1}}`, `{{2}}`, ….
fn builtin_copy(template: &Template, language: &str, text: &str) -> TemplateCopy {
    let params: Vec<String> = template.params.iter().map(|p| (*p).to_owned()).collect();
    TemplateCopy {
        whatsapp: WhatsAppCopy {
            name: template.name.to_owned(),
            parameters: ["patient", "clinic"]
                .iter()
                .map(|p| (*p).to_owned())
                .chain(params.iter().cloned())
                .collect(),
            text: text.to_owned(),
        },
        sms: TextCopy {
            text: text.to_owned(),
        },
        email: EmailCopy {
            subject: email_subject(language, "{{clinic}}"),
            text: text.to_owned(),
        },
        voice: TextCopy {
            text: text.to_owned(),
        },
        params,
    }
}

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

/// An email's subject line in the message's language.
pub fn email_subject(language: &str, clinic: &str) -> String {
    match language {
        "he" => format!("הודעה מ{clinic}"),
        "ar" => format!("رسالة من {clinic}"),
        "ru" => format!("Сообщение от {clinic}"),
        _ => format!("Message from {clinic}"),
    }
}

/// The built-in template `name` as approved at Meta in exactly `language`.
pub fn builtin_approved(name: &str, language: &str) -> Option<WhatsAppCopy> {
    builtin(name, language).map(|copy| copy.whatsapp)
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
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

const PLACEHOLDER_RULE: &str =
    "has a malformed placeholder: write {{name}} with lowercase letters, digits and _";

fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn pieces(text: &str) -> Result<Vec<Piece<'_>>, &'static str> {
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
fn fill<'v>(text: &str, value: impl Fn(&str) -> Option<&'v str>) -> Result<String, TemplateError> {
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

fn placeholders(text: &str) -> Result<Vec<&str>, &'static str> {
    Ok(pieces(text)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Placeholder(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect())
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
    for (i, param) in copy.params.iter().enumerate() {
        let field = format!("params[{i}]");
        if !is_name(param) {
            flaws.push(Flaw::new(field, TEMPLATE_NAME_RULE));
        } else if FILLED_BY_MEDRELAY.contains(&param.as_str()) {
            flaws.push(Flaw::new(
                field,
                "is filled by medrelay; use it without declaring it",
            ));
        } else if copy.params[..i].contains(param) {
            flaws.push(Flaw::new(field, "is declared twice"));
        }
    }
    let known: Vec<&str> = FILLED_BY_MEDRELAY
        .iter()
        .copied()
        .chain(copy.params.iter().map(String::as_str))
        .collect();

    let whatsapp = &copy.whatsapp;
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
    for (i, parameter) in whatsapp.parameters.iter().enumerate() {
        let field = format!("whatsapp.parameters[{i}]");
        if !known.contains(&parameter.as_str()) {
            flaws.push(Flaw::new(
                field,
                "must be clinic, patient or a parameter declared in params",
            ));
        } else if whatsapp.parameters[..i].contains(parameter) {
            flaws.push(Flaw::new(field, "is listed twice"));
        }
    }
    let in_whatsapp = check_text(
        &mut flaws,
        "whatsapp.text",
        &whatsapp.text,
        MAX_WHATSAPP_CHARS,
        &known,
    );
    for name in &in_whatsapp {
        if known.contains(name) && !whatsapp.parameters.iter().any(|p| p == name) {
            flaws.push(Flaw::new(
                "whatsapp.text",
                format!(
                    "uses {{{{{name}}}}}, which is not in whatsapp.parameters: Meta fills only the approved parameters"
                ),
            ));
        }
    }
    for (i, parameter) in whatsapp.parameters.iter().enumerate() {
        // An undeclared parameter was named above already.
        if known.contains(&parameter.as_str()) && !in_whatsapp.contains(&parameter.as_str()) {
            flaws.push(Flaw::new(
                format!("whatsapp.parameters[{i}]"),
                "is not used in whatsapp.text",
            ));
        }
    }

    let mut used = in_whatsapp;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn text(text: &str) -> TextCopy {
        TextCopy {
            text: text.to_owned(),
        }
    }

    /// A clinic's own Hebrew reminder with a room number.
    fn hebrew_reminder_with_room() -> TemplateCopy {
        TemplateCopy {
            params: vec!["date".into(), "time".into(), "room".into()],
            whatsapp: WhatsAppCopy {
                name: "hadar_reminder".into(),
                parameters: vec!["patient".into(), "date".into(), "room".into()],
                text: "{{patient}}, נתראה ב-{{date}} בחדר {{room}}".into(),
            },
            sms: text("תזכורת: {{date}} {{time}} חדר {{room}}"),
            email: EmailCopy {
                subject: "תזכורת מ{{clinic}}".into(),
                text: "שלום {{patient}}, התור ב-{{date}} {{time}}, חדר {{room}}.".into(),
            },
            voice: text("תזכורת לתור ב-{{date}} בשעה {{time}}"),
        }
    }

    fn own(name: &str, language: &str, content: TemplateCopy) -> OwnTemplate<TemplateCopy> {
        OwnTemplate {
            name: name.into(),
            language: language.into(),
            content,
        }
    }

    /// (template, the clinic's own copies, [patient's language, clinic's], expected language and
    /// source)
    type ChoiceCase<'a> = (
        &'a str,
        &'a [OwnTemplate<TemplateCopy>],
        [&'a str; 2],
        Option<(&'a str, Source)>,
    );

    /// (a change to a good template, the fields it breaks)
    type FlawCase = (fn(&mut TemplateCopy), &'static [&'static str]);

    #[test]
    fn the_patients_language_then_the_clinics_then_english_picks_the_copy() {
        let clinic_hebrew = [own(
            "appointment_reminder",
            "he",
            hebrew_reminder_with_room(),
        )];
        let clinic_only_template = [own("lab_prep", "he", hebrew_reminder_with_room())];
        let cases: &[ChoiceCase] = &[
            (
                "appointment_reminder",
                &[],
                ["he", "en"],
                Some(("he", Source::Builtin)),
            ),
            (
                "appointment_reminder",
                &clinic_hebrew,
                ["he", "en"],
                Some(("he", Source::Clinic)),
            ),
            (
                "appointment_reminder",
                &clinic_hebrew,
                ["ru", "he"],
                Some(("ru", Source::Builtin)),
            ),
            (
                "appointment_reminder",
                &clinic_hebrew,
                ["fr", "he"],
                Some(("he", Source::Clinic)),
            ),
            (
                "appointment_reminder",
                &[],
                ["fr", "de"],
                Some(("en", Source::Builtin)),
            ),
            (
                "lab_prep",
                &clinic_only_template,
                ["ar", "he"],
                Some(("he", Source::Clinic)),
            ),
            ("lab_prep", &clinic_only_template, ["ar", "ru"], None),
            ("birthday", &[], ["he", "en"], None),
        ];
        for (name, own, languages, expected) in cases {
            let chosen = choose(name, own, *languages);
            assert_eq!(
                chosen.as_ref().map(|c| (c.language.as_str(), c.source)),
                *expected,
                "{name} for {languages:?}"
            );
        }
    }

    #[test]
    fn a_clinic_without_its_own_copy_gets_the_builtin_approved_with_patient_and_clinic_first() {
        let chosen = choose("appointment_reminder", &[], ["he", "he"]).expect("builtin");
        assert_eq!(chosen.source, Source::Builtin);
        assert_eq!(
            chosen.copy.whatsapp.parameters,
            ["patient", "clinic", "date", "time"]
        );
    }

    #[test]
    fn a_reminder_renders_in_the_patients_language() {
        let p = params(&[("date", "01.12"), ("time", "09:30")]);
        let chosen = choose("appointment_reminder", &[], ["he", "en"]).expect("chosen");
        let sms = render(&chosen, ChannelKind::Sms, &p, "מרפאת הדר", "דנה").expect("render");
        assert_eq!(
            sms.body,
            "שלום דנה, תזכורת לתור שלך במרפאת הדר בתאריך 01.12 בשעה 09:30."
        );
        let email = render(&chosen, ChannelKind::Email, &p, "מרפאת הדר", "דנה").expect("render");
        assert_eq!(email.subject.as_deref(), Some("הודעה ממרפאת הדר"));
    }

    #[test]
    fn each_channel_gets_its_own_rendering_and_whatsapp_the_approved_parameters_in_order() {
        let p = params(&[("date", "01.12"), ("time", "09:30"), ("room", "3")]);
        let chosen = Chosen {
            language: "he".into(),
            source: Source::Clinic,
            copy: hebrew_reminder_with_room(),
        };
        let render_on = |channel| render(&chosen, channel, &p, "הדר", "דנה").expect("render");
        let whatsapp = render_on(ChannelKind::Whatsapp);
        assert_eq!(whatsapp.body, "דנה, נתראה ב-01.12 בחדר 3");
        assert_eq!(
            whatsapp.provider_template,
            Some(ProviderTemplate {
                name: "hadar_reminder".into(),
                language_code: "he".into(),
                parameters: vec!["דנה".into(), "01.12".into(), "3".into()],
            })
        );
        assert_eq!(
            render_on(ChannelKind::Sms).body,
            "תזכורת: 01.12 09:30 חדר 3"
        );
        assert_eq!(
            render_on(ChannelKind::Email).subject.as_deref(),
            Some("תזכורת מהדר")
        );
        assert_eq!(
            render_on(ChannelKind::Voice).body,
            "תזכורת לתור ב-01.12 בשעה 09:30"
        );
        assert_eq!(
            render(
                &chosen,
                ChannelKind::Sms,
                &params(&[("date", "x")]),
                "c",
                "p"
            ),
            Err(TemplateError::MissingParam("time".into()))
        );
    }

    #[test]
    fn meta_renders_an_approved_copy_from_its_positional_parameters() {
        let approved = hebrew_reminder_with_room().whatsapp;
        assert_eq!(
            render_approved(&approved, &["דנה", "01.12", "3"]).as_deref(),
            Some("דנה, נתראה ב-01.12 בחדר 3")
        );
        assert_eq!(render_approved(&approved, &["דנה"]), None);
        let builtin = builtin_approved("appointment_reminder", "en").expect("approved");
        assert_eq!(
            render_approved(&builtin, &["Anna", "Hadar", "01.12", "09:30"]).as_deref(),
            Some("Hello Anna, a reminder of your appointment at Hadar on 01.12 at 09:30.")
        );
    }

    #[test]
    fn every_builtin_template_exists_in_four_languages_and_passes_the_clinic_checks() {
        for template in TEMPLATES {
            for language in ["he", "ar", "ru", "en"] {
                let copy = builtin(template.name, language).expect("language");
                assert_eq!(check_copy(&copy), [], "{} {language}", template.name);
            }
        }
    }

    #[test]
    fn parameters_are_checked_against_the_chosen_copy() {
        let copy = builtin("appointment_reminder", "en").expect("builtin");
        assert_eq!(
            check_params(&copy, &params(&[("date", "x")])),
            Err(TemplateError::MissingParam("time".into()))
        );
        assert_eq!(
            check_params(
                &copy,
                &params(&[("date", "x"), ("time", "y"), ("room", "3")])
            ),
            Err(TemplateError::UnknownParam("room".into()))
        );
        let own = hebrew_reminder_with_room();
        assert_eq!(
            check_params(
                &own,
                &params(&[("date", "x"), ("time", "y"), ("room", "3")])
            ),
            Ok(())
        );
    }

    #[test]
    fn a_clinic_template_breaking_a_rule_is_refused_field_by_field() {
        let with = |change: fn(&mut TemplateCopy)| {
            let mut copy = hebrew_reminder_with_room();
            change(&mut copy);
            check_copy(&copy)
        };
        let fields =
            |flaws: Vec<Flaw>| -> Vec<String> { flaws.into_iter().map(|f| f.field).collect() };
        assert_eq!(check_copy(&hebrew_reminder_with_room()), []);
        let cases: &[FlawCase] = &[
            (|c| c.sms.text = "{{date}} {{doctor}}".into(), &["sms.text"]),
            (|c| c.voice.text = "{{ date }}".into(), &["voice.text"]),
            (|c| c.email.text = "{{date".into(), &["email.text"]),
            (|c| c.sms.text = " ".into(), &["sms.text"]),
            (|c| c.email.subject = "a\nb".into(), &["email.subject"]),
            (|c| c.params.push("clinic".into()), &["params[3]"]),
            (|c| c.params.push("date".into()), &["params[3]"]),
            (|c| c.params.push("floor".into()), &["params[3]"]),
            (
                |c| c.whatsapp.name = "Hadar Reminder".into(),
                &["whatsapp.name"],
            ),
            (
                |c| c.whatsapp.parameters.push("doctor".into()),
                &["whatsapp.parameters[3]"],
            ),
            (
                |c| c.whatsapp.parameters.pop().map(drop).unwrap_or_default(),
                &["whatsapp.text"],
            ),
            (
                |c| c.whatsapp.parameters.push("time".into()),
                &["whatsapp.parameters[3]"],
            ),
            (|c| c.sms.text = "x".repeat(1601), &["sms.text"]),
        ];
        for (change, expected) in cases {
            assert_eq!(fields(with(*change)), *expected);
        }
    }

    #[test]
    fn a_quick_reply_may_use_only_the_clinic_and_the_patient() {
        let reply = |text: &str| QuickReply { text: text.into() };
        assert_eq!(
            check_quick_reply(
                "texts.en",
                &reply("{{patient}}, {{clinic}} is at 5 Herzl St."),
                100
            ),
            []
        );
        let flaws = check_quick_reply("texts.en", &reply("Come at {{time}}"), 100);
        assert_eq!(flaws.len(), 1);
        assert_eq!(flaws[0].field, "texts.en");
        assert_eq!(
            render_quick_reply(
                &reply("{{patient}}: {{clinic}}, 5 Herzl St."),
                "Hadar",
                "Dana"
            ),
            Ok("Dana: Hadar, 5 Herzl St.".into())
        );
        let own = [
            OwnTemplate {
                name: "directions".into(),
                language: "ru".into(),
                content: reply("ru"),
            },
            OwnTemplate {
                name: "directions".into(),
                language: "en".into(),
                content: reply("en"),
            },
        ];
        let language = |languages| choose_quick_reply(&own, languages).map(|(l, _)| l);
        assert_eq!(language(["ru", "he"]).as_deref(), Some("ru"));
        assert_eq!(language(["ar", "he"]).as_deref(), Some("en"));
        assert_eq!(choose_quick_reply(&[], ["he", "he"]), None);
    }

    #[test]
    fn the_sms_sample_fills_parameters_with_their_names_and_the_clinic_with_its_own() {
        let copy = hebrew_reminder_with_room();
        assert_eq!(sms_sample(&copy, "הדר"), "תזכורת: date time חדר room");
    }
}
