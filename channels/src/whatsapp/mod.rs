//! Meta WhatsApp Cloud API: sending, error classification, webhook signatures and statuses.
//!
//! [`WhatsAppCloud`] sends one message per call and classifies Meta's answer by error code
//! (providers.md §1.6). Webhooks are pure functions over the raw request, so the gateway's HTTP
//! server stays in charge of routing: check [`verify_signature`] on the raw bytes first, then
//! [`parse_statuses`] and [`parse_inbound`]; answer the GET handshake with [`verify_subscription`].
//! A patient's media is fetched with [`WhatsAppMedia`], streamed and never kept.
//!
//! Meta takes no idempotency key, so a send that may have reached Meta is reported
//! [`SendOutcome::Ambiguous`](crate::SendOutcome::Ambiguous), never resent here.

mod classify;
mod cloud;
mod config;
mod media;
mod webhook;
mod wire;

pub use classify::classify_code;
pub use cloud::{WhatsAppCloud, WhatsAppSetupError};
pub use config::WhatsAppConfig;
pub use media::{MediaDownload, MediaError, WhatsAppMedia};
pub use webhook::{
    InboundMedia, InboundWhatsApp, SIGNATURE_HEADER, WebhookError, WebhookEvents, parse_inbound,
    parse_statuses, parse_webhook, sign, verify_signature, verify_subscription,
};
