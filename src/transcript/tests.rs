//! What a transcript says, from records made by hand: order, times, who sent what, what was
//! withheld, what was removed, and that both formats carry it.

use base64::Engine;
use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use sha2::{Digest, Sha256};

use super::{CONTENT_SECURITY_POLICY, Format, Side, Transcript, TranscriptContext};
use crate::domain::{
    Actor, ApiKeyId, AttemptContent, AttemptStatus, AutoReply, CallbackOutcome, CallbackStatus,
    CallbackTaskId, Clinic, ClinicId, ContentKind, InboundMedia, InboundMessageId, Intent,
    Language, NotificationId, Origin, PhoneRegion, Sensitivity, TimeZoneName,
};
use crate::store::{
    CallbackView, InboundRecord, SentMessage, TranscriptPatient, TranscriptRecords,
};

fn at(text: &str) -> Timestamp {
    text.parse().expect("instant")
}

fn clinic(language: &str) -> Clinic {
    Clinic {
        id: ClinicId::from_stored("clc_1".to_owned()),
        slug: "hadar".to_owned(),
        name: "Hadar".to_owned(),
        timezone: TimeZoneName::parse("Asia/Jerusalem").expect("zone"),
        default_language: Language::parse(language).expect("language"),
        default_channels: ChannelKind::ALL.to_vec(),
        phone: None,
        phone_region: PhoneRegion::ISRAEL,
    }
}

fn staff_key() -> Actor {
    Actor::Key {
        id: ApiKeyId::from_stored("key_01".to_owned()),
        role: "staff",
    }
}

fn sent(at_: &str, channel: ChannelKind, kind: ContentKind, text: Option<&str>) -> SentMessage {
    SentMessage {
        notification_id: NotificationId::from_stored("ntf_1".to_owned()),
        topic: "test_result_ready".to_owned(),
        origin: Origin::Api,
        channel,
        status: AttemptStatus::Delivered,
        handed_over_at: at(at_),
        delivered_at: Some(at(at_)),
        read_at: None,
        failed_at: None,
        sandbox: false,
        requested_by: Some(staff_key()),
        content: Some(AttemptContent {
            kind,
            language: "he".to_owned(),
            subject: None,
            text: text.map(str::to_owned),
            template: None,
        }),
    }
}

fn received(at_: &str, text: Option<&str>, media: Option<InboundMedia>) -> InboundRecord {
    InboundRecord {
        id: InboundMessageId::from_stored("msg_1".to_owned()),
        channel: ChannelKind::Whatsapp,
        kind: if media.is_some() { "image" } else { "text" }.to_owned(),
        text: text.map(str::to_owned),
        media,
        intent: Intent::None,
        sent_at: at(at_),
        received_at: at(at_),
        answered_at: None,
        answered_by: None,
        handled_at: None,
        handled_by: None,
    }
}

fn records(erased: bool) -> TranscriptRecords {
    TranscriptRecords {
        patient: TranscriptPatient {
            external_id: "p-1".to_owned(),
            name: "דנה לוי".to_owned(),
            language: "he".to_owned(),
            erased,
        },
        sent: Vec::new(),
        received: Vec::new(),
        callbacks: Vec::new(),
        truncated: false,
    }
}

fn transcript(records: TranscriptRecords, language: &str) -> Transcript {
    let clinic = clinic(language);
    let sensitivity = |topic: &str| {
        if topic == "test_result_ready" {
            Sensitivity::Sensitive
        } else {
            Sensitivity::Normal
        }
    };
    let context = TranscriptContext {
        clinic: &clinic,
        from: Some(at("2026-10-31T22:00:00Z")),
        to: at("2026-11-07T22:00:00Z"),
        generated_at: at("2026-11-08T08:00:00Z"),
        sensitivity: &sensitivity,
    };
    Transcript::new(records, &context)
}

#[test]
fn entries_are_in_the_order_they_happened_with_times_in_the_clinic_zone() {
    let mut records = records(false);
    records
        .received
        .push(received("2026-11-02T08:05:00Z", Some("תודה"), None));
    records.sent.push(sent(
        "2026-11-02T08:00:00Z",
        ChannelKind::Sms,
        ContentKind::Content,
        Some("התוצאה תקינה"),
    ));

    let transcript = transcript(records, "en");

    let shown: Vec<(&str, Side)> = transcript
        .entries
        .iter()
        .map(|e| (e.time.as_str(), e.side))
        .collect();
    assert_eq!(
        shown,
        [
            ("2026-11-02\u{a0}10:00", Side::ToPatient),
            ("2026-11-02\u{a0}10:05", Side::FromPatient)
        ]
    );
    assert_eq!(transcript.entries[0].heading, "To the patient · SMS");
    assert_eq!(
        transcript.entries[0].facts,
        [
            "Status: delivered",
            "Delivered: 2026-11-02\u{a0}10:00",
            "Sent by: API key key_01 (staff)"
        ]
    );
}

#[test]
fn a_notice_on_a_chat_channel_says_what_was_withheld_and_the_email_with_the_content_does_not() {
    let mut records = records(false);
    records.sent.push(sent(
        "2026-11-02T08:00:00Z",
        ChannelKind::Email,
        ContentKind::Content,
        Some("HbA1c 9.1%"),
    ));
    records.sent.push(sent(
        "2026-11-02T08:01:00Z",
        ChannelKind::Whatsapp,
        ContentKind::Notice,
        Some("You have a new message from the clinic"),
    ));

    let transcript = transcript(records, "en");

    assert_eq!(transcript.entries[0].withheld, None);
    assert_eq!(
        transcript.entries[1].withheld.as_deref(),
        Some(
            "Not sent on WhatsApp: the topic “test_result_ready” is sensitive, so the patient \
             got this content-free notice instead."
        )
    );
    let texts: Vec<&str> = transcript
        .entries
        .iter()
        .filter_map(|e| e.text.as_ref().map(|t| t.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        ["HbA1c 9.1%", "You have a new message from the clinic"]
    );
}

#[test]
fn who_sent_it_is_the_key_the_staff_member_or_medrelay_answering() {
    let mut by_staff = sent(
        "2026-11-02T08:00:00Z",
        ChannelKind::Sms,
        ContentKind::Content,
        Some("a"),
    );
    by_staff.origin = Origin::StaffReply;
    by_staff.requested_by = Some(Actor::Staff("Dr. Cohen".to_owned()));
    let mut auto = by_staff.clone();
    auto.origin = Origin::Auto(AutoReply::Receipt);
    auto.requested_by = Some(Actor::System);
    auto.sandbox = true;
    let mut records = records(false);
    records.sent = vec![by_staff, auto];

    let transcript = transcript(records, "en");

    let by: Vec<&str> = transcript
        .entries
        .iter()
        .filter_map(|e| e.facts.iter().find(|f| f.starts_with("Sent by")))
        .map(String::as_str)
        .collect();
    assert_eq!(
        by,
        [
            "Sent by: Dr. Cohen (staff)",
            "Sent by: medrelay, automatic reply"
        ]
    );
}

#[test]
fn a_text_gone_says_whether_retention_or_erasure_removed_it() {
    let gone = |erased| {
        let mut records = records(erased);
        records.sent.push(sent(
            "2026-11-02T08:00:00Z",
            ChannelKind::Sms,
            ContentKind::Content,
            None,
        ));
        records
            .received
            .push(received("2026-11-02T08:05:00Z", None, None));
        transcript(records, "en")
            .entries
            .iter()
            .map(|e| e.removed.unwrap_or_default())
            .collect::<Vec<_>>()
    };

    assert_eq!(
        gone(false),
        ["Text removed under the clinic's retention policy."; 2]
    );
    assert_eq!(gone(true), ["Text erased at the patient's request."; 2]);
}

#[test]
fn a_photo_is_a_line_naming_its_type() {
    let photo = InboundMedia::WhatsApp {
        media_id: "m1".to_owned(),
        mime_type: Some("image/jpeg".to_owned()),
        sha256: None,
        filename: None,
    };
    let mut records = records(false);
    records
        .received
        .push(received("2026-11-02T08:05:00Z", None, Some(photo)));

    let transcript = transcript(records, "en");

    assert_eq!(
        transcript.entries[0].media.as_deref(),
        Some("photo (image/jpeg)")
    );
    assert_eq!(transcript.entries[0].removed, None);
}

#[test]
fn a_callback_shows_when_it_opened_and_how_it_closed() {
    let mut records = records(false);
    records.callbacks.push(CallbackView {
        id: CallbackTaskId::from_stored("cbk_1".to_owned()),
        notification_id: "ntf_1".to_owned(),
        patient_id: "p-1".to_owned(),
        patient_name: "Dana".to_owned(),
        phone: None,
        language: "he".to_owned(),
        reason: "topic oncology is restricted: call the patient".to_owned(),
        status: CallbackStatus::Closed,
        claimed_by: Some("Noa".to_owned()),
        claimed_at: Some(at("2026-11-02T09:00:00Z")),
        outcome: Some(CallbackOutcome::Reached),
        note: None,
        created_at: at("2026-11-02T08:00:00Z"),
        closed_at: Some(at("2026-11-02T09:10:00Z")),
    });

    let transcript = transcript(records, "en");

    assert_eq!(
        transcript.entries[0].facts,
        [
            "Opened: topic oncology is restricted: call the patient",
            "Taken by Noa at 2026-11-02\u{a0}11:00",
            "Closed at 2026-11-02\u{a0}11:10 by Noa: reached the patient"
        ]
    );
}

#[test]
fn a_hebrew_clinic_gets_a_right_to_left_page_and_each_message_its_own_direction() {
    let mut records = records(false);
    records.sent.push(sent(
        "2026-11-02T08:00:00Z",
        ChannelKind::Sms,
        ContentKind::Content,
        Some("Hello <b>"),
    ));

    let transcript = transcript(records, "he");
    let html = String::from_utf8(transcript.render(Format::Html).expect("html")).expect("utf-8");

    assert!(transcript.rtl);
    assert!(html.contains("<html lang=\"he\" dir=\"rtl\">"), "{html}");
    assert!(
        html.contains("<p class=\"text\" lang=\"he\" dir=\"auto\">Hello &#60;b&#62;</p>")
            || html.contains("<p class=\"text\" lang=\"he\" dir=\"auto\">Hello &lt;b&gt;</p>"),
        "{html}"
    );
    assert!(html.contains("אל המטופל · SMS"), "{html}");
}

#[test]
fn the_page_allows_exactly_its_own_style() {
    let transcript = transcript(records(false), "en");
    let html = String::from_utf8(transcript.render(Format::Html).expect("html")).expect("utf-8");

    let style = html
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map(|(style, _)| style)
        .expect("a style element");
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style));
    assert!(
        CONTENT_SECURITY_POLICY.contains(&format!("style-src 'sha256-{hash}'")),
        "{}",
        *CONTENT_SECURITY_POLICY
    );
    assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none'"));
    assert!(html.contains("No messages in this period."), "{html}");
}

#[test]
fn the_pdf_carries_a_subset_of_the_font_not_all_of_it() {
    let mut records = records(false);
    records.sent.push(sent(
        "2026-11-02T08:00:00Z",
        ChannelKind::Sms,
        ContentKind::Content,
        Some("שלום, السلام عليكم, здравствуйте"),
    ));

    let pdf = transcript(records, "he").render(Format::Pdf).expect("pdf");

    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.len() < 150_000, "{} bytes", pdf.len());
}
