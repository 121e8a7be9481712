use std::time::Duration;

/// How a send ended, as the adapter classifies the provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider took the message; delivery evidence follows as [`ProviderStatus`].
    Accepted { provider_message_id: String },
    /// A transient failure: try the same channel again later.
    RetryLater {
        code: String,
        reason: String,
        after: Option<Duration>,
    },
    /// The provider asks us to slow down; waiting is not a failure of the message.
    RateLimited { after: Duration },
    /// This channel cannot deliver this message: fall back to the next one.
    Permanent { code: String, reason: String },
}

/// Delivery evidence, in the order it normally arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryState {
    Sent,
    Delivered,
    Read,
    Failed,
}

/// A status update from a provider about a message it accepted earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    /// The `callback_ref` the message was sent with.
    pub callback_ref: String,
    pub provider_message_id: String,
    pub state: DeliveryState,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
}
