use std::time::Duration;

use serde::Deserialize;

use crate::Secret;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain text: only for a local relay or the sandbox's receiver.
    None,
    /// Connect in plain text, then upgrade; the send fails rather than continue unencrypted.
    Starttls,
    /// TLS from the first byte (implicit TLS, usually port 465).
    Tls,
}

/// One SMTP relay, as the clinic's configuration names it.
///
/// `Debug` is derived on purpose: the password is a [`Secret`], which prints as `[redacted]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// The `From:` mailbox patients see, e.g. `Clinic <noreply@clinic.example>`.
    pub from: String,
    /// Domain of the per-message envelope senders (`bounce+<callback_ref>@bounce_domain`), whose
    /// mailbox collects the bounces so each one can be matched to its attempt.
    pub bounce_domain: String,
    /// Name given in EHLO; defaults to this machine's host name. Some relays want a FQDN here.
    #[serde(default)]
    pub hello_name: Option<String>,
    /// Most connections open at once (and most kept idle for reuse).
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// Longest wait for any one step: connecting, one command's reply, the final reply to DATA.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_pool_size() -> u32 {
    4
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl SmtpConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// `host:port`, the sender id the gateway rate-limits on.
    pub fn sender_id(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}
