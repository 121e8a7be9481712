//! The audit trail as typed events: each keeps its sentence (`detail`) and adds `type`, the
//! typed `data` and the `actor` who caused it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, body};

fn events(notification: &Value) -> &Vec<Value> {
    notification["events"].as_array().expect("events")
}

fn of_type<'a>(notification: &'a Value, kind: &str) -> Vec<&'a Value> {
    events(notification)
        .iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

#[tokio::test]
async fn a_booking_keys_notification_names_the_key_as_its_actor_and_the_dispatcher_as_system() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Omar", "phone": "+972541234599" }))
        .await;

    let id = app.notify(body("Please call the clinic")).await;
    let done = app.wait_for(&id, &["delivered"]).await;

    let received = &events(&done)[0];
    assert_eq!(received["type"], "received", "{received:#}");
    assert_eq!(received["data"]["priority"], "normal");
    let actor = received["actor"].as_str().expect("actor");
    let key = actor.strip_prefix("key:").expect("a key acted");
    assert!(key.starts_with("key_"), "{actor}");
    assert!(
        received["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("received from booking key {key};"))),
        "the sentence stays as it was: {received:#}"
    );
    for event in &events(&done)[1..] {
        assert_eq!(event["actor"], "system", "{event:#}");
        assert_eq!(event["data"]["type"], event["type"], "{event:#}");
    }
    app.stop().await;
}

#[tokio::test]
async fn status_changes_carry_from_and_to_and_attempts_their_channel() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Omar", "phone": "+972541234599" }))
        .await;

    let id = app.notify(body("Please call the clinic")).await;
    let done = app.wait_for(&id, &["delivered"]).await;

    let changes: Vec<(&str, &str)> = of_type(&done, "status_changed")
        .iter()
        .map(|e| {
            (
                e["data"]["from"].as_str().expect("from"),
                e["data"]["to"].as_str().expect("to"),
            )
        })
        .collect();
    assert_eq!(changes.first(), Some(&("queued", "sending")), "{changes:?}");
    assert_eq!(
        changes.last().map(|c| c.1),
        Some("delivered"),
        "{changes:?}"
    );
    let sending = of_type(&done, "attempt_sending");
    assert_eq!(sending.len(), 1, "{done:#}");
    assert_eq!(sending[0]["data"]["channel"], "sms");
    assert_eq!(sending[0]["attempt_id"], done["attempts"][0]["id"]);
    assert!(
        sending[0]["data"]["to"]
            .as_str()
            .is_some_and(|to| to.starts_with("***")),
        "the address stays masked: {:#}",
        sending[0]
    );
    let accepted = of_type(&done, "attempt_accepted");
    assert_eq!(accepted[0]["data"]["channel"], "sms");
    app.stop().await;
}

#[tokio::test]
async fn a_cancellation_records_who_asked_for_it() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Omar", "phone": "+972541234599" }))
        .await;
    let staff = app.staff_key().await;
    let mut later = body("Please call the clinic");
    later["send_at"] =
        json!((jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string());
    let id = app.notify(later).await;

    let response = app
        .request(
            Method::DELETE,
            &format!("/v1/notifications/{id}"),
            &staff,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: Value = response.json().await.expect("json");

    let event = of_type(&cancelled, "cancelled")[0];
    assert_eq!(event["data"]["because"], json!({ "type": "requested" }));
    let actor = event["actor"].as_str().expect("actor");
    assert_ne!(
        Some(actor),
        events(&cancelled)[0]["actor"].as_str(),
        "the staff key cancelled what the booking key sent"
    );
    assert!(
        event["detail"]
            .as_str()
            .is_some_and(|d| d == format!("cancelled by staff key {}", &actor[4..])),
        "{event:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn routing_reasons_are_typed_and_a_sensitive_topics_events_hold_no_message_text() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "language": "en", "email": "dana@example.org" }),
    )
    .await;

    let id = app
        .notify(json!({ "patient_id": "p-1", "topic": "test_result_ready",
                        "body": "Your HbA1c is 9.1%" }))
        .await;
    let done = app.wait_until_finished(&id).await;

    let routing: Vec<&Value> = events(&done)
        .iter()
        .filter(|e| e["kind"] == "routing")
        .collect();
    assert_eq!(
        routing[0]["data"],
        json!({ "type": "route", "source": { "type": "clinic_default",
                "channels": ["whatsapp", "sms", "email", "voice"] } })
    );
    assert_eq!(
        routing[1]["data"],
        json!({ "type": "skipped", "channel": "whatsapp", "reason": { "type": "no_phone" } })
    );
    assert_eq!(routing[1]["type"], "skipped");
    assert_eq!(
        routing[1]["detail"],
        "whatsapp skipped: no phone number on record"
    );
    let content = of_type(&done, "topic_content");
    assert_eq!(
        content[0]["data"],
        json!({ "type": "topic_content", "sensitivity": "sensitive",
                "topic": "test_result_ready", "channel": "email", "content": true })
    );
    assert!(
        !done["events"].to_string().contains("HbA1c"),
        "no event holds the message: {done:#}"
    );
    app.stop().await;
}
