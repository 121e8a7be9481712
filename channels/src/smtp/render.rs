//! Turns an [`OutgoingMessage`] into a MIME message and its SMTP envelope.

use lettre::Message;
use lettre::address::{Address, Envelope};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

use crate::{OutgoingMessage, Recipient, markup};

/// RFC 3834: tells vacation responders not to answer; their replies would go to the bounce
/// mailbox (the envelope sender) and muddle bounce processing. Checked at compile time.
const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");

/// A message ready for the wire.
pub(crate) struct Rendered {
    pub envelope: Envelope,
    pub bytes: Vec<u8>,
    /// Without angle brackets; it is also the provider message id of an accepted send.
    pub message_id: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RenderError {
    #[error("the recipient is not an email address")]
    NotEmail,
    #[error("invalid email address")]
    BadAddress,
    #[error("the message could not be built: {0}")]
    Build(String),
}

/// The envelope sender of one attempt: `bounce+<callback_ref>@<bounce_domain>` (VERP), so a bounce
/// names the attempt it is about. Characters outside `[A-Za-z0-9_-]` are written `=XX` (hex of
/// each UTF-8 byte), which keeps any callback_ref a valid local part and reversible.
pub fn verp_sender(callback_ref: &str, bounce_domain: &str) -> String {
    let mut local = String::from("bounce+");
    for byte in callback_ref.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            local.push(char::from(byte));
        } else {
            local.push_str(&format!("={byte:02X}"));
        }
    }
    format!("{local}@{bounce_domain}")
}

/// The callback_ref a bounce is about, read back from the address it was sent to (the VERP
/// sender of the original message); `None` when the address is not one of ours.
pub fn callback_ref_from_bounce_address(address: &str, bounce_domain: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    if !domain.eq_ignore_ascii_case(bounce_domain) {
        return None;
    }
    let encoded = local.strip_prefix("bounce+")?.as_bytes();
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        if encoded[i] == b'=' {
            let hex = std::str::from_utf8(encoded.get(i + 1..i + 3)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(encoded[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

/// One Message-ID per attempt, derived from the callback_ref rather than random: if an ambiguous
/// send is ever repeated, mailbox providers that collapse equal Message-IDs show it once.
fn message_id(callback_ref: &str, bounce_domain: &str) -> String {
    let sender = verp_sender(callback_ref, bounce_domain);
    let local = sender.split_once('@').map_or("", |(local, _)| local);
    format!(
        "{}@{bounce_domain}",
        local.replacen("bounce+", "medrelay.", 1)
    )
}

/// Primary language subtags written right to left.
fn is_rtl(language: &str) -> bool {
    let primary = language.split(['-', '_']).next().unwrap_or_default();
    ["he", "iw", "ar", "fa", "ur", "yi"]
        .iter()
        .any(|rtl| primary.eq_ignore_ascii_case(rtl))
}

fn html_body(body: &str, language: &str, subject: &str) -> String {
    let dir = if is_rtl(language) { "rtl" } else { "ltr" };
    // The language goes into an attribute: keep only what a BCP-47 tag can hold.
    let lang: String = language
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let paragraphs = body
        .replace("\r\n", "\n")
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", markup::escape(p).replace('\n', "<br>\n")))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\" dir=\"{dir}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n</head>\n<body dir=\"{dir}\">\n{paragraphs}\n</body>\n</html>\n",
        title = markup::escape(subject),
    )
}

pub(crate) fn render(
    message: &OutgoingMessage,
    from: &Mailbox,
    bounce_domain: &str,
) -> Result<Rendered, RenderError> {
    let Recipient::Email(to) = &message.to else {
        return Err(RenderError::NotEmail);
    };
    let to: Address = to.parse().map_err(|_| RenderError::BadAddress)?;
    let sender: Address = verp_sender(&message.callback_ref, bounce_domain)
        .parse()
        .map_err(|_| RenderError::BadAddress)?;
    let envelope =
        Envelope::new(Some(sender), vec![to.clone()]).map_err(|_| RenderError::BadAddress)?;
    // The gateway should always send a subject; an empty inbox line would look like spam.
    let subject = match message.subject.as_deref().map(str::trim) {
        Some(subject) if !subject.is_empty() => subject.to_owned(),
        _ => from
            .name
            .clone()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| "Notification".to_owned()),
    };
    let message_id = message_id(&message.callback_ref, bounce_domain);
    let html = html_body(&message.body, &message.language, &subject);
    let email = Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(subject)
        .message_id(Some(format!("<{message_id}>")))
        .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".into()))
        .envelope(envelope.clone())
        .multipart(MultiPart::alternative_plain_html(
            message.body.clone(),
            html,
        ))
        .map_err(|e| RenderError::Build(e.to_string()))?;
    Ok(Rendered {
        envelope,
        bytes: email.formatted(),
        message_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_refs_survive_the_round_trip_through_the_bounce_address() {
        for callback_ref in ["att_42", "01HZX-9", "a.b/c d", "ניסיון"] {
            let sender = verp_sender(callback_ref, "bounce.clinic.example");
            assert!(sender.parse::<Address>().is_ok(), "{sender}");
            let back = callback_ref_from_bounce_address(&sender, "bounce.clinic.example");
            assert_eq!(back.as_deref(), Some(callback_ref));
        }
        assert_eq!(
            verp_sender("att_42", "b.example"),
            "bounce+att_42@b.example"
        );
        assert_eq!(
            callback_ref_from_bounce_address("bounce+x@other.example", "b.example"),
            None
        );
    }

    #[test]
    fn html_is_escaped_and_right_to_left_languages_get_dir_rtl() {
        let html = html_body("a <b> & \"c\"\nline", "he", "<subject>");
        assert!(html.contains("<html lang=\"he\" dir=\"rtl\">"), "{html}");
        assert!(
            html.contains("a &lt;b&gt; &amp; &quot;c&quot;<br>"),
            "{html}"
        );
        assert!(html.contains("<title>&lt;subject&gt;</title>"), "{html}");
        assert!(html_body("x", "en-GB", "s").contains("dir=\"ltr\""));
        assert!(html_body("x", "ar-IL", "s").contains("dir=\"rtl\""));
        assert!(html_body("x", "en\" onload=\"x", "s").contains("lang=\"enonloadx\""));
    }
}
