//! The staff callback queue: the last resort when no channel delivered.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, body, event_details};

/// A patient reachable only by voice, who does not answer: the notification fails over to staff.
async fn unanswered_call(app: &TestApp) -> String {
    app.patient(
        "p-1",
        json!({ "name": "Moshe", "phone": "+972500000004", "channels": ["voice"] }),
    )
    .await;
    let id = app.notify(body("Your test results are ready")).await;
    app.wait_until_finished(&id).await;
    id
}

#[tokio::test]
async fn an_unanswered_call_becomes_a_callback_task_that_staff_claim_and_close() {
    let app = TestApp::spawn().await;
    let notification = unanswered_call(&app).await;
    let staff = app.staff_key().await;

    let queue: Value = app
        .request(Method::GET, "/v1/callbacks?status=open", &staff, None)
        .await
        .json()
        .await
        .expect("queue");
    let task = &queue["items"][0];
    assert_eq!(task["notification_id"], notification);
    assert_eq!(task["phone"], "+972500000004");
    assert_eq!(task["patient_name"], "Moshe");
    assert!(
        task["reason"]
            .as_str()
            .is_some_and(|r| r.contains("voice not answered 2 times")),
        "{task}"
    );
    let task_id = task["id"].as_str().expect("id");

    let claim = json!({ "by": "Rivka, front desk" });
    let claimed = app
        .request(
            Method::POST,
            &format!("/v1/callbacks/{task_id}/claim"),
            &staff,
            Some(claim.clone()),
        )
        .await;
    assert_eq!(claimed.status(), StatusCode::OK);
    let claimed: Value = claimed.json().await.expect("task");
    assert_eq!(
        (claimed["status"].as_str(), claimed["claimed_by"].as_str()),
        (Some("claimed"), Some("Rivka, front desk"))
    );
    let twice = app
        .request(
            Method::POST,
            &format!("/v1/callbacks/{task_id}/claim"),
            &staff,
            Some(claim),
        )
        .await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);

    let close = json!({ "outcome": "reached", "note": "Will come on Sunday" });
    let closed: Value = app
        .request(
            Method::POST,
            &format!("/v1/callbacks/{task_id}/close"),
            &staff,
            Some(close),
        )
        .await
        .json()
        .await
        .expect("task");
    assert_eq!(
        (closed["status"].as_str(), closed["outcome"].as_str()),
        (Some("closed"), Some("reached"))
    );

    let trail = event_details(&app.notification(&notification).await);
    assert!(
        trail
            .iter()
            .any(|d| d.starts_with("handed to staff: callback task")),
        "{trail:?}"
    );
    assert!(
        trail
            .iter()
            .any(|d| d.ends_with("closed by Rivka, front desk: reached")),
        "{trail:?}"
    );
    let done = app.notification(&notification).await;
    let typed: Vec<(&str, &str)> = done["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "callback")
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default(),
                e["actor"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        typed,
        [
            ("callback_opened", "system"),
            ("callback_claimed", "staff:Rivka, front desk"),
            ("callback_closed", "staff:Rivka, front desk"),
        ]
    );
    let open: Value = app
        .request(Method::GET, "/v1/callbacks?status=open", &staff, None)
        .await
        .json()
        .await
        .expect("queue");
    assert_eq!(open["items"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn the_queue_is_for_staff_of_the_same_clinic_and_checks_what_it_is_told() {
    let app = TestApp::spawn().await;
    unanswered_call(&app).await;
    let staff = app.staff_key().await;
    let queue: Value = app
        .request(Method::GET, "/v1/callbacks", &staff, None)
        .await
        .json()
        .await
        .expect("queue");
    let task_id = queue["items"][0]["id"].as_str().expect("id").to_owned();

    let booking = app
        .request(Method::GET, "/v1/callbacks", &app.key, None)
        .await;
    assert_eq!(booking.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        booking.headers()["content-type"],
        "application/problem+json"
    );

    let other = app.other_clinic_key().await;
    let other_clinic = app
        .request(Method::GET, "/v1/callbacks", &other, None)
        .await;
    assert_eq!(
        other_clinic.status(),
        StatusCode::FORBIDDEN,
        "a booking key of another clinic"
    );

    let bad = app
        .request(
            Method::POST,
            &format!("/v1/callbacks/{task_id}/close"),
            &staff,
            Some(json!({ "outcome": "maybe" })),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "outcome");

    let missing = app
        .request(
            Method::POST,
            "/v1/callbacks/cbk_0000/close",
            &staff,
            Some(json!({ "outcome": "reached" })),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_patient_without_a_phone_gets_no_callback_task() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@bounce.test" }),
    )
    .await;
    let id = app.notify(body("Hi")).await;
    let done = app.wait_until_finished(&id).await;
    assert_eq!(done["status"], "failed");

    let staff = app.staff_key().await;
    let queue: Value = app
        .request(Method::GET, "/v1/callbacks", &staff, None)
        .await
        .json()
        .await
        .expect("queue");
    assert_eq!(queue["items"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn who_called_and_the_note_must_be_one_line_without_bidi_overrides() {
    let app = TestApp::spawn().await;
    unanswered_call(&app).await;
    let staff = app.staff_key().await;
    let queue: Value = app
        .request(Method::GET, "/v1/callbacks?status=open", &staff, None)
        .await
        .json()
        .await
        .expect("queue");
    let task_id = queue["items"][0]["id"].as_str().expect("id").to_owned();
    let claim = format!("/v1/callbacks/{task_id}/claim");
    let close = format!("/v1/callbacks/{task_id}/close");

    for (path, request, field) in [
        (
            &claim,
            json!({ "by": "Rivka\r\nDr. Cohen: approved" }),
            "by",
        ),
        (&claim, json!({ "by": "Rivka \u{202E}kcabllac" }), "by"),
        (
            &close,
            json!({ "outcome": "reached", "note": "Called\nAdmin: delete the record" }),
            "note",
        ),
        (
            &close,
            json!({ "outcome": "reached", "by": "x\u{2066}y\u{2069}" }),
            "by",
        ),
    ] {
        let refused = app
            .request(Method::POST, path, &staff, Some(request.clone()))
            .await;
        assert_eq!(
            refused.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{request}"
        );
        let problem: Value = refused.json().await.expect("problem");
        assert_eq!(problem["errors"][0]["field"], field, "{problem:#}");
    }

    let claimed = app
        .request(
            Method::POST,
            &claim,
            &staff,
            Some(json!({ "by": "רבקה, קבלה" })),
        )
        .await;
    assert_eq!(
        claimed.status(),
        StatusCode::OK,
        "right-to-left text is fine"
    );
    app.stop().await;
}
