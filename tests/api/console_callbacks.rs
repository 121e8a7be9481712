//! The console's callback queue: who to call and why, the full number only on the task's own
//! card, claimed and closed by the signed-in person, and another clinic's tasks out of reach.

use medrelay::domain::UiLanguage;
use medrelay::store::ApiKeyRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console_harness::{Console, location};
use crate::harness::{TestApp, body};

/// A patient reachable only by voice who does not answer: the notification becomes a task.
async fn unanswered_call(app: &TestApp) {
    app.patient(
        "p-1",
        json!({ "name": "Moshe Peretz", "phone": "+972500000004", "channels": ["voice"] }),
    )
    .await;
    let id = app.notify(body("Your test results are ready")).await;
    app.wait_until_finished(&id).await;
}

/// The first link in `page` that starts with `prefix`, up to its closing quote.
fn link(page: &str, prefix: &str) -> String {
    let at = page
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {page}"));
    let end = page[at..].find('"').expect("closing quote");
    page[at..at + end].to_owned()
}

#[tokio::test]
async fn a_callback_is_claimed_and_closed_by_the_signed_in_person() {
    let app = TestApp::spawn().await;
    unanswered_call(&app).await;
    let console = app.console(ApiKeyRole::Staff).await;

    let queue = console.page("/console/callbacks").await;
    assert!(queue.contains("Moshe Peretz") && queue.contains("…0004"));
    assert!(
        !queue.contains("+972500000004"),
        "the full number only on the card"
    );
    let card = link(&queue, "/console/callbacks/cbk_");
    assert!(
        console
            .page(&card)
            .await
            .contains("href=\"tel:+972500000004\"")
    );

    let claimed = console.post(&format!("{card}/claim"), &[]).await;
    assert_eq!(claimed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&claimed), format!("{card}?done=claimed"));
    assert!(console.page(&card).await.contains("claimed by dana Cohen"));
    let twice = console.post(&format!("{card}/claim"), &[]).await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    let closed = console
        .post(
            &format!("{card}/close"),
            &[("outcome", "reached"), ("note", "Will come on Sunday")],
        )
        .await;

    assert_eq!(closed.status(), StatusCode::SEE_OTHER);
    let staff = app.staff_key().await;
    let tasks: Value = app
        .request(Method::GET, "/v1/callbacks?status=closed", &staff, None)
        .await
        .json()
        .await
        .expect("queue");
    let task = &tasks["items"][0];
    assert_eq!(task["claimed_by"], "dana Cohen");
    assert_eq!(task["outcome"], "reached");
    assert_eq!(task["note"], "Will come on Sunday");
    assert!(
        !console
            .page("/console/callbacks")
            .await
            .contains("Moshe Peretz")
    );
    assert!(
        console
            .page("/console/callbacks?show=closed")
            .await
            .contains("Moshe Peretz")
    );
    app.stop().await;
}

#[tokio::test]
async fn an_outcome_must_be_one_of_the_choices() {
    let app = TestApp::spawn().await;
    unanswered_call(&app).await;
    let console = app.console(ApiKeyRole::Staff).await;
    let card = link(
        &console.page("/console/callbacks").await,
        "/console/callbacks/cbk_",
    );

    let answer = console
        .post(&format!("{card}/close"), &[("outcome", "maybe")])
        .await;

    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("must be one of reached")
    );
    app.stop().await;
}

#[tokio::test]
async fn another_clinics_callback_is_not_found() {
    let app = TestApp::spawn().await;
    unanswered_call(&app).await;
    let console = app.console(ApiKeyRole::Staff).await;
    let card = link(
        &console.page("/console/callbacks").await,
        "/console/callbacks/cbk_",
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

    assert!(!stranger.page("/console/callbacks").await.contains("Moshe"));
    assert_eq!(stranger.get(&card).await.status(), StatusCode::NOT_FOUND);
    for action in ["claim", "close"] {
        let answer = stranger
            .post(&format!("{card}/{action}"), &[("outcome", "reached")])
            .await;
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{action}");
    }
    app.stop().await;
}
