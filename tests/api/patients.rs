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

/// The patient `id` as the API shows it.
async fn read_patient(app: &TestApp, id: &str) -> Value {
    let response = app
        .request(Method::GET, &format!("/v1/patients/{id}"), &app.key, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("patient")
}

/// The rule a `422` gives on `field`.
async fn rule_on(response: reqwest::Response, field: &str) -> String {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.expect("problem");
    let errors = problem["errors"].as_array().expect("errors");
    errors
        .iter()
        .find(|e| e["field"] == field)
        .and_then(|e| e["rule"].as_str())
        .unwrap_or_else(|| panic!("no rule on {field}: {problem:#}"))
        .to_owned()
}

#[tokio::test]
async fn numbers_written_as_israelis_write_them_are_stored_in_e164() {
    let app = TestApp::spawn().await;
    for (id, written, e164) in [
        ("p-1", "054-1234567", "+972541234567"),
        ("p-2", "+972 50-234-5678", "+972502345678"),
        ("p-3", "00972 3 123 4567", "+97231234567"),
    ] {
        let response = app
            .put_patient(id, json!({ "name": "Dana", "phone": written }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{written}");
        assert_eq!(read_patient(&app, id).await["phone"], e164, "{written}");
    }
    assert_eq!(read_patient(&app, "p-2").await["phone_type"], "mobile");
    assert_eq!(read_patient(&app, "p-3").await["phone_type"], "landline");
    app.stop().await;
}

#[tokio::test]
async fn an_impossible_number_is_refused_with_the_e164_it_reads_as_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let trunk_prefix = app
        .put_patient("p-1", json!({ "name": "Dana", "phone": "+9720541234567" }))
        .await;
    assert_eq!(
        rule_on(trunk_prefix, "phone").await,
        "is not a valid number as written: after +972 the national prefix 0 is left out; the \
         number is +972541234567"
    );
    let too_short = app
        .put_patient("p-1", json!({ "name": "Dana", "phone": "054-12345" }))
        .await;
    assert!(
        rule_on(too_short, "phone")
            .await
            .starts_with("is not a valid number: it reads as +9725412345, which does not fit"),
    );
    let missing = app
        .request(Method::GET, "/v1/patients/p-1", &app.key, None)
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_landline_is_called_from_the_first_message_skipping_whatsapp_and_sms() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Rivka", "phone": "02-6234567" }))
        .await;
    let shown = read_patient(&app, "p-1").await;
    assert_eq!(shown["phone_type"], "landline");
    assert_eq!(
        shown["whatsapp"], false,
        "a landline is not presumed on WhatsApp"
    );
    assert_eq!(shown["effective_channels"], json!(["voice"]));

    let id = app.notify(crate::harness::reminder()).await;
    app.drain_dispatcher().await;
    let done = app.wait_until_finished(&id).await;
    assert_eq!(done["channel"], "voice", "{done:#}");
    assert_eq!(
        crate::harness::attempts(&done)
            .iter()
            .map(|(channel, _)| channel.as_str())
            .collect::<Vec<_>>(),
        ["voice"],
        "no text was tried first"
    );
    let events = crate::harness::event_details(&done);
    for skipped in [
        "whatsapp skipped: the number is a landline (its number range says so)",
        "sms skipped: the number is a landline (its number range says so)",
    ] {
        assert!(events.iter().any(|e| e == skipped), "{events:#?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_patient_without_channels_shows_the_order_that_will_be_used_and_why() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "050-2345678" }))
        .await;
    let shown = read_patient(&app, "p-1").await;
    assert_eq!(shown["channels"], json!([]), "the input, as given");
    assert_eq!(
        shown["effective_channels"],
        json!(["whatsapp", "sms", "voice"]),
        "the clinic's order, less what Dana cannot get"
    );
    assert_eq!(
        shown["skipped_channels"],
        json!([{ "channel": "email", "reason": "no email address on record" }])
    );
    app.stop().await;
}

/// A `PATCH` of patient `id` with `body` sent as `content_type`.
async fn patch(app: &TestApp, id: &str, content_type: &str, body: Value) -> reqwest::Response {
    app.client()
        .patch(format!("{}/v1/patients/{id}", app.base))
        .bearer_auth(&app.key)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("patch sent")
}

const MERGE_PATCH: &str = "application/merge-patch+json";

#[tokio::test]
async fn a_merge_patch_changes_only_what_it_names_and_null_removes() {
    let app = TestApp::spawn().await;
    app.patient(
        "dana",
        json!({ "name": "Dana Levi", "phone": "054-1234567", "email": "dana@example.org",
                "channels": ["whatsapp", "email"], "quiet_hours": { "start": "22:00", "end": "07:00" } }),
    )
    .await;

    let to_sms = patch(&app, "dana", MERGE_PATCH, json!({ "channels": ["sms"] })).await;
    assert_eq!(to_sms.status(), StatusCode::OK);
    let shown = read_patient(&app, "dana").await;
    assert_eq!(shown["channels"], json!(["sms"]));
    assert_eq!(shown["phone"], "+972541234567", "the phone stays");
    assert_eq!(shown["email"], "dana@example.org", "the email stays");
    assert_eq!(
        shown["quiet_hours"],
        json!({ "start": "22:00", "end": "07:00" })
    );

    let no_email = patch(
        &app,
        "dana",
        "application/json",
        json!({ "email": null, "quiet_hours": { "end": "08:00" } }),
    )
    .await;
    assert_eq!(no_email.status(), StatusCode::OK);
    let shown = read_patient(&app, "dana").await;
    assert_eq!(shown["email"], Value::Null);
    assert_eq!(
        shown["quiet_hours"],
        json!({ "start": "22:00", "end": "08:00" })
    );
    assert_eq!(shown["name"], "Dana Levi");
    app.stop().await;
}

#[tokio::test]
async fn a_merge_patch_is_checked_as_a_put_and_writes_nothing_when_refused() {
    let app = TestApp::spawn().await;
    app.patient(
        "dana",
        json!({ "name": "Dana Levi", "phone": "054-1234567" }),
    )
    .await;
    let before = read_patient(&app, "dana").await;

    let bad_phone = patch(
        &app,
        "dana",
        MERGE_PATCH,
        json!({ "name": "Dana Cohen", "phone": "054-12345" }),
    )
    .await;
    assert!(rule_on(bad_phone, "phone").await.contains("+9725412345"));
    let no_name = patch(&app, "dana", MERGE_PATCH, json!({ "name": null })).await;
    assert_eq!(rule_on(no_name, "name").await, "is required");
    let unknown = patch(&app, "dana", MERGE_PATCH, json!({ "nickname": "D" })).await;
    assert_eq!(rule_on(unknown, "nickname").await, "is not a known field");
    assert_eq!(
        read_patient(&app, "dana").await,
        before,
        "nothing half-written"
    );

    let nobody = patch(&app, "nobody", MERGE_PATCH, json!({ "name": "X" })).await;
    assert_eq!(nobody.status(), StatusCode::NOT_FOUND);
    let text = patch(&app, "dana", "text/plain", json!({ "name": "X" })).await;
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    app.stop().await;
}
