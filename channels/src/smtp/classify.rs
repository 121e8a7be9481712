//! SMTP failures → [`SendOutcome`]. What a failure means depends on how far the conversation got,
//! so the sender records the [`Phase`] it was in and this module decides from phase and cause.

use crate::SendOutcome;

/// How far one send got when it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// TCP connect, TLS, greeting, EHLO, STARTTLS, or the NOOP that checks a pooled connection.
    Connect,
    /// AUTH.
    Auth,
    /// MAIL FROM: a refusal is about our envelope sender, so about every message, not this one.
    Sender,
    /// RCPT TO and the DATA command: the server cannot have queued anything yet.
    Envelope,
    /// The message content and the server's final reply to it: from here on the server may have
    /// queued the message even if we never hear so.
    Content,
}

/// A failure, reduced from lettre's error to what classification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A 4xx or 5xx reply.
    Reply { code: u16, text: String },
    /// No reply within the configured timeout.
    TimedOut,
    /// Refused, unresolvable, reset or closed connection, or a reply we could not parse.
    Network(String),
    /// TLS handshake or certificate failure.
    Tls(String),
    /// lettre refused to go on: STARTTLS not offered, no common AUTH mechanism, …
    Client(String),
}

impl From<lettre::transport::smtp::Error> for Cause {
    fn from(err: lettre::transport::smtp::Error) -> Self {
        // lettre keeps the server's text as the error's source; its Display adds a prefix.
        let detail =
            std::error::Error::source(&err).map_or_else(|| err.to_string(), |s| s.to_string());
        if let Some(code) = err.status() {
            // A `Code` prints as its three digits.
            match code.to_string().parse() {
                Ok(code) => Self::Reply { code, text: detail },
                Err(_) => Self::Network(detail),
            }
        } else if err.is_timeout() {
            Self::TimedOut
        } else if err.is_tls() {
            Self::Tls(detail)
        } else if err.is_client() {
            Self::Client(detail)
        } else {
            Self::Network(detail)
        }
    }
}

impl Cause {
    /// For reasons: what happened, with addresses masked.
    fn describe(&self) -> String {
        match self {
            Self::Reply { code, text } => mask_addresses(&format!("{code} {text}")),
            Self::TimedOut => "no reply within the timeout".into(),
            Self::Network(detail) | Self::Tls(detail) | Self::Client(detail) => {
                mask_addresses(detail)
            }
        }
    }
}

/// Servers put addresses in their replies (`<dana@example.org>: Recipient address rejected`);
/// reasons end up in logs and audit text, so each address becomes `***@domain`.
pub(crate) fn mask_addresses(text: &str) -> String {
    let masked: Vec<String> = text
        .split_whitespace()
        .map(|word| match word.rsplit_once('@') {
            Some((local, domain)) => {
                let opening: String = local
                    .chars()
                    .take_while(|c| "<([\"'".contains(*c))
                    .collect();
                format!("{opening}***@{domain}")
            }
            None => word.to_owned(),
        })
        .collect();
    let mut reason = masked.join(" ");
    if reason.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|i| reason.is_char_boundary(*i))
            .unwrap_or(0);
        reason.truncate(cut);
        reason.push('…');
    }
    reason
}

pub(crate) fn classify(phase: Phase, cause: Cause) -> SendOutcome {
    match cause {
        Cause::Reply { code, text } => {
            let reason = mask_addresses(&text);
            let code_text = code.to_string();
            // 530 authentication required, 534 mechanism too weak, 535 bad credentials: our
            // account, not this message. A 5xx to greeting, EHLO, AUTH or MAIL FROM means the
            // relay will not take mail from us at all.
            let relay_refuses = matches!(code, 530 | 534 | 535)
                || (code >= 500 && matches!(phase, Phase::Connect | Phase::Auth | Phase::Sender));
            if relay_refuses {
                SendOutcome::ChannelDown {
                    code: code_text,
                    reason,
                }
            } else if code >= 500 {
                SendOutcome::Permanent {
                    code: code_text,
                    reason,
                    fact: None,
                }
            } else {
                // 4xx, at any phase, is the server saying it did not take the message.
                SendOutcome::RetryLater {
                    code: code_text,
                    reason,
                    after: None,
                }
            }
        }
        // Once the content is on its way, only a reply is definite: the server may have queued
        // the message and gone quiet or lost the connection before saying so.
        cause if phase == Phase::Content => SendOutcome::Ambiguous {
            reason: format!("after the message content: {}", cause.describe()),
        },
        // A configuration that does not fit the server: retrying will not help, the operator must.
        Cause::Client(detail) => SendOutcome::ChannelDown {
            code: "smtp-client".into(),
            reason: mask_addresses(&detail),
        },
        Cause::TimedOut => SendOutcome::RetryLater {
            code: "timeout".into(),
            reason: format!("no reply within the timeout ({phase:?})"),
            after: None,
        },
        Cause::Network(detail) => SendOutcome::RetryLater {
            code: "network".into(),
            reason: mask_addresses(&detail),
            after: None,
        },
        Cause::Tls(detail) => SendOutcome::RetryLater {
            code: "tls".into(),
            reason: mask_addresses(&detail),
            after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, text: &str) -> Cause {
        Cause::Reply {
            code,
            text: text.into(),
        }
    }

    fn code_of(outcome: &SendOutcome) -> (&'static str, Option<&str>) {
        match outcome {
            SendOutcome::Accepted { .. } => ("accepted", None),
            SendOutcome::RetryLater { code, .. } => ("retry", Some(code)),
            SendOutcome::RateLimited { .. } => ("rate", None),
            SendOutcome::Permanent { code, .. } => ("permanent", Some(code)),
            SendOutcome::Ambiguous { .. } => ("ambiguous", None),
            SendOutcome::ChannelDown { code, .. } => ("down", Some(code)),
        }
    }

    #[test]
    fn every_phase_and_cause_lands_in_the_documented_outcome() {
        use Phase::*;
        let table = [
            (
                Envelope,
                reply(550, "5.1.1 mailbox unavailable"),
                ("permanent", Some("550")),
            ),
            (
                Content,
                reply(554, "5.7.1 rejected as spam"),
                ("permanent", Some("554")),
            ),
            (
                Envelope,
                reply(451, "4.3.0 try later"),
                ("retry", Some("451")),
            ),
            (
                Content,
                reply(452, "4.3.1 insufficient storage"),
                ("retry", Some("452")),
            ),
            (
                Connect,
                reply(421, "4.3.2 shutting down"),
                ("retry", Some("421")),
            ),
            (
                Connect,
                reply(554, "5.7.1 no service for you"),
                ("down", Some("554")),
            ),
            (
                Auth,
                reply(535, "5.7.8 bad credentials"),
                ("down", Some("535")),
            ),
            (
                Auth,
                reply(454, "4.7.0 temporary auth failure"),
                ("retry", Some("454")),
            ),
            (
                Sender,
                reply(553, "5.7.1 sender address not owned by user"),
                ("down", Some("553")),
            ),
            (
                Sender,
                reply(451, "4.3.0 try later"),
                ("retry", Some("451")),
            ),
            (
                Envelope,
                reply(530, "5.7.0 authentication required"),
                ("down", Some("530")),
            ),
            (
                Connect,
                Cause::Network("connection refused".into()),
                ("retry", Some("network")),
            ),
            (Connect, Cause::TimedOut, ("retry", Some("timeout"))),
            (
                Connect,
                Cause::Tls("bad certificate".into()),
                ("retry", Some("tls")),
            ),
            (
                Connect,
                Cause::Client("STARTTLS is not supported".into()),
                ("down", Some("smtp-client")),
            ),
            (Envelope, Cause::TimedOut, ("retry", Some("timeout"))),
            (
                Envelope,
                Cause::Network("connection reset".into()),
                ("retry", Some("network")),
            ),
            (Content, Cause::TimedOut, ("ambiguous", None)),
            (
                Content,
                Cause::Network("incomplete response".into()),
                ("ambiguous", None),
            ),
            (
                Content,
                Cause::Tls("close_notify missing".into()),
                ("ambiguous", None),
            ),
        ];
        for (phase, cause, expected) in table {
            let outcome = classify(phase, cause.clone());
            assert_eq!(
                code_of(&outcome),
                expected,
                "{phase:?} {cause:?} → {outcome:?}"
            );
        }
    }

    #[test]
    fn server_texts_lose_their_addresses() {
        let outcome = classify(
            Phase::Envelope,
            reply(550, "5.1.1 <dana@example.org>: Recipient address rejected"),
        );
        let SendOutcome::Permanent { reason, .. } = outcome else {
            panic!("expected Permanent, got {outcome:?}");
        };
        assert_eq!(
            reason,
            "5.1.1 <***@example.org>: Recipient address rejected"
        );
    }
}
