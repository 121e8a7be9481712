//! What Twilio posts back to us: status callbacks for messages and calls, the key pressed, and the
//! `X-Twilio-Signature` that proves they came from Twilio.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use url::Url;

use super::classify::{ErrorAction, known_error};
use super::{ATTEMPT_PARAM, LANGUAGE_PARAM};
use crate::{DeliveryState, ProviderStatus, Secret};

/// One of medrelay's webhooks that Twilio calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// A message's status callback.
    SmsStatus,
    /// A call's status callback.
    CallStatus,
    /// The key a patient pressed during a call (the `<Gather>` action).
    CallReply,
    /// A patient's SMS to one of our numbers (the number's incoming-message webhook).
    SmsIncoming,
}

impl Hook {
    /// Where medrelay serves it; the configured URL ends with this path.
    pub const fn path(self) -> &'static str {
        match self {
            Self::SmsStatus => "/webhooks/twilio/sms",
            Self::CallStatus => "/webhooks/twilio/voice",
            Self::CallReply => "/webhooks/twilio/voice/confirm",
            Self::SmsIncoming => "/webhooks/twilio/sms/incoming",
        }
    }
}

/// The URL Twilio requested when it called `given` (a configured callback URL) and the request
/// arrived with `query`: the configured scheme, host, port and path, which a proxy may have
/// rewritten on the way, and the query as Twilio sent it (ours, with the attempt id).
pub fn requested_url(given: &Url, query: Option<&str>) -> String {
    let mut base = given.clone();
    base.set_query(None);
    let mut url = String::from(base.as_str());
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Checks `X-Twilio-Signature` (providers.md §2.3): HMAC-SHA1 with the auth token over the full
/// URL Twilio requested followed by every POST parameter, sorted by name, as `name` + `value`.
///
/// `url` must be the public URL exactly as Twilio called it (scheme, host, path, query), not the
/// one a proxy forwarded. Because proxies add or drop an explicit port, the URL is also tried
/// with the port removed or the scheme's default added, as Twilio's own libraries do.
pub fn validate_signature(
    auth_token: &Secret,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> bool {
    let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return false;
    };
    let payload = signed_payload(params);
    let candidates = [Some(url.to_owned()), other_port_form(url)];
    // Evaluate every candidate so timing does not reveal which form matched.
    candidates
        .iter()
        .flatten()
        .map(|candidate| {
            signature(auth_token, candidate, &payload)
                .as_bytes()
                .ct_eq(header.as_bytes())
        })
        .fold(subtle::Choice::from(0), |matched, this| matched | this)
        .into()
}

/// The `X-Twilio-Signature` Twilio sends when it POSTs `params` to `url`. The sandbox signs its
/// status callbacks with it.
pub fn sign(auth_token: &Secret, url: &str, params: &[(String, String)]) -> String {
    signature(auth_token, url, &signed_payload(params))
}

/// Every POST parameter, sorted by name, as `name` + `value`.
fn signed_payload(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // Repeated names (MediaUrl…) are ordered by value too, as Twilio's libraries do.
    sorted.sort();
    let mut payload = String::new();
    for (name, value) in sorted {
        payload.push_str(name);
        payload.push_str(value);
    }
    payload
}

fn signature(auth_token: &Secret, url: &str, payload: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.expose().as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    mac.update(payload.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// `https://h:443/p` ↔ `https://h/p`: the same URL with the explicit port removed, or with the
/// scheme's default port added. Worked on the text so nothing else in the URL is normalised.
fn other_port_form(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The port follows the last colon, unless that colon is in user info or an IPv6 literal.
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_end = authority.rfind(']').unwrap_or(0).max(host_start);
    let with_other = match authority[host_end..].rfind(':') {
        Some(colon) => authority[..host_end + colon].to_owned(),
        None => format!("{authority}:{default_port}"),
    };
    Some(format!("{scheme}://{with_other}{tail}"))
}

/// Our attempt id from a status callback URL (the `attempt` query parameter the adapters add).
pub fn callback_ref_from_url(url: &str) -> Option<String> {
    query_param(url, ATTEMPT_PARAM)
}

/// The language a call spoke, from its `<Gather>` action URL (the `language` query parameter the
/// voice adapter adds).
pub fn call_language_from_url(url: &str) -> Option<String> {
    query_param(url, LANGUAGE_PARAM)
}

fn query_param(url: &str, param: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(name, _)| name == param)
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Reads an SMS status callback. `callback_ref` is the `attempt` query parameter of the URL
/// Twilio called (see [`callback_ref_from_url`]).
///
/// `None` when there is nothing to record: a progress status that is no delivery evidence
/// (`queued`, `accepted`, `scheduled`, `sending`, inbound `receiving`/`received`), or a request
/// that is not a message status at all.
pub fn parse_sms_status(
    params: &[(String, String)],
    callback_ref: Option<&str>,
) -> Option<ProviderStatus> {
    let sid = param(params, "MessageSid").or_else(|| param(params, "SmsSid"))?;
    let status = param(params, "MessageStatus").or_else(|| param(params, "SmsStatus"))?;
    let state = match status {
        "sent" => DeliveryState::Sent,
        "delivered" => DeliveryState::Delivered,
        "read" => DeliveryState::Read,
        "undelivered" | "failed" | "canceled" => DeliveryState::Failed,
        _ => return None,
    };
    let error_code = param(params, "ErrorCode").map(str::to_owned);
    let (error_code, error_text, fact) = if state == DeliveryState::Failed {
        let known = error_code.as_deref().and_then(known_error);
        let fact = known.and_then(|k| match k.action {
            ErrorAction::Permanent { fact } => fact,
            _ => None,
        });
        let text = known.map_or_else(|| status.to_owned(), |k| format!("{status}: {}", k.meaning));
        // A failure without a code still needs a code for the record.
        (
            error_code.or_else(|| Some(status.to_owned())),
            Some(text),
            fact,
        )
    } else {
        (None, None, None)
    };
    Some(ProviderStatus {
        callback_ref: callback_ref.map(str::to_owned),
        provider_message_id: sid.to_owned(),
        state,
        error_code,
        error_text,
        fact,
    })
}

/// Reads a call status callback (we ask only for `completed`, which also reports how an
/// unanswered call ended).
///
/// `completed` means answered: `Delivered`, unless answering-machine detection reports a machine
/// or fax (`error_code` `answered-by-machine`). `busy` and `no-answer` are `Failed` with the
/// status as `error_code`; the gateway may retry them once. `failed` and `canceled` are `Failed`
/// too and call for fallback. Progress statuses (`queued`, `initiated`, `ringing`,
/// `in-progress`) give `None`.
pub fn parse_call_status(
    params: &[(String, String)],
    callback_ref: Option<&str>,
) -> Option<ProviderStatus> {
    let sid = param(params, "CallSid")?;
    let status = param(params, "CallStatus")?;
    let (state, error_code, error_text) = match status {
        "completed" => match param(params, "AnsweredBy") {
            Some(by) if by.starts_with("machine") || by == "fax" => (
                DeliveryState::Failed,
                Some("answered-by-machine".to_owned()),
                Some(format!("answered by {by}")),
            ),
            _ => (DeliveryState::Delivered, None, None),
        },
        "busy" | "no-answer" | "failed" | "canceled" => (
            DeliveryState::Failed,
            Some(status.to_owned()),
            Some(format!("call ended: {status}")),
        ),
        _ => return None,
    };
    Some(ProviderStatus {
        callback_ref: callback_ref.map(str::to_owned),
        provider_message_id: sid.to_owned(),
        state,
        error_code,
        error_text,
        fact: None,
    })
}

/// A key pressed in answer to a reminder call, posted to the voice `confirm_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReply {
    pub call_sid: String,
    /// What the patient pressed: `1` confirms.
    pub digits: String,
}

/// Reads the `<Gather>` action request; `None` when no key was pressed.
pub fn parse_call_reply(params: &[(String, String)]) -> Option<CallReply> {
    Some(CallReply {
        call_sid: param(params, "CallSid")?.to_owned(),
        digits: param(params, "Digits")?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_port_form_adds_or_removes_only_the_port() {
        let cases = [
            (
                "https://h.example/p?q=1",
                Some("https://h.example:443/p?q=1"),
            ),
            ("https://h.example:443/p", Some("https://h.example/p")),
            ("http://h.example", Some("http://h.example:80")),
            (
                "https://u:pw@h.example/p",
                Some("https://u:pw@h.example:443/p"),
            ),
            ("https://[::1]:8443/p", Some("https://[::1]/p")),
            ("https://[::1]/p", Some("https://[::1]:443/p")),
            ("ftp://h.example/p", None),
            ("no scheme", None),
        ];
        for (url, expected) in cases {
            assert_eq!(other_port_form(url).as_deref(), expected, "{url}");
        }
    }

    #[test]
    fn the_requested_url_is_the_configured_one_with_the_query_twilio_sent() {
        let given =
            Url::parse("https://relay.clinic.example/medrelay/webhooks/twilio/sms?clinic=7")
                .expect("url");
        assert_eq!(
            requested_url(&given, Some("clinic=7&attempt=att_1")),
            "https://relay.clinic.example/medrelay/webhooks/twilio/sms?clinic=7&attempt=att_1"
        );
        assert_eq!(
            requested_url(&given, None),
            "https://relay.clinic.example/medrelay/webhooks/twilio/sms"
        );
    }
}
