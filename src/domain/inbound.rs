//! Two-way messaging in the clinic's words: what a patient sent, what medrelay read in it, where a
//! notification came from, and how a conversation stands.

use std::fmt;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use serde::{Deserialize, Serialize};

/// One message a patient sent to one of the clinic's numbers, as the provider's webhook told it
/// (signature already checked). `Debug` hides the number and the text.
#[derive(Clone, PartialEq)]
pub struct InboundMessage {
    /// `whatsapp` or `sms`.
    pub channel: ChannelKind,
    /// The wamid or the Twilio `MessageSid`: one stored message per id, whatever is redelivered.
    pub provider_message_id: String,
    /// Our number that received it: the WhatsApp `phone_number_id`, or the Twilio `To`.
    pub sender: String,
    /// The patient's number, E.164.
    pub from: String,
    /// The provider's message type: `text`, `button`, `interactive`, `image`, `document`,
    /// `audio`, `video`, `sticker`, `location`, `unsupported`, …; `text` for an SMS.
    pub kind: String,
    /// What the patient wrote, a media caption, or the title of the button they tapped.
    pub text: Option<String>,
    /// The id of the quick-reply button or list row tapped (a template button's payload).
    pub reply_payload: Option<String>,
    /// Our provider message id the patient replied to, when they used reply.
    pub in_reply_to: Option<String>,
    pub media: Option<InboundMedia>,
    /// When the patient sent it, by the provider's clock (never later than when we received it).
    pub sent_at: Timestamp,
}

impl fmt::Debug for InboundMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundMessage")
            .field("channel", &self.channel)
            .field("provider_message_id", &self.provider_message_id)
            .field("sender", &self.sender)
            .field(
                "from",
                &medrelay_channels::Recipient::Phone(self.from.clone()),
            )
            .field("kind", &self.kind)
            .field("text_chars", &self.text.as_ref().map(|t| t.chars().count()))
            .field("reply_payload", &self.reply_payload.is_some())
            .field("in_reply_to", &self.in_reply_to)
            .field("media", &self.media.as_ref().map(InboundMedia::kind))
            .field("sent_at", &self.sent_at)
            .finish()
    }
}

/// What came with a message besides text. Media is kept as the provider's reference only: staff
/// fetch it through medrelay, which streams it from the provider and stores no copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundMedia {
    /// A WhatsApp image, document, audio, video or sticker: Meta's media id, fetched with the
    /// clinic's token.
    WhatsApp {
        media_id: String,
        mime_type: Option<String>,
        sha256: Option<String>,
        filename: Option<String>,
    },
    /// An MMS attachment: Twilio's media URL (fetched with the account's credentials).
    Twilio {
        url: String,
        mime_type: Option<String>,
    },
    /// A shared location.
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// A reference removed by the clinic's retention or an erasure: only the file's type stays
    /// (none for a location). The message's `kind` still says what it was.
    Removed { mime_type: Option<String> },
}

impl InboundMedia {
    /// A short name for logs and events.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::WhatsApp { .. } => "whatsapp_media",
            Self::Twilio { .. } => "twilio_media",
            Self::Location { .. } => "location",
            Self::Removed { .. } => "removed",
        }
    }

    /// What is kept once the reference is removed: the provider's id or URL, the file's name
    /// and hash, and a location's place go; its type stays.
    pub fn removed(self) -> Self {
        let mime_type = match self {
            Self::WhatsApp { mime_type, .. }
            | Self::Twilio { mime_type, .. }
            | Self::Removed { mime_type } => mime_type,
            Self::Location { .. } => None,
        };
        Self::Removed { mime_type }
    }
}

impl From<medrelay_channels::whatsapp::InboundMedia> for InboundMedia {
    fn from(media: medrelay_channels::whatsapp::InboundMedia) -> Self {
        use medrelay_channels::whatsapp::InboundMedia as WhatsApp;
        match media {
            WhatsApp::Media {
                media_id,
                mime_type,
                sha256,
                filename,
            } => Self::WhatsApp {
                media_id,
                mime_type,
                sha256,
                filename,
            },
            WhatsApp::Location {
                latitude,
                longitude,
                name,
                address,
            } => Self::Location {
                latitude,
                longitude,
                name,
                address,
            },
        }
    }
}

text_enum!(
    /// What medrelay read in an inbound message, and acted on.
    Intent {
        /// Nothing to act on: staff read it.
        None = "none",
        /// A stop keyword: the channel is closed to the patient.
        OptOut = "opt_out",
        /// A start keyword: the channel is open again.
        OptIn = "opt_in",
        /// A reply confirming the appointment of the reminder it answers.
        Confirm = "confirm",
        /// A reply asking to cancel that appointment (the booking system decides).
        Cancel = "cancel",
        /// One of the clinic's urgent phrases: the patient is told where to get help at once.
        Urgent = "urgent",
        /// A short reply to a reminder that is neither yes nor no: staff decide.
        AmbiguousReply = "ambiguous_reply",
    }
);

text_enum!(
    /// The kinds of message medrelay sends on its own to answer a patient.
    AutoReply {
        /// "Received; we answer within …", during messaging hours.
        Receipt = "receipt",
        /// Outside messaging hours: the hours and the emergency number.
        Away = "away",
        /// Confirms a stop keyword.
        OptOut = "opt_out",
        /// Confirms a start keyword.
        OptIn = "opt_in",
        /// "Your appointment is confirmed."
        Confirmed = "confirmed",
        /// "We passed on your request to cancel."
        CancellationRequested = "cancellation_requested",
        /// "If this is an emergency call 101 …", at any hour.
        Urgent = "urgent",
    }
);

/// Where a notification came from. Only [`Origin::Api`] counts toward a patient's daily caps:
/// the caps exist against flooding, not against answering a patient who wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// `POST /v1/notifications`, an appointment's reminders and notices.
    Api,
    /// medrelay answering an inbound message on its own.
    Auto(AutoReply),
    /// A staff member answering in a conversation.
    StaffReply,
}

impl Origin {
    /// The stored form: `api`, `auto:<kind>` or `staff_reply`.
    pub fn stored(self) -> String {
        match self {
            Self::Api => "api".to_owned(),
            Self::Auto(kind) => format!("auto:{}", kind.as_str()),
            Self::StaffReply => "staff_reply".to_owned(),
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "api" => Some(Self::Api),
            "staff_reply" => Some(Self::StaffReply),
            other => other
                .strip_prefix("auto:")
                .and_then(AutoReply::parse)
                .map(Self::Auto),
        }
    }
}

text_enum!(
    /// Where notifications came from, as `GET /v1/notifications?origin=` filters them.
    OriginFamily {
        Api = "api",
        Auto = "auto",
        StaffReply = "staff_reply",
    }
);

impl Origin {
    pub fn family(self) -> OriginFamily {
        match self {
            Self::Api => OriginFamily::Api,
            Self::Auto(_) => OriginFamily::Auto,
            Self::StaffReply => OriginFamily::StaffReply,
        }
    }
}

text_enum!(
    /// Whether a conversation needs staff.
    ConversationStatus {
        Open = "open",
        Handled = "handled",
    }
);

/// The labels every clinic has; clinics add their own.
pub const BUILT_IN_LABELS: [&str; 5] = [
    "new_appointment",
    "test_result",
    "urgent",
    "awaiting_response",
    "handled",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_stored_and_read_back() {
        for origin in [
            Origin::Api,
            Origin::StaffReply,
            Origin::Auto(AutoReply::Receipt),
            Origin::Auto(AutoReply::CancellationRequested),
        ] {
            assert_eq!(Origin::parse(&origin.stored()), Some(origin));
        }
        assert_eq!(Origin::parse("auto:nonsense"), None);
    }
}
