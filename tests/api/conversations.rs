//! The clinic's inbox: conversations listed and filtered, labelled and handled by named staff,
//! answered within WhatsApp's rules, overdue when left unanswered; only for staff.

use std::time::Duration;

use jiff::SignedDuration;
use medrelay::app::Application;
use medrelay::clock::Clock;
use medrelay_testkit::wait;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, reminder, reminder_for, test_config};
use crate::hours::{at, clinic_on_israeli_hours_at};

pub(crate) const DANA_PHONE: &str = "+972541234567";

pub(crate) async fn app_with_dana() -> TestApp {
    app_with_dana_and(|_| {}).await
}

pub(crate) async fn app_with_dana_and(adjust: impl FnOnce(&mut medrelay::Config)) -> TestApp {
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

pub(crate) async fn get(app: &TestApp, key: &str, path: &str) -> (StatusCode, Value) {
    let response = app.request(Method::GET, path, key, None).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn post(app: &TestApp, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let response = app.request(Method::POST, path, key, Some(body)).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) fn labels_of(conversation: &Value) -> Vec<&str> {
    conversation["labels"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

pub(crate) fn listed_patients(list: &Value) -> Vec<&str> {
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

/// The patient's messages in a conversation, oldest first.
pub(crate) fn inbound_messages(conversation: &Value) -> Vec<&Value> {
    conversation["messages"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["direction"] == "inbound").collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_new_message_reopens_a_handled_conversation() {
    let app = app_with_dana().await;
    let staff = app.staff_key().await;
    app.patient_writes_on_whatsapp(DANA_PHONE).await;
    let (_, handled) = post(
        &app,
        &staff,
        "/v1/conversations/p-1/handled",
        json!({ "by": "Noa" }),
    )
    .await;
    assert_eq!(handled["status"], "handled", "{handled:#}");
    let (_, conversation) = get(&app, &staff, "/v1/conversations/p-1").await;
    assert_eq!(inbound_messages(&conversation)[0]["handled_by"], "Noa");

    app.patient_writes_on_whatsapp(DANA_PHONE).await;

    let (_, reopened) = get(&app, &staff, "/v1/conversations/p-1").await;
    assert_eq!(reopened["status"], "open", "{reopened:#}");
    assert!(labels_of(&reopened).contains(&"awaiting_response"));
    assert!(!labels_of(&reopened).contains(&"handled"));
    app.stop().await;
}

#[tokio::test]
async fn urgent_conversations_come_first_then_the_newest() {
    let app = app_with_dana().await;
    app.patient("p-2", json!({ "name": "Omer", "phone": "+972541234568" }))
        .await;
    let staff = app.staff_key().await;
    app.patient_writes_on_whatsapp("+972541234568").await;
    app.patient_writes_on_whatsapp(DANA_PHONE).await;
    let (_, newest_first) = get(&app, &staff, "/v1/conversations").await;
    assert_eq!(listed_patients(&newest_first), vec!["p-1", "p-2"]);

    post(
        &app,
        &staff,
        "/v1/conversations/p-2/labels",
        json!({ "by": "Noa", "add": ["urgent"] }),
    )
    .await;

    let (_, first_page) = get(&app, &staff, "/v1/conversations?limit=1").await;
    assert_eq!(listed_patients(&first_page), vec!["p-2"]);
    assert_eq!(first_page["items"][0]["urgent"], true);
    assert_eq!(first_page["items"][0]["preview"], "hello");
    let cursor = first_page["next_cursor"].as_str().expect("a next page");
    let (_, second_page) = get(
        &app,
        &staff,
        &format!("/v1/conversations?limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(listed_patients(&second_page), vec!["p-1"]);
    assert!(second_page["next_cursor"].is_null());
    app.stop().await;
}

/// Thursday 3 December 2026, 17:00 in Jerusalem. With the Israeli default hours (Sunday to
/// Thursday 09:00–18:00, Friday 09:00–13:00) the 4 working hours of the default response target
/// are one on Thursday and three on Friday.
const THURSDAY_17_00: &str = "2026-12-03T17:00:00+02:00";
const FRIDAY_12_00: &str = "2026-12-04T12:00:00+02:00";

/// How many `conversation_overdue` events the conversation holds.
fn overdue_events(conversation: &Value) -> usize {
    conversation["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["type"] == "conversation_overdue")
                .count()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_message_unanswered_past_the_response_target_becomes_overdue_and_raises_one_event() {
    let (app, clock) = clinic_on_israeli_hours_at(THURSDAY_17_00).await;
    let staff = app.staff_key().await;
    // On PostgreSQL a second instance sweeps the same database, on the same clock.
    let second = match app.is_sqlite() {
        true => None,
        false => {
            let mut config = test_config();
            config.database_url = app.database_url().to_owned();
            let second = Application::build_with_clock(config, clock.clone())
                .await
                .expect("a second instance on the same database");
            Some(second.start())
        }
    };
    app.patient_writes_on_whatsapp(DANA_PHONE).await;
    let (_, waiting) = get(&app, &staff, "/v1/conversations/p-1").await;
    // The clock runs on from 17:00 while the test works: by a few seconds at most.
    let overdue_at = at(waiting["overdue_at"].as_str().expect("overdue_at"));
    let since_noon = at(FRIDAY_12_00).duration_until(overdue_at);
    assert!(
        (SignedDuration::ZERO..SignedDuration::from_mins(1)).contains(&since_noon),
        "{waiting:#}"
    );
    assert_eq!(waiting["overdue"], false);
    let (_, none) = get(&app, &staff, "/v1/conversations?overdue=true").await;
    assert_eq!(listed_patients(&none), Vec::<&str>::new());

    clock.set(at(FRIDAY_12_00) + SignedDuration::from_mins(2));

    let overdue = wait::within(Duration::from_secs(10))
        .until(async || {
            let (_, conversation) = get(&app, &staff, "/v1/conversations/p-1").await;
            match overdue_events(&conversation) {
                0 => Err(format!("no overdue event yet: {conversation:#}")),
                _ => Ok(conversation),
            }
        })
        .await;
    assert_eq!(overdue["overdue"], true);
    // Sweeps after the one that raised it, here and on the other instance, raise nothing.
    assert_eq!(
        app.store.raise_overdue(clock.now()).await.expect("sweep"),
        0
    );
    if let Some(second) = &second {
        assert_eq!(
            second
                .store
                .raise_overdue(clock.now())
                .await
                .expect("sweep"),
            0
        );
    }
    let (_, conversation) = get(&app, &staff, "/v1/conversations/p-1").await;
    assert_eq!(overdue_events(&conversation), 1, "{conversation:#}");
    let (_, listed) = get(&app, &staff, "/v1/conversations?overdue=true").await;
    assert_eq!(listed_patients(&listed), vec!["p-1"]);
    if let Some(second) = second {
        second.stop().await;
    }
    app.stop().await;
}
