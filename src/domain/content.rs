//! What one attempt put in front of the patient, exactly as it was handed to the provider: the
//! record a timeline, the medical file or a dispute reads.

use std::fmt;

use serde::Serialize;
use utoipa::ToSchema;

text_enum! {
    /// Whether the patient got the message itself or, its topic keeping the content off the
    /// channel, a content-free notice to call the clinic.
    ContentKind {
        Content = "content",
        Notice = "notice",
    }
}

/// A provider-approved template as sent: its name at the provider and its parameters in order.
#[derive(Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SentTemplate {
    pub name: String,
    pub params: Vec<String>,
}

/// The rendered content of one attempt.
#[derive(Clone, PartialEq, Eq, Serialize, ToSchema)]
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

impl AttemptContent {
    /// The record with `secret` (a secure link the patient got) written as `shown` wherever it
    /// stands: what is kept of a message must not open what the message opens.
    pub fn hiding(mut self, secret: &str, shown: &str) -> Self {
        let hide = |text: &mut String| *text = text.replace(secret, shown);
        self.text.iter_mut().for_each(hide);
        if let Some(template) = &mut self.template {
            template.params.iter_mut().for_each(hide);
        }
        self
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_secret_is_gone_from_the_text_and_the_template_parameters() {
        let link = "https://clinic.example/s/hadar/SECRET";
        let content = AttemptContent {
            kind: ContentKind::Notice,
            language: "en".to_owned(),
            subject: None,
            text: Some(format!("read it here: {link}")),
            template: Some(SentTemplate {
                name: "content_free_notice_link".to_owned(),
                params: vec!["Dana".to_owned(), link.to_owned()],
            }),
        };

        let kept = content.hiding(link, "https://clinic.example/s/hadar/…");

        let json = serde_json::to_string(&kept).expect("json");
        assert!(!json.contains("SECRET"), "{json}");
        assert_eq!(
            kept.text.as_deref(),
            Some("read it here: https://clinic.example/s/hadar/…")
        );
    }
}
