use std::fmt;
use std::time::Duration;

/// Where a message goes: an E.164 phone number or an email address, already validated upstream.
#[derive(Clone, PartialEq, Eq)]
pub enum Recipient {
    Phone(String),
    Email(String),
}

impl Recipient {
    pub fn address(&self) -> &str {
        match self {
            Self::Phone(p) => p,
            Self::Email(e) => e,
        }
    }

    /// The address with most of it hidden (`***567`, `***@example.org`), for logs and audit text.
    pub fn masked(&self) -> String {
        match self {
            Self::Phone(p) => format!("***{}", &p[p.len().saturating_sub(3)..]),
            Self::Email(e) => format!("***@{}", e.rsplit_once('@').map_or("", |(_, d)| d)),
        }
    }
}

/// Logs must never hold a full phone number or email address, so `Debug` masks them.
impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Phone(_) => write!(f, "Phone({})", self.masked()),
            Self::Email(_) => write!(f, "Email({})", self.masked()),
        }
    }
}

/// A message rendered for one channel.
#[derive(Clone)]
pub struct OutgoingMessage {
    pub to: Recipient,
    /// Subject line, for email.
    pub subject: Option<String>,
    pub body: String,
    /// BCP-47 language of the body (`he`, `ar`, `ru`, `en`), for right-to-left rendering and voices.
    pub language: String,
    /// Opaque reference the provider echoes back with status updates (WhatsApp's
    /// `biz_opaque_callback_data`, a Twilio callback query parameter): the gateway's attempt id.
    pub callback_ref: String,
    /// A provider-approved template to send instead of free text where the provider needs one
    /// (WhatsApp outside the patient's 24-hour window).
    pub template: Option<ProviderTemplate>,
    /// How long the provider may keep trying before it gives up (WhatsApp template TTL, Twilio
    /// `ValidityPeriod`), so a stale reminder is dropped rather than delivered late.
    pub valid_for: Option<Duration>,
}

/// A template approved at the provider: its name, language code and body parameters in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderTemplate {
    pub name: String,
    pub language_code: String,
    pub parameters: Vec<String>,
}

/// Bodies are patient data: `Debug` shows their size, never their text.
impl fmt::Debug for OutgoingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMessage")
            .field("to", &self.to)
            .field("body_chars", &self.body.chars().count())
            .field("language", &self.language)
            .field("callback_ref", &self.callback_ref)
            .field("template", &self.template.as_ref().map(|t| &t.name))
            .field("valid_for", &self.valid_for)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_contacts_or_bodies() {
        let message = OutgoingMessage {
            to: Recipient::Phone("+972541234567".into()),
            subject: None,
            body: "Your biopsy result".into(),
            language: "en".into(),
            callback_ref: "att_1".into(),
            template: None,
            valid_for: None,
        };
        let printed = format!("{message:?}");
        assert!(!printed.contains("541234"), "{printed}");
        assert!(!printed.contains("biopsy"), "{printed}");
        assert!(printed.contains("***567"), "{printed}");
        let email = format!("{:?}", Recipient::Email("dana@example.org".into()));
        assert_eq!(email, "Email(***@example.org)");
    }
}
