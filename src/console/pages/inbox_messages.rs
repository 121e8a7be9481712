//! The messages of a thread as the inbox shows them: the patient's (with a photo inline, a file
//! linked, a removed attachment or a location said in words, and who answered or handled it)
//! and the clinic's (with their status).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::notifications::{at, channel_name};
use crate::console::i18n::Tr;
use crate::domain::InboundMedia;
use crate::store::{InboundRecord, OutboundRecord};

/// One message of the thread, either way.
#[derive(Debug)]
pub(super) struct Message {
    pub(super) inbound: bool,
    pub(super) sort: Timestamp,
    pub(super) at: String,
    pub(super) channel: String,
    pub(super) text: Option<String>,
    /// A photo, shown inline through the console's media route.
    pub(super) image: Option<String>,
    /// Another file: a link to it, and its name.
    pub(super) file: Option<(String, String)>,
    /// Removed by retention or an erasure, or a location: said in words.
    pub(super) note: Option<String>,
    /// Who answered or handled it (inbound), the status (outbound).
    pub(super) state: Option<String>,
}

pub(super) fn inbound_message(m: InboundRecord, tr: &Tr, zone: &TimeZone) -> Message {
    let url = format!("/console/media/{}", m.id);
    let (mut image, mut file, mut note) = (None, None, None);
    match m.media {
        Some(InboundMedia::WhatsApp {
            mime_type,
            filename,
            ..
        }) if mime_type
            .as_deref()
            .is_some_and(|t| t.starts_with("image/"))
            && filename.is_none() =>
        {
            image = Some(url);
        }
        Some(InboundMedia::WhatsApp { filename, .. }) => {
            file = Some((url, filename.unwrap_or_else(|| tr.t("inbox-file"))));
        }
        Some(InboundMedia::Twilio { .. }) => note = Some(tr.t("inbox-media-mms")),
        Some(InboundMedia::Location {
            latitude,
            longitude,
            name,
            ..
        }) => {
            let place = name.unwrap_or_default();
            note = Some(format!(
                "{} {place} ({latitude}, {longitude})",
                tr.t("inbox-location")
            ));
        }
        Some(InboundMedia::Removed { .. }) => note = Some(tr.t("inbox-media-removed")),
        None => {}
    }
    let state = match (m.answered_by, m.handled_by) {
        (Some(by), _) => Some(tr.t_with("inbox-answered-by", &[("name", &by)])),
        (None, Some(by)) => Some(tr.t_with("inbox-handled-by", &[("name", &by)])),
        (None, None) => Some(tr.t("inbox-waiting")),
    };
    Message {
        inbound: true,
        sort: m.received_at,
        at: at(m.received_at, zone),
        channel: channel_name(tr, m.channel),
        text: m.text,
        image,
        file,
        note,
        state,
    }
}

pub(super) fn outbound_message(n: OutboundRecord, tr: &Tr, zone: &TimeZone) -> Message {
    Message {
        inbound: false,
        sort: n.went_at,
        at: at(n.went_at, zone),
        channel: n.channel.map(|c| channel_name(tr, c)).unwrap_or_default(),
        text: n.body,
        image: None,
        file: None,
        note: n
            .template
            .map(|t| tr.t_with("inbox-template", &[("name", &t)])),
        state: Some(tr.t(&format!("notifications-status-{}", n.status.as_str()))),
    }
}
