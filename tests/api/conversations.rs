//! The clinic's inbox: conversations listed and filtered, labelled and handled by named staff,
//! answered within WhatsApp's rules, overdue when left unanswered; only for staff.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, reminder, reminder_for};

const DANA_PHONE: &str = "+972541234567";

async fn app_with_dana() -> TestApp {
    app_with_dana_and(|_| {}).await
}

async fn app_with_dana_and(adjust: impl FnOnce(&mut medrelay::Config)) -> TestApp {
    let app = TestApp::spawn_with(|config| {
        config.api.key_rate_per_second = 1000;
        config.api.key_burst = 1000;
        adjust(config);
    })
    .await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "phone": DANA_PHONE, "whatsapp": true }),
    )
    .await;
    app
}

async fn get(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    let response = app.request(Method::GET, path, key, None).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let response = app.request(Method::POST, path, key, Some(body)).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A staff reply to patient `p-1` that must be taken; returns the answer.
async fn reply(app: &TestApp, staff: &str, body: Value) -> Value {
    let (status, answer) = post(app, staff, "/v1/conversations/p-1/reply", body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer:#}");
    answer
}

fn labels_of(conversation: &Value) -> Vec<&str> {
    conversation["labels"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn listed_patients(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| c["patient"]["external_id"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn conversations_are_for_staff_a_booking_key_is_refused() {
    let app = app_with_dana().await;

    let (list, _) = get(&app, &app.key, "/v1/conversations").await;
    let (one, _) = get(&app, &app.key, "/v1/conversations/p-1").await;
    let (answer, _) = post(
        &app,
        &app.key,
        "/v1/conversations/p-1/reply",
        json!({ "by": "Dana", "text": "Hello" }),
    )
    .await;

    assert_eq!(list, StatusCode::FORBIDDEN);
    assert_eq!(one, StatusCode::FORBIDDEN);
    assert_eq!(answer, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn another_clinics_patient_is_not_found() {
    let app = app_with_dana().await;
    let other = app.other_clinic_key().await;
    let staff = app.staff_key().await;
    let created = app
        .request(
            Method::PUT,
            "/v1/patients/p-9",
            &other,
            Some(json!({ "name": "Rami", "phone": "+972541111111" })),
        )
        .await;
    assert!(created.status().is_success());

    let (read, problem) = get(&app, &staff, "/v1/conversations/p-9").await;
    let (handled, _) = post(
        &app,
        &staff,
        "/v1/conversations/p-9/handled",
        json!({ "by": "Dana" }),
    )
    .await;

    assert_eq!(read, StatusCode::NOT_FOUND, "{problem:#}");
    assert_eq!(handled, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_patient_sent_only_notifications_has_a_handled_conversation_without_labels() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;
    let sent = app.notify(reminder()).await;

    let (status, conversation) = get(&app, &staff, "/v1/conversations/p-1").await;

    assert_eq!(status, StatusCode::OK, "{conversation:#}");
    assert_eq!(conversation["status"], "handled");
    assert_eq!(labels_of(&conversation), Vec::<&str>::new());
    assert_eq!(conversation["patient"]["external_id"], "p-1");
    let messages = conversation["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "{conversation:#}");
    assert_eq!(messages[0]["direction"], "outbound");
    assert_eq!(messages[0]["id"], sent.as_str());
    assert_eq!(messages[0]["origin"], "api");
    assert_eq!(messages[0]["template"], "appointment_reminder");
    app.stop().await;
}

#[tokio::test]
async fn the_label_filter_lists_only_conversations_with_that_label() {
    let app = app_with_dana().await;
    app.patient("p-2", json!({ "name": "Omer", "phone": "+972541234568" }))
        .await;
    let staff = app.staff_key().await;
    app.notify(reminder()).await;
    app.notify(reminder_for("p-2")).await;
    for (patient, label) in [("p-1", "test_result"), ("p-2", "new_appointment")] {
        let (status, labelled) = post(
            &app,
            &staff,
            &format!("/v1/conversations/{patient}/labels"),
            json!({ "by": "Noa", "add": [label] }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{labelled:#}");
        assert_eq!(labels_of(&labelled), vec![label]);
    }

    let (status, results) = get(&app, &staff, "/v1/conversations?label=test_result").await;
    let (_, appointments) = get(&app, &staff, "/v1/conversations?label=new_appointment").await;
    let (_, everyone) = get(&app, &staff, "/v1/conversations").await;

    assert_eq!(status, StatusCode::OK, "{results:#}");
    assert_eq!(listed_patients(&results), vec!["p-1"]);
    assert_eq!(listed_patients(&appointments), vec!["p-2"]);
    assert_eq!(listed_patients(&everyone).len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_label_the_clinic_does_not_have_is_refused_naming_it() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;

    let (status, problem) = post(
        &app,
        &staff,
        "/v1/conversations/p-1/labels",
        json!({ "by": "Noa", "add": ["vip"] }),
    )
    .await;
    let (listed, list_problem) = get(&app, &staff, "/v1/conversations?label=vip").await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(problem["errors"][0]["field"], "add[0]");
    assert_eq!(listed, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(list_problem["errors"][0]["field"], "label");
    let (_, conversation) = get(&app, &staff, "/v1/conversations/p-1").await;
    assert_eq!(
        labels_of(&conversation),
        Vec::<&str>::new(),
        "nothing written"
    );
    app.stop().await;
}

#[tokio::test]
async fn marking_handled_names_the_person_and_clears_urgent() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;
    post(
        &app,
        &staff,
        "/v1/conversations/p-1/labels",
        json!({ "by": "Noa", "add": ["urgent"], "remove": [] }),
    )
    .await;
    let (_, urgent) = get(&app, &staff, "/v1/conversations/p-1").await;
    assert_eq!(urgent["urgent"], true, "{urgent:#}");

    let (status, handled) = post(
        &app,
        &staff,
        "/v1/conversations/p-1/handled",
        json!({ "by": "Dana Levi" }),
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{handled:#}");
    assert_eq!(handled["status"], "handled");
    assert_eq!(handled["urgent"], false);
    assert_eq!(labels_of(&handled), vec!["handled"]);
    let (_, conversation) = get(&app, &staff, "/v1/conversations/p-1").await;
    let events = conversation["events"].as_array().expect("events");
    let last = events.last().expect("an event");
    assert_eq!(last["type"], "conversation_handled", "{conversation:#}");
    assert_eq!(last["actor"], "staff:Dana Levi");
    let (_, handled_list) = get(&app, &staff, "/v1/conversations?status=handled").await;
    assert_eq!(listed_patients(&handled_list), vec!["p-1"]);
    app.stop().await;
}

#[tokio::test]
async fn an_action_without_a_named_person_is_refused() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;

    let (status, problem) = post(
        &app,
        &staff,
        "/v1/conversations/p-1/handled",
        json!({ "by": "  " }),
    )
    .await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(problem["errors"][0]["field"], "by");
    app.stop().await;
}

#[tokio::test]
async fn a_staff_reply_inside_the_whatsapp_window_goes_as_free_text_on_whatsapp() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;
    app.patient_writes_on_whatsapp(DANA_PHONE).await;

    let answer = reply(
        &app,
        &staff,
        json!({ "by": "Dana", "text": "Yes, come at 10", "channel": "whatsapp" }),
    )
    .await;

    assert_eq!(answer["channel"], "whatsapp", "{answer:#}");
    assert!(answer.get("note").is_none(), "{answer:#}");
    let id = answer["id"].as_str().expect("id");
    let sent = app.wait_for(id, &["delivered", "read"]).await;
    assert_eq!(sent["channel"], "whatsapp");
    let outbox = app.outbox_holding(&app.key, DANA_PHONE, 1).await;
    assert_eq!(outbox[0]["channel"], "whatsapp");
    assert_eq!(outbox[0]["body"], "Yes, come at 10");
    let (_, conversation) = get(&app, &staff, "/v1/conversations/p-1").await;
    let replied = conversation["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["id"] == id))
        .expect("the reply in the conversation");
    assert_eq!(replied["origin"], "staff_reply");
    assert!(conversation["last_staff_reply_at"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn a_staff_reply_outside_the_window_goes_on_the_next_channel_and_says_so() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;

    let answer = reply(
        &app,
        &staff,
        json!({ "by": "Dana", "text": "Please call us", "channel": "whatsapp" }),
    )
    .await;

    assert_eq!(answer["channel"], "sms", "{answer:#}");
    assert!(
        answer["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("WhatsApp window closed")),
        "{answer:#}"
    );
    let id = answer["id"].as_str().expect("id");
    let sent = app.wait_for(id, &["delivered"]).await;
    assert_eq!(sent["channel"], "sms");
    let outbox = app.outbox_holding(&app.key, DANA_PHONE, 1).await;
    assert_eq!(outbox[0]["channel"], "sms");
    app.stop().await;
}

#[tokio::test]
async fn staff_replies_do_not_count_toward_the_daily_cap() {
    let app = app_with_dana_and(|config| {
        config.api.patient_daily_cap = 1;
        config.api.patient_daily_urgent_cap = 1;
    })
    .await;
    let staff = app.staff_key().await;
    app.notify(reminder()).await;

    let first = reply(&app, &staff, json!({ "by": "Dana", "text": "First" })).await;
    let second = reply(&app, &staff, json!({ "by": "Dana", "text": "Second" })).await;

    for answer in [&first, &second] {
        let id = answer["id"].as_str().expect("id");
        app.wait_for(id, &["delivered", "read"]).await;
    }
    let over_cap = app.post_notification(reminder()).await;
    assert_eq!(over_cap.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}
