//! The console's patients: finding a patient, their card, and the channel choice staff change
//! there — written as the API writes it, and explained as the routing explains it.

use std::time::Duration;

use medrelay::store::ApiKeyRole;
use medrelay_testkit::wait;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console_harness::{Console, location};
use crate::harness::TestApp;

async fn api_patient(app: &TestApp, id: &str) -> Value {
    let answer = app
        .request(Method::GET, &format!("/v1/patients/{id}"), &app.key, None)
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.expect("patient")
}

async fn change(console: &Console, id: &str, action: &str) {
    let answer = console
        .post(
            &format!("/console/patients/{id}/channels"),
            &[("action", action)],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{action}");
    assert!(location(&answer).starts_with(&format!("/console/patients/{id}")));
}

#[tokio::test]
async fn the_search_finds_a_patient_by_a_hebrew_name_and_by_the_end_of_the_number() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "דנה לוי", "phone": "054-123-4567" }))
        .await;
    app.patient(
        "p-2",
        json!({ "name": "Noa Cohen", "phone": "052-765-4321" }),
    )
    .await;
    let console = app.console(ApiKeyRole::Staff).await;

    let by_name = console.page("/console/patients?q=%D7%9C%D7%95%D7%99").await;
    let by_number = console.page("/console/patients?q=765-4321").await;

    assert!(by_name.contains("דנה לוי") && !by_name.contains("Noa Cohen"));
    assert!(by_name.contains("/console/patients/p-1"));
    assert!(by_number.contains("Noa Cohen") && !by_number.contains("דנה לוי"));
    app.stop().await;
}

#[tokio::test]
async fn moving_a_channel_up_and_opting_one_out_change_what_the_api_returns() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "054-123-4567", "channels": ["whatsapp", "sms"] }),
    )
    .await;
    let console = app.console(ApiKeyRole::Staff).await;

    change(&console, "p-1", "up:sms").await;
    change(&console, "p-1", "opt-out:whatsapp").await;

    let patient = api_patient(&app, "p-1").await;
    assert_eq!(patient["channels"], json!(["sms", "whatsapp"]));
    assert_eq!(patient["opted_out"], json!(["whatsapp"]));
    assert_eq!(patient["effective_channels"], json!(["sms"]));
    let card = console.page("/console/patients/p-1").await;
    assert!(card.contains("the patient opted out"), "{card}");
    assert!(card.contains("opt-in:whatsapp"));
    app.stop().await;
}

#[tokio::test]
async fn a_dragged_order_is_saved_whole_and_a_broken_one_changes_nothing() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "054-123-4567" }),
    )
    .await;
    let console = app.console(ApiKeyRole::Staff).await;

    let path = "/console/patients/p-1/channels";
    let dragged = [("action", "order"), ("order", "email"), ("order", "sms")];
    assert_eq!(
        console.post(path, &dragged).await.status(),
        StatusCode::SEE_OTHER
    );
    let twice = [("action", "order"), ("order", "sms"), ("order", "sms")];
    let refused = console.post(path, &twice).await;

    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        api_patient(&app, "p-1").await["channels"],
        json!(["email", "sms"])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_channel_the_patient_stopped_by_message_says_so() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "054-123-4567" }),
    )
    .await;
    let console = app.console(ApiKeyRole::Staff).await;

    app.patient_sends(json!({ "channel": "sms", "from": "+972541234567", "text": "STOP" }))
        .await;

    let card = wait::within(Duration::from_secs(10))
        .every(Duration::from_millis(100))
        .until(async || {
            let card = console.page("/console/patients/p-1").await;
            if card.contains("opted out by sending STOP") {
                Ok(card)
            } else {
                Err("no STOP reason yet".to_owned())
            }
        })
        .await;
    assert!(card.contains("opt-in:sms"));
    app.stop().await;
}

#[tokio::test]
async fn the_card_says_why_a_channel_cannot_be_used() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "03-612-3456", "channels": ["whatsapp", "sms"] }),
    )
    .await;
    let console = app.console(ApiKeyRole::Staff).await;

    let card = console.page("/console/patients/p-1").await;

    assert!(card.contains("the number is a landline"), "{card}");
    assert!(card.contains("no email address"), "{card}");
    app.stop().await;
}

#[tokio::test]
async fn another_clinics_patient_is_not_found() {
    let app = TestApp::spawn().await;
    let other = app.other_clinic_key().await;
    let answer = app
        .request(
            Method::PUT,
            "/v1/patients/p-9",
            &other,
            Some(json!({ "name": "Someone Else", "phone": "054-999-9999" })),
        )
        .await;
    assert!(answer.status().is_success());
    let console = app.console(ApiKeyRole::Staff).await;

    let card = console.get("/console/patients/p-9").await;
    let change = console
        .post(
            "/console/patients/p-9/channels",
            &[("action", "opt-out:sms")],
        )
        .await;
    let search = console.page("/console/patients?q=Someone").await;

    assert_eq!(card.status(), StatusCode::NOT_FOUND);
    assert_eq!(change.status(), StatusCode::NOT_FOUND);
    assert!(!search.contains("Someone Else"));
    app.stop().await;
}

#[tokio::test]
async fn the_card_links_to_the_patients_transcript_which_opens_as_a_page() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "054-123-4567" }),
    )
    .await;
    let console = app.console(ApiKeyRole::Staff).await;

    let card = console.page("/console/patients/p-1").await;
    let transcript = console.get("/console/patients/p-1/transcript").await;

    assert!(card.contains("/console/patients/p-1/transcript"));
    assert_eq!(transcript.status(), StatusCode::OK);
    let page = transcript.text().await.expect("transcript");
    assert!(page.contains("Dana Levi"), "{page}");
    app.stop().await;
}
