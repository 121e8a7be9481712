use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{OutgoingMessage, SendOutcome};
use utoipa::ToSchema;

/// A way to reach a patient. The staff callback queue is not a provider channel, so it is not here.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Whatsapp,
    Sms,
    Email,
    Voice,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [Self::Whatsapp, Self::Sms, Self::Email, Self::Voice];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Sms => "sms",
            Self::Email => "email",
            Self::Voice => "voice",
        }
    }

    /// Email has no delivery receipt: acceptance by the mail server is the last evidence we get.
    pub fn reports_delivery(self) -> bool {
        !matches!(self, Self::Email)
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown channel `{0}`: expected one of whatsapp, sms, email, voice")]
pub struct ParseChannelError(pub String);

impl FromStr for ChannelKind {
    type Err = ParseChannelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| ParseChannelError(s.to_owned()))
    }
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = SendOutcome> + Send + 'a>>;

/// One provider behind one channel.
pub trait Channel: Send + Sync {
    fn kind(&self) -> ChannelKind;

    /// Identifies the sending account (a WhatsApp number, an SMS sender, an SMTP relay) so the
    /// gateway can rate-limit per sender.
    fn sender_id(&self) -> &str;

    /// Hands one message to the provider. Never panics and never returns an error: every way a
    /// send can end is a [`SendOutcome`], including network failures.
    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> SendFuture<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        for kind in ChannelKind::ALL {
            assert_eq!(kind.as_str().parse::<ChannelKind>().ok(), Some(kind));
        }
        assert!("fax".parse::<ChannelKind>().is_err());
    }
}
