//! The receptionist's day in the browser, in English and in Hebrew: find a patient and change
//! their channels, watch a notification reach delivered and a magic recipient fall back, reply
//! in the inbox, and claim and close a callback. Each page on the way is checked and
//! screenshotted.

use std::time::Duration;

use medrelay::domain::UiLanguage;
use medrelay_testkit::wait;
use reqwest::Method;
use serde_json::{Value, json};

use crate::reception::{ENGLISH_PATIENT, HEBREW_PATIENT, NOT_ON_WHATSAPP, Reception};

/// The channel order the patient card shows, as the channels' kinds.
async fn channel_order(reception: &Reception) -> Vec<String> {
    let order = reception
        .browser
        .run("return Array.from(document.querySelectorAll('.channel-order li')).map(li => li.dataset.channel);")
        .await;
    serde_json::from_value(order).unwrap_or_default()
}

async fn find_a_patient_and_move_a_channel_down(language: UiLanguage) {
    let reception = Reception::signed_in(language).await;
    let browser = &reception.browser;
    let (id, name, _) = HEBREW_PATIENT;
    reception.visit("/console/patients").await;
    browser.type_into("#q", "דנה").await;
    browser.submit("#q").await;
    browser.wait_for_text_in("main table", name).await;
    let mut faults = reception.check_page("flow-patients-found").await;
    browser
        .click("main table a[href^='/console/patients/']")
        .await;
    browser.wait_for(".channel-order li").await;
    let before = channel_order(&reception).await;
    assert!(before.len() >= 2, "{before:?}");

    let first = &before[0];
    browser
        .click(&format!("button[value='down:{first}']"))
        .await;
    let after = wait::within(Duration::from_secs(20))
        .until(async || {
            let now = channel_order(&reception).await;
            if now.len() >= 2 && now[1] == *first {
                Ok(now)
            } else {
                Err(format!("{now:?}"))
            }
        })
        .await;
    assert_eq!((&after[0], &after[1]), (&before[1], &before[0]), "swapped");
    faults.extend(reception.check_page("flow-patient-channels").await);
    let patient: Value = reception
        .app
        .request(
            Method::GET,
            &format!("/v1/patients/{id}"),
            &reception.app.key,
            None,
        )
        .await
        .json()
        .await
        .expect("patient");
    assert_eq!(patient["channels"][0], after[0].as_str(), "{patient:#}");
    assert_eq!(patient["channels"][1], after[1].as_str(), "{patient:#}");
    reception.close().await;
    assert!(faults.is_empty(), "{faults:#?}");
}

in_both_languages!(find_a_patient_and_move_a_channel_down: in_english_reception_finds_a_patient_by_hebrew_name_and_reorders_their_channels, in_hebrew_reception_finds_a_patient_by_hebrew_name_and_reorders_their_channels);

/// The status badges of the timeline's attempts, in order (`status-delivered`, …).
async fn attempt_statuses(reception: &Reception) -> Vec<String> {
    let statuses = reception
        .browser
        .run("return Array.from(document.querySelectorAll('.attempt .badge[class*=status-]')).map(b => Array.from(b.classList).find(c => c.startsWith('status-')));")
        .await;
    serde_json::from_value(statuses).unwrap_or_default()
}

async fn watch_delivery_and_a_fallback(language: UiLanguage) {
    let reception = Reception::signed_in(language).await;
    let app = &reception.app;
    let browser = &reception.browser;
    // A notification opened at once, watched (the page reopened) until it is delivered.
    let sent = app
        .notify(crate::harness::reminder_for(ENGLISH_PATIENT.0))
        .await;
    let timeline = format!("/console/notifications/{sent}");
    wait::within(Duration::from_secs(20))
        .every(Duration::from_millis(200))
        .until(async || {
            reception.visit(&timeline).await;
            let statuses = attempt_statuses(&reception).await;
            let done = ["status-delivered", "status-read"];
            if statuses.last().is_some_and(|s| done.contains(&s.as_str())) {
                Ok(())
            } else {
                Err(format!("{statuses:?}"))
            }
        })
        .await;
    let mut faults = reception.check_page("flow-notification-delivered").await;

    // Avi is not on WhatsApp: from the list, his reminder shows WhatsApp failing, then SMS.
    let fallback = app
        .notify(crate::harness::reminder_for(NOT_ON_WHATSAPP.0))
        .await;
    app.wait_until_finished(&fallback).await;
    reception.visit("/console/notifications").await;
    browser
        .click(&format!("main a[href='/console/notifications/{fallback}']"))
        .await;
    browser.wait_for(".attempts").await;
    // "Not a WhatsApp user" settles WhatsApp, unless its delivery timeout came first (a loaded
    // machine: the receipt was seen taking longer than the tests' 800 ms): either way the page
    // says why it fell back.
    let statuses = attempt_statuses(&reception).await;
    let (shown_in, why) = match statuses[0].as_str() {
        "status-failed" => (".attempts", "131026"),
        "status-timed_out" => (".timeline", "no delivery receipt"),
        other => panic!("whatsapp {other}: {statuses:?}"),
    };
    assert_eq!(statuses[1], "status-delivered", "{statuses:?}");
    let shown = browser.page_text(shown_in).await;
    assert!(
        shown.contains(why),
        "the reason for the fallback is shown: {shown}"
    );
    faults.extend(reception.check_page("flow-notification-fallback").await);
    reception.close().await;
    assert!(faults.is_empty(), "{faults:#?}");
}

in_both_languages!(watch_delivery_and_a_fallback: in_english_a_notification_is_watched_to_delivered_and_a_fallback_shows_why, in_hebrew_a_notification_is_watched_to_delivered_and_a_fallback_shows_why);

async fn reply_in_the_inbox(language: UiLanguage, reply: &str) {
    let reception = Reception::open(language).await;
    reception.traffic().await;
    reception.sign_in().await;
    let browser = &reception.browser;
    let (_, john, phone) = ENGLISH_PATIENT;
    reception.visit("/console/inbox").await;
    browser.wait_for_text_in("main", john).await;
    let mut faults = reception.check_page("flow-inbox").await;
    browser
        .run_with(
            "Array.from(document.querySelectorAll('main a')).find(a => a.textContent.includes(arguments[0])).click();",
            json!([john]),
        )
        .await;
    browser.wait_for("#reply-text").await;
    browser.type_into("#reply-text", reply).await;
    // Another patient than the one last worked with: the form asks to confirm the right one.
    if let Some(confirm) = browser
        .try_find("form[action$='/reply'] input[type=checkbox]")
        .await
    {
        confirm.click().await;
    }
    browser
        .click("form[action$='/reply'] button[type=submit]")
        .await;
    browser.wait_for(".notice").await;
    browser.wait_for_text_in("main", reply).await;
    faults.extend(reception.check_page("flow-inbox-replied").await);
    let received = reception
        .app
        .outbox_holding(&reception.app.key, phone, 2)
        .await;
    assert!(
        received
            .iter()
            .any(|m| m["body"].as_str().is_some_and(|b| b.contains(reply))),
        "{received:#?}"
    );
    reception.close().await;
    assert!(faults.is_empty(), "{faults:#?}");
}

#[tokio::test]
#[cfg_attr(
    not(browser),
    ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
)]
async fn in_english_a_reply_in_the_inbox_reaches_the_patient_s_phone() {
    reply_in_the_inbox(UiLanguage::En, "Yes, 10:00 is fine. See you then.").await;
}

#[tokio::test]
#[cfg_attr(
    not(browser),
    ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
)]
async fn in_hebrew_a_reply_in_the_inbox_reaches_the_patient_s_phone() {
    reply_in_the_inbox(UiLanguage::He, "כן, אפשר בשעה 10:00. נתראה.").await;
}

async fn claim_and_close_a_callback(language: UiLanguage) {
    let reception = Reception::signed_in(language).await;
    let app = &reception.app;
    let browser = &reception.browser;
    let moshe = json!({ "name": "משה פרץ", "phone": "+972500000004", "channels": ["voice"] });
    app.patient("p-call", moshe).await;
    let sent = app
        .notify(json!({ "patient_id": "p-call", "topic": "general", "body": "Please call us" }))
        .await;
    app.wait_until_finished(&sent).await;

    reception.visit("/console/callbacks").await;
    browser.wait_for_text_in("main", "משה פרץ").await;
    let mut faults = reception.check_page("flow-callbacks").await;
    browser
        .click("main h2 a[href^='/console/callbacks/']")
        .await;
    browser
        .click("form[action$='/claim'] button[type=submit]")
        .await;
    browser
        .wait_for_url(|url| url.contains("done=claimed"))
        .await;
    assert!(
        browser.try_find("a[href^='tel:']").await.is_some(),
        "a number to call"
    );
    browser
        .click("form[action$='/close'] input[type=radio]")
        .await;
    browser.type_into("#note", "Spoke with him").await;
    browser
        .click("form[action$='/close'] button[type=submit]")
        .await;
    browser
        .wait_for_url(|url| url.contains("done=closed"))
        .await;
    faults.extend(reception.check_page("flow-callback-closed").await);

    let staff = app.staff_key().await;
    let closed = app
        .request(Method::GET, "/v1/callbacks?status=closed", &staff, None)
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        closed.contains("Spoke with him") && closed.contains("dana Cohen"),
        "{closed}"
    );
    reception.close().await;
    assert!(faults.is_empty(), "{faults:#?}");
}

in_both_languages!(claim_and_close_a_callback: in_english_a_callback_is_claimed_called_and_closed_under_the_person_s_name, in_hebrew_a_callback_is_claimed_called_and_closed_under_the_person_s_name);
