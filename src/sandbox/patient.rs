//! The sandbox playing a patient who writes to the clinic: it builds the webhook the provider
//! would send (Meta's JSON envelope, Twilio's signed incoming-SMS form) and posts it over HTTP to
//! the gateway's own webhook, so what follows is exactly what a real message causes.

use medrelay_channels::twilio;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Sandbox, provider_message_id};
use crate::store::StoreError;
use medrelay_channels::ChannelKind;

/// The photo every patient of the sandbox sends: a small red cross, a valid PNG.
pub const PATIENT_PHOTO: &[u8] = include_bytes!("patient_photo.png");
pub const PATIENT_PHOTO_TYPE: &str = "image/png";

/// What the patient sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientMessage {
    Text(String),
    /// A tap on a template's quick-reply button (WhatsApp only).
    Button {
        payload: String,
        text: String,
    },
    /// The sandbox's photo, with an optional caption (WhatsApp only).
    Image {
        caption: Option<String>,
    },
}

/// Why the patient's message did not reach the gateway.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("the sandbox's account has no {0} to receive messages on")]
    NoAccount(&'static str),
    #[error("an SMS carries text only")]
    NotSms,
    #[error("the gateway answered HTTP {0} to the provider's webhook")]
    Refused(u16),
    #[error("the gateway's webhook could not be reached: {0}")]
    Unreachable(#[source] reqwest::Error),
    #[error("the sandbox could not keep the photo's media id")]
    Store(#[from] StoreError),
}

impl Sandbox {
    /// Posts `message` from the patient at `from` (E.164) to the gateway's webhook for
    /// `channel`, as the provider would. Returns the provider's message id once the gateway
    /// answered 2xx.
    pub async fn patient_writes(
        &self,
        channel: ChannelKind,
        from: &str,
        message: &PatientMessage,
    ) -> Result<String, InboundError> {
        match (channel, message) {
            (ChannelKind::Whatsapp, _) => self.whatsapp_inbound(from, message).await,
            (ChannelKind::Sms, PatientMessage::Text(text)) => self.sms_inbound(from, text).await,
            _ => Err(InboundError::NotSms),
        }
    }

    async fn whatsapp_inbound(
        &self,
        from: &str,
        message: &PatientMessage,
    ) -> Result<String, InboundError> {
        let id = provider_message_id(ChannelKind::Whatsapp);
        let mut item = json!({
            "from": from.trim_start_matches('+'),
            "id": id,
            "timestamp": self.clock.now().as_second().to_string(),
        });
        let (kind, content) = match message {
            PatientMessage::Text(text) => ("text", json!({ "body": text })),
            PatientMessage::Button { payload, text } => {
                ("button", json!({ "payload": payload, "text": text }))
            }
            PatientMessage::Image { caption } => ("image", self.photo(caption.as_deref()).await?),
        };
        item["type"] = json!(kind);
        item[kind] = content;
        let sent = self
            .post_whatsapp_webhook_value("messages", json!([item]), Some(from))
            .await;
        delivered(sent).map(|()| id)
    }

    /// Meta's description of the sandbox's photo under a fresh media id, which the look-alike
    /// then serves.
    async fn photo(&self, caption: Option<&str>) -> Result<Value, InboundError> {
        // Meta's media ids are long decimal numbers.
        let media_id = format!("{}", rand::random::<u64>() >> 1);
        self.store
            .insert_sandbox_media(&media_id, PATIENT_PHOTO_TYPE, self.clock.now())
            .await?;
        let mut image = json!({
            "id": media_id,
            "mime_type": PATIENT_PHOTO_TYPE,
            "sha256": photo_sha256(),
        });
        if let Some(caption) = caption {
            image["caption"] = json!(caption);
        }
        Ok(image)
    }

    async fn sms_inbound(&self, from: &str, text: &str) -> Result<String, InboundError> {
        let sms = self
            .accounts
            .twilio
            .as_ref()
            .and_then(|t| t.sms.as_ref())
            .ok_or(InboundError::NoAccount("SMS"))?;
        // The patient writes to the number (or service) the clinic's messages come from.
        let to = sms
            .from
            .clone()
            .or_else(|| sms.messaging_service_sid.clone())
            .ok_or(InboundError::NoAccount("SMS"))?;
        // Twilio posts a reply where the number's settings say, and nowhere without one.
        let url = sms
            .incoming_url
            .clone()
            .ok_or(InboundError::NoAccount("SMS incoming_url"))?;
        let sid = provider_message_id(ChannelKind::Sms);
        let params = incoming_sms_form(&sid, &self.credentials.twilio_account_sid, from, &to, text);
        let signature = twilio::sign(&self.credentials.twilio_auth_token, &url, &params);
        let sent = self
            .http
            .post(url)
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
            .await;
        delivered(sent).map(|()| sid)
    }
}

/// The form Twilio posts for an incoming SMS (providers.md §2.4).
pub(super) fn incoming_sms_form(
    sid: &str,
    account_sid: &str,
    from: &str,
    to: &str,
    body: &str,
) -> Vec<(String, String)> {
    let segments = medrelay_channels::segments::analyse(body).segments.max(1);
    [
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", account_sid),
        ("From", from),
        ("To", to),
        ("Body", body),
        ("NumMedia", "0"),
        ("NumSegments", &segments.to_string()),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// Meta gives a media file's SHA-256 in base64.
pub(super) fn photo_sha256() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(PATIENT_PHOTO))
}

fn delivered(sent: Result<reqwest::Response, reqwest::Error>) -> Result<(), InboundError> {
    let response = sent.map_err(InboundError::Unreachable)?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(InboundError::Refused(response.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use medrelay_channels::Secret;

    use super::*;

    #[test]
    fn the_incoming_sms_is_signed_as_twilio_signs_it_over_the_incoming_url() {
        let token = Secret::new("sandbox-auth-token");
        let url = format!("https://clinic.example{}", twilio::Hook::SmsIncoming.path());
        let params = incoming_sms_form("SM1", "ACsandbox", "+972541234567", "MedRelay", "הסר");

        let signature = twilio::sign(&token, &url, &params);

        assert!(twilio::validate_signature(
            &token,
            &url,
            &params,
            Some(&signature)
        ));
        let elsewhere = "https://clinic.example/webhooks/twilio/sms";
        assert!(!twilio::validate_signature(
            &token,
            elsewhere,
            &params,
            Some(&signature)
        ));
    }

    #[test]
    fn the_incoming_sms_form_carries_what_twilio_posts() {
        let params = incoming_sms_form("SM1", "ACsandbox", "+972541234567", "MedRelay", "הסר");

        let sms = twilio::parse_inbound_sms(&params).expect("Twilio's fields are there");
        let value = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };

        assert_eq!(sms.message_sid, "SM1");
        assert_eq!(sms.from, "+972541234567");
        assert_eq!(sms.to, "MedRelay");
        assert_eq!(sms.body, "הסר");
        assert_eq!(value("AccountSid"), Some("ACsandbox"));
        assert_eq!(value("NumMedia"), Some("0"));
        assert_eq!(value("NumSegments"), Some("1"));
    }

    #[test]
    fn the_patient_photo_is_a_png() {
        assert!(PATIENT_PHOTO.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(PATIENT_PHOTO.ends_with(b"IEND\xae\x42\x60\x82"));
    }
}
