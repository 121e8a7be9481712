//! A patient's SMS (or MMS) to one of our Twilio numbers: the form Twilio posts to the number's
//! or Messaging Service's incoming-message webhook (providers.md §2.4).

use std::fmt;

/// One inbound message as Twilio posted it. `Debug` hides the number and the text.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// The dedupe key: Twilio redelivers with the same `MessageSid`.
    pub message_sid: String,
    /// The account it arrived on: the one whose auth token signed it.
    pub account_sid: String,
    /// The Messaging Service that received it, when the number belongs to one.
    pub messaging_service_sid: Option<String>,
    /// The patient's number, E.164.
    pub from: String,
    /// Our number that received it.
    pub to: String,
    /// What the patient wrote; empty for an MMS without text.
    pub body: String,
    /// The attachments of an MMS, in Twilio's order.
    pub media: Vec<InboundSmsMedia>,
}

/// One MMS attachment: Twilio keeps it and serves it to the account's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSmsMedia {
    pub url: String,
    pub content_type: Option<String>,
}

impl fmt::Debug for InboundSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSms")
            .field("message_sid", &self.message_sid)
            .field("account_sid", &self.account_sid)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("from", &crate::Recipient::Phone(self.from.clone()))
            .field("to", &self.to)
            .field("body_chars", &self.body.chars().count())
            .field("media", &self.media.len())
            .finish()
    }
}

/// The largest `NumMedia` Twilio sends: an MMS carries at most 10 attachments.
const MAX_MEDIA: usize = 10;

/// Reads an incoming-message webhook; `None` when a field every such request carries is missing
/// (`MessageSid`, `AccountSid`, `From`, `To`). An empty `Body` is kept: a patient may send one,
/// or only a picture.
pub fn parse_inbound_sms(params: &[(String, String)]) -> Option<InboundSms> {
    let media_count = param(params, "NumMedia")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_MEDIA);
    let media = (0..media_count)
        .filter_map(|n| {
            Some(InboundSmsMedia {
                url: param(params, &format!("MediaUrl{n}"))?.to_owned(),
                content_type: param(params, &format!("MediaContentType{n}")).map(str::to_owned),
            })
        })
        .collect();
    Some(InboundSms {
        message_sid: param(params, "MessageSid")
            .or_else(|| param(params, "SmsSid"))?
            .to_owned(),
        account_sid: param(params, "AccountSid")?.to_owned(),
        messaging_service_sid: param(params, "MessagingServiceSid").map(str::to_owned),
        from: param(params, "From")?.to_owned(),
        to: param(params, "To")?.to_owned(),
        body: params
            .iter()
            .find(|(name, _)| name == "Body")
            .map(|(_, body)| body.clone())
            .unwrap_or_default(),
        media,
    })
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}
