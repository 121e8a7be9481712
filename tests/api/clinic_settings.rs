//! `GET/PATCH /v1/clinic`: the clinic's own details after `clinic create`. Every key reads them;
//! an admin changes the fields it names, each checked with a clear problem, nothing half-written;
//! the change counts from the next request on.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversations::get;
use crate::harness::{TestApp, problem_fields};

async fn patch(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .request(Method::PATCH, "/v1/clinic", key, Some(body))
        .await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_admin_changes_the_named_details_and_the_rest_stay() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let (_, before) = get(&app, &app.key, "/v1/clinic").await;

    let (status, changed) = patch(
        &app,
        &admin,
        json!({
            "name": "Hadar Haifa", "phone": "04-8123456", "emergency_number": "1221",
            "channels": ["sms", "whatsapp"], "timezone": "Europe/London", "language": "ar"
        }),
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{changed:#}");
    let (_, after) = get(&app, &app.key, "/v1/clinic").await;
    assert_eq!(after, changed);
    assert_eq!(after["slug"], before["slug"]);
    assert_eq!(after["name"], "Hadar Haifa");
    assert_eq!(after["phone"], "+97248123456");
    assert_eq!(after["emergency_number"], "1221");
    assert_eq!(after["channels"], json!(["sms", "whatsapp"]));
    assert_eq!(after["timezone"], "Europe/London");
    assert_eq!(after["language"], "ar");
    let (_, inbound) = get(&app, &admin, "/v1/clinic/inbound").await;
    assert_eq!(inbound["emergency_number"], "1221", "one emergency number");
    app.stop().await;
}

#[tokio::test]
async fn the_new_details_count_for_the_next_patient_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    patch(
        &app,
        &admin,
        json!({ "timezone": "Europe/London", "language": "ru" }),
    )
    .await;

    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;

    let (_, patient) = get(&app, &app.key, "/v1/patients/p-1").await;
    assert_eq!(patient["timezone"], "Europe/London");
    assert_eq!(patient["language"], "ru");
    app.stop().await;
}

#[tokio::test]
async fn broken_details_are_refused_naming_each_field_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let (_, before) = get(&app, &app.key, "/v1/clinic").await;

    let (status, problem) = patch(
        &app,
        &admin,
        json!({
            "name": "", "phone": "12", "emergency_number": "call 101",
            "channels": ["fax"], "timezone": "Mars/Olympus", "language": "hebrew"
        }),
    )
    .await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = problem_fields(&problem);
    assert_eq!(
        fields,
        [
            "name",
            "phone",
            "emergency_number",
            "language",
            "timezone",
            "channels[0]"
        ]
    );
    let (_, after) = get(&app, &app.key, "/v1/clinic").await;
    assert_eq!(after, before);
    app.stop().await;
}

#[tokio::test]
async fn only_an_admin_changes_the_details_and_unknown_fields_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let staff = app.staff_key().await;

    let (by_staff, _) = patch(&app, &staff, json!({ "name": "Mine" })).await;
    let (unknown, problem) = patch(&app, &admin, json!({ "slug": "mine" })).await;
    let (no_phone, cleared) = patch(&app, &admin, json!({ "phone": null })).await;

    assert_eq!(by_staff, StatusCode::FORBIDDEN);
    assert!(unknown.is_client_error(), "{problem:#}");
    assert_eq!(no_phone, StatusCode::OK);
    assert_eq!(cleared["phone"], Value::Null);
    app.stop().await;
}
