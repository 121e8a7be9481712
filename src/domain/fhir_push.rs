//! Pushing the clinic's records to its own FHIR server: what one push carries, how medrelay
//! signs in there, and which identifier systems a clinic may choose.

use medrelay_channels::Secret;

use super::{InboundMessageId, NotificationId};

/// What one push carries: a notification (its CommunicationRequest with a Communication per
/// message that reached a provider) or a patient's message (its Communication).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FhirSubject {
    Notification(NotificationId),
    InboundMessage(InboundMessageId),
}

impl FhirSubject {
    pub const NOTIFICATION: &'static str = "notification";
    pub const INBOUND_MESSAGE: &'static str = "inbound_message";

    /// The stored kind: `notification` or `inbound_message`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Notification(_) => Self::NOTIFICATION,
            Self::InboundMessage(_) => Self::INBOUND_MESSAGE,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Notification(id) => id.as_str(),
            Self::InboundMessage(id) => id.as_str(),
        }
    }

    pub fn from_stored(kind: &str, id: String) -> Option<Self> {
        match kind {
            Self::NOTIFICATION => Some(Self::Notification(NotificationId::from_stored(id))),
            Self::INBOUND_MESSAGE => Some(Self::InboundMessage(InboundMessageId::from_stored(id))),
            _ => None,
        }
    }
}

/// How medrelay signs in to the clinic's FHIR server. The secrets are write-only: stored, sent
/// to the server, never shown again.
#[derive(Debug, Clone)]
pub enum FhirAuth {
    None,
    Bearer { token: Secret },
    Basic { username: String, password: Secret },
}

impl FhirAuth {
    pub const KINDS: &'static str = "none, bearer, basic";

    /// The stored kind: `none`, `bearer` or `basic`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Bearer { .. } => "bearer",
            Self::Basic { .. } => "basic",
        }
    }

    /// The stored parts: the user name (basic) and the secret (the token, or the password).
    pub fn stored(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Self::None => (None, None),
            Self::Bearer { token } => (None, Some(token.expose())),
            Self::Basic { username, password } => (Some(username), Some(password.expose())),
        }
    }

    /// From the stored kind and parts; `None` when they do not fit together.
    pub fn from_stored(
        kind: &str,
        username: Option<String>,
        secret: Option<String>,
    ) -> Option<Self> {
        match (kind, username, secret) {
            ("none", None, None) => Some(Self::None),
            ("bearer", None, Some(token)) => Some(Self::Bearer {
                token: Secret::new(token),
            }),
            ("basic", Some(username), Some(password)) => Some(Self::Basic {
                username,
                password: Secret::new(password),
            }),
            _ => None,
        }
    }
}

/// Fewest characters of a token before its last four are shown as a hint.
const HINTED_TOKEN_CHARS: usize = 16;

/// What an admin may see of a token: its last four characters when it is long enough that they
/// give nothing away.
pub fn token_hint(token: &str) -> Option<String> {
    let chars: Vec<char> = token.chars().collect();
    (chars.len() >= HINTED_TOKEN_CHARS).then(|| {
        let last: String = chars[chars.len() - 4..].iter().collect();
        format!("…{last}")
    })
}

/// An identifier system a clinic chooses (its base, or the system of its patients' ids): an
/// absolute URI (`https://…`, `http://…`, `urn:…`), without spaces, `|` (which separates system
/// from value in a search), a query or a fragment. A base's trailing `/` is dropped, since
/// systems under it are `<base>/notification`….
pub fn identifier_system(text: &str) -> Option<String> {
    let text = text.trim_end_matches('/');
    let parsed = url::Url::parse(text).ok()?;
    let fits = (1..=255).contains(&text.len())
        && !text.contains(['|', ' ', '?', '#'])
        && !text.chars().any(char::is_control)
        && matches!(parsed.scheme(), "https" | "http" | "urn");
    fits.then(|| text.to_owned())
}

pub const IDENTIFIER_SYSTEM_RULE: &str = "must be an absolute URI (https://…, http://… or urn:…) \
     of at most 255 characters, without spaces, `|`, a query or a fragment";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_systems_are_absolute_uris_without_search_syntax() {
        assert_eq!(
            identifier_system("https://hadar.example/fhir/ids/").as_deref(),
            Some("https://hadar.example/fhir/ids")
        );
        assert!(identifier_system("urn:oid:2.16.840.1.113883.3.1").is_some());
        for bad in [
            "hadar",
            "/ids",
            "https://x/a|b",
            "https://x/a?b=1",
            "ftp://x/ids",
            "",
        ] {
            assert_eq!(identifier_system(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_token_hints_at_its_last_four_characters_only_when_long() {
        assert_eq!(token_hint("abcdefghijklmnop").as_deref(), Some("…mnop"));
        assert_eq!(token_hint("short-token"), None);
    }

    #[test]
    fn auth_is_read_back_as_stored() {
        let basic = FhirAuth::Basic {
            username: "medrelay".into(),
            password: Secret::new("pw"),
        };
        let (username, secret) = basic.stored();
        let back = FhirAuth::from_stored(
            basic.kind(),
            username.map(str::to_owned),
            secret.map(str::to_owned),
        );
        assert!(matches!(back, Some(FhirAuth::Basic { username, .. }) if username == "medrelay"));
        assert!(FhirAuth::from_stored("bearer", None, None).is_none());
    }
}
