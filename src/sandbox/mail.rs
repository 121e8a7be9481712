//! Mail the sandbox's SMTP server accepted goes to the outbox, one message per recipient, before
//! the server answers `250`: what a client was told is delivered is in the outbox.

use std::sync::{Arc, Weak};

use mail_parser::MessageParser;
use medrelay_channels::ChannelKind;
use medrelay_channels::smtp::{MailToKeep, callback_ref_from_bounce_address};
use tokio::sync::mpsc;

use super::{Received, Sandbox, script_language};

pub(super) async fn record_received_mail(
    sandbox: Weak<Sandbox>,
    mut mail: mpsc::Receiver<MailToKeep>,
) {
    while let Some(to_keep) = mail.recv().await {
        let Some(sandbox) = sandbox.upgrade() else {
            return;
        };
        // Each message on its own task, so that messages arriving together share an outbox write.
        tokio::spawn(keep(sandbox, to_keep));
    }
}

async fn keep(sandbox: Arc<Sandbox>, to_keep: MailToKeep) {
    let received = &to_keep.mail;
    let parsed = MessageParser::default().parse(&received.data);
    let subject = parsed.as_ref().and_then(|m| m.subject()).map(str::to_owned);
    let body = parsed
        .as_ref()
        .and_then(|m| m.body_text(0))
        .map(|text| text.trim_end().to_owned())
        .unwrap_or_default();
    let language = parsed
        .as_ref()
        .and_then(|m| m.header_raw("Content-Language"))
        .map(|tag| tag.trim().to_owned())
        .unwrap_or_else(|| script_language(&body).to_owned());
    let callback_ref = callback_ref_from_bounce_address(
        &received.envelope_from,
        &sandbox.credentials.bounce_domain,
    )
    .unwrap_or_default();
    let mut kept = true;
    for to in &received.recipients {
        let message = Received {
            channel: ChannelKind::Email,
            to: to.clone(),
            subject: subject.clone(),
            body: body.clone(),
            language: language.clone(),
            callback_ref: callback_ref.clone(),
        };
        if let Err(error) = sandbox.take(message).await {
            tracing::error!(%error, "sandbox: received mail not recorded");
            kept = false;
        }
    }
    if kept {
        to_keep.kept();
    } else {
        to_keep.not_kept();
    }
}
