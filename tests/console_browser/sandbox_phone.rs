//! The sandbox's phone in the browser: what the patient received, in their script's direction,
//! a fallback on a magic recipient as the patient's phone saw it, and the patient answering.

use medrelay::domain::UiLanguage;
use serde_json::json;

use crate::reception::{HEBREW_PATIENT, NOT_ON_WHATSAPP, Reception};

const HEBREW_TEXT: &str = "שלום דנה, התור שלך מחר ב-09:30";
const HEBREW_ANSWER: &str = "אפשר לבוא ב-10 במקום?";

#[tokio::test]
#[cfg_attr(
    not(browser),
    ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
)]
async fn the_patient_s_phone_shows_hebrew_right_to_left_and_their_answer_reaches_the_inbox() {
    let reception = Reception::signed_in(UiLanguage::He).await;
    let (patient, _, phone) = HEBREW_PATIENT;
    let patient_writes = json!({ "channel": "whatsapp", "from": phone, "text": "שלום" });
    reception.app.patient_sends(patient_writes).await;
    let sent = reception
        .app
        .notify(json!({ "patient_id": patient, "topic": "general", "body": HEBREW_TEXT, "channel": "whatsapp" }))
        .await;
    reception.app.wait_for(&sent, &["delivered", "read"]).await;

    reception
        .visit(&format!("/console/sandbox/phone?patient={patient}"))
        .await;
    let bubble = reception
        .browser
        .wait_for_text_in(".phone-chat", HEBREW_TEXT)
        .await;
    assert!(bubble.contains(HEBREW_TEXT));
    let direction = reception
        .browser
        .run("return Array.from(document.querySelectorAll('.bubble-received .bubble-text')).map(e => getComputedStyle(e).direction);")
        .await;
    assert_eq!(
        direction,
        json!(["rtl"]),
        "the received text reads right to left"
    );

    reception
        .browser
        .type_into("#phone-text", HEBREW_ANSWER)
        .await;
    reception
        .browser
        .click(".phone-answer button[type=submit]")
        .await;
    reception.browser.wait_for(".notice").await;
    reception
        .browser
        .wait_for_text_in(".bubble-sent", HEBREW_ANSWER)
        .await;
    let faults = reception.check_page("sandbox-phone-answered").await;
    assert!(faults.is_empty(), "{faults:#?}");

    let conversations = reception
        .app
        .request(
            reqwest::Method::GET,
            "/v1/conversations",
            &reception.app.key,
            None,
        )
        .await;
    let conversations = conversations.text().await.unwrap_or_default();
    assert!(conversations.contains(HEBREW_ANSWER), "{conversations}");
    reception.close().await;
}

#[tokio::test]
#[cfg_attr(
    not(browser),
    ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
)]
async fn a_magic_recipient_s_phone_shows_whatsapp_failing_and_the_sms_fallback() {
    let reception = Reception::signed_in(UiLanguage::En).await;
    let (patient, _, _) = NOT_ON_WHATSAPP;
    let sent = reception
        .app
        .notify(crate::harness::reminder_for(patient))
        .await;
    reception.app.wait_until_finished(&sent).await;

    reception
        .visit(&format!("/console/sandbox/phone?patient={patient}"))
        .await;
    let chat = reception
        .browser
        .wait_for_text_in(".phone-chat", "131026")
        .await;
    assert!(chat.contains("WhatsApp") && chat.contains("SMS"), "{chat}");
    reception.close().await;
}
