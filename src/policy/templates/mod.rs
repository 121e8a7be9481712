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

mod builtin;
mod check;
mod render;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use builtin::{builtin, builtin_approved, builtins, email_subject};
pub use check::{
    Flaw, SMS_SEGMENTS_WARNING, TEMPLATE_NAME_RULE, check_copy, check_name_and_language,
    check_params, check_quick_reply, is_template_name, quick_reply_copies, sms_sample,
};
pub use render::{Rendering, render, render_approved, render_quick_reply};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppCopy {
    pub name: String,
    pub parameters: Vec<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextCopy {
    pub text: String,
}

/// The SMTP adapter makes the right-to-left HTML part from `text`; a clinic gives no HTML of its
/// own, which would need sanitising and would bypass the escaping and `dir` handling there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
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
