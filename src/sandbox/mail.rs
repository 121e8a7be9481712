//! Mail the sandbox's SMTP server accepted goes to the outbox, one message per recipient.

use std::sync::Weak;

use mail_parser::MessageParser;
use medrelay_channels::ChannelKind;
use medrelay_channels::smtp::{ReceivedMail, callback_ref_from_bounce_address};
use tokio::sync::mpsc;

use super::{BOUNCE_DOMAIN, Received, Sandbox, script_language};

pub(super) async fn record_received_mail(
    sandbox: Weak<Sandbox>,
    mut mail: mpsc::Receiver<ReceivedMail>,
) {
    while let Some(received) = mail.recv().await {
        let Some(sandbox) = sandbox.upgrade() else {
            return;
        };
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
        let callback_ref = callback_ref_from_bounce_address(&received.envelope_from, BOUNCE_DOMAIN)
            .unwrap_or_default();
        for to in received.recipients {
            let message = Received {
                channel: ChannelKind::Email,
                to,
                subject: subject.clone(),
                body: body.clone(),
                language: language.clone(),
                callback_ref: callback_ref.clone(),
            };
            if let Err(error) = sandbox.take(message).await {
                tracing::error!(%error, "sandbox: received mail not recorded");
            }
        }
    }
}
