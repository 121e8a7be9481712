use std::collections::BTreeMap;
use std::fmt::Write as _;

use url::Url;

use super::config::{ConfigError, TwilioConfig, TwilioVoiceConfig, VoiceLanguage};
use super::wire::Api;
use super::{not_a_phone, with_attempt};
use crate::{Channel, ChannelKind, OutgoingMessage, Recipient, SendFuture, SendOutcome, markup};

/// Reminder calls through Twilio Programmable Voice: the message is spoken (or a recorded prompt
/// played) inside a `<Gather>`, so the patient can press a key to confirm.
#[derive(Debug)]
pub struct TwilioVoice {
    api: Api,
    from: String,
    /// `{account sid}/{from}`: a caller id is only unique within its account.
    sender_id: String,
    status_callback: Url,
    confirm_url: Url,
    machine_detection: bool,
    languages: BTreeMap<String, VoiceLanguage>,
}

impl TwilioVoice {
    pub fn new(account: &TwilioConfig, voice: &TwilioVoiceConfig) -> Result<Self, ConfigError> {
        let (status_callback, confirm_url) = voice.validate()?;
        Ok(Self {
            api: Api::new(account)?,
            from: voice.from.clone(),
            sender_id: format!("{}/{}", account.account_sid, voice.from),
            status_callback,
            confirm_url,
            machine_detection: voice.machine_detection,
            // Lookups lowercase the message's tag, so keys such as `he-IL` must match it.
            languages: voice
                .languages
                .iter()
                .map(|(tag, language)| (tag.to_ascii_lowercase(), language.clone()))
                .collect(),
        })
    }

    /// The configuration for a BCP-47 tag: `he-IL` falls back to `he`.
    fn language(&self, tag: &str) -> Option<&VoiceLanguage> {
        let tag = tag.to_ascii_lowercase();
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        self.languages
            .get(&tag)
            .or_else(|| self.languages.get(primary))
    }

    fn form(&self, to: &str, twiml: String, callback_ref: &str) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("To", to.to_owned()),
            ("From", self.from.clone()),
            ("Twiml", twiml),
            (
                "StatusCallback",
                with_attempt(&self.status_callback, callback_ref),
            ),
            // `completed` also reports the endings that matter: busy, no-answer, failed, canceled.
            ("StatusCallbackEvent", "completed".to_owned()),
            ("StatusCallbackMethod", "POST".to_owned()),
        ];
        if self.machine_detection {
            // `Enable` answers as soon as it knows, so a person waits the least.
            form.push(("MachineDetection", "Enable".to_owned()));
        }
        form
    }
}

/// `<Response><Gather numDigits="1" action="…"><Say|Play>…</Say|Play></Gather></Response>`.
/// A recorded prompt, when configured, replaces the text: it is for languages Twilio may not speak.
fn twiml(language: &VoiceLanguage, text: &str, action: &str) -> String {
    let mut xml = String::from("<Response><Gather numDigits=\"1\" action=\"");
    xml.push_str(&markup::escape(action));
    xml.push_str("\">");
    match &language.audio_url {
        Some(audio) => {
            let _ = write!(xml, "<Play>{}</Play>", markup::escape(audio));
        }
        None => {
            xml.push_str("<Say");
            if let Some(voice) = &language.voice {
                let _ = write!(xml, " voice=\"{}\"", markup::escape(voice));
            }
            if let Some(lang) = &language.language {
                let _ = write!(xml, " language=\"{}\"", markup::escape(lang));
            }
            let _ = write!(xml, ">{}</Say>", markup::escape(text));
        }
    }
    xml.push_str("</Gather></Response>");
    xml
}

impl Channel for TwilioVoice {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Voice
    }

    fn sender_id(&self) -> &str {
        &self.sender_id
    }

    /// `valid_for` has no counterpart here: Twilio queues calls only briefly (1 call/s per
    /// account), so a call is placed now or fails now.
    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let Recipient::Phone(to) = &message.to else {
                return not_a_phone();
            };
            let Some(language) = self.language(&message.language) else {
                return SendOutcome::Permanent {
                    code: "unsupported-language".to_owned(),
                    reason: format!(
                        "no voice or recorded prompt configured for language `{}`",
                        message.language
                    ),
                    fact: None,
                };
            };
            let action = with_attempt(&self.confirm_url, &message.callback_ref);
            let twiml = twiml(language, &message.body, &action);
            let form = self.form(to, twiml, &message.callback_ref);
            let outcome = self.api.create("Calls", &form).await;
            tracing::debug!(
                attempt = %message.callback_ref,
                to = %message.to.masked(),
                language = %message.language,
                recorded = language.audio_url.is_some(),
                ?outcome,
                "twilio voice call"
            );
            outcome
        })
    }
}
