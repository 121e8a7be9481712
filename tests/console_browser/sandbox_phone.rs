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
    let directions = direction.as_array().cloned().unwrap_or_default();
    assert!(
        !directions.is_empty() && directions.iter().all(|d| d == "rtl"),
        "the received Hebrew texts read right to left: {direction}"
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
        .wait_for_text_in(".phone-chat", HEBREW_ANSWER)
        .await;
    let last_sent = reception
        .browser
        .run("const sent = document.querySelectorAll('.bubble-sent .bubble-text'); return sent[sent.length - 1].innerText;")
        .await;
    assert_eq!(
        last_sent, HEBREW_ANSWER,
        "the answer is the patient's latest bubble"
    );
    let faults = reception.check_page("sandbox-phone-answered").await;
    assert!(faults.is_empty(), "{faults:#?}");

    let staff = reception.app.staff_key().await;
    let path = format!("/v1/conversations/{patient}");
    let conversation = reception
        .app
        .request(reqwest::Method::GET, &path, &staff, None)
        .await;
    let conversation = conversation.text().await.unwrap_or_default();
    assert!(
        conversation.contains(HEBREW_ANSWER),
        "the inbox has it: {conversation}"
    );
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
        .wait_for_text_in(".phone-chat", "Delivered")
        .await;
    let order = ["WhatsApp", "Failed", "SMS", "Delivered"].map(|word| chat.find(word));
    assert!(
        order.iter().all(Option::is_some) && order.is_sorted(),
        "WhatsApp failed, then the SMS was delivered: {chat}"
    );
    let faults = reception.check_page("sandbox-phone-fallback").await;
    assert!(faults.is_empty(), "{faults:#?}");
    reception.close().await;
}
