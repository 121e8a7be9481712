//! The console's inbox: a patient's WhatsApp message reaches it, staff answer from the thread
//! (to the right patient, confirmed once) and the answer reaches the patient's phone, the
//! conversation records the named person who answered and handled it, photos show inline, and
//! one clinic's staff never see another clinic's conversations.

use std::time::Duration;

use medrelay::domain::UiLanguage;
use medrelay::store::ApiKeyRole;
use medrelay_testkit::wait;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::console_harness::{Console, location};
use crate::harness::TestApp;

const DANA_PHONE: &str = "+972541234567";

/// Dana Levi, a patient of `hadar`, writes on WhatsApp.
async fn dana_writes(app: &TestApp, text: &str) {
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": DANA_PHONE, "whatsapp": true }),
    )
    .await;
    app.patient_sends(json!({ "channel": "whatsapp", "from": DANA_PHONE, "text": text }))
        .await;
}

/// The first link in `page` that starts with `prefix`, up to its closing quote.
fn link(page: &str, prefix: &str) -> String {
    let at = page
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {page}"));
    let start = at + prefix.len();
    let end = page[start..].find('"').expect("closing quote");
    page[at..start + end].to_owned()
}

/// How many staff replies the clinic has sent.
async fn staff_replies(app: &TestApp) -> usize {
    let list: serde_json::Value = app
        .request(
            Method::GET,
            "/v1/notifications?origin=staff_reply",
            &app.key,
            None,
        )
        .await
        .json()
        .await
        .expect("list");
    list["items"].as_array().map_or(0, Vec::len)
}

/// What Dana's phone received with `body`; fails after a few seconds.
async fn received(app: &TestApp, body: &str) -> serde_json::Value {
    wait::within(Duration::from_secs(10))
        .until(async || {
            let outbox = app.outbox(DANA_PHONE).await;
            outbox
                .iter()
                .find(|m| m["body"] == body)
                .cloned()
                .ok_or_else(|| format!("no {body} yet: {outbox:#?}"))
        })
        .await
}

/// The thread's page once it shows `text`.
async fn thread_showing(console: &Console, path: &str, text: &str) -> String {
    wait::within(Duration::from_secs(10))
        .until(async || {
            let page = console.page(path).await;
            if page.contains(text) {
                Ok(page)
            } else {
                Err(format!("no {text} yet"))
            }
        })
        .await
}

#[tokio::test]
async fn a_whatsapp_message_is_answered_from_the_console_and_reaches_the_patients_phone() {
    let app = TestApp::spawn().await;
    dana_writes(&app, "Can I come at 10 instead?").await;
    let console = app.console(ApiKeyRole::Staff).await;

    let inbox = console.page("/console/inbox?show=unanswered").await;
    assert!(inbox.contains("Dana Levi") && inbox.contains("Can I come at 10 instead?"));
    let thread = link(&inbox, "/console/inbox/pat_");
    let page = console.page(&thread).await;
    assert!(page.contains("Can I come at 10 instead?"));
    assert!(
        page.contains("To Dana Levi, …4567"),
        "the right patient, named in full"
    );
    assert!(
        page.contains("name=\"right_patient\""),
        "confirmed once: another patient came last"
    );

    let reply = format!("{thread}/reply");
    let unconfirmed = console
        .post(&reply, &[("text", "Yes, 10:00 is fine")])
        .await;
    assert_eq!(unconfirmed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(staff_replies(&app).await, 0, "nothing sent unconfirmed");
    let sent = console
        .post(
            &reply,
            &[("text", "Yes, 10:00 is fine"), ("right_patient", "yes")],
        )
        .await;

    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&sent), format!("{thread}?done=replied"));
    let received = received(&app, "Yes, 10:00 is fine").await;
    assert_eq!(received["channel"], "whatsapp");
    let page = console.page(&thread).await;
    assert!(page.contains("Answered by dana Cohen"), "the named person");
    assert!(
        !page.contains("name=\"right_patient\""),
        "the same patient again: no question"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_conversation_is_marked_handled_by_the_signed_in_person_and_labelled() {
    let app = TestApp::spawn().await;
    dana_writes(&app, "Can I come at 11 instead?").await;
    let console = app.console(ApiKeyRole::Staff).await;
    let thread = link(&console.page("/console/inbox").await, "/console/inbox/pat_");

    let handled = console.post(&format!("{thread}/handled"), &[]).await;
    let labelled = console
        .post(&format!("{thread}/labels"), &[("add", "test_result")])
        .await;
    let refused = console
        .post(&format!("{thread}/labels"), &[("add", "awaiting_response")])
        .await;

    assert_eq!(handled.status(), StatusCode::SEE_OTHER);
    assert_eq!(labelled.status(), StatusCode::SEE_OTHER);
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = console.page(&thread).await;
    assert!(page.contains("Handled by dana Cohen"), "the named person");
    assert!(page.contains("<span class=\"badge label\">test_result</span>"));
    let by_label = console.page("/console/inbox?label=test_result").await;
    assert!(by_label.contains("Dana Levi"));
    let unanswered = console.page("/console/inbox?show=unanswered").await;
    assert!(!unanswered.contains("Dana Levi"));
    app.stop().await;
}

#[tokio::test]
async fn a_patients_photo_shows_inline_through_the_console() {
    let app = TestApp::spawn().await;
    dana_writes(&app, "Look at this").await;
    app.patient_sends(json!({
        "channel": "whatsapp", "from": DANA_PHONE, "image": { "caption": "the rash" }
    }))
    .await;
    let console = app.console(ApiKeyRole::Staff).await;
    let thread = link(&console.page("/console/inbox").await, "/console/inbox/pat_");

    let page = thread_showing(&console, &thread, "the rash").await;
    let photo = link(&page, "/console/media/");
    assert!(page.contains(&format!("<img src=\"{photo}\"")));
    let image = console.get(&photo).await;

    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.headers()[CONTENT_TYPE], "image/png");
    app.stop().await;
}

#[tokio::test]
async fn a_staff_member_of_another_clinic_never_sees_its_conversations() {
    let app = TestApp::spawn().await;
    dana_writes(&app, "Can I come at noon instead?").await;
    app.patient_sends(json!({
        "channel": "whatsapp", "from": DANA_PHONE, "image": { "caption": "private photo" }
    }))
    .await;
    let console = app.console(ApiKeyRole::Staff).await;
    let thread = link(&console.page("/console/inbox").await, "/console/inbox/pat_");
    let photo = link(
        &thread_showing(&console, &thread, "private photo").await,
        "/console/media/",
    );
    app.other_clinic_key().await;
    let stranger = app
        .staff_member_of(
            "other",
            "noa@other.example",
            ApiKeyRole::Admin,
            UiLanguage::En,
        )
        .await;
    let stranger = Console::sign_in(&app.base, stranger).await;

    let inbox = stranger.page("/console/inbox").await;
    assert!(!inbox.contains("Dana Levi") && !inbox.contains("noon"));
    for path in [thread.clone(), "/console/inbox/p-1".to_owned(), photo] {
        assert_eq!(
            stranger.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for action in ["reply", "handled", "labels"] {
        let answer = stranger
            .post(
                &format!("{thread}/{action}"),
                &[("text", "hi"), ("right_patient", "yes"), ("add", "urgent")],
            )
            .await;
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{action}");
    }
    assert_eq!(staff_replies(&app).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn the_same_reply_form_sent_twice_sends_one_reply() {
    let app = TestApp::spawn().await;
    dana_writes(&app, "Can I come at 9 instead?").await;
    let console = app.console(ApiKeyRole::Staff).await;
    let thread = link(&console.page("/console/inbox").await, "/console/inbox/pat_");
    let page = console.page(&thread).await;
    let once = link(&page, "name=\"once\" value=\"").replace("name=\"once\" value=\"", "");
    let once = once.as_str();
    let form = [
        ("text", "Yes, 9 is fine"),
        ("right_patient", "yes"),
        ("once", once),
    ];

    let first = console.post(&format!("{thread}/reply"), &form).await;
    let second = console.post(&format!("{thread}/reply"), &form).await;

    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    received(&app, "Yes, 9 is fine").await;
    assert_eq!(staff_replies(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_inbox_reads_right_to_left_in_hebrew() {
    let app = TestApp::spawn().await;
    dana_writes(&app, "Can I come at 8 instead?").await;
    let member = app
        .staff_member_of(
            "hadar",
            "rivka@hadar.example",
            ApiKeyRole::Staff,
            UiLanguage::He,
        )
        .await;
    let console = Console::sign_in(&app.base, member).await;

    let inbox = console.page("/console/inbox").await;
    let thread = console.page(&link(&inbox, "/console/inbox/pat_")).await;

    assert!(inbox.contains("dir=\"rtl\"") && inbox.contains("תיבת הודעות"));
    assert!(thread.contains("שליחת התשובה") && thread.contains("Dana Levi"));
    app.stop().await;
}
