//! The sandbox's own pages: a clinic's outbox, and a patient writing to the clinic on WhatsApp
//! or by SMS. Both need the clinic's key, like the rest of the API.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Caller;
use super::json::ApiJson;
use super::problem::ApiError;
use crate::domain::Phone;
use crate::sandbox::{InboundError, PatientMessage, Sandbox};
use crate::store::{OutboxFilter, OutboxMessage};
use medrelay_channels::ChannelKind;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutboxQuery {
    recipient: Option<String>,
    channel: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(super) struct Outbox {
    messages: Vec<OutboxMessage>,
}

/// What the caller's patients received from the sandbox provider, newest first.
pub(super) async fn outbox(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<OutboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Outbox>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 10000"));
    }
    let filter = OutboxFilter {
        recipient: query.recipient,
        channel: query.channel,
        limit,
    };
    Ok(Json(Outbox {
        messages: state
            .store
            .sandbox_outbox(&caller.clinic.id, &filter)
            .await?,
    }))
}

/// A patient's message, as `POST /sandbox/inbound` takes it: exactly one of `text`, `button`
/// (a template's quick-reply tap) or `image` (the sandbox's photo).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InboundIn {
    channel: String,
    from: String,
    text: Option<String>,
    button: Option<ButtonIn>,
    image: Option<ImageIn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ButtonIn {
    payload: String,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImageIn {
    caption: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct InboundOut {
    provider_message_id: String,
}

/// Longest text a patient's message may hold here: WhatsApp's 4,096 characters, Twilio's 1,600.
const MAX_WHATSAPP_TEXT: usize = 4_096;

/// Plays a patient (of the caller's clinic or a number it does not know yet) writing to the
/// clinic: the sandbox posts the provider's signed webhook to the gateway, and answers once the
/// gateway took it.
pub(super) async fn patient_writes(
    Extension(sandbox): Extension<Arc<Sandbox>>,
    Caller(caller): Caller,
    body: ApiJson<InboundIn>,
) -> Result<(StatusCode, Json<InboundOut>), ApiError> {
    let inbound = body.value;
    let channel = match inbound.channel.as_str() {
        "whatsapp" => ChannelKind::Whatsapp,
        "sms" => ChannelKind::Sms,
        _ => return Err(ApiError::invalid("channel", "must be whatsapp or sms")),
    };
    let from = Phone::parse(&inbound.from, caller.clinic.phone_region)
        .map_err(|e| ApiError::invalid("from", e.to_string()))?;
    let message = patient_message(channel, inbound)?;
    let provider_message_id = sandbox
        .patient_writes(channel, from.as_str(), &message)
        .await
        .map_err(|error| match error {
            InboundError::Store(error) => ApiError::from(error),
            InboundError::NoAccount(_) | InboundError::NotSms => {
                ApiError::invalid("channel", error.to_string())
            }
            InboundError::Refused(_) | InboundError::Unreachable(_) => {
                ApiError::BadGateway(error.to_string())
            }
        })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(InboundOut {
            provider_message_id,
        }),
    ))
}

/// The one thing the patient sends, checked against what the channel carries.
fn patient_message(channel: ChannelKind, inbound: InboundIn) -> Result<PatientMessage, ApiError> {
    let whatsapp_only = |field: &str| {
        ApiError::invalid(
            field,
            "only a WhatsApp message carries it; an SMS carries text",
        )
    };
    let message = match (inbound.text, inbound.button, inbound.image) {
        (Some(text), None, None) => {
            let limit = match channel {
                ChannelKind::Sms => medrelay_channels::twilio::MAX_BODY_UNITS,
                _ => MAX_WHATSAPP_TEXT,
            };
            if text.trim().is_empty() || text.chars().count() > limit {
                return Err(ApiError::invalid(
                    "text",
                    format!("must hold 1 to {limit} characters"),
                ));
            }
            PatientMessage::Text(text)
        }
        (None, Some(_), None) if channel == ChannelKind::Sms => {
            return Err(whatsapp_only("button"));
        }
        (None, None, Some(_)) if channel == ChannelKind::Sms => return Err(whatsapp_only("image")),
        (None, Some(ButtonIn { payload, text }), None) => PatientMessage::Button { payload, text },
        (None, None, Some(ImageIn { caption })) => PatientMessage::Image { caption },
        _ => {
            return Err(ApiError::invalid(
                "body",
                "must hold exactly one of text, button or image",
            ));
        }
    };
    Ok(message)
}
