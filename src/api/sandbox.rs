//! The sandbox's own pages: a clinic's outbox, and a patient writing to the clinic on WhatsApp
//! or by SMS. Both need the clinic's key, like the rest of the API.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::json::ApiJson;
use super::problem::ApiError;
use crate::domain::Phone;
use crate::sandbox::{InboundError, PatientMessage, Sandbox};
use crate::store::{OutboxFilter, OutboxMessage};
use medrelay_channels::ChannelKind;

/// The sandbox's own pages, for the caller's clinic.
pub(super) fn routes(sandbox: Arc<Sandbox>) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(outbox))
        .routes(routes!(patient_writes))
        .layer(Extension(sandbox))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct OutboxQuery {
    /// Only messages to this phone number or email address.
    recipient: Option<String>,
    /// Only messages on this channel.
    #[param(value_type = Option<ChannelKind>, inline)]
    channel: Option<String>,
    /// At most this many, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Outbox {
    messages: Vec<OutboxMessage>,
}

/// What the caller's patients received from the sandbox provider, newest first.
#[utoipa::path(
    get,
    path = "/sandbox/outbox",
    tag = "sandbox",
    params(OutboxQuery),
    responses((status = 200, description = "The outbox, newest first", body = Outbox))
)]
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"channel": "whatsapp", "from": "+972541234567", "text": "Can I come at 10 instead?"}))]
pub(super) struct InboundIn {
    /// `whatsapp` or `sms`.
    #[schema(pattern = "^(whatsapp|sms)$")]
    channel: String,
    /// The patient's phone number.
    from: String,
    text: Option<String>,
    button: Option<ButtonIn>,
    image: Option<ImageIn>,
}

/// A tap on a template's quick-reply button.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ButtonIn {
    payload: String,
    text: String,
}

/// The sandbox's stand-in photo.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ImageIn {
    caption: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct InboundOut {
    provider_message_id: String,
}

/// Longest text a patient's message may hold here: WhatsApp's 4,096 characters, Twilio's 1,600.
const MAX_WHATSAPP_TEXT: usize = 4_096;

#[utoipa::path(
    post,
    path = "/sandbox/inbound",
    tag = "sandbox",
    request_body = InboundIn,
    responses(
        (status = 202, description = "The gateway took the patient's message", body = InboundOut),
        (status = 502, description = "The gateway refused the sandbox's webhook, or could not be reached"),
    )
)]
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
