//! The booking system's webhooks in the store: its endpoints, the outbox the event writer fills
//! in the causing transaction, and the sender's claims and deliveries log.

mod deliveries;
mod endpoints;
mod lines;
mod outbox;

pub use deliveries::{ClaimedWebhook, DeliveryRecord, WebhookOutcome, WebhookResult};
pub use endpoints::{EndpointChange, NewWebhookEndpoint, WebhookEndpoint};
pub(crate) use outbox::{OutboxEvent, write_outbox};
