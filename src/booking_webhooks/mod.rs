//! Webhooks to the booking system: the sender that delivers the outbox the event writer fills
//! (`store::booking_webhooks`), signed per Standard Webhooks, retried with exponential backoff
//! and jitter for `webhooks.retry_for_ms`, in order per endpoint and notification, under a
//! lease so that several instances share the work and a crashed one's messages go again.
//!
//! - this file: the loop and one round from claim to recorded tries;
//! - `signing`: secrets and `webhook-signature`;
//! - `payload`: the body, from the stored message.
//!
//! The loop, the client, the backoff and the targets' checks are the outboxes' shared ones
//! ([`crate::outbox`]).

mod endpoint_rules;
mod payload;
mod signing;

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

pub use endpoint_rules::{checked_event_types, checked_url};
pub use signing::{new_secret, signature_header};

use crate::clock::{SharedClock, later};
use crate::config::WebhooksConfig;
use crate::observability::recorder::{WEBHOOK_DELIVERIES, WEBHOOK_DELIVERY_DURATION};
use crate::outbox::{self, Outbox};
use crate::store::{ClaimedWebhook, Lease, Store, StoreError, WebhookOutcome, WebhookResult};

#[derive(Debug)]
pub struct WebhookSender {
    store: Store,
    clock: SharedClock,
    config: WebhooksConfig,
    client: reqwest::Client,
}

impl WebhookSender {
    pub fn new(
        store: Store,
        clock: SharedClock,
        config: WebhooksConfig,
    ) -> Result<Self, reqwest::Error> {
        let client = outbox::client(
            config.timeout(),
            config.target_rule(),
            concat!("medrelay-webhooks/", env!("CARGO_PKG_VERSION")),
        )?;
        Ok(Self {
            store,
            clock,
            config,
            client,
        })
    }

    /// Delivers due messages until `stop`; the round in flight finishes first.
    pub async fn run_until_stopped(self: Arc<Self>, stop: watch::Receiver<bool>) {
        outbox::run_until_stopped(self, stop).await;
    }

    /// Sends the message; the receiver's status, or why there is none.
    async fn post(&self, message: &ClaimedWebhook) -> Result<u16, String> {
        let body = payload::body(message).map_err(|e| e.to_string())?;
        let now = self.clock.now();
        let sent_at = now.as_second();
        let signature = signature_header(
            &message.signing_secrets(now),
            &message.event_id,
            sent_at,
            &body,
        );
        let response = self
            .client
            .post(&message.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &message.event_id)
            .header("webhook-timestamp", sent_at.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| outbox::failure(&e))?;
        Ok(response.status().as_u16())
    }

    /// Try again after the backoff, unless the retry period is over.
    fn after_failure(&self, message: &ClaimedWebhook, now: Timestamp) -> WebhookResult {
        let first = message.first_tried_at().ok().flatten().unwrap_or(now);
        let give_up_at = later(first, Duration::from_millis(self.config.retry_for_ms));
        let tries = u32::try_from(message.tries + 1).unwrap_or(u32::MAX);
        let delay = outbox::retry_delay(self.config.retry_base_ms, self.config.retry_cap_ms, tries);
        let next = later(now, delay);
        if now >= give_up_at {
            WebhookResult::GaveUp
        } else {
            WebhookResult::Retry { at: next }
        }
    }
}

impl Outbox for WebhookSender {
    const NAME: &'static str = "webhooks";
    type Claimed = ClaimedWebhook;
    type Outcome = WebhookOutcome;

    fn pace(&self) -> (&SharedClock, &WebhooksConfig) {
        (&self.clock, &self.config)
    }

    async fn claim(&self, lease: &Lease<'_>) -> Result<Vec<ClaimedWebhook>, StoreError> {
        self.store.claim_webhooks(lease).await
    }

    async fn send(&self, message: ClaimedWebhook) -> WebhookOutcome {
        let (tried, ()) = outbox::timed(&self.clock, async {
            match self.post(&message).await {
                Ok(status) if (200..300).contains(&status) => (Some(status), None, ()),
                Ok(status) => (Some(status), Some(format!("status {status}")), ()),
                Err(cause) => (None, Some(cause), ()),
            }
        })
        .await;
        let result = match tried.error {
            None => WebhookResult::Delivered,
            Some(_) => self.after_failure(&message, tried.at),
        };
        metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => result.as_str()).increment(1);
        let seconds = tried.latency_ms as f64 / 1000.0;
        metrics::histogram!(WEBHOOK_DELIVERY_DURATION).record(seconds);
        if let Some(error) = &tried.error {
            tracing::info!(endpoint = %message.endpoint_id, event = %message.event_id, %error, outcome = result.as_str(), "webhook try failed");
        }
        WebhookOutcome {
            message,
            tried,
            result,
        }
    }

    async fn record(&self, token: &str, outcomes: Vec<WebhookOutcome>) -> Result<(), StoreError> {
        let disable_after = SignedDuration::from_millis(
            i64::try_from(self.config.disable_after_ms).unwrap_or(i64::MAX),
        );
        let disabled = self
            .store
            .record_webhook_outcomes(token, &outcomes, disable_after, self.clock.now())
            .await?;
        for endpoint in disabled {
            tracing::warn!(%endpoint, "webhook endpoint disabled: its deliveries kept failing");
        }
        Ok(())
    }
}
