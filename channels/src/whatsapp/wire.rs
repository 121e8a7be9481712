//! JSON shapes of the Cloud API (providers.md §1.1, §1.2, §1.4). Requests are typed exactly;
//! responses and webhooks are read leniently because Meta adds fields without notice.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::ProviderTemplate;

/// Body of `POST /{version}/{phone_number_id}/messages`.
#[derive(Debug, Serialize)]
pub(super) struct SendRequest<'a> {
    pub messaging_product: &'static str,
    pub recipient_type: &'static str,
    /// E.164 digits without `+`.
    pub to: &'a str,
    /// Our attempt id; Meta echoes it in every status webhook, so a status can be matched even
    /// when the send response was lost.
    pub biz_opaque_callback_data: &'a str,
    #[serde(flatten)]
    pub content: Content<'a>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(super) enum Content<'a> {
    Text { text: Text<'a> },
    Template { template: Template<'a> },
}

#[derive(Debug, Serialize)]
pub(super) struct Text<'a> {
    pub body: &'a str,
    /// Link previews fetch URLs from the patient's phone; notifications never need them.
    pub preview_url: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct Template<'a> {
    pub name: &'a str,
    pub language: Language<'a>,
    /// Left out for templates without variables: an empty body component is a parameter-count
    /// mismatch at Meta.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component<'a>>,
}

#[derive(Debug, Serialize)]
pub(super) struct Language<'a> {
    pub code: &'a str,
    /// The only policy Meta accepts: the exact translation named by `code`.
    pub policy: &'static str,
}

#[derive(Debug, Serialize)]
pub(super) struct Component<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub parameters: Vec<Parameter<'a>>,
}

#[derive(Debug, Serialize)]
pub(super) struct Parameter<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: Cow<'a, str>,
}

impl<'a> Template<'a> {
    pub(super) fn new(template: &'a ProviderTemplate) -> Self {
        let components = if template.parameters.is_empty() {
            Vec::new()
        } else {
            vec![Component {
                kind: "body",
                parameters: template
                    .parameters
                    .iter()
                    .map(|text| Parameter {
                        kind: "text",
                        text: parameter_text(text),
                    })
                    .collect(),
            }]
        };
        Self {
            name: &template.name,
            language: Language {
                code: &template.language_code,
                policy: "deterministic",
            },
            components,
        }
    }
}

impl Template<'_> {
    /// How many parameters [`parameter_text`] had to change.
    pub(super) fn normalised_parameters(&self) -> usize {
        self.components
            .iter()
            .flat_map(|c| &c.parameters)
            .filter(|p| matches!(p.text, Cow::Owned(_)))
            .count()
    }
}

/// A template parameter as Meta accepts it. Meta refuses a parameter holding a new line, a tab
/// or more than four spaces in a row (error 132018), which would lose the WhatsApp message. So
/// every run of blanks that holds a line break or a tab, or is longer than four spaces, becomes
/// one space; shorter runs of plain spaces stay as they are.
pub(super) fn parameter_text(text: &str) -> Cow<'_, str> {
    let is_blank = |c: char| c == ' ' || c == '\t' || is_line_break(c);
    let needs_change = |run: &str| run.chars().count() > 4 || run.contains(|c| c != ' ');
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(start) = rest.find(is_blank) {
        out.push_str(&rest[..start]);
        let run = &rest[start..];
        let end = run.find(|c| !is_blank(c)).unwrap_or(run.len());
        let blanks = &run[..end];
        if needs_change(blanks) {
            out.push(' ');
            changed = true;
        } else {
            out.push_str(blanks);
        }
        rest = &run[end..];
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// 200 answer to a send: `messages[0].id` is the wamid.
#[derive(Debug, Deserialize)]
pub(super) struct SendResponse {
    #[serde(default)]
    pub messages: Vec<SentMessage>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SentMessage {
    pub id: String,
}

/// Error answer: `{"error":{"code","message","error_data":{"details"}}}`.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorResponse {
    pub error: GraphError,
}

/// A Graph error, in a send response or in a failed status's `errors[]`.
#[derive(Debug, Deserialize)]
pub(super) struct GraphError {
    pub code: i64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_data: Option<ErrorData>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ErrorData {
    #[serde(default)]
    pub details: Option<String>,
}

impl GraphError {
    /// Message and details in one line, for `reason`/`error_text`.
    pub(super) fn text(&self) -> String {
        let headline = self
            .message
            .as_deref()
            .or(self.title.as_deref())
            .unwrap_or("no message");
        match self.error_data.as_ref().and_then(|d| d.details.as_deref()) {
            Some(details) if !details.is_empty() && details != headline => {
                format!("{headline}: {details}")
            }
            _ => headline.to_owned(),
        }
    }
}

/// Webhook POST body (providers.md §1.4). `entry` and `changes` are arrays: Meta batches.
#[derive(Debug, Deserialize)]
pub(super) struct Notification {
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Entry {
    #[serde(default)]
    pub changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Change {
    pub field: String,
    /// Shape depends on `field`; read only for `messages`.
    #[serde(default)]
    pub value: serde_json::Value,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct MessagesValue {
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// Read one by one so a single odd status does not sink the batch.
    #[serde(default)]
    pub statuses: Vec<serde_json::Value>,
    /// Inbound messages, read one by one for the same reason.
    #[serde(default)]
    pub messages: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Metadata {
    pub phone_number_id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Status {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    pub errors: Vec<GraphError>,
}

/// An inbound message (`value.messages[]`): only what the gateway acts on.
#[derive(Debug, Deserialize)]
pub(super) struct Inbound {
    pub from: String,
    pub id: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<InboundText>,
    /// Quick-reply button of a template.
    #[serde(default)]
    pub button: Option<InboundButton>,
    #[serde(default)]
    pub interactive: Option<Interactive>,
    #[serde(default)]
    pub context: Option<Context>,
    #[serde(default)]
    pub image: Option<Media>,
    #[serde(default)]
    pub document: Option<Media>,
    #[serde(default)]
    pub audio: Option<Media>,
    #[serde(default)]
    pub video: Option<Media>,
    #[serde(default)]
    pub sticker: Option<Media>,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub reaction: Option<Reaction>,
}

/// An emoji the patient put on one of our messages (an empty emoji takes it back).
#[derive(Debug, Deserialize)]
pub(super) struct Reaction {
    pub message_id: String,
    #[serde(default)]
    pub emoji: Option<String>,
}

/// An image, document, audio, video or sticker: Meta keeps the bytes, the webhook carries the
/// media id to fetch them with.
#[derive(Debug, Deserialize)]
pub(super) struct Media {
    pub id: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    /// Documents only: the name the patient's file had.
    #[serde(default)]
    pub filename: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Location {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct InboundText {
    pub body: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct InboundButton {
    #[serde(default)]
    pub payload: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Interactive {
    #[serde(default)]
    pub button_reply: Option<Reply>,
    #[serde(default)]
    pub list_reply: Option<Reply>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Reply {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Context {
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parameters_lose_line_breaks_tabs_and_long_runs_of_spaces() {
        let cases = [
            ("Dr. Cohen", "Dr. Cohen"),
            ("Dr. Cohen\nRoom 3", "Dr. Cohen Room 3"),
            ("Dr. Cohen\r\n\r\nRoom 3", "Dr. Cohen Room 3"),
            ("Room:\t3", "Room: 3"),
            ("Room: \n 3", "Room: 3"),
            ("a    b", "a    b"),
            ("a     b", "a b"),
            ("a\u{2028}b", "a b"),
            ("\nleading and trailing\n", " leading and trailing "),
        ];
        for (given, sent) in cases {
            assert_eq!(parameter_text(given), sent, "{given:?}");
        }
        assert!(matches!(parameter_text("a    b"), Cow::Borrowed(_)));
    }
}
