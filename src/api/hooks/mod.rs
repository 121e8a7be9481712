//! Provider webhooks: Meta's (`/webhooks/whatsapp`, with its GET subscription handshake) and
//! Twilio's (`/webhooks/twilio/sms`, `/webhooks/twilio/sms/incoming`, `/webhooks/twilio/voice`,
//! `/webhooks/twilio/voice/confirm`).
//!
//! Every POST is checked against the provider's signature on the raw body before anything is
//! read: no signature is `401` (before the body is even received), a wrong one `403`, and
//! neither changes anything. Statuses are
//! stored before the provider hears `200`, so a crash makes the provider redeliver, and the
//! tracker moves attempts only forward, so a redelivered or late status changes nothing.
//! Patients' messages are stored, and acted on, before the provider hears `200` too; a
//! redelivered one is stored once.

mod twilio;
mod whatsapp;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use medrelay_channels::ProviderStatus;
use tokio::sync::Semaphore;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::AppState;
use crate::api::problem::ApiError;
use crate::config::HttpConfig;
use crate::domain::{InboundMessage, Phone, PhoneRegion};
use crate::store::{ClinicScope, Received, StatusUpdate};

use self::twilio::TWILIO_SIGNATURE;

/// Largest provider webhook accepted: Meta batches up to 1,000 statuses into one POST (a few
/// hundred KiB), well past what an API request may carry.
const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

/// Provider webhooks. Their bodies are large and read before the signature over them can be
/// checked, so a POST without the signature header is refused before its body is read, and only
/// `http.webhook_bodies_in_flight` bodies are read at once.
pub(super) fn routes(http: &HttpConfig) -> OpenApiRouter<AppState> {
    let bodies = Arc::new(Semaphore::new(http.webhook_bodies_in_flight as usize));
    let signed_by = |signature: &'static str| {
        middleware::from_fn_with_state(
            Gate {
                signature,
                bodies: Arc::clone(&bodies),
                max_bytes: MAX_WEBHOOK_BYTES,
            },
            gate,
        )
    };
    OpenApiRouter::new()
        .routes(routes!(whatsapp::whatsapp_subscribe))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(whatsapp::whatsapp_event))
                .route_layer(signed_by(medrelay_channels::whatsapp::SIGNATURE_HEADER)),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(twilio::twilio_sms_status))
                .routes(routes!(twilio::twilio_sms_incoming))
                .routes(routes!(twilio::twilio_call_status))
                .routes(routes!(twilio::twilio_call_reply))
                .route_layer(signed_by(TWILIO_SIGNATURE)),
        )
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BYTES))
}

/// What a webhook POST must pass before its body is read.
#[derive(Debug, Clone)]
struct Gate {
    /// The provider's signature header.
    pub signature: &'static str,
    /// Bodies being read and handled now, shared by every webhook route.
    pub bodies: Arc<Semaphore>,
    /// Largest body, in bytes.
    pub max_bytes: usize,
}

/// Refuses an unsigned or oversized POST from its headers alone, and holds one of the in-flight
/// slots while the body is read and handled: a flood of large uploads costs at most that many
/// bodies.
async fn gate(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    if let Err(refused) = signature_header(request.headers(), gate.signature) {
        return refused.into_response();
    }
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > gate.max_bytes as u64) {
        return ApiError::WebhookTooLarge.into_response();
    }
    let Ok(_slot) = gate.bodies.try_acquire_owned() else {
        return ApiError::WebhooksBusy {
            retry_after_secs: 1,
        }
        .into_response();
    };
    next.run(request).await
}

pub(super) fn signature_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<&'h str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .ok_or(ApiError::Unauthorized(
            "the provider's signature header is missing",
        ))
}

/// Stores the statuses that name one of our attempts sent through `senders`, by our attempt id
/// or the provider's message id; the rest are not this account's to report.
pub(super) async fn apply(
    state: &AppState,
    statuses: Vec<ProviderStatus>,
    senders: &[String],
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let senders: Arc<[String]> = Arc::from(senders);
    let updates: Vec<StatusUpdate> = statuses
        .into_iter()
        .map(|status| StatusUpdate {
            attempt_id: status.callback_ref,
            provider_message_id: status.provider_message_id,
            state: status.state,
            error_code: status.error_code,
            error_text: status.error_text,
            fact: status
                .fact
                .map(|fact| (fact, state.config.dispatch.remember_until(fact, now))),
            senders: Arc::clone(&senders),
        })
        .collect();
    if !updates.is_empty() {
        state.tracker.apply(updates).await?;
    }
    Ok(())
}

/// The patient's number as stored for patients: providers send E.164, which reads as itself.
fn patient_number(from: String) -> String {
    Phone::parse(&from, PhoneRegion::ISRAEL).map_or(from, |phone| phone.as_str().to_owned())
}

/// Stores a patient's message that arrived on our `senders`, and acts on it; wakes the
/// dispatcher when auto replies were queued.
async fn receive(
    state: &AppState,
    mut message: InboundMessage,
    senders: &[String],
) -> Result<(), ApiError> {
    message.from = patient_number(message.from);
    let clinics: ClinicScope = state.providers.clinics_using(senders);
    let now = state.clock.now();
    let received =
        crate::conversations::receive(&state.store, &message, senders, &clinics, now).await?;
    match received {
        Received::Stored { replies, .. } if replies > 0 => state.dispatcher_wake.notify_one(),
        Received::NoClinic => tracing::warn!(
            channel = %message.channel,
            sender = %message.sender,
            "a patient's message arrived on a number no clinic uses; not stored"
        ),
        _ => {}
    }
    Ok(())
}
