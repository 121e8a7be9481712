//! `GET /v1/stats`: the figures of a scripted week equal what was counted by hand. The sandbox
//! reports statuses on the application's clock, which the test moves, so every hand-over→status
//! time is set by the script (to the minute: the real time the test takes adds seconds).

use std::sync::Arc;
use std::time::Duration;

use medrelay::clock::AdjustableClock;
use medrelay::store::ApiKeyRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, attempts, pairs, reminder_for};
use crate::hours::at;

/// Monday 2 November 2026, 10:00 in Jerusalem.
const MONDAY_10_00: &str = "2026-11-02T10:00:00+02:00";
/// Tuesday 3 November 2026, 10:00 in Jerusalem.
const TUESDAY_10_00: &str = "2026-11-03T10:00:00+02:00";
const WEEK: &str = "from=2026-11-01&to=2026-11-08";

/// The sandbox reports `sent` two minutes after the hand-over, `delivered` two minutes after
/// `sent`, `read` six minutes after `delivered`; nothing times out while the script runs.
async fn clinic_on_a_scripted_clock() -> (TestApp, Arc<AdjustableClock>) {
    let clock = Arc::new(AdjustableClock::default());
    clock.set(at(MONDAY_10_00));
    let app = TestApp::spawn_with_clock(
        |config| {
            config.sandbox.delivery_delay_ms = 240_000;
            config.sandbox.read_delay_ms = 360_000;
            config.delivery_timeout.whatsapp_ms = 3_600_000;
            config.delivery_timeout.sms_ms = 3_600_000;
        },
        clock.clone(),
    )
    .await;
    (app, clock)
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

fn general(patient: &str) -> Value {
    json!({ "patient_id": patient, "topic": "general", "body": "Please bring your referral" })
}

/// Waits until each notification's attempts are `expected` (channel, status) pairs.
async fn wait_for_attempts(app: &TestApp, expected: &[(&str, &[(&str, &str)])]) {
    for (id, wanted) in expected {
        app.wait_until(id, |n| attempts(n) == pairs(wanted)).await;
    }
}

async fn stats(app: &TestApp, key: &str, query: &str) -> Value {
    let response = app
        .request(Method::GET, &format!("/v1/stats?{query}"), key, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("stats")
}

/// The line of `list` (`by_channel` or `by_topic`) whose `key` is `value`.
fn line<'a>(outbound: &'a Value, list: &str, key: &str, value: &str) -> &'a Value {
    outbound[list]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l[key] == value)
        .unwrap_or_else(|| panic!("no {key} {value} in {outbound:#}"))
}

/// Monday: Dana and Eli get a reminder on WhatsApp, read ten minutes later; a patient not on
/// WhatsApp gets it by SMS after the WhatsApp attempt fails; Sam gets a general message by SMS;
/// Rina's SMS is undelivered and her email goes instead.
async fn monday(app: &TestApp, clock: &AdjustableClock) {
    let dana = app.notify(reminder_for("dana")).await;
    let eli = app.notify(reminder_for("eli")).await;
    let not_on_whatsapp = app.notify(reminder_for("noa")).await;
    let sam = app.notify(general("sam")).await;
    let rina = app.notify(general("rina")).await;
    app.drain_dispatcher().await;

    clock.advance(minutes(2));
    let wa_sent: &[(&str, &str)] = &[("whatsapp", "sent")];
    let sms_sent: &[(&str, &str)] = &[("sms", "sent")];
    wait_for_attempts(
        app,
        &[
            (&dana, wa_sent),
            (&eli, wa_sent),
            (
                &not_on_whatsapp,
                &[("whatsapp", "failed"), ("sms", "accepted")],
            ),
            (&sam, sms_sent),
            (&rina, sms_sent),
        ],
    )
    .await;

    clock.advance(minutes(2));
    let wa_delivered: &[(&str, &str)] = &[("whatsapp", "delivered")];
    wait_for_attempts(
        app,
        &[
            (&dana, wa_delivered),
            (&eli, wa_delivered),
            (&not_on_whatsapp, &[("whatsapp", "failed"), ("sms", "sent")]),
            (&sam, &[("sms", "delivered")]),
            (&rina, &[("sms", "failed"), ("email", "accepted")]),
        ],
    )
    .await;

    clock.advance(minutes(2));
    wait_for_attempts(
        app,
        &[(
            &not_on_whatsapp,
            &[("whatsapp", "failed"), ("sms", "delivered")],
        )],
    )
    .await;

    clock.advance(minutes(4));
    let wa_read: &[(&str, &str)] = &[("whatsapp", "read")];
    wait_for_attempts(app, &[(&dana, wa_read), (&eli, wa_read)]).await;
}

/// Tuesday: Dana's reminder is reported `sent` only ten minutes after the hand-over, so it is
/// delivered after twelve minutes and read after eighteen.
async fn tuesday(app: &TestApp, clock: &AdjustableClock) {
    clock.set(at(TUESDAY_10_00));
    let dana = app.notify(reminder_for("dana")).await;
    app.drain_dispatcher().await;
    for (advance, status) in [(10, "sent"), (2, "delivered"), (6, "read")] {
        clock.advance(minutes(advance));
        wait_for_attempts(app, &[(&dana, &[("whatsapp", status)])]).await;
    }
}

async fn patients(app: &TestApp) {
    app.patient("dana", json!({ "name": "Dana", "phone": "+972541000001" }))
        .await;
    app.patient("eli", json!({ "name": "Eli", "phone": "+972541000002" }))
        .await;
    app.patient("noa", json!({ "name": "Noa", "phone": "+972500000001" }))
        .await;
    app.patient(
        "sam",
        json!({ "name": "Sam", "phone": "+972541000003", "channels": ["sms"] }),
    )
    .await;
    app.patient(
        "rina",
        json!({ "name": "Rina", "phone": "+972500000003", "email": "rina@example.org",
                "channels": ["sms", "email"] }),
    )
    .await;
}

#[tokio::test]
async fn the_stats_of_a_scripted_week_equal_the_figures_counted_by_hand() {
    let (app, clock) = clinic_on_a_scripted_clock().await;
    patients(&app).await;
    monday(&app, &clock).await;
    tuesday(&app, &clock).await;
    let staff = app.staff_key().await;

    let week = stats(&app, &staff, WEEK).await;

    let outbound = &week["outbound"];
    // WhatsApp: Dana ×2, Eli, Noa handed over; Noa's failed; the other three delivered and read.
    // Delivered after 4, 4 and 12 minutes; read after 10, 10 and 18. Of the four notifications
    // that started on WhatsApp and reached the patient, Noa's fell back to SMS: 1/4.
    assert_eq!(
        line(outbound, "by_channel", "channel", "whatsapp"),
        &json!({
            "channel": "whatsapp", "sent": 4, "delivered": 3, "read": 3, "failed": 1,
            "fallback_rate": 0.25,
            "to_delivered": { "samples": 3, "median_seconds": 240, "p90_seconds": 720 },
            "to_read": { "samples": 3, "median_seconds": 600, "p90_seconds": 1080 }
        })
    );
    // SMS: Sam, Rina, and Noa's fallback; Rina's undelivered. Sam's and Noa's delivered 4
    // minutes after their hand-over (Noa's began at minute 2). Started on SMS and reached the
    // patient: Sam (SMS) and Rina (email): 1/2 fell back.
    assert_eq!(
        line(outbound, "by_channel", "channel", "sms"),
        &json!({
            "channel": "sms", "sent": 3, "delivered": 2, "read": 0, "failed": 1,
            "fallback_rate": 0.5,
            "to_delivered": { "samples": 2, "median_seconds": 240, "p90_seconds": 240 },
            "to_read": { "samples": 0, "median_seconds": null, "p90_seconds": null }
        })
    );
    // Email: Rina's, accepted by the mail server; email reports no delivery.
    let email = line(outbound, "by_channel", "channel", "email");
    assert_eq!(
        (&email["sent"], &email["delivered"]),
        (&json!(1), &json!(0))
    );
    assert_eq!(email["fallback_rate"], Value::Null);
    // Reminders: the four WhatsApp attempts and Noa's SMS. General: Sam's and Rina's SMS and
    // Rina's email.
    let reminders = line(outbound, "by_topic", "topic", "appointment_reminder");
    assert_eq!(
        [
            &reminders["sent"],
            &reminders["delivered"],
            &reminders["read"],
            &reminders["failed"]
        ],
        [&json!(5), &json!(4), &json!(3), &json!(1)]
    );
    assert_eq!(reminders["fallback_rate"], 0.25);
    // Delivered after 4, 4, 12 (WhatsApp) and 4 (Noa's SMS) minutes.
    assert_eq!(
        reminders["to_delivered"],
        json!({ "samples": 4, "median_seconds": 240, "p90_seconds": 720 })
    );
    let general = line(outbound, "by_topic", "topic", "general");
    assert_eq!(
        [
            &general["sent"],
            &general["delivered"],
            &general["read"],
            &general["failed"]
        ],
        [&json!(3), &json!(1), &json!(0), &json!(1)]
    );
    assert_eq!(general["fallback_rate"], 0.5);
    assert_eq!(week["timezone"], "Asia/Jerusalem");
    assert_eq!(week["from"], "2026-10-31T22:00:00Z");

    // Tuesday alone: Dana's second reminder.
    let tuesday_only = stats(&app, &staff, "from=2026-11-03&to=2026-11-04").await;
    let whatsapp = line(
        &tuesday_only["outbound"],
        "by_channel",
        "channel",
        "whatsapp",
    );
    assert_eq!(
        (&whatsapp["sent"], &whatsapp["read"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(whatsapp["to_read"]["median_seconds"], 1080);
    app.stop().await;
}

#[tokio::test]
async fn another_clinics_notifications_are_never_counted() {
    let app = TestApp::spawn().await;
    let other = app.other_clinic_key().await;
    let response = app
        .request(
            Method::PUT,
            "/v1/patients/dana",
            &other,
            Some(json!({ "name": "Dana", "phone": "+972541000001" })),
        )
        .await;
    assert!(response.status().is_success());
    let id = app.notify_as(&other, reminder_for("dana")).await;
    app.wait_until_as(&other, &id, |n| n["status"] == "read")
        .await;
    let today = jiff::Timestamp::now();
    let range = format!(
        "from={}&to={}",
        today - jiff::SignedDuration::from_hours(1),
        today + jiff::SignedDuration::from_hours(1)
    );
    let other_clinic = app.store.clinic_by_slug("other").await.expect("clinic");
    let other_staff = app
        .store
        .create_api_key(&other_clinic.id, ApiKeyRole::Staff, today)
        .await
        .expect("key");

    let ours = stats(&app, &app.staff_key().await, &range).await;
    let theirs = stats(&app, &other_staff, &range).await;

    assert_eq!(ours["outbound"]["by_channel"], json!([]));
    assert_eq!(ours["outbound"]["by_topic"], json!([]));
    let whatsapp = line(&theirs["outbound"], "by_channel", "channel", "whatsapp");
    assert_eq!(
        (&whatsapp["sent"], &whatsapp["read"]),
        (&json!(1), &json!(1))
    );
    app.stop().await;
}

async fn problem_fields(app: &TestApp, key: &str, query: &str) -> (StatusCode, Vec<String>) {
    let response = app
        .request(Method::GET, &format!("/v1/stats?{query}"), key, None)
        .await;
    let status = response.status();
    let problem: Value = response.json().await.expect("problem");
    let fields = problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (status, fields)
}

#[tokio::test]
async fn bad_ranges_are_refused_naming_from_or_to() {
    let app = TestApp::spawn().await;
    let staff = app.staff_key().await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    for (query, field) in [
        ("to=2026-11-08", "from"),
        ("from=last-week&to=2026-11-08", "from"),
        ("from=2026-11-01", "to"),
        ("from=2026-11-08&to=2026-11-01", "to"),
        ("from=2026-11-01&to=2026-11-01", "to"),
        ("from=2025-11-01&to=2026-11-03", "to"),
        ("from=2026-11-01&to=2026-11-08T25:00:00Z", "to"),
    ] {
        assert_eq!(
            problem_fields(&app, &staff, query).await,
            (unprocessable, vec![field.to_owned()]),
            "{query}"
        );
    }
    assert_eq!(
        problem_fields(&app, &staff, "from=2025-11-08&to=2026-11-08")
            .await
            .0,
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn booking_keys_may_not_read_the_stats() {
    let app = TestApp::spawn().await;

    let response = app
        .request(Method::GET, &format!("/v1/stats?{WEEK}"), &app.key, None)
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

/// A patient writes on `channel` at `time` (Jerusalem).
async fn writes(
    app: &TestApp,
    clock: &AdjustableClock,
    time: &str,
    channel: &str,
    from: &str,
    text: &str,
) {
    clock.set(at(time));
    app.patient_sends(json!({ "channel": channel, "from": from, "text": text }))
        .await;
}

async fn staff_post(app: &TestApp, staff: &str, path: &str, body: Value) {
    let response = app.request(Method::POST, path, staff, Some(body)).await;
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}

#[tokio::test]
async fn inbound_figures_of_a_scripted_week_equal_the_figures_counted_by_hand() {
    let clock = Arc::new(AdjustableClock::default());
    clock.set(at(MONDAY_10_00));
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    patients(&app).await;
    let staff = app.staff_key().await;

    // Monday: Dana writes at 10:15 and 10:20; staff answer both at 10:25, after 10 and 5
    // minutes.
    writes(
        &app,
        &clock,
        "2026-11-02T10:15:00+02:00",
        "whatsapp",
        "+972541000001",
        "Can I come earlier?",
    )
    .await;
    writes(
        &app,
        &clock,
        "2026-11-02T10:20:00+02:00",
        "whatsapp",
        "+972541000001",
        "Any time works",
    )
    .await;
    // A second past the minute, for the same reason as Eli's below: the clock runs on while
    // each message is stored, so a wait set to exactly 10 or 5 minutes is a moment short of it.
    clock.set(at("2026-11-02T10:25:01+02:00"));
    staff_post(
        &app,
        &staff,
        "/v1/conversations/dana/reply",
        json!({ "by": "Noa", "text": "Yes, at 11:00" }),
    )
    .await;
    app.drain_dispatcher().await;
    // Wednesday 22:30: Eli writes by SMS; marked handled two hours later.
    writes(
        &app,
        &clock,
        "2026-11-04T22:30:00+02:00",
        "sms",
        "+972541000002",
        "Is the lab open on Friday?",
    )
    .await;
    // A second past the two hours: the clock runs on while Eli's message is stored and
    // answered automatically, and a wait a moment short of 2 h falls in the bucket below.
    clock.set(at("2026-11-05T00:30:01+02:00"));
    staff_post(
        &app,
        &staff,
        "/v1/conversations/eli/handled",
        json!({ "by": "Noa" }),
    )
    .await;
    // Thursday 09:00: Sam writes and nobody answers: past the 4-hour target it is overdue.
    writes(
        &app,
        &clock,
        "2026-11-05T09:00:00+02:00",
        "sms",
        "+972541000003",
        "Please call me",
    )
    .await;
    clock.set(at("2026-11-05T14:00:00+02:00"));
    let overdue_raised = async || {
        let response = app
            .request(Method::GET, "/v1/conversations/sam", &staff, None)
            .await;
        let conversation: Value = response.json().await.map_err(|e| e.to_string())?;
        let raised = conversation["events"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["type"] == "conversation_overdue"));
        if raised {
            Ok(())
        } else {
            Err(format!("not overdue yet: {conversation:#}"))
        }
    };
    medrelay_testkit::wait::within(Duration::from_secs(10))
        .until(overdue_raised)
        .await;
    let inbound = stats(&app, &staff, WEEK).await["inbound"].clone();

    // Four messages: Monday 10:00–11:00 ×2, Wednesday 22:00, Thursday 09:00.
    assert_eq!(inbound["messages"], 4);
    assert_eq!(inbound["by_hour_of_week"][1][10], 2);
    assert_eq!(inbound["by_hour_of_week"][3][22], 1);
    assert_eq!(inbound["by_hour_of_week"][4][9], 1);
    assert_eq!(
        inbound["peak_hours"],
        json!([
            { "day": "monday", "hour": 10, "messages": 2 },
            { "day": "wednesday", "hour": 22, "messages": 1 },
            { "day": "thursday", "hour": 9, "messages": 1 }
        ])
    );
    // Answered or handled after 5, 10 and 120 minutes; Sam's never.
    assert_eq!(
        inbound["response_time"],
        json!({ "samples": 3, "median_seconds": 600, "p90_seconds": 7200 })
    );
    assert_eq!(inbound["overdue"], 1);
    assert_eq!(inbound["confirmations"], 0);
    app.stop().await;
}
