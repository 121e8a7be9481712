use std::time::Duration;

/// What a provider told us about the recipient, worth remembering beyond this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientFact {
    /// The number is not on WhatsApp (Meta 131026 and its kin).
    NotOnWhatsapp,
    /// The recipient unsubscribed from this sender (Twilio 21610, Meta 131050, STOP).
    OptedOut,
    /// The number is a landline or cannot take SMS (Twilio 21614, 21635, 30006): call instead.
    Landline,
}

impl RecipientFact {
    pub const ALL: [RecipientFact; 3] = [Self::NotOnWhatsapp, Self::OptedOut, Self::Landline];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotOnWhatsapp => "not_on_whatsapp",
            Self::OptedOut => "opted_out",
            Self::Landline => "landline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// How a send ended, as the adapter classifies the provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider took the message; delivery evidence follows as [`ProviderStatus`].
    Accepted { provider_message_id: String },
    /// A transient failure the provider says did not take the message: try again later.
    RetryLater {
        code: String,
        reason: String,
        after: Option<Duration>,
    },
    /// The provider asks us to slow down; waiting is not a failure of the message.
    RateLimited { after: Duration },
    /// This channel cannot deliver this message: fall back to the next one.
    Permanent {
        code: String,
        reason: String,
        fact: Option<RecipientFact>,
    },
    /// The request may have reached the provider but no answer came (timeout, connection lost
    /// after writing, a 5xx that may have been processed). Providers take no idempotency key, so
    /// resending risks a duplicate: wait for a status instead.
    Ambiguous { reason: String },
    /// The channel itself is unusable (bad credentials, billing, locked account): the operator
    /// must act; this and later messages fall back.
    ChannelDown { code: String, reason: String },
}

/// Delivery evidence, in the order it normally arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryState {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] = [Self::Sent, Self::Delivered, Self::Read, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// A status update from a provider about a message it accepted earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    /// The `callback_ref` the message was sent with, when the provider echoes it back.
    pub callback_ref: Option<String>,
    pub provider_message_id: String,
    pub state: DeliveryState,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    pub fact: Option<RecipientFact>,
}
