//! Patient media in Meta's inbound webhook (providers.md §1.4), in the shapes of Meta's webhook
//! reference: the media id and its description are kept, a caption becomes the text.

use medrelay_channels::whatsapp::{InboundMedia, parse_inbound};

fn webhook(messages: &str) -> Vec<u8> {
    format!(
        r#"{{"object": "whatsapp_business_account",
  "entry": [{{"id": "102290129340398", "changes": [{{"field": "messages", "value": {{
    "messaging_product": "whatsapp",
    "metadata": {{"display_phone_number": "97235550100", "phone_number_id": "106540352242922"}},
    "contacts": [{{"profile": {{"name": "Dana"}}, "wa_id": "972541234567"}}],
    "messages": [{messages}]}}}}]}}]}}"#
    )
    .into_bytes()
}

fn file(id: &str, mime: &str, sha256: &str, filename: Option<&str>) -> Option<InboundMedia> {
    Some(InboundMedia::Media {
        media_id: id.to_owned(),
        mime_type: Some(mime.to_owned()),
        sha256: Some(sha256.to_owned()),
        filename: filename.map(str::to_owned),
    })
}

#[test]
fn an_image_keeps_its_media_id_and_its_caption_becomes_the_text() {
    let body = webhook(
        r#"{"from": "972541234567", "id": "wamid.IMG", "timestamp": "1764140500", "type": "image",
            "image": {"caption": "the rash on my arm", "mime_type": "image/jpeg",
                      "sha256": "m1Zx0zPTvXw9", "id": "1479537139650973"}}"#,
    );

    let inbound = parse_inbound(&body).expect("a valid webhook parses");

    assert_eq!(inbound.len(), 1);
    assert_eq!(inbound[0].kind, "image");
    assert_eq!(inbound[0].text.as_deref(), Some("the rash on my arm"));
    assert_eq!(
        inbound[0].media,
        file("1479537139650973", "image/jpeg", "m1Zx0zPTvXw9", None)
    );
}

#[test]
fn a_document_audio_video_and_sticker_are_media_with_their_own_fields() {
    let body = webhook(
        r#"{"from": "972541234567", "id": "wamid.DOC", "timestamp": "1764140500", "type": "document",
            "document": {"caption": "referral", "filename": "referral.pdf", "mime_type": "application/pdf",
                         "sha256": "c2hhMjU2", "id": "111"}},
           {"from": "972541234567", "id": "wamid.AUD", "timestamp": "1764140501", "type": "audio",
            "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "YXVkaW8=", "id": "222", "voice": true}},
           {"from": "972541234567", "id": "wamid.VID", "timestamp": "1764140502", "type": "video",
            "video": {"mime_type": "video/mp4", "sha256": "dmlkZW8=", "id": "333"}},
           {"from": "972541234567", "id": "wamid.STK", "timestamp": "1764140503", "type": "sticker",
            "sticker": {"mime_type": "image/webp", "sha256": "c3RpY2tlcg==", "id": "444", "animated": false}}"#,
    );

    let inbound = parse_inbound(&body).expect("a valid webhook parses");

    let read: Vec<_> = inbound
        .iter()
        .map(|m| (m.kind.as_str(), m.text.as_deref(), m.media.clone()))
        .collect();
    assert_eq!(
        read,
        vec![
            (
                "document",
                Some("referral"),
                file("111", "application/pdf", "c2hhMjU2", Some("referral.pdf"))
            ),
            (
                "audio",
                None,
                file("222", "audio/ogg; codecs=opus", "YXVkaW8=", None)
            ),
            ("video", None, file("333", "video/mp4", "dmlkZW8=", None)),
            (
                "sticker",
                None,
                file("444", "image/webp", "c3RpY2tlcg==", None)
            ),
        ]
    );
}

#[test]
fn a_location_is_kept_as_coordinates_with_its_name_and_address() {
    let body = webhook(
        r#"{"from": "972541234567", "id": "wamid.LOC", "timestamp": "1764140500", "type": "location",
            "location": {"latitude": 32.7940, "longitude": 34.9896,
                         "name": "Rambam", "address": "HaAliya HaShniya 8, Haifa"}}"#,
    );

    let inbound = parse_inbound(&body).expect("a valid webhook parses");

    assert_eq!(inbound[0].kind, "location");
    assert_eq!(inbound[0].text, None);
    assert_eq!(
        inbound[0].media,
        Some(InboundMedia::Location {
            latitude: 32.794,
            longitude: 34.9896,
            name: Some("Rambam".to_owned()),
            address: Some("HaAliya HaShniya 8, Haifa".to_owned()),
        })
    );
}

#[test]
fn a_reaction_is_its_emoji_on_our_message_and_an_unsupported_message_has_no_text_or_media() {
    let body = webhook(
        r#"{"from": "972541234567", "id": "wamid.RCT", "timestamp": "1764140500", "type": "reaction",
            "reaction": {"message_id": "wamid.OURS", "emoji": "👍"}},
           {"from": "972541234567", "id": "wamid.UNS", "timestamp": "1764140501", "type": "unsupported",
            "errors": [{"code": 131051, "title": "Message type unknown",
                        "message": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."}}]}"#,
    );

    let inbound = parse_inbound(&body).expect("a valid webhook parses");

    let read: Vec<_> = inbound
        .iter()
        .map(|m| {
            let text = m.text.as_deref();
            (
                m.kind.as_str(),
                text,
                m.in_reply_to.as_deref(),
                m.media.is_some(),
            )
        })
        .collect();
    assert_eq!(
        read,
        vec![
            ("reaction", Some("👍"), Some("wamid.OURS"), false),
            ("unsupported", None, None, false)
        ]
    );
}

#[test]
fn media_shows_in_debug_only_as_its_kind() {
    let body = webhook(
        r#"{"from": "972541234567", "id": "wamid.DOC", "timestamp": "1764140500", "type": "document",
            "document": {"caption": "my biopsy", "filename": "cohen-biopsy.pdf",
                         "mime_type": "application/pdf", "sha256": "c2hh", "id": "111"}}"#,
    );

    let printed = format!("{:?}", parse_inbound(&body).expect("parses")[0]);

    assert!(printed.contains("media: Some(\"media\")"), "{printed}");
    for private in ["cohen-biopsy", "biopsy", "541234567"] {
        assert!(!printed.contains(private), "{printed}");
    }
}
