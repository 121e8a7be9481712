//! Twilio's webhooks: message and call statuses, the key pressed during a call, and patients'
//! SMS to our numbers.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use medrelay_channels::twilio::{self, Hook};
use medrelay_channels::{ChannelKind, ProviderStatus};

use super::{apply, receive, signature_header};
use crate::api::AppState;
use crate::api::problem::ApiError;
use crate::domain::{InboundMedia, InboundMessage};
use crate::providers::TwilioAccount;

pub(super) const TWILIO_SIGNATURE: &str = "X-Twilio-Signature";

/// What every Twilio webhook answers besides its `200`.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only documents the answers: ApiError makes them.
enum TwilioRefusals {
    /// The signature header is missing
    #[response(status = 401)]
    NoSignature,
    /// The signature does not sign this request for any configured account
    #[response(status = 403)]
    WrongSignature,
    /// The body is larger than 1 MiB
    #[response(status = 413)]
    TooLarge,
    /// The parameters are not Twilio's callback
    #[response(status = 422)]
    NotTwilios,
    /// Too many webhooks are being read at once, or the database cannot be reached
    #[response(status = 503)]
    Unavailable,
}

/// A message's status.
#[utoipa::path(
    post,
    path = "/webhooks/twilio/sms",
    tag = "provider webhooks",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature over the URL and the parameters")),
    request_body(content = std::collections::BTreeMap<String, String>, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's callback parameters"),
    responses(
        (status = 200, description = "Stored; an empty TwiML answer", body = String, content_type = "text/xml"),
        TwilioRefusals,
    )
)]
pub(super) async fn twilio_sms_status(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = TwilioRequest::new(Hook::SmsStatus, &uri, &headers, &body);
    twilio_status(&state, request, twilio::parse_sms_status).await
}

/// A call's status.
#[utoipa::path(
    post,
    path = "/webhooks/twilio/voice",
    tag = "provider webhooks",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature over the URL and the parameters")),
    request_body(content = std::collections::BTreeMap<String, String>, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's callback parameters"),
    responses(
        (status = 200, description = "Stored; an empty TwiML answer", body = String, content_type = "text/xml"),
        TwilioRefusals,
    )
)]
pub(super) async fn twilio_call_status(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = TwilioRequest::new(Hook::CallStatus, &uri, &headers, &body);
    twilio_status(&state, request, twilio::parse_call_status).await
}

#[utoipa::path(
    post,
    path = "/webhooks/twilio/sms/incoming",
    tag = "provider webhooks",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature over the URL and the parameters")),
    request_body(content = std::collections::BTreeMap<String, String>, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's callback parameters"),
    responses(
        (status = 200, description = "Stored; an empty TwiML answer", body = String, content_type = "text/xml"),
        TwilioRefusals,
    )
)]
/// A patient's SMS (or MMS) to one of our numbers.
pub(super) async fn twilio_sms_incoming(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = TwilioRequest::new(Hook::SmsIncoming, &uri, &headers, &body);
    let callback = twilio_callback(&state, request)?;
    let sms = twilio::parse_inbound_sms(&callback.params).ok_or_else(|| {
        ApiError::invalid(
            "body",
            "must be Twilio's incoming message: MessageSid, AccountSid, From and To",
        )
    })?;
    let senders = receiving_senders(&sms, callback.account);
    let message = InboundMessage {
        channel: ChannelKind::Sms,
        provider_message_id: sms.message_sid,
        sender: sms.to,
        from: sms.from,
        kind: if sms.media.is_empty() { "text" } else { "mms" }.to_owned(),
        text: Some(sms.body).filter(|body| !body.is_empty()),
        reply_payload: None,
        in_reply_to: None,
        // Stored as the first attachment: a patient's MMS to a clinic is nearly always one photo.
        media: sms.media.into_iter().next().map(|m| InboundMedia::Twilio {
            url: m.url,
            mime_type: m.content_type,
        }),
        sent_at: state.clock.now(),
    };
    receive(&state, message, &senders).await?;
    Ok(empty_twiml())
}

/// The account's senders the message arrived on: its `To` number or its Messaging Service. A
/// number of the account that sends nothing (it only receives) stands for all of the account's
/// senders, so the message still reaches the clinics that use the account.
fn receiving_senders(sms: &twilio::InboundSms, account: &TwilioAccount) -> Vec<String> {
    let named: Vec<String> = [Some(&sms.to), sms.messaging_service_sid.as_ref()]
        .into_iter()
        .flatten()
        .map(|id| format!("{}/{id}", sms.account_sid))
        .filter(|sender| account.senders.contains(sender))
        .collect();
    if named.is_empty() {
        account.senders.clone()
    } else {
        named
    }
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

#[utoipa::path(
    post,
    path = "/webhooks/twilio/voice/confirm",
    tag = "provider webhooks",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature over the URL and the parameters")),
    request_body(content = std::collections::BTreeMap<String, String>, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's callback parameters"),
    responses(
        (status = 200, description = "TwiML thanking the patient", body = String, content_type = "text/xml"),
        TwilioRefusals,
    )
)]
/// The key the patient pressed after hearing the message: `1` confirms.
pub(super) async fn twilio_call_reply(
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

/// Twilio reads the answer to a status callback as TwiML; an empty one does nothing.
pub(super) fn empty_twiml() -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml")],
        "<Response></Response>",
    )
        .into_response()
}
