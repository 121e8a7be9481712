//! What the patient received: each attempt records the content it handed to the provider, and
//! the API shows it per attempt, except to a booking key on a sensitive or restricted topic.

use medrelay::domain::{Phone, PhoneRegion};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, body, reminder};

/// The one attempt's recorded content, as the caller with `key` sees it.
async fn content_as(app: &TestApp, key: &str, id: &str) -> (Value, Value) {
    let response = app
        .request(Method::GET, &format!("/v1/notifications/{id}"), key, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let notification: Value = response.json().await.expect("notification");
    let attempts = notification["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "{notification:#}");
    (attempts[0]["content"].clone(), notification)
}

/// The single message the sandbox holds for `recipient`.
async fn only_message(app: &TestApp, recipient: &str) -> Value {
    let outbox = app.outbox(recipient).await;
    assert_eq!(outbox.len(), 1, "{outbox:#?}");
    outbox[0].clone()
}

#[tokio::test]
async fn an_sms_records_the_text_the_provider_received() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "phone": "+972541234567", "channels": ["sms"] }),
    )
    .await;

    let id = app.notify(body("See you on Sunday at 09:30")).await;
    app.wait_until_finished(&id).await;

    let (content, notification) = content_as(&app, &app.key, &id).await;
    let received = only_message(&app, "+972541234567").await;
    assert_eq!(notification["attempts"][0]["channel"], "sms");
    assert_eq!(content["kind"], "content", "{content:#}");
    assert_eq!(content["text"], received["body"]);
    assert_eq!(content["text"], "See you on Sunday at 09:30");
    // Twilio takes no language, so the outbox cannot say; the patient's is the clinic's.
    assert_eq!(content["language"], "he");
    assert!(content.get("subject").is_none() && content.get("template").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_whatsapp_template_records_its_approved_name_and_parameters_in_order() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "language": "en", "phone": "+972541234567", "whatsapp": true,
                "channels": ["whatsapp"] }),
    )
    .await;

    let id = app.notify(reminder()).await;
    app.wait_until_finished(&id).await;

    let (content, _) = content_as(&app, &app.key, &id).await;
    let received = only_message(&app, "+972541234567").await;
    assert_eq!(
        content["template"],
        json!({ "name": "appointment_reminder",
                "params": ["Dana", "Clinic hadar", "01.12", "09:30"] }),
        "{content:#}"
    );
    assert_eq!(content["kind"], "content");
    assert_eq!(content["language"], "en");
    assert_eq!(content["text"], received["body"]);
    app.stop().await;
}

#[tokio::test]
async fn an_email_records_its_subject() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "language": "en", "email": "dana@example.org" }),
    )
    .await;

    let id = app.notify(reminder()).await;
    app.wait_until_finished(&id).await;

    let (content, _) = content_as(&app, &app.key, &id).await;
    let received = only_message(&app, "dana@example.org").await;
    assert_eq!(
        content["subject"], "Message from Clinic hadar",
        "{content:#}"
    );
    assert_eq!(content["subject"], received["subject"]);
    assert_eq!(content["text"], received["body"]);
    app.stop().await;
}

#[tokio::test]
async fn a_sensitive_topic_records_the_notice_that_went_and_a_booking_key_cannot_read_it() {
    let app = TestApp::spawn().await;
    let clinic = app.store.clinic_by_slug("hadar").await.expect("clinic");
    let phone = Phone::parse("+97231234567", PhoneRegion::ISRAEL).expect("phone");
    app.store
        .set_clinic_phone(&clinic.id, &phone)
        .await
        .expect("phone set");
    app.patient(
        "p-1",
        json!({ "name": "Anna", "language": "en", "phone": "+972541234567", "whatsapp": true,
                "channels": ["whatsapp"] }),
    )
    .await;
    let staff = app.staff_key().await;

    let id = app
        .notify_as(
            &staff,
            json!({ "patient_id": "p-1", "topic": "test_result_ready",
                    "body": "Your HbA1c is 9.1%" }),
        )
        .await;
    app.wait_until_finished(&id).await;

    let (as_staff, _) = content_as(&app, &staff, &id).await;
    let received = only_message(&app, "+972541234567").await;
    assert_eq!(as_staff["kind"], "notice", "{as_staff:#}");
    assert_eq!(as_staff["text"], received["body"]);
    assert!(!as_staff.to_string().contains("HbA1c"), "{as_staff:#}");

    let (as_booking, notification) = content_as(&app, &app.key, &id).await;
    assert!(as_booking.is_null(), "{notification:#}");
    assert_eq!(
        notification["withheld"]["fields"],
        json!(["body", "params", "attempts[].content"])
    );
    let notice = received["body"].as_str().expect("notice");
    assert!(
        !notification.to_string().contains(notice),
        "{notification:#}"
    );
    app.stop().await;
}
