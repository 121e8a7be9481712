//! Sending from the console in the browser, in English and in Hebrew: from the patient's card
//! to the send page, free text in the patient's script, the preview and the routing plan before
//! anything goes, one confirmation of the right patient, then the notification's timeline,
//! watched until it is delivered, and the patient's phone holding the text.

use std::time::Duration;

use medrelay::domain::UiLanguage;
use medrelay_testkit::wait;

use crate::reception::{HEBREW_PATIENT, Reception};

async fn send_with_the_preview(language: UiLanguage, text: &str) {
    let reception = Reception::signed_in(language).await;
    let browser = &reception.browser;
    let (id, name, phone) = HEBREW_PATIENT;
    reception.visit(&format!("/console/patients/{id}")).await;
    browser
        .click("main a[href^='/console/send?patient=']")
        .await;
    browser.wait_for("#body").await;
    browser.click("input[name=kind][value=text]").await;
    browser.type_into("#body", text).await;
    browser.click("form.send-choose button[type=submit]").await;

    let preview = browser.wait_for_text_in(".message-preview", text).await;
    assert!(preview.contains(text));
    browser.wait_for(".routing-preview table").await;
    let summary = browser.page_text("main").await;
    assert!(
        summary.contains(name),
        "the patient's full name before sending: {summary}"
    );
    assert!(
        summary.contains(&phone[phone.len() - 4..]),
        "the number's last digits: {summary}"
    );
    let mut faults = reception.check_page("flow-send-preview").await;

    if let Some(confirm) = browser
        .try_find("form[method=post] input[name=right_patient]")
        .await
    {
        confirm.click().await;
    }
    browser
        .click("form[method=post][action='/console/send'] button[type=submit]")
        .await;
    let timeline = browser
        .wait_for_url(|url| url.contains("/console/notifications/"))
        .await;
    wait::within(Duration::from_secs(20))
        .every(Duration::from_millis(200))
        .until(async || {
            browser.open(&timeline).await;
            browser.wait_for("main#content h1").await;
            let done = browser
                .run("return document.querySelectorAll('.attempt .status-delivered, .attempt .status-read').length;")
                .await;
            if done.as_u64() > Some(0) { Ok(()) } else { Err("not delivered yet".to_owned()) }
        })
        .await;
    faults.extend(reception.check_page("flow-send-delivered").await);
    let received = reception
        .app
        .outbox_holding(&reception.app.key, phone, 1)
        .await;
    assert!(
        received
            .iter()
            .any(|m| m["body"].as_str().is_some_and(|b| b.contains(text))),
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
async fn in_english_a_message_is_previewed_routed_sent_and_watched_to_delivered() {
    send_with_the_preview(UiLanguage::En, "Your results are ready, please call us.").await;
}

#[tokio::test]
#[cfg_attr(
    not(browser),
    ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
)]
async fn in_hebrew_a_message_is_previewed_routed_sent_and_watched_to_delivered() {
    send_with_the_preview(
        UiLanguage::He,
        "שלום דנה, התוצאות שלך מוכנות. נא להתקשר אלינו.",
    )
    .await;
}
