//! Email over SMTP (lettre): sending, reply classification, and a small SMTP receiver that the
//! sandbox and tests use as the mail server.
//!
//! Email has no delivery receipt: `Accepted` means the relay queued the message. Later failures
//! come back as bounces to the per-attempt envelope sender ([`verp_sender`]);
//! [`callback_ref_from_bounce_address`] reads the attempt back from such an address.
//!
//! How a failed send is classified depends on how far it got:
//!
//! | stopped at | 4xx reply | 5xx reply | timeout / lost connection |
//! | --- | --- | --- | --- |
//! | connect, TLS, greeting, EHLO | `RetryLater` | `ChannelDown` | `RetryLater` |
//! | AUTH | `RetryLater` | `ChannelDown` (535 …) | `RetryLater` |
//! | MAIL FROM | `RetryLater` | `ChannelDown` (our sender refused) | `RetryLater` |
//! | RCPT TO, DATA command | `RetryLater` | `Permanent` (code = SMTP code) | `RetryLater` |
//! | content, final reply | `RetryLater` | `Permanent` | `Ambiguous` (may be queued) |
//!
//! lettre refusing to go on (STARTTLS not offered, no common AUTH mechanism) is `ChannelDown`.

mod classify;
mod config;
mod receiver;
mod render;
mod send;

pub use config::{Security, SmtpConfig};
pub use receiver::{MailToKeep, ReceivedMail, ReceiverRules, SmtpReceiver};
pub use render::{callback_ref_from_bounce_address, verp_sender};
pub use send::{SmtpEmail, SmtpSetupError};
