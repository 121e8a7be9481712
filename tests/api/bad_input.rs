//! Every bad request gets a 4xx problem+json naming the field and the rule, and stores nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, body};

async fn app_with_dana() -> TestApp {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;
    app
}

/// Asserts a problem response with this status naming this field, and returns its rule.
async fn problem(response: reqwest::Response, status: StatusCode, field: &str) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("problem json");
    assert_eq!(problem["status"], status.as_u16());
    let errors = problem["errors"].as_array().expect("errors");
    let error = errors
        .iter()
        .find(|e| e["field"] == field)
        .unwrap_or_else(|| panic!("no error on {field}: {problem:#}"));
    error["rule"].as_str().expect("rule").to_owned()
}

async fn nothing_stored(app: &TestApp) {
    let list: Value = app
        .request(Method::GET, "/v1/notifications", &app.key, None)
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(
        list["items"],
        json!([]),
        "a refused request must leave nothing behind"
    );
}

#[tokio::test]
async fn each_invalid_notification_field_is_named_with_its_rule() {
    let app = app_with_dana().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "patient_id": "p-1", "topic": "general", "body": "x", "colour": "red" }),
            "colour",
            "is not a known field",
        ),
        (
            json!({ "patient_id": "p-1", "body": "x" }),
            "topic",
            "is required",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "lottery", "body": "x" }),
            "topic",
            "must be one of",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general", "body": "x", "channel": "fax" }),
            "channel",
            "must be one of",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general", "body": "x", "priority": "asap" }),
            "priority",
            "must be one of",
        ),
        (
            json!({ "patient_id": "nobody", "topic": "general", "body": "x" }),
            "patient_id",
            "no patient with this id",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general" }),
            "body",
            "give either body or template",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general", "body": "x", "template": "appointment_reminder" }),
            "body",
            "not both",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general", "body": "x", "send_at": "tomorrow" }),
            "send_at",
            "RFC 3339",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general", "body": "x",
                    "expires_at": "2020-01-02T09:00:00+02:00" }),
            "expires_at",
            "must be after send_at (or after now",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general", "body": "x",
                    "send_at": "2030-01-02T10:00:00+02:00", "expires_at": "2030-01-02T09:00:00+02:00" }),
            "expires_at",
            "must be after send_at",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general", "body": "x".repeat(4097) }),
            "body",
            "at most 4096 characters",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general", "template": "birthday" }),
            "template",
            "must be one of",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general", "template": "appointment_reminder", "params": { "date": "01.12" } }),
            "params.time",
            "missing parameter",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general", "body": 7 }),
            "body",
            "invalid type",
        ),
        (
            json!({ "patient_id": "p-1", "topic": "general", "body": "a\u{0}b" }),
            "body",
            "control characters",
        ),
    ];
    for (request, field, rule) in cases {
        let response = app.post_notification(request.clone()).await;
        let got = problem(response, StatusCode::UNPROCESSABLE_ENTITY, field).await;
        assert!(
            got.contains(rule),
            "{request}: rule `{got}` should mention `{rule}`"
        );
    }
    nothing_stored(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn each_invalid_patient_field_is_named_with_its_rule() {
    let app = TestApp::spawn().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "name": "Dana", "phone": "054-12345" }),
            "phone",
            "it reads as +9725412345",
        ),
        (
            json!({ "name": "Dana", "email": "dana-at-example" }),
            "email",
            "email address",
        ),
        // The mail transport refuses it when the message is built: refused here instead.
        (
            json!({ "name": "Dana", "email": "a..b@example.org" }),
            "email",
            "email address",
        ),
        (
            json!({ "name": "Dana", "timezone": "Mars/Olympus" }),
            "timezone",
            "IANA",
        ),
        (
            json!({ "name": "Dana", "language": "hebrew" }),
            "language",
            "ISO 639-1",
        ),
        (
            json!({ "name": "Dana", "channels": ["sms", "pigeon"] }),
            "channels[1]",
            "unknown channel",
        ),
        (
            json!({ "name": "Dana", "opted_out": ["sms", "sms"] }),
            "opted_out[1]",
            "listed twice",
        ),
        (json!({ "name": "" }), "name", "1 to 200"),
        (json!({ "phone": "+972541234567" }), "name", "is required"),
        (
            json!({ "name": "Dana", "nickname": "D" }),
            "nickname",
            "is not a known field",
        ),
    ];
    for (request, field, rule) in cases {
        let got = problem(
            app.put_patient("p-1", request.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            field,
        )
        .await;
        assert!(
            got.contains(rule),
            "{request}: rule `{got}` should mention `{rule}`"
        );
    }
    let missing = app
        .request(Method::GET, "/v1/patients/p-1", &app.key, None)
        .await;
    assert_eq!(
        missing.status(),
        StatusCode::NOT_FOUND,
        "no half-written patient"
    );
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_wrong_content_type_and_oversized_bodies_are_refused() {
    let app = app_with_dana().await;
    let url = format!("{}/v1/notifications", app.base);
    let client = app.client();

    let malformed = client
        .post(&url)
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .body("{\"patient_id\":");
    problem(
        malformed.send().await.expect("sent"),
        StatusCode::BAD_REQUEST,
        "body",
    )
    .await;

    let as_text = client
        .post(&url)
        .bearer_auth(&app.key)
        .header("content-type", "text/plain")
        .body("{}");
    let response = as_text.send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let huge = json!({ "patient_id": "p-1", "topic": "general", "body": "x".repeat(100_000) });
    let response = client
        .post(&url)
        .bearer_auth(&app.key)
        .json(&huge)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let bad_key = client
        .post(&url)
        .bearer_auth(&app.key)
        .header("Idempotency-Key", "")
        .json(&body("x"))
        .send()
        .await
        .expect("sent");
    problem(bad_key, StatusCode::UNPROCESSABLE_ENTITY, "Idempotency-Key").await;

    let bad_query = app
        .request(Method::GET, "/v1/notifications?status=lost", &app.key, None)
        .await;
    problem(bad_query, StatusCode::UNPROCESSABLE_ENTITY, "status").await;

    let wrong_method = app
        .request(Method::PATCH, "/v1/notifications", &app.key, None)
        .await;
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        wrong_method.headers()["content-type"],
        "application/problem+json"
    );
    nothing_stored(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_path_or_query_the_router_cannot_read_is_a_problem_too() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;

    for (method, path, key) in [
        (Method::GET, "/v1/notifications/%FF%FE", &app.key),
        (Method::DELETE, "/v1/notifications/n_%C3%28", &app.key),
        (Method::GET, "/v1/patients/%C3%28", &app.key),
        (Method::POST, "/v1/callbacks/%FF/claim", &staff),
    ] {
        let response = app.request(method.clone(), path, key, None).await;

        assert!(
            response.status().is_client_error(),
            "{method} {path}: {}",
            response.status()
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let problem: Value = response.json().await.expect("problem json");
        assert_eq!(problem["status"], 400, "{problem:#}");
        assert!(problem["detail"].is_string(), "{problem:#}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_answer_carries_a_request_id_the_clients_own_when_it_is_sane() {
    let app = app_with_dana().await;
    let request_id = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    let send = |id: &'static str| {
        app.client()
            .get(format!("{}/v1/patients/p-1", app.base))
            .bearer_auth(&app.key)
            .header("x-request-id", id)
            .send()
    };

    let echoed = send("booking-42.a").await.expect("sent");
    let replaced = send("has spaces and is not ours").await.expect("sent");
    let refused = app
        .request(Method::GET, "/v1/notifications/n_nope", &app.key, None)
        .await;

    assert_eq!(request_id(&echoed), "booking-42.a");
    let generated = request_id(&replaced);
    assert!(
        generated.len() == 32 && generated.bytes().all(|b| b.is_ascii_hexdigit()),
        "{generated}"
    );
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert!(!request_id(&refused).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn names_and_template_values_must_be_one_line_without_bidi_overrides() {
    let app = app_with_dana().await;
    let cases = [
        ("Dana\nLevi", "name"),
        ("Dana\rLevi", "name"),
        ("Dana \u{202E}ivel", "name"),
        ("\u{2067}Dana", "name"),
    ];
    for (name, field) in cases {
        let response = app.put_patient("p-2", json!({ "name": name })).await;
        let rule = problem(response, StatusCode::UNPROCESSABLE_ENTITY, field).await;
        assert!(rule.starts_with("must be one line"), "{name:?}: {rule}");
    }
    assert_eq!(
        app.put_patient("p-2", json!({ "name": "דנה לוי\u{200F}" }))
            .await
            .status(),
        StatusCode::CREATED,
        "right-to-left names and their marks are fine"
    );

    let mut forged = crate::harness::reminder();
    forged["params"]["time"] = json!("09:30\nReply CANCEL to cancel");
    let response = app.post_notification(forged).await;
    problem(response, StatusCode::UNPROCESSABLE_ENTITY, "params.time").await;
    nothing_stored(&app).await;
    app.stop().await;
}
