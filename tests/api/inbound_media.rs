//! The sandbox plays the patient through the providers' real, signed webhooks, and a patient's
//! photo on WhatsApp reaches staff through medrelay: streamed from the provider (the sandbox's
//! Meta look-alike), only to the clinic's staff, and only within the media retention.

use std::sync::Arc;
use std::time::Duration;

use medrelay::clock::AdjustableClock;
use medrelay::sandbox::PATIENT_PHOTO;
use medrelay::store::ApiKeyRole;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

use crate::harness::TestApp;

const DANA: &str = "+972541234567";

/// The patient at `from` sends the sandbox's photo; returns our id of the stored message.
async fn photo_from(app: &TestApp, from: &str) -> String {
    let wamid = app
        .patient_sends(json!({
            "channel": "whatsapp", "from": from, "image": { "caption": "the rash on my arm" }
        }))
        .await;
    stored_message_id(app, &wamid).await
}

/// Our id of the inbound message the provider calls `provider_message_id`.
async fn stored_message_id(app: &TestApp, provider_message_id: &str) -> String {
    stored(app, "id", provider_message_id).await
}

/// Column `column` (text) of the stored inbound message the provider calls
/// `provider_message_id`.
async fn stored(app: &TestApp, column: &str, provider_message_id: &str) -> String {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(app.database_url())
        .await
        .expect("database");
    let row = sqlx::query(&format!(
        "SELECT {column} FROM inbound_messages WHERE provider_message_id = $1"
    ))
    .bind(provider_message_id)
    .fetch_one(&pool)
    .await
    .expect("the gateway stored the message");
    pool.close().await;
    row.try_get::<String, _>(0).expect(column)
}

async fn media(app: &TestApp, key: &str, message_id: &str) -> Response {
    app.request(
        Method::GET,
        &format!("/v1/messages/{message_id}/media"),
        key,
        None,
    )
    .await
}

async fn staff_key_of(app: &TestApp, slug: &str) -> String {
    let clinic = app.store.clinic_by_slug(slug).await.expect("clinic");
    app.store
        .create_api_key(&clinic.id, ApiKeyRole::Staff, jiff::Timestamp::now())
        .await
        .expect("key")
}

fn header<'r>(response: &'r Response, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_sandboxs_patient_messages_are_signed_webhooks_the_gateway_stores() {
    let app = TestApp::spawn().await;

    let sms = app
        .patient_sends(json!({ "channel": "sms", "from": DANA, "text": "הסר" }))
        .await;
    let whatsapp = app
        .patient_sends(json!({
            "channel": "whatsapp", "from": DANA,
            "button": { "payload": "CONFIRM", "text": "Confirm" }
        }))
        .await;

    assert!(sms.starts_with("SM"), "{sms}");
    assert_eq!(stored(&app, "channel", &sms).await, "sms");
    assert_eq!(stored(&app, "text", &sms).await, "הסר");
    assert_eq!(stored(&app, "from_address", &sms).await, DANA);
    assert_eq!(stored(&app, "channel", &whatsapp).await, "whatsapp");
    assert_eq!(stored(&app, "kind", &whatsapp).await, "button");
    assert_eq!(stored(&app, "reply_payload", &whatsapp).await, "CONFIRM");
    app.stop().await;
}

#[tokio::test]
async fn staff_fetch_a_patients_whatsapp_photo_as_the_patient_sent_it() {
    let app = TestApp::spawn().await;
    let staff = app.staff_key().await;
    let message = photo_from(&app, DANA).await;

    let response = media(&app, &staff, &message).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), "image/png");
    assert_eq!(
        header(&response, "content-length"),
        PATIENT_PHOTO.len().to_string()
    );
    assert_eq!(header(&response, "cache-control"), "no-store");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert!(header(&response, "content-disposition").starts_with("attachment"));
    let bytes = response.bytes().await.expect("body");
    assert_eq!(bytes.as_ref(), PATIENT_PHOTO);
    app.stop().await;
}

#[tokio::test]
async fn only_the_clinics_staff_may_fetch_a_patients_media() {
    let app = TestApp::spawn().await;
    app.other_clinic_key().await;
    let other_staff = staff_key_of(&app, "other").await;
    let message = photo_from(&app, DANA).await;

    let booking = media(&app, &app.key, &message).await;
    let other_clinic = media(&app, &other_staff, &message).await;

    assert_eq!(booking.status(), StatusCode::FORBIDDEN);
    assert_eq!(other_clinic.status(), StatusCode::NOT_FOUND);
    let problem: Value = other_clinic.json().await.expect("problem");
    assert_eq!(problem["detail"], "message not found", "{problem:#}");
    app.stop().await;
}

#[tokio::test]
async fn a_text_message_has_no_media_to_fetch() {
    let app = TestApp::spawn().await;
    let staff = app.staff_key().await;
    let wamid = app
        .patient_sends(json!({ "channel": "whatsapp", "from": DANA, "text": "hello" }))
        .await;
    let message = stored_message_id(&app, &wamid).await;

    let response = media(&app, &staff, &message).await;
    let unknown = media(&app, &staff, "msg_0000000000000000").await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let problem: Value = response.json().await.expect("problem");
    assert_eq!(problem["detail"], "media of this message not found");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn media_past_the_clinics_retention_is_gone() {
    let clock = Arc::new(AdjustableClock::default());
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    let staff = app.staff_key().await;
    let message = photo_from(&app, DANA).await;
    clock.advance(Duration::from_secs(89 * 24 * 60 * 60));
    let within = media(&app, &staff, &message).await;

    clock.advance(Duration::from_secs(24 * 60 * 60));
    let past = media(&app, &staff, &message).await;

    assert_eq!(within.status(), StatusCode::OK);
    assert_eq!(past.status(), StatusCode::GONE);
    assert_eq!(header(&past, "content-type"), "application/problem+json");
    let problem: Value = past.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("retention of 90 days")),
        "{problem:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_clinic_that_keeps_media_a_week_serves_it_a_week() {
    let clock = Arc::new(AdjustableClock::default());
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    let admin = app.admin_key().await;
    let set = app
        .request(
            Method::PUT,
            "/v1/clinic/retention",
            &admin,
            Some(json!({ "media_days": 7 })),
        )
        .await;
    assert!(set.status().is_success(), "{}", set.status());
    let message = photo_from(&app, DANA).await;
    clock.advance(Duration::from_secs(6 * 24 * 60 * 60));
    let within = media(&app, &admin, &message).await;

    clock.advance(Duration::from_secs(24 * 60 * 60));
    let past = media(&app, &admin, &message).await;

    assert_eq!(within.status(), StatusCode::OK);
    assert_eq!(past.status(), StatusCode::GONE);
    let problem: Value = past.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("retention of 7 days")),
        "{problem:#}"
    );
    app.stop().await;
}
