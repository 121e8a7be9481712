//! `DELETE /v1/patients/{id}`: the clinic erases a patient's personal data, as privacy law
//! requires. Names, contacts and message texts go; ids, statuses and counts stay, with an audit
//! event naming the key. Nothing goes to the patient any more.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversations::{DANA_PHONE, app_with_dana, get};
use crate::harness::{TestApp, body, event_details};

async fn erase(app: &TestApp, key: &str, id: &str) -> StatusCode {
    app.request(Method::DELETE, &format!("/v1/patients/{id}"), key, None)
        .await
        .status()
}

#[tokio::test]
async fn erasing_removes_name_contacts_and_texts_and_keeps_statuses() {
    let app = app_with_dana().await;
    let admin = app.admin_key().await;
    let delivered = app.notify(body("Your test results are ready")).await;
    app.wait_for(&delivered, &["delivered", "read"]).await;
    let mut later = body("See you next week");
    later["send_at"] = json!(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48));
    let waiting = app.notify(later).await;

    assert_eq!(erase(&app, &admin, "p-1").await, StatusCode::NO_CONTENT);

    let (_, patient) = get(&app, &app.key, "/v1/patients/p-1").await;
    assert_eq!(patient["name"], "");
    assert_eq!(patient["phone"], Value::Null);
    assert_eq!(patient["email"], Value::Null);
    let sent = app.notification(&delivered).await;
    assert!(
        ["delivered", "read"].contains(&sent["status"].as_str().unwrap_or_default()),
        "{sent:#}"
    );
    assert_eq!(sent["body"], "");
    assert!(
        event_details(&sent).iter().any(|d| d.starts_with(
            "message text removed: the patient's personal data was erased by admin key"
        )),
        "the record says why its text went: {sent:#}"
    );
    let cancelled = app.notification(&waiting).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert!(
        event_details(&cancelled)
            .iter()
            .any(|d| d.contains("personal data was erased")),
        "{cancelled:#}"
    );
    assert_eq!(app.outbox(DANA_PHONE).await, Vec::<Value>::new());
    app.stop().await;
}

#[tokio::test]
async fn erasing_needs_an_admin_key_and_again_changes_nothing() {
    let app = app_with_dana().await;
    let admin = app.admin_key().await;
    let staff = app.staff_key().await;

    let by_staff = erase(&app, &staff, "p-1").await;
    let first = erase(&app, &admin, "p-1").await;
    let (_, erased) = get(&app, &app.key, "/v1/patients?q=Dana").await;
    let again = erase(&app, &admin, "p-1").await;
    let unknown = erase(&app, &admin, "p-404").await;

    assert_eq!(by_staff, StatusCode::FORBIDDEN);
    assert_eq!(first, StatusCode::NO_CONTENT);
    assert_eq!(again, StatusCode::NO_CONTENT);
    assert_eq!(unknown, StatusCode::NOT_FOUND);
    assert_eq!(
        erased["items"],
        json!([]),
        "an erased name is found by nothing"
    );
    let (_, listed) = get(&app, &app.key, "/v1/patients").await;
    assert!(listed["items"][0]["erased_at"].is_string(), "{listed:#}");
    app.stop().await;
}

#[tokio::test]
async fn a_message_from_an_erased_patients_number_is_from_an_unknown_contact() {
    let app = app_with_dana().await;
    let admin = app.admin_key().await;
    assert_eq!(erase(&app, &admin, "p-1").await, StatusCode::NO_CONTENT);

    app.patient_sends(json!({ "channel": "whatsapp", "from": DANA_PHONE, "text": "hello?" }))
        .await;

    let (status, contact) = get(
        &app,
        &app.key,
        &format!("/v1/patients/unknown:{DANA_PHONE}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{contact:#}");
    let (_, dana) = get(&app, &app.key, "/v1/patients/p-1").await;
    assert_eq!(dana["phone"], Value::Null);
    app.stop().await;
}
