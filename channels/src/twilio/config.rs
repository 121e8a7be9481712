use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use super::ATTEMPT_PARAM;
use super::webhook::Hook;
use crate::Secret;

/// Twilio's most lenient `ValidityPeriod`: a message may wait at most 10 h in its queue.
pub const MAX_VALIDITY_SECONDS: u32 = 36_000;

/// One Twilio account and the SMS sender and voice caller id it is used with.
///
/// ```toml
/// account_sid = "AC…"
/// auth_token = "…"
///
/// [sms]
/// messaging_service_sid = "MG…"
/// status_callback_url = "https://relay.clinic.example/webhooks/twilio/sms"
/// incoming_url = "https://relay.clinic.example/webhooks/twilio/sms/incoming"
/// validity_period_seconds = 14400
///
/// [voice]
/// from = "+97235551234"
/// status_callback_url = "https://relay.clinic.example/webhooks/twilio/voice"
/// confirm_url = "https://relay.clinic.example/webhooks/twilio/voice/confirm"
/// languages.en = { voice = "Polly.Joanna", language = "en-US" }
/// languages.he = { audio_url = "https://relay.clinic.example/prompts/he.mp3" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// The sandbox and tests point this elsewhere; production keeps the default.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: Secret,
    /// Whole-request limit. A send that runs out of time is ambiguous, so keep it generous.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    pub sms: Option<TwilioSmsConfig>,
    pub voice: Option<TwilioVoiceConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSmsConfig {
    /// A number or a registered alphanumeric sender; exactly one of this and
    /// `messaging_service_sid`.
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    /// Our public status webhook, exactly as Twilio will request it; the adapter adds
    /// `?attempt=<callback_ref>`.
    pub status_callback_url: String,
    /// Our incoming-message webhook, exactly as it is set on the number or the Messaging
    /// Service in Twilio's console: patients' replies are signed over it. None: replies to this
    /// sender are not taken (an alphanumeric sender cannot be answered anyway).
    #[serde(default)]
    pub incoming_url: Option<String>,
    /// Used when a message carries no `valid_for` of its own.
    pub validity_period_seconds: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioVoiceConfig {
    /// Caller id: a Twilio number or a verified caller id.
    pub from: String,
    /// Our public call-status webhook; the adapter adds `?attempt=<callback_ref>`.
    pub status_callback_url: String,
    /// Where `<Gather>` posts the key the patient pressed; the adapter adds `?attempt=…`.
    pub confirm_url: String,
    /// Ask Twilio whether a person or a machine answered, so a voicemail is not taken for
    /// delivery. Off by default: coverage for Israel is unverified (providers.md §4.1).
    #[serde(default)]
    pub machine_detection: bool,
    /// By primary language subtag of the message (`en`, `ru`, `ar`, `he`).
    pub languages: BTreeMap<String, VoiceLanguage>,
}

/// How to speak one language: a recorded prompt, or text-to-speech.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceLanguage {
    /// `<Say voice>`, e.g. `Polly.Tatyana`, `Google.he-IL-Standard-A`; Twilio's default if absent.
    pub voice: Option<String>,
    /// `<Say language>`, e.g. `ru-RU`.
    pub language: Option<String>,
    /// A recorded, content-free prompt played instead of the text, for languages Twilio may not
    /// speak (Hebrew: Polly has none, providers.md §4.2). Wins over `voice`/`language`.
    pub audio_url: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("twilio.account_sid must be letters and digits (AC…)")]
    AccountSid,
    #[error("twilio.{field} is not an absolute http(s) URL")]
    Url { field: String },
    #[error("twilio.sms needs exactly one of `from` and `messaging_service_sid`")]
    SmsSender,
    #[error("twilio.voice.from must not be empty")]
    VoiceFrom,
    #[error("twilio.sms.validity_period_seconds must be between 1 and {MAX_VALIDITY_SECONDS}")]
    Validity,
    #[error("twilio.voice.languages.{0} needs `audio_url` or `language`")]
    VoiceLanguage(String),
    #[error("twilio.voice.languages is empty: no call could be spoken")]
    NoVoiceLanguages,
    #[error("twilio.request_timeout_ms must be above 0")]
    Timeout,
    #[error(
        "twilio.{field} {rule}: Twilio signs each callback over this exact URL and medrelay \
         checks X-Twilio-Signature against it"
    )]
    CallbackUrl { field: String, rule: String },
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

fn default_base_url() -> String {
    "https://api.twilio.com".to_owned()
}

fn default_request_timeout_ms() -> u64 {
    15_000
}

impl TwilioConfig {
    /// Checks the account part; the channel constructors check their own sections.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.account_sid.is_empty()
            || !self.account_sid.chars().all(|c| c.is_ascii_alphanumeric())
        {
            // It goes into the request path, so nothing that could change the path.
            return Err(ConfigError::AccountSid);
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::Timeout);
        }
        parse_url("base_url", &self.base_url)?;
        Ok(())
    }
}

impl TwilioSmsConfig {
    /// The status callback URL and, when set, the incoming-message URL, checked.
    pub(crate) fn validate(&self) -> Result<(Url, Option<Url>), ConfigError> {
        let from = self.from.as_deref().filter(|s| !s.is_empty());
        let service = self
            .messaging_service_sid
            .as_deref()
            .filter(|s| !s.is_empty());
        if from.is_some() == service.is_some() {
            return Err(ConfigError::SmsSender);
        }
        if self
            .validity_period_seconds
            .is_some_and(|s| !(1..=MAX_VALIDITY_SECONDS).contains(&s))
        {
            return Err(ConfigError::Validity);
        }
        let status = parse_callback_url(
            "sms.status_callback_url",
            &self.status_callback_url,
            Hook::SmsStatus,
        )?;
        let incoming = self
            .incoming_url
            .as_deref()
            .map(|url| parse_callback_url("sms.incoming_url", url, Hook::SmsIncoming))
            .transpose()?;
        Ok((status, incoming))
    }
}

impl TwilioVoiceConfig {
    pub(crate) fn validate(&self) -> Result<(Url, Url), ConfigError> {
        if self.from.is_empty() {
            return Err(ConfigError::VoiceFrom);
        }
        if self.languages.is_empty() {
            return Err(ConfigError::NoVoiceLanguages);
        }
        for (tag, language) in &self.languages {
            match &language.audio_url {
                Some(audio) => {
                    parse_url(&format!("voice.languages.{tag}.audio_url"), audio)?;
                }
                None if language.language.is_none() => {
                    return Err(ConfigError::VoiceLanguage(tag.clone()));
                }
                None => {}
            }
        }
        Ok((
            parse_callback_url(
                "voice.status_callback_url",
                &self.status_callback_url,
                Hook::CallStatus,
            )?,
            parse_callback_url("voice.confirm_url", &self.confirm_url, Hook::CallReply)?,
        ))
    }
}

impl TwilioVoiceConfig {
    /// `languages` keyed by lowercase tag: lookups lowercase the message's tag, so keys such as
    /// `he-IL` must match it.
    pub fn voices_by_tag(&self) -> BTreeMap<String, VoiceLanguage> {
        self.languages
            .iter()
            .map(|(tag, language)| (tag.to_ascii_lowercase(), language.clone()))
            .collect()
    }
}

impl TwilioConfig {
    /// The URL each of medrelay's webhooks was given to Twilio as, checked: the URLs
    /// X-Twilio-Signature is verified against.
    pub fn hook_urls(&self) -> Result<Vec<(Hook, Url)>, ConfigError> {
        let mut hooks = Vec::new();
        if let Some(sms) = &self.sms {
            let (status, incoming) = sms.validate()?;
            hooks.push((Hook::SmsStatus, status));
            hooks.extend(incoming.map(|url| (Hook::SmsIncoming, url)));
        }
        if let Some(voice) = &self.voice {
            let (status, confirm) = voice.validate()?;
            hooks.push((Hook::CallStatus, status));
            hooks.push((Hook::CallReply, confirm));
        }
        Ok(hooks)
    }
}

/// A URL Twilio will call back on `hook`. Refused when a signature over it could not be
/// checked: a path that does not reach `hook` (a proxy may add a prefix before it, but must keep
/// it), a fragment or user info (not part of what Twilio signs in the same form), or an
/// `attempt` parameter of its own (the adapters add theirs).
fn parse_callback_url(field: &str, value: &str, hook: Hook) -> Result<Url, ConfigError> {
    let url = parse_url(field, value)?;
    let refuse = |rule: String| ConfigError::CallbackUrl {
        field: field.to_owned(),
        rule,
    };
    if !url.path().ends_with(hook.path()) {
        return Err(refuse(format!(
            "must end with {}, the path medrelay serves it on",
            hook.path()
        )));
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("must have no user info and no #fragment".to_owned()));
    }
    if url.query_pairs().any(|(name, _)| name == ATTEMPT_PARAM) {
        return Err(refuse(format!(
            "must not carry `{ATTEMPT_PARAM}` in its query: medrelay adds it"
        )));
    }
    Ok(url)
}

fn parse_url(field: &str, value: &str) -> Result<Url, ConfigError> {
    Url::parse(value)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        .ok_or_else(|| ConfigError::Url {
            field: field.to_owned(),
        })
}
