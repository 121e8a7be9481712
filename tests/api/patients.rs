use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::TestApp;

#[tokio::test]
async fn a_patient_is_created_then_updated_and_read_back() {
    let app = TestApp::spawn().await;

    let created = app
        .put_patient(
            "p-1",
            json!({
                "name": "Dana Levi", "language": "ru", "timezone": "Europe/London",
                "phone": "+972541234567", "whatsapp": false, "email": "dana@example.org",
                "channels": ["sms", "email"], "opted_out": ["voice"]
            }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let updated = app
        .put_patient(
            "p-1",
            json!({ "name": "Dana Cohen", "phone": "+972541234567" }),
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);

    let read: Value = app
        .request(Method::GET, "/v1/patients/p-1", &app.key, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read["id"], "p-1");
    assert_eq!(read["name"], "Dana Cohen");
    assert_eq!(
        read["language"], "he",
        "the clinic's language when none is given"
    );
    assert_eq!(
        read["timezone"], "Asia/Jerusalem",
        "the clinic's zone when none is given"
    );
    assert_eq!(
        read["whatsapp"], true,
        "a phone number is presumed to be on WhatsApp"
    );
    assert_eq!(
        read["email"],
        Value::Null,
        "a PUT replaces the whole patient"
    );
    assert_eq!(read["channels"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_patient_that_does_not_exist_is_404() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::GET, "/v1/patients/nobody", &app.key, None)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    app.stop().await;
}
