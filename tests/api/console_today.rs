//! The console's Today page: what needs a person now, from the clinic's real traffic.

use std::sync::Arc;
use std::time::Duration;

use medrelay::clock::AdjustableClock;
use medrelay::store::ApiKeyRole;
use serde_json::json;

use crate::harness::{TestApp, body, reminder_for};
use crate::hours::at;

/// The part of `page` under the heading `heading`, up to the next section.
fn section<'a>(page: &'a str, heading: &str) -> &'a str {
    let start = page
        .find(&format!(">{heading} <span"))
        .unwrap_or_else(|| panic!("a section {heading}"));
    let end = page[start..]
        .find("</section>")
        .map_or(page.len(), |e| e + start);
    &page[start..end]
}

#[tokio::test]
async fn a_quiet_clinic_is_told_nothing_needs_a_person() {
    let app = TestApp::spawn().await;
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console.page("/console/today").await;

    assert!(page.contains("Nothing needs a person right now."));
    assert!(page.contains(r#"aria-current="page">Today</a>"#));
    app.stop().await;
}

#[tokio::test]
async fn a_failed_notification_an_unanswered_call_and_a_paused_channel_are_listed() {
    let app = TestApp::spawn().await;
    // Rina's only channel is SMS, and her number never takes one.
    app.patient(
        "p-1",
        json!({ "name": "Rina Levi", "phone": "+972500000003", "channels": ["sms"] }),
    )
    .await;
    let failed = app.notify(body("Your test results are ready")).await;
    // Moshe only takes calls, and does not answer: staff must call him back.
    app.patient(
        "p-2",
        json!({ "name": "Moshe Azulay", "phone": "+972500000004", "channels": ["voice"] }),
    )
    .await;
    let mut call = body("Please call the clinic");
    call["patient_id"] = json!("p-2");
    let unanswered = app.notify(call).await;
    // Dana's WhatsApp goes to a provider account that is down: WhatsApp pauses for the clinic.
    app.patient("p-3", json!({ "name": "Dana", "phone": "+972500000008" }))
        .await;
    let paused = app.notify(reminder_for("p-3")).await;
    for id in [&failed, &unanswered, &paused] {
        app.wait_until_finished(id).await;
    }
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console.page("/console/today").await;

    let failures = section(&page, "Failed in the last day");
    assert!(
        failures.contains(&format!(
            r#"<a href="/console/notifications/{failed}"><bdi>Rina Levi</bdi></a>"#
        )),
        "{failures}"
    );
    assert!(failures.contains("<td>SMS</td>"), "{failures}");
    let callbacks = section(&page, "Callbacks to make");
    assert!(callbacks.contains("<bdi>Moshe Azulay</bdi>"), "{callbacks}");
    assert!(
        callbacks.contains(r#"<a href="/console/callbacks/"#),
        "to the task: {callbacks}"
    );
    let channels = section(&page, "Channels paused by a provider problem");
    assert!(channels.contains("WhatsApp is paused until"), "{channels}");
    assert!(!page.contains("Nothing needs a person"));
    app.stop().await;
}

#[tokio::test]
async fn conversations_past_the_response_target_come_apart_from_those_still_in_time() {
    let clock = Arc::new(AdjustableClock::default());
    clock.set(at("2026-11-02T10:00:00+02:00"));
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    app.patient(
        "p-1",
        json!({ "name": "Yael Katz", "phone": "+972541000011" }),
    )
    .await;
    app.patient(
        "p-2",
        json!({ "name": "Avi Mizrahi", "phone": "+972541000012" }),
    )
    .await;
    app.patient_writes_on_whatsapp("+972541000011").await;
    // Three days on, nobody has answered Yael; Avi writes now.
    clock.advance(Duration::from_secs(3 * 24 * 3600));
    app.patient_writes_on_whatsapp("+972541000012").await;
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console.page("/console/today").await;

    let overdue = section(&page, "Past the response target");
    assert!(overdue.contains("<bdi>Yael Katz</bdi>"), "{overdue}");
    assert!(
        overdue.contains(r#"<a href="/console/inbox/pat_"#),
        "to the thread: {overdue}"
    );
    assert!(
        overdue.contains("waiting since 2026-11-02 10:00"),
        "{overdue}"
    );
    assert!(!overdue.contains("Avi Mizrahi"), "{overdue}");
    let waiting = section(&page, "Waiting for an answer");
    assert!(waiting.contains("<bdi>Avi Mizrahi</bdi>"), "{waiting}");
    assert!(waiting.contains("<q><bdi>hello</bdi></q>"), "{waiting}");
    app.stop().await;
}
