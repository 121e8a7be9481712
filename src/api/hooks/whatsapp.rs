//! Meta's WhatsApp webhook: the subscription handshake, statuses and patients' messages.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use medrelay_channels::{ChannelKind, whatsapp};
use serde::Deserialize;

use super::{apply, receive, signature_header};
use crate::api::AppState;
use crate::api::problem::ApiError;
use crate::domain::InboundMessage;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Subscription {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

#[utoipa::path(
    get,
    path = "/webhooks/whatsapp",
    tag = "provider webhooks",
    params(Subscription),
    responses(
        (status = 200, description = "`hub.challenge`, echoed", body = String, content_type = "text/plain"),
        (status = 403, description = "`hub.verify_token` is not one of ours"),
    )
)]
/// Meta's handshake when the webhook is registered: echo the challenge if the token is ours.
pub(super) async fn whatsapp_subscribe(
    State(state): State<AppState>,
    Query(query): Query<Subscription>,
) -> Result<String, ApiError> {
    state
        .providers
        .whatsapp_accounts()
        .iter()
        .find_map(|account| {
            whatsapp::verify_subscription(
                &account.verify_token,
                query.mode.as_deref(),
                query.verify_token.as_deref(),
                query.challenge.as_deref(),
            )
        })
        .ok_or(ApiError::Forbidden("hub.verify_token is not ours"))
}

/// Meta's statuses and patients' messages, signed with the app secret.
#[utoipa::path(
    post,
    path = "/webhooks/whatsapp",
    tag = "provider webhooks",
    params(("X-Hub-Signature-256" = String, Header, description = "`sha256=<hex>` HMAC of the body with the app secret")),
    request_body(content = serde_json::Value, description = "Meta's webhook payload (`object`, `entry[].changes[].value`)"),
    responses(
        (status = 200, description = "Stored"),
        (status = 401, description = "The signature header is missing"),
        (status = 403, description = "The signature does not sign this body"),
        (status = 413, description = "The body is larger than 1 MiB"),
        (status = 422, description = "The body is not Meta's webhook payload"),
        (status = 503, description = "Too many webhooks are being read at once, or the database cannot be reached"),
    )
)]
pub(super) async fn whatsapp_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let signature = signature_header(&headers, whatsapp::SIGNATURE_HEADER)?;
    // Check every account, so the time taken does not tell which secret came close. The numbers
    // of the accounts that signed are the only ones this webhook may speak for.
    let signed_for: Vec<String> = state
        .providers
        .whatsapp_accounts()
        .iter()
        .filter(|account| whatsapp::verify_signature(&account.app_secret, &body, Some(signature)))
        .map(|account| account.phone_number_id.clone())
        .collect();
    if signed_for.is_empty() {
        return Err(ApiError::Forbidden(
            "X-Hub-Signature-256 does not sign this body",
        ));
    }
    let whatsapp::WebhookEvents { statuses, inbound } =
        whatsapp::parse_webhook(&body).map_err(|e| ApiError::invalid("body", e.to_string()))?;
    let now = state.clock.now();
    for message in inbound.into_iter().filter_map(|m| inbound_message(m, now)) {
        if signed_for.contains(&message.sender) {
            let senders = [message.sender.clone()];
            receive(&state, message, &senders).await?;
        } else {
            // A number added to the WhatsApp Business Account but not configured here: its
            // patients' messages are lost until someone notices this line.
            tracing::warn!(
                phone_number_id = %message.sender,
                "a WhatsApp message arrived for a phone_number_id no configured account owns; not stored"
            );
        }
    }
    apply(&state, statuses, &signed_for).await?;
    Ok(StatusCode::OK)
}

/// A patient's WhatsApp message in the clinic's words; `None` without the number it was sent to.
/// Meta's timestamp is the patient's phone's: never later than `now`.
fn inbound_message(message: whatsapp::InboundWhatsApp, now: Timestamp) -> Option<InboundMessage> {
    let sent_at = message
        .timestamp
        .and_then(|s| Timestamp::from_second(s).ok())
        .map_or(now, |at| at.min(now));
    Some(InboundMessage {
        channel: ChannelKind::Whatsapp,
        provider_message_id: message.provider_message_id,
        sender: message.phone_number_id?,
        from: message.from,
        kind: message.kind,
        text: message.text,
        reply_payload: message.reply_payload,
        in_reply_to: message.in_reply_to,
        media: message.media.map(Into::into),
        sent_at,
    })
}
