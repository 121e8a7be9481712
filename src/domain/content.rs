//! What one attempt put in front of the patient, exactly as it was handed to the provider: the
//! record a timeline, the medical file or a dispute reads.

use std::fmt;

use serde::Serialize;

text_enum! {
    /// Whether the patient got the message itself or, its topic keeping the content off the
    /// channel, a content-free notice to call the clinic.
    ContentKind {
        Content = "content",
        Notice = "notice",
    }
}

/// A provider-approved template as sent: its name at the provider and its parameters in order.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SentTemplate {
    pub name: String,
    pub params: Vec<String>,
}

/// The rendered content of one attempt.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct AttemptContent {
    pub kind: ContentKind,
    pub language: String,
    /// Email only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The text as the patient reads or hears it. Stored as nullable so that retention can
    /// redact it and keep the rest of the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// WhatsApp only, when it went as an approved template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<SentTemplate>,
}

/// Patient data: `Debug` shows the shape, never the words (logs must not carry message bodies).
impl fmt::Debug for AttemptContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttemptContent")
            .field("kind", &self.kind)
            .field("language", &self.language)
            .field(
                "subject_chars",
                &self.subject.as_ref().map(|s| s.chars().count()),
            )
            .field("text_chars", &self.text.as_ref().map(|t| t.chars().count()))
            .field("template", &self.template.as_ref().map(|t| &t.name))
            .finish()
    }
}

impl fmt::Debug for SentTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentTemplate")
            .field("name", &self.name)
            .field("params", &self.params.len())
            .finish()
    }
}
