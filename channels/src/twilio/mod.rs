//! Twilio Programmable Messaging (SMS) and Voice: sending, TwiML, error classification,
//! `X-Twilio-Signature` validation and status callbacks.

mod classify;
mod config;
mod incoming;
mod sms;
mod voice;
mod webhook;
mod wire;

use url::Url;

use crate::SendOutcome;

pub use classify::{ErrorAction, KnownError, known_error};
pub use config::{
    ConfigError, MAX_VALIDITY_SECONDS, TwilioConfig, TwilioSmsConfig, TwilioVoiceConfig,
    VoiceLanguage,
};
pub use incoming::{InboundSms, InboundSmsMedia, parse_inbound_sms};
pub use sms::TwilioSms;
pub use voice::{TwilioVoice, thanks_twiml, voice_for};
pub use webhook::{
    CallReply, Hook, call_language_from_url, callback_ref_from_url, parse_call_reply,
    parse_call_status, parse_sms_status, requested_url, sign, validate_signature,
};

/// The longest `Body` Twilio takes for one message; past it Twilio refuses the message (21617).
/// Twilio counts characters as UTF-16 code units: a character beyond the BMP (most emoji)
/// counts two, a Hebrew letter or a GSM-7 escape character (`€`) one.
pub const MAX_BODY_UNITS: usize = 1_600;

/// The length Twilio measures a `Body` with, to compare with [`MAX_BODY_UNITS`].
pub fn body_units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The query parameter that carries our attempt id (`callback_ref`) on every URL we give Twilio,
/// so a status matches its attempt even when the create response was lost.
pub const ATTEMPT_PARAM: &str = "attempt";

/// The query parameter of a call's `<Gather>` action that carries the language the call spoke,
/// so the answer to a key press is in the same language.
pub const LANGUAGE_PARAM: &str = "language";

/// `url` with `attempt=<callback_ref>` added to its query.
fn with_attempt(url: &Url, callback_ref: &str) -> String {
    let mut url = url.clone();
    url.query_pairs_mut()
        .append_pair(ATTEMPT_PARAM, callback_ref);
    url.into()
}

fn not_a_phone() -> SendOutcome {
    SendOutcome::Permanent {
        code: "not-a-phone".to_owned(),
        reason: "Twilio SMS and voice need a phone number".to_owned(),
        fact: None,
    }
}
