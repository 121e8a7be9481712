//! The look-alike provider endpoints: Meta's `POST /{version}/{phone_number_id}/messages` (and
//! its media endpoints, in `media.rs`) and
//! Twilio's `POST /2010-04-01/Accounts/{sid}/Messages.json` and `Calls.json`, answering with the
//! providers' own status codes, bodies and error codes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use medrelay_channels::{ChannelKind, twilio};
use serde_json::{Value, json};

use super::{Received, Sandbox, Verdict, media, script_language};
use crate::policy::templates;

/// The look-alike APIs, under `/sandbox/meta` and `/sandbox/twilio`.
pub fn router(sandbox: Arc<Sandbox>) -> Router {
    Router::new()
        .route(
            "/sandbox/meta/{version}/{node_id}/messages",
            post(whatsapp_message),
        )
        .route("/sandbox/meta/{version}/{node_id}", get(media::describe))
        .route(
            &format!("/sandbox/meta{}", media::DOWNLOAD_PATH),
            get(media::download),
        )
        .route(
            "/sandbox/twilio/2010-04-01/Accounts/{account_sid}/{resource}",
            post(twilio_create),
        )
        .with_state(sandbox)
}

pub(super) fn meta_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "error": {
            "message": format!("(#{code}) {message}"),
            "type": "OAuthException",
            "code": code,
            "error_data": { "messaging_product": "whatsapp", "details": message },
            "fbtrace_id": "Sandbox",
        }
    });
    (status, axum::Json(body)).into_response()
}

async fn whatsapp_message(
    State(sandbox): State<Arc<Sandbox>>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let credentials = &sandbox.credentials;
    if !has_whatsapp_token(&sandbox, &headers) {
        return meta_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token");
    }
    if phone_number_id != credentials.whatsapp_phone_number_id {
        return meta_error(
            StatusCode::BAD_REQUEST,
            100,
            "Unsupported post request: no such phone number id",
        );
    }
    let Some(message) = read_whatsapp_message(&sandbox, &body).await else {
        return meta_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
    };
    let to_digits = message.to.trim_start_matches('+').to_owned();
    let late = Duration::from_millis(sandbox.config.request_timeout_ms + 250);
    match sandbox.take(message).await {
        Ok((Verdict::Accept(_), id)) => whatsapp_accepted(&to_digits, &id),
        Ok((Verdict::AcceptLate(_), id)) => {
            tokio::time::sleep(late).await;
            whatsapp_accepted(&to_digits, &id)
        }
        Ok((Verdict::Reject { code, reason }, _)) => {
            meta_error(StatusCode::BAD_REQUEST, code.parse().unwrap_or(100), reason)
        }
        Ok((Verdict::AccountDown { code, reason }, _)) => meta_error(
            StatusCode::UNAUTHORIZED,
            code.parse().unwrap_or(190),
            reason,
        ),
        Ok((Verdict::Transient, _)) | Err(_) => meta_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            131_000,
            "Something went wrong",
        ),
    }
}

/// Whether the request carries the WhatsApp account's bearer token.
pub(super) fn has_whatsapp_token(sandbox: &Sandbox, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer == Some(sandbox.credentials.whatsapp_access_token.expose())
}

fn whatsapp_accepted(to_digits: &str, id: &str) -> Response {
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to_digits, "wa_id": to_digits }],
        "messages": [{ "id": id, "message_status": "accepted" }],
    }))
    .into_response()
}

/// A Cloud API message request: free text, or an approved template shown as the patient sees it.
async fn read_whatsapp_message(sandbox: &Sandbox, body: &[u8]) -> Option<Received> {
    let request: Value = serde_json::from_slice(body).ok()?;
    if request["messaging_product"] != "whatsapp" {
        return None;
    }
    let to = request["to"].as_str()?;
    let callback_ref = request["biz_opaque_callback_data"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (text, language) = match request["type"].as_str()? {
        "text" => {
            let text = request["text"]["body"].as_str()?;
            (text.to_owned(), script_language(text).to_owned())
        }
        "template" => {
            let template = &request["template"];
            let name = template["name"].as_str()?;
            let language = template["language"]["code"].as_str()?;
            let parameters: Vec<&str> = template["components"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["type"] == "body")
                .flat_map(|c| c["parameters"].as_array().into_iter().flatten())
                .filter_map(|p| p["text"].as_str())
                .collect();
            // Meta refuses a template it has not approved, or one given the wrong parameters.
            let approved = approved_template(sandbox, &callback_ref, name, language).await?;
            let text = templates::render_approved(&approved, &parameters)?;
            (text, language.to_owned())
        }
        _ => return None,
    };
    Some(Received {
        channel: ChannelKind::Whatsapp,
        to: format!("+{}", to.trim_start_matches('+')),
        subject: None,
        body: text,
        language,
        callback_ref,
    })
}

/// Template `name` as approved in `language` at the WhatsApp account of the clinic that sent
/// attempt `callback_ref`: the clinic's own templates, then the built-ins every account has. The
/// sandbox plays every clinic's account behind one phone number id, so the attempt (Meta echoes
/// it back as `biz_opaque_callback_data`) tells the accounts apart.
async fn approved_template(
    sandbox: &Sandbox,
    callback_ref: &str,
    name: &str,
    language: &str,
) -> Option<templates::WhatsAppCopy> {
    let own = match sandbox
        .store
        .clinic_templates_of_attempt(callback_ref, language)
        .await
    {
        Ok(own) => own,
        Err(error) => {
            tracing::warn!(%error, "sandbox could not read the clinic's approved templates");
            Vec::new()
        }
    };
    own.into_iter()
        .map(|t| t.content.whatsapp)
        .find(|approved| approved.name == name)
        .or_else(|| templates::builtin_approved(name, language))
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}

async fn twilio_create(
    State(sandbox): State<Arc<Sandbox>>,
    Path((account_sid, resource)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let credentials = &sandbox.credentials;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            credentials.twilio_account_sid,
            credentials.twilio_auth_token.expose()
        ))
    );
    let authorized = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized || account_sid != credentials.twilio_account_sid {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let param = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let (Some(to), Some(callback)) = (param("To"), param("StatusCallback")) else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number and a 'StatusCallback' are required",
        );
    };
    let callback_ref = twilio::callback_ref_from_url(callback).unwrap_or_default();
    let (channel, body, language) = match (resource.as_str(), param("Body"), param("Twiml")) {
        ("Messages.json", Some(text), _) => (
            ChannelKind::Sms,
            text.to_owned(),
            script_language(text).to_owned(),
        ),
        ("Calls.json", _, Some(twiml)) => {
            let (text, language) = spoken(twiml);
            (ChannelKind::Voice, text, language)
        }
        ("Messages.json" | "Calls.json", _, _) => {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                21602,
                "Message body or TwiML is required",
            );
        }
        _ => {
            return twilio_error(
                StatusCode::NOT_FOUND,
                20404,
                "The requested resource was not found",
            );
        }
    };
    if channel == ChannelKind::Sms && twilio::body_units(&body) > twilio::MAX_BODY_UNITS {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21617,
            "The concatenated message body exceeds the 1600 character limit",
        );
    }
    let message = Received {
        channel,
        to: to.to_owned(),
        subject: None,
        body,
        language,
        callback_ref,
    };
    match sandbox.take(message).await {
        Ok((Verdict::Accept(_) | Verdict::AcceptLate(_), sid)) => (
            StatusCode::CREATED,
            axum::Json(json!({
                "sid": sid,
                "account_sid": credentials.twilio_account_sid,
                "to": to,
                "from": param("From"),
                "status": "queued",
            })),
        )
            .into_response(),
        Ok((Verdict::Reject { code, reason }, _)) => twilio_error(
            StatusCode::BAD_REQUEST,
            code.parse().unwrap_or(21211),
            reason,
        ),
        Ok((Verdict::AccountDown { code, reason }, _)) => twilio_error(
            StatusCode::UNAUTHORIZED,
            code.parse().unwrap_or(20003),
            reason,
        ),
        Ok((Verdict::Transient, _)) | Err(_) => twilio_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal Server Error",
        ),
    }
}

/// What a call's TwiML says (or plays), and in which language.
fn spoken(twiml: &str) -> (String, String) {
    let inner = |open: &str, close: &str| {
        let start = twiml.find(open)?;
        let text_start = start + twiml[start..].find('>')? + 1;
        let end = text_start + twiml[text_start..].find(close)?;
        Some((&twiml[start..text_start], &twiml[text_start..end]))
    };
    if let Some((tag, text)) = inner("<Say", "</Say>") {
        let text = unescape_xml(text);
        let language = tag
            .split("language=\"")
            .nth(1)
            .and_then(|rest| rest.split(['"', '-']).next())
            .map_or_else(|| script_language(&text).to_owned(), str::to_owned);
        return (text, language);
    }
    let played = inner("<Play", "</Play>").map_or("", |(_, url)| url);
    (unescape_xml(played), String::new())
}

fn unescape_xml(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
