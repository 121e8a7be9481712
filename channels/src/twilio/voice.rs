use std::collections::BTreeMap;
use std::fmt::Write as _;

use url::Url;

use super::config::{ConfigError, TwilioConfig, TwilioVoiceConfig, VoiceLanguage};
use super::wire::Api;
use super::{ATTEMPT_PARAM, LANGUAGE_PARAM, not_a_phone, with_attempt};
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
            languages: voice.voices_by_tag(),
        })
    }

    fn language(&self, tag: &str) -> Option<&VoiceLanguage> {
        voice_for(&self.languages, tag)
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

/// The configuration for a BCP-47 tag in `voices` (keyed by lowercase tag, as
/// [`TwilioVoiceConfig::voices_by_tag`] gives them): `he-IL` falls back to `he`.
pub fn voice_for<'v>(
    voices: &'v BTreeMap<String, VoiceLanguage>,
    tag: &str,
) -> Option<&'v VoiceLanguage> {
    let tag = tag.to_ascii_lowercase();
    let primary = tag.split(['-', '_']).next().unwrap_or_default();
    voices.get(&tag).or_else(|| voices.get(primary))
}

/// Where `<Gather>` posts the key pressed: the confirm URL with the attempt and the language the
/// call speaks.
fn gather_action(confirm_url: &Url, callback_ref: &str, language: &str) -> String {
    let mut action = confirm_url.clone();
    action
        .query_pairs_mut()
        .append_pair(ATTEMPT_PARAM, callback_ref)
        .append_pair(LANGUAGE_PARAM, language);
    action.into()
}

/// A short thanks for a confirmed key press, by primary language subtag: the words and the
/// `<Say language>` Twilio speaks them in when the call's language has no text-to-speech voice
/// configured (Polly has Arabic as `arb` and no Hebrew; `he-IL` is then spoken by the voice the
/// Twilio account sets for Hebrew).
const THANKS: [(&str, &str, &str); 4] = [
    ("he", "he-IL", "תודה."),
    ("ar", "arb", "شكرًا."),
    ("ru", "ru-RU", "Спасибо."),
    ("en", "en-US", "Thank you."),
];

/// The TwiML answering a confirmed key press, in the language of the call (a BCP-47 tag such as
/// `he` or `ru-RU`), spoken as `spoken_as`, the call's configured voice, when that is
/// text-to-speech. A language without words here is thanked in English, in the built-in voice.
pub fn thanks_twiml(language: &str, spoken_as: Option<&VoiceLanguage>) -> String {
    let primary = language
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (locale, words, spoken_as) = match THANKS.iter().find(|(tag, _, _)| *tag == primary) {
        Some((_, locale, words)) => (*locale, *words, spoken_as),
        None => ("en-US", "Thank you.", None),
    };
    // A recorded prompt has no voice to reuse: the built-in locale speaks instead.
    let tts = spoken_as.filter(|v| v.audio_url.is_none() && v.language.is_some());
    let mut say = String::from("<Say");
    if let Some(voice) = tts.and_then(|v| v.voice.as_deref()) {
        let _ = write!(say, " voice=\"{}\"", markup::escape(voice));
    }
    let locale = tts.and_then(|v| v.language.as_deref()).unwrap_or(locale);
    let _ = write!(say, " language=\"{}\">", markup::escape(locale));
    format!("<Response>{say}{words}</Say><Hangup/></Response>")
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
            let action = gather_action(&self.confirm_url, &message.callback_ref, &message.language);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thanks_after_a_key_press_is_in_the_language_of_the_call() {
        let cases = [
            ("he", r#"<Say language="he-IL">תודה.</Say>"#),
            ("he-IL", r#"<Say language="he-IL">תודה.</Say>"#),
            ("ar", r#"<Say language="arb">شكرًا.</Say>"#),
            ("ru", r#"<Say language="ru-RU">Спасибо.</Say>"#),
            ("en", r#"<Say language="en-US">Thank you.</Say>"#),
            ("am", r#"<Say language="en-US">Thank you.</Say>"#),
        ];
        for (language, say) in cases {
            assert_eq!(
                thanks_twiml(language, None),
                format!("<Response>{say}<Hangup/></Response>"),
                "{language}"
            );
        }
    }

    #[test]
    fn the_thanks_reuses_the_calls_text_to_speech_voice_but_not_a_recording() {
        let spoken = VoiceLanguage {
            voice: Some("Polly.Tatyana".to_owned()),
            language: Some("ru-RU".to_owned()),
            audio_url: None,
        };
        assert_eq!(
            thanks_twiml("ru", Some(&spoken)),
            r#"<Response><Say voice="Polly.Tatyana" language="ru-RU">Спасибо.</Say><Hangup/></Response>"#
        );
        let recorded = VoiceLanguage {
            voice: None,
            language: None,
            audio_url: Some("https://relay.clinic.example/prompts/he.mp3".to_owned()),
        };
        assert_eq!(
            thanks_twiml("he", Some(&recorded)),
            r#"<Response><Say language="he-IL">תודה.</Say><Hangup/></Response>"#
        );
    }
}
