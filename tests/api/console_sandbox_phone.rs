//! The sandbox's phone page over HTTP: what a patient received and sent, the patient answering
//! through the sandbox's provider webhook, and no such page where no sandbox runs.

use medrelay::store::ApiKeyRole;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::console_harness::location;
use crate::harness::{TestApp, body};

const DANA: &str = "+972541234567";

#[tokio::test]
async fn the_phone_shows_what_the_patient_received_and_what_they_sent() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": DANA, "email": "dana@patients.example" }),
    )
    .await;
    app.patient_writes_on_whatsapp(DANA).await;
    let sent = app
        .notify(body("Your results are ready: <b>call us</b>"))
        .await;
    app.wait_until_finished(&sent).await;
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console.page("/console/sandbox/phone?patient=p-1").await;

    assert!(page.contains("Dana Levi"), "{page}");
    assert!(page.contains("Your results are ready: "), "{page}");
    assert!(
        !page.contains("<b>call us"),
        "the text is escaped, not markup: {page}"
    );
    assert!(
        page.contains("bubble-sent") && page.contains("hello"),
        "the patient's own message"
    );
    assert!(page.contains("dir=\"auto\""));
    app.stop().await;
}

#[tokio::test]
async fn the_patient_s_answer_goes_through_the_provider_s_webhook_into_the_inbox() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana Levi", "phone": DANA }))
        .await;
    let console = app.console(ApiKeyRole::Staff).await;

    let answer = console
        .post(
            "/console/sandbox/phone/answer",
            &[
                ("patient", "p-1"),
                ("channel", "whatsapp"),
                ("kind", "text"),
                ("text", "אפשר לבוא ב-10?"),
            ],
        )
        .await;
    let photo = console
        .post(
            "/console/sandbox/phone/answer",
            &[
                ("patient", "p-1"),
                ("channel", "whatsapp"),
                ("kind", "photo"),
            ],
        )
        .await;

    for answer in [answer, photo] {
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            location(&answer),
            "/console/sandbox/phone?patient=p-1&answer=sent"
        );
    }
    let staff = app.staff_key().await;
    let conversation: Value = app
        .request(reqwest::Method::GET, "/v1/conversations/p-1", &staff, None)
        .await
        .json()
        .await
        .expect("conversation");
    let text = conversation.to_string();
    assert!(text.contains("אפשר לבוא ב-10?"), "{conversation:#}");
    assert!(
        text.contains("image"),
        "the photo arrived: {conversation:#}"
    );
    let page = console
        .page("/console/sandbox/phone?patient=p-1&answer=sent")
        .await;
    assert!(page.contains("אפשר לבוא ב-10?") && page.contains("role=\"status\""));
    app.stop().await;
}

#[tokio::test]
async fn an_empty_answer_is_refused_and_sends_nothing() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana Levi", "phone": DANA }))
        .await;
    let console = app.console(ApiKeyRole::Staff).await;

    let answer = console
        .post(
            "/console/sandbox/phone/answer",
            &[
                ("patient", "p-1"),
                ("channel", "whatsapp"),
                ("kind", "text"),
                ("text", "  "),
            ],
        )
        .await;

    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let page = console.page("/console/sandbox/phone?patient=p-1").await;
    assert!(!page.contains("bubble-sent"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn without_a_sandbox_there_is_no_phone_page_and_no_link_to_it() {
    let app = TestApp::spawn_with(|config| config.sandbox.enabled = Some(false)).await;
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console.get("/console/sandbox/phone").await;
    let account = console.page("/console/account").await;

    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(!account.contains("/console/sandbox/phone"));
    app.stop().await;
}
