//! Notifications, inbox and callbacks in the browser, in English and in Hebrew: a fallback's
//! timeline, a patient's photo in the thread and a reply to the right patient, a callback claimed
//! and closed; each page checked for the accessibility basics and screenshotted.

use medrelay::domain::UiLanguage;
use serde_json::json;

use crate::reception::{HEBREW_PATIENT, NOT_ON_WHATSAPP, Reception};

async fn timeline_thread_and_callback(language: UiLanguage) {
    let reception = Reception::signed_in(language).await;
    let app = &reception.app;
    let mut faults = Vec::new();

    let (magic, _, _) = NOT_ON_WHATSAPP;
    let reminder = json!({
        "patient_id": magic, "topic": "appointment_reminder",
        "template": "appointment_reminder", "params": { "date": "01.12", "time": "09:30" }
    });
    let id = app.notify(reminder).await;
    app.wait_for(&id, &["delivered", "read"]).await;
    reception
        .visit(&format!("/console/notifications/{id}"))
        .await;
    reception
        .browser
        .wait_for_text_in(".timeline", "falling back to sms")
        .await;
    faults.extend(reception.check_page("notification-timeline").await);

    let (patient, _, phone) = HEBREW_PATIENT;
    app.patient_sends(json!({ "channel": "whatsapp", "from": phone, "text": "אפשר לבוא ב-10?" }))
        .await;
    app.patient_sends(
        json!({ "channel": "whatsapp", "from": phone, "image": { "caption": "צילום" } }),
    )
    .await;
    reception.visit(&format!("/console/inbox/{patient}")).await;
    reception.browser.wait_for("img.photo").await;
    faults.extend(reception.check_page("inbox-thread").await);
    reception
        .browser
        .type_into("#reply-text", "כן, בשמחה")
        .await;
    reception.browser.click("input[name=right_patient]").await;
    reception
        .browser
        .click("form[action$='/reply'] button[type=submit]")
        .await;
    reception.browser.wait_for(".notice").await;
    reception
        .browser
        .wait_for_text_in(".thread", "כן, בשמחה")
        .await;

    app.patient(
        "p-voice",
        json!({ "name": "Moshe Peretz", "phone": "+972500000004", "channels": ["voice"] }),
    )
    .await;
    let call = json!({ "patient_id": "p-voice", "topic": "general", "body": "Results" });
    let call = app.notify(call).await;
    app.wait_until_finished(&call).await;
    reception.visit("/console/callbacks").await;
    faults.extend(reception.check_page("callbacks-queue").await);
    reception.browser.click(".card h2 a").await;
    reception.browser.wait_for("a.call").await;
    faults.extend(reception.check_page("callback-card").await);
    reception
        .browser
        .click("form[action$='/claim'] button")
        .await;
    reception.browser.wait_for(".notice").await;
    reception
        .browser
        .click("input[name=outcome][value=reached]")
        .await;
    reception
        .browser
        .click("form[action$='/close'] button")
        .await;
    reception.browser.wait_for(".notice").await;

    reception.close().await;
    assert!(faults.is_empty(), "{faults:#?}");
}

in_both_languages!(timeline_thread_and_callback: a_timeline_a_thread_with_a_reply_and_a_callback_in_english, a_timeline_a_thread_with_a_reply_and_a_callback_in_hebrew);
