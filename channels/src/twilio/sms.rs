use std::time::Duration;

use url::Url;

use super::config::{ConfigError, MAX_VALIDITY_SECONDS, TwilioConfig, TwilioSmsConfig};
use super::wire::Api;
use super::{not_a_phone, with_attempt};
use crate::segments;
use crate::{Channel, ChannelKind, OutgoingMessage, Recipient, SendFuture};

/// SMS through Twilio Programmable Messaging.
#[derive(Debug)]
pub struct TwilioSms {
    api: Api,
    sender: Sender,
    /// `{account sid}/{sender}`: an alphanumeric sender is only unique within its account.
    sender_id: String,
    status_callback: Url,
    default_validity: Option<u32>,
}

#[derive(Debug)]
enum Sender {
    From(String),
    MessagingService(String),
}

impl Sender {
    fn id(&self) -> &str {
        match self {
            Self::From(id) | Self::MessagingService(id) => id,
        }
    }
}

impl TwilioSms {
    pub fn new(account: &TwilioConfig, sms: &TwilioSmsConfig) -> Result<Self, ConfigError> {
        let (status_callback, _incoming) = sms.validate()?;
        let sender = match (&sms.from, &sms.messaging_service_sid) {
            (Some(from), _) if !from.is_empty() => Sender::From(from.clone()),
            (_, Some(service)) => Sender::MessagingService(service.clone()),
            _ => return Err(ConfigError::SmsSender),
        };
        Ok(Self {
            api: Api::new(account)?,
            sender_id: format!("{}/{}", account.account_sid, sender.id()),
            sender,
            status_callback,
            default_validity: sms.validity_period_seconds,
        })
    }

    fn form(&self, to: &str, message: &OutgoingMessage) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", to.to_owned())];
        form.push(match &self.sender {
            Sender::From(from) => ("From", from.clone()),
            Sender::MessagingService(sid) => ("MessagingServiceSid", sid.clone()),
        });
        form.push(("Body", message.body.clone()));
        form.push((
            "StatusCallback",
            with_attempt(&self.status_callback, &message.callback_ref),
        ));
        let validity = message
            .valid_for
            .map(validity_seconds)
            .or(self.default_validity);
        if let Some(seconds) = validity {
            form.push(("ValidityPeriod", seconds.to_string()));
        }
        form
    }
}

/// Twilio takes whole seconds from 1 to 36,000; a longer wish is cut to the maximum, a sub-second
/// one still gets a chance.
fn validity_seconds(valid_for: Duration) -> u32 {
    let seconds = valid_for
        .as_secs()
        .clamp(1, u64::from(MAX_VALIDITY_SECONDS));
    u32::try_from(seconds).unwrap_or(MAX_VALIDITY_SECONDS)
}

impl Channel for TwilioSms {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    fn sender_id(&self) -> &str {
        &self.sender_id
    }

    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let Recipient::Phone(to) = &message.to else {
                return not_a_phone();
            };
            let cost = segments::analyse(&message.body);
            let outcome = self.api.create("Messages", &self.form(to, message)).await;
            tracing::debug!(
                attempt = %message.callback_ref,
                to = %message.to.masked(),
                encoding = cost.encoding.as_str(),
                segments = cost.segments,
                ?outcome,
                "twilio sms send"
            );
            outcome
        })
    }
}
