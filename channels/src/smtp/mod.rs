//! Email over SMTP (lettre): sending, reply classification, and a small SMTP receiver that the
//! sandbox and tests use as the mail server.
//!
//! Email has no delivery receipt: `Accepted` means the relay queued the message. Later failures
//! come back as bounces to the per-attempt envelope sender ([`verp_sender`]);
//! [`callback_ref_from_bounce_address`] reads the attempt back from such an address.

mod classify;
mod config;
mod receiver;
mod render;
mod send;

pub use config::{Security, SmtpConfig};
pub use receiver::{ReceivedMail, ReceiverRules, SmtpReceiver};
pub use render::{callback_ref_from_bounce_address, verp_sender};
pub use send::{SmtpEmail, SmtpSetupError};
