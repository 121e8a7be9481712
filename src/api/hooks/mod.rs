//! Provider webhooks: Meta's (`/webhooks/whatsapp`, with its GET subscription handshake) and
//! Twilio's (`/webhooks/twilio/sms`, `/webhooks/twilio/voice`, `/webhooks/twilio/voice/confirm`).
//!
//! Every POST is checked against the provider's signature on the raw body before anything is
//! read: no signature is `401` (before the body is even received), a wrong one `403`, and
//! neither changes anything. Statuses are
//! stored before the provider hears `200`, so a crash makes the provider redeliver, and the
//! tracker moves attempts only forward, so a redelivered or late status changes nothing.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, Query, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use medrelay_channels::twilio::Hook;
use medrelay_channels::{ProviderStatus, twilio, whatsapp};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::api::AppState;
use crate::api::problem::ApiError;
use crate::config::HttpConfig;
use crate::providers::TwilioAccount;
use crate::store::StatusUpdate;

const TWILIO_SIGNATURE: &str = "X-Twilio-Signature";

/// Largest provider webhook accepted: Meta batches up to 1,000 statuses into one POST (a few
/// hundred KiB), well past what an API request may carry.
const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

/// Provider webhooks. Their bodies are large and read before the signature over them can be
/// checked, so a POST without the signature header is refused before its body is read, and only
/// `http.webhook_bodies_in_flight` bodies are read at once.
pub(super) fn routes(http: &HttpConfig) -> Router<AppState> {
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
    let whatsapp_event = whatsapp_event.layer(signed_by(whatsapp::SIGNATURE_HEADER));
    Router::new()
        .route(
            "/webhooks/whatsapp",
            get(whatsapp_subscribe).post(whatsapp_event),
        )
        .merge(
            Router::new()
                .route("/webhooks/twilio/sms", post(twilio_sms_status))
                .route("/webhooks/twilio/voice", post(twilio_call_status))
                .route("/webhooks/twilio/voice/confirm", post(twilio_call_reply))
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

#[derive(Debug, Deserialize)]
struct Subscription {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's handshake when the webhook is registered: echo the challenge if the token is ours.
async fn whatsapp_subscribe(
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

async fn whatsapp_event(
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
    // A patient's message opens their 24-hour window for free text on that number.
    let now = state.clock.now();
    let conversations: Vec<_> = inbound
        .into_iter()
        .filter_map(|message| {
            let at = message
                .timestamp
                .and_then(|s| jiff::Timestamp::from_second(s).ok())
                .map_or(now, |at| at.min(now));
            Some((message.phone_number_id?, message.from, at))
        })
        .filter(|(number, _, _)| signed_for.contains(number))
        .collect();
    state.store.record_whatsapp_inbound(&conversations).await?;
    apply(&state, statuses, &signed_for).await?;
    Ok(StatusCode::OK)
}

async fn twilio_sms_status(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = TwilioRequest::new(Hook::SmsStatus, &uri, &headers, &body);
    twilio_status(&state, request, twilio::parse_sms_status).await
}

async fn twilio_call_status(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = TwilioRequest::new(Hook::CallStatus, &uri, &headers, &body);
    twilio_status(&state, request, twilio::parse_call_status).await
}

/// Reads one Twilio status callback: its parameters and our attempt id.
type ParseTwilioStatus = fn(&[(String, String)], Option<&str>) -> Option<ProviderStatus>;

/// A message or call status callback, read by `parse`.
async fn twilio_status(
    state: &AppState,
    request: TwilioRequest<'_>,
    parse: ParseTwilioStatus,
) -> Result<Response, ApiError> {
    let callback = twilio_callback(state, request)?;
    let statuses = parse(&callback.params, callback.callback_ref.as_deref());
    apply(
        state,
        statuses.into_iter().collect(),
        &callback.account.senders,
    )
    .await?;
    Ok(empty_twiml())
}

/// The key the patient pressed after hearing the message: `1` confirms.
async fn twilio_call_reply(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let TwilioCallback {
        callback_ref,
        language,
        params,
        account,
    } = twilio_callback(
        &state,
        TwilioRequest::new(Hook::CallReply, &uri, &headers, &body),
    )?;
    let reply = twilio::parse_call_reply(&params);
    let thanks = match (callback_ref, reply) {
        (Some(attempt), Some(reply)) => {
            let recorded = state
                .store
                .record_call_reply(&attempt, &reply.digits, &account.senders, state.clock.now())
                .await?;
            recorded && reply.digits == "1"
        }
        _ => false,
    };
    let twiml = if thanks {
        let language = language.as_deref().unwrap_or_default();
        twilio::thanks_twiml(language, twilio::voice_for(&account.voices, language))
    } else {
        "<Response><Hangup/></Response>".to_owned()
    };
    Ok(([(header::CONTENT_TYPE, "text/xml")], twiml).into_response())
}

fn signature_header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .ok_or(ApiError::Unauthorized(
            "the provider's signature header is missing",
        ))
}

/// A signed Twilio callback: our attempt id (from the URL) and the POST parameters.
struct TwilioCallback<'s> {
    callback_ref: Option<String>,
    /// The language a call spoke, on a key press (from the `<Gather>` action URL).
    language: Option<String>,
    params: Vec<(String, String)>,
    /// The account that signed it: it may speak only for its own senders.
    account: &'s TwilioAccount,
}

/// A request to one of the webhooks Twilio calls, as it arrived.
struct TwilioRequest<'r> {
    hook: Hook,
    uri: &'r OriginalUri,
    headers: &'r HeaderMap,
    body: &'r [u8],
}

impl<'r> TwilioRequest<'r> {
    fn new(hook: Hook, uri: &'r OriginalUri, headers: &'r HeaderMap, body: &'r [u8]) -> Self {
        Self {
            hook,
            uri,
            headers,
            body,
        }
    }
}

/// The Twilio callback in this request, if its `X-Twilio-Signature` checks out against the
/// account it names, over a URL that account was given for this webhook.
fn twilio_callback<'s>(
    state: &'s AppState,
    request: TwilioRequest<'_>,
) -> Result<TwilioCallback<'s>, ApiError> {
    let signature = signature_header(request.headers, TWILIO_SIGNATURE)?;
    let params: Vec<(String, String)> = form_urlencoded::parse(request.body).into_owned().collect();
    let account = params
        .iter()
        .find(|(name, _)| name == "AccountSid")
        .and_then(|(_, sid)| state.providers.twilio_account(sid));
    let forbidden = || ApiError::Forbidden("X-Twilio-Signature does not sign this request");
    let account = account.ok_or_else(forbidden)?;
    // Twilio signs the URL it was given: the configured callback URL with our query. Every
    // URL is checked, so the time taken does not tell which came close.
    let query = request.uri.query();
    let signed: Vec<String> = account
        .hook_urls(request.hook)
        .map(|given| twilio::requested_url(given, query))
        .filter(|url| {
            twilio::validate_signature(&account.auth_token, url, &params, Some(signature))
        })
        .collect();
    let url = signed.first().ok_or_else(forbidden)?;
    Ok(TwilioCallback {
        callback_ref: twilio::callback_ref_from_url(url),
        language: twilio::call_language_from_url(url),
        params,
        account,
    })
}

/// Stores the statuses that name one of our attempts sent through `senders`, by our attempt id
/// or the provider's message id; the rest are not this account's to report.
async fn apply(
    state: &AppState,
    statuses: Vec<ProviderStatus>,
    senders: &[String],
) -> Result<(), ApiError> {
    let now = state.clock.now();
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
        })
        .collect();
    if !updates.is_empty() {
        state.tracker.apply(&updates, senders).await?;
    }
    Ok(())
}

/// Twilio reads the answer to a status callback as TwiML; an empty one does nothing.
fn empty_twiml() -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml")],
        "<Response></Response>",
    )
        .into_response()
}
