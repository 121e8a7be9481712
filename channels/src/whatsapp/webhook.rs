//! Webhooks from Meta (providers.md §1.4), as pure functions over what the HTTP server received.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::classify::{recipient_fact, scrub};
use super::wire::{Inbound, Media, MessagesValue, Notification, Status};
use crate::{DeliveryState, ProviderStatus, Secret};

/// Header carrying `sha256=<hex HMAC-SHA256 of the raw body, keyed by the App Secret>`.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// A webhook body that is not a WhatsApp notification. Carries positions, never body content,
/// so it is safe to log.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook body is not a WhatsApp notification (line {line}, column {column})")]
    Malformed { line: usize, column: usize },
    #[error("webhook is for object `{0}`, not whatsapp_business_account")]
    WrongObject(String),
}

/// A patient's WhatsApp message to the business number. `Debug` hides the number and the text.
#[derive(Clone, PartialEq)]
pub struct InboundWhatsApp {
    /// The wamid: the dedupe key, and what a reply's context points at.
    pub provider_message_id: String,
    /// The sender as E.164 (`+` and the `wa_id`). Meta normalizes `wa_id`, so it may differ
    /// from the number the patient was registered with.
    pub from: String,
    /// The business number that received it: the customer service window is per
    /// (business number, patient).
    pub phone_number_id: Option<String>,
    /// Unix seconds; a patient message opens a 24-hour window for free-form messages.
    pub timestamp: Option<i64>,
    /// Meta's message type: `text`, `button`, `interactive`, `image`, `unsupported`, ….
    pub kind: String,
    /// What the patient wrote or the title of the button or list row they tapped.
    pub text: Option<String>,
    /// The id of the tapped button or list row (a template quick-reply payload, an
    /// interactive reply id), e.g. `CONFIRM:apt123`.
    pub reply_payload: Option<String>,
    /// The wamid of our message the patient replied to, if they used reply.
    pub in_reply_to: Option<String>,
    /// The image, document, audio, video, sticker or location that came with it.
    pub media: Option<InboundMedia>,
}

/// What a patient's WhatsApp message carried besides text. Meta keeps the bytes of media: the
/// webhook gives only the media id, fetched later with the account's token.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundMedia {
    /// An image, document, audio, video or sticker.
    Media {
        media_id: String,
        mime_type: Option<String>,
        sha256: Option<String>,
        /// Documents only.
        filename: Option<String>,
    },
    /// A shared location.
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
}

impl fmt::Debug for InboundWhatsApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundWhatsApp")
            .field("provider_message_id", &self.provider_message_id)
            .field("from", &crate::Recipient::Phone(self.from.clone()))
            .field("phone_number_id", &self.phone_number_id)
            .field("timestamp", &self.timestamp)
            .field("kind", &self.kind)
            .field("text_chars", &self.text.as_ref().map(|t| t.chars().count()))
            .field("reply_payload", &self.reply_payload)
            .field("in_reply_to", &self.in_reply_to)
            .field("media", &self.media.as_ref().map(InboundMedia::kind))
            .finish()
    }
}

impl InboundMedia {
    /// A short name for logs: a location's coordinates and a file's name stay out of them.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Media { .. } => "media",
            Self::Location { .. } => "location",
        }
    }
}

/// The [`SIGNATURE_HEADER`] value Meta sends with `raw_body`: `sha256=` and the hex HMAC-SHA256
/// of the body under the app secret. The sandbox signs its webhooks with it.
pub fn sign(app_secret: &Secret, raw_body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(app_secret, raw_body)))
}

/// HMAC-SHA256 of `raw_body` under the app secret.
fn mac(app_secret: &Secret, raw_body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.expose().as_bytes()) else {
        return Vec::new();
    };
    mac.update(raw_body);
    mac.finalize().into_bytes().to_vec()
}

/// Whether `header` (the [`SIGNATURE_HEADER`] value) signs `raw_body` with `app_secret`.
/// Check it on the bytes as received, before parsing: re-serialized JSON would not match.
pub fn verify_signature(app_secret: &Secret, raw_body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    // With an empty key anyone can compute the signature.
    if app_secret.expose().is_empty() {
        return false;
    }
    let expected = mac(app_secret, raw_body);
    // Constant time, so the signature cannot be guessed byte by byte from response times.
    expected.as_slice().ct_eq(&given).into()
}

/// The GET subscription handshake: returns the challenge to answer with (200, as the raw body)
/// when `hub.mode` is `subscribe` and `hub.verify_token` matches; otherwise `None` (answer 403).
pub fn verify_subscription(
    verify_token: &Secret,
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&str>,
) -> Option<String> {
    let expected = verify_token.expose().as_bytes();
    let token_ok: bool = token.is_some_and(|t| t.as_bytes().ct_eq(expected).into());
    let challenge = challenge.filter(|c| !c.is_empty())?;
    (mode == Some("subscribe") && !expected.is_empty() && token_ok).then(|| challenge.to_owned())
}

/// What one webhook POST carries, read in one pass over the body.
#[derive(Debug, Default)]
pub struct WebhookEvents {
    /// Every delivery status, in the order Meta listed them: across all `entry[]`, `changes[]`
    /// and `statuses[]`. Meta does not order them, and `delivered` may follow `read` or
    /// `failed`; the gateway must never move an attempt backwards. Statuses of kinds this
    /// adapter does not know (`deleted`, `played`, …) or of unreadable shape are skipped, so one
    /// odd status cannot make Meta redeliver the whole batch.
    pub statuses: Vec<ProviderStatus>,
    /// Every patient message, in Meta's order. Meta redelivers, so dedupe by
    /// `provider_message_id`. Unreadable messages are skipped.
    pub inbound: Vec<InboundWhatsApp>,
}

/// The statuses and patient messages of one webhook POST.
pub fn parse_webhook(raw_body: &[u8]) -> Result<WebhookEvents, WebhookError> {
    let mut events = WebhookEvents::default();
    for value in messages_values(raw_body)? {
        let phone_number_id = value.metadata.map(|m| m.phone_number_id);
        events
            .statuses
            .extend(value.statuses.into_iter().filter_map(|raw| {
                match serde_json::from_value::<Status>(raw) {
                    Ok(status) => provider_status(status),
                    Err(_) => {
                        tracing::warn!("whatsapp webhook: unreadable status skipped");
                        None
                    }
                }
            }));
        events
            .inbound
            .extend(value.messages.into_iter().filter_map(|raw| {
                match serde_json::from_value::<Inbound>(raw) {
                    Ok(message) => Some(inbound(message, phone_number_id.clone())),
                    Err(_) => {
                        tracing::warn!("whatsapp webhook: unreadable inbound message skipped");
                        None
                    }
                }
            }));
    }
    Ok(events)
}

/// The delivery statuses of one webhook POST (see [`WebhookEvents::statuses`]).
pub fn parse_statuses(raw_body: &[u8]) -> Result<Vec<ProviderStatus>, WebhookError> {
    parse_webhook(raw_body).map(|events| events.statuses)
}

/// The patient messages of one webhook POST (see [`WebhookEvents::inbound`]).
pub fn parse_inbound(raw_body: &[u8]) -> Result<Vec<InboundWhatsApp>, WebhookError> {
    parse_webhook(raw_body).map(|events| events.inbound)
}

/// The `value` of every `messages` change in the body: statuses and inbound messages live there.
fn messages_values(raw_body: &[u8]) -> Result<impl Iterator<Item = MessagesValue>, WebhookError> {
    let notification: Notification =
        serde_json::from_slice(raw_body).map_err(|e| WebhookError::Malformed {
            line: e.line(),
            column: e.column(),
        })?;
    if notification.object != "whatsapp_business_account" {
        return Err(WebhookError::WrongObject(scrub(&notification.object)));
    }
    Ok(notification
        .entry
        .into_iter()
        .flat_map(|entry| entry.changes)
        .filter(|change| change.field == "messages")
        .map(|change| {
            serde_json::from_value::<MessagesValue>(change.value).unwrap_or_else(|_| {
                tracing::warn!("whatsapp webhook: unreadable `messages` change skipped");
                MessagesValue::default()
            })
        }))
}

fn provider_status(status: Status) -> Option<ProviderStatus> {
    let state = match status.status.as_str() {
        "sent" => DeliveryState::Sent,
        "delivered" => DeliveryState::Delivered,
        "read" => DeliveryState::Read,
        "failed" => DeliveryState::Failed,
        other => {
            tracing::debug!(status = other, "whatsapp webhook: status kind ignored");
            return None;
        }
    };
    // Only a failure's first error matters: Meta sends one, and §1.6 keys on its code.
    let error = status
        .errors
        .first()
        .filter(|_| state == DeliveryState::Failed);
    Some(ProviderStatus {
        callback_ref: status.biz_opaque_callback_data.filter(|r| !r.is_empty()),
        provider_message_id: status.id,
        state,
        error_code: error.map(|e| e.code.to_string()),
        error_text: error.map(|e| scrub(&e.text())),
        fact: error.and_then(|e| recipient_fact(e.code)),
    })
}

fn inbound(mut message: Inbound, phone_number_id: Option<String>) -> InboundWhatsApp {
    let (media, caption) = media(&mut message);
    let reply = message
        .interactive
        .and_then(|i| i.button_reply.or(i.list_reply));
    let (text, reply_payload) = match (message.text, message.button, reply) {
        (Some(text), _, _) => (Some(text.body), None),
        (None, Some(button), _) => (button.text, button.payload),
        (None, None, Some(reply)) => (reply.title, Some(reply.id)),
        (None, None, None) => (caption.filter(|c| !c.is_empty()), None),
    };
    // A reaction is the emoji, on the message it reacts to.
    let (text, in_reply_to) = match message.reaction {
        Some(reaction) => (
            reaction.emoji.filter(|e| !e.is_empty()),
            Some(reaction.message_id),
        ),
        None => (text, message.context.map(|c| c.id)),
    };
    InboundWhatsApp {
        provider_message_id: message.id,
        from: format!("+{}", message.from.trim_start_matches('+')),
        phone_number_id,
        timestamp: message.timestamp.and_then(|t| t.parse().ok()),
        kind: message.kind,
        text,
        reply_payload,
        in_reply_to,
        media,
    }
}

/// The media or location of a message, and a media caption (which is what the patient wrote).
/// Only the object named by the message's `type` counts.
fn media(message: &mut Inbound) -> (Option<InboundMedia>, Option<String>) {
    let file = match message.kind.as_str() {
        "image" => message.image.take(),
        "document" => message.document.take(),
        "audio" => message.audio.take(),
        "video" => message.video.take(),
        "sticker" => message.sticker.take(),
        "location" => {
            let location = message.location.take().map(|l| InboundMedia::Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: l.name,
                address: l.address,
            });
            return (location, None);
        }
        _ => None,
    };
    let Some(Media {
        id,
        mime_type,
        sha256,
        caption,
        filename,
    }) = file
    else {
        return (None, None);
    };
    let media = InboundMedia::Media {
        media_id: id,
        mime_type,
        sha256,
        filename,
    };
    (Some(media), caption)
}
