use std::sync::{Arc, Mutex};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use medrelay::Config;
use medrelay::clock::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, appointment_reminders as reminders, event_details, reminder};

/// Tuesday 24 November 2026, 10:00 in Jerusalem (the clinic's zone): a working morning.
const TUESDAY_MORNING: &str = "2026-11-24T08:00:00Z";
/// The appointment: Tuesday 1 December 2026 at 09:30 in Jerusalem.
const APPOINTMENT: &str = "2026-12-01T09:30:00+02:00";

/// A clock that starts at a chosen moment, runs like the real one, and can jump ahead.
#[derive(Debug)]
struct TestClock {
    start: Timestamp,
    started: Instant,
    jumped: Mutex<SignedDuration>,
}

impl TestClock {
    fn at(start: &str) -> Arc<Self> {
        Arc::new(Self {
            start: start.parse().expect("start"),
            started: Instant::now(),
            jumped: Mutex::new(SignedDuration::ZERO),
        })
    }

    fn jump(&self, by: SignedDuration) {
        *self.jumped.lock().expect("clock") += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.started.elapsed()).expect("elapsed");
        let now = self.start + elapsed + *self.jumped.lock().expect("clock");
        Timestamp::from_millisecond(now.as_millisecond()).expect("now")
    }
}

async fn clinic_at(clock: Arc<TestClock>, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let app = TestApp::spawn_with_clock(adjust, clock).await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@example.org" }),
    )
    .await;
    app
}

async fn appointment(app: &TestApp, id: &str) -> Value {
    let response = app
        .request(
            Method::GET,
            &format!("/v1/appointments/{id}"),
            &app.key,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("appointment")
}

fn ts(value: &Value) -> Timestamp {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a timestamp: {value}"))
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

#[tokio::test]
async fn a_booked_appointment_gets_reminders_two_days_and_two_hours_before_that_expire_at_it() {
    let app = clinic_at(TestClock::at(TUESDAY_MORNING), |_| {}).await;

    let booked = app
        .book_appointment(
            json!({ "appointment_id": "A-100", "patient_id": "p-1", "starts_at": APPOINTMENT }),
        )
        .await;

    assert_eq!(booked["appointment_id"], "A-100");
    assert_eq!(booked["status"], "booked");
    let starts = at(APPOINTMENT);
    assert_eq!(
        reminders(&booked),
        [
            (
                "2d".to_owned(),
                at("2026-11-29T09:30:00+02:00"),
                starts,
                "scheduled".to_owned()
            ),
            (
                "2h".to_owned(),
                at("2026-12-01T07:30:00+02:00"),
                starts,
                "scheduled".to_owned()
            ),
        ]
    );
    let id = booked["reminders"][0]["notification_id"]
        .as_str()
        .expect("id");
    let notification = app.notification(id).await;
    assert_eq!(notification["topic"], "appointment_reminder");
    assert_eq!(notification["template"], "appointment_reminder");
    assert_eq!(
        notification["params"],
        json!({ "date": "01.12.2026", "time": "09:30" }),
        "the date and time as the clinic's calendar in Jerusalem shows them"
    );
    assert!(
        event_details(&notification)[0]
            .contains("the 2d reminder, scheduled for 2026-11-29T07:30:00Z"),
        "{notification:#}"
    );
    assert_eq!(appointment(&app, "A-100").await["id"], booked["id"]);
    app.stop().await;
}

#[tokio::test]
async fn a_reminder_whose_time_has_passed_is_left_out_with_its_reason() {
    let app = clinic_at(TestClock::at("2026-11-30T08:00:00Z"), |_| {}).await;

    let booked = app
        .book_appointment(json!({ "patient_id": "p-1", "starts_at": APPOINTMENT }))
        .await;

    let kept: Vec<String> = reminders(&booked).into_iter().map(|r| r.0).collect();
    assert_eq!(kept, ["2h"]);
    assert_eq!(booked["skipped_reminders"][0]["before"], "2d");
    assert_eq!(
        booked["skipped_reminders"][0]["reason"],
        "its time (2026-11-29T07:30:00Z, 2d before the appointment) had already passed; \
         the 2h reminder reaches the patient instead"
    );
    app.stop().await;
}

#[tokio::test]
async fn moving_the_appointment_moves_its_pending_reminders_with_their_date_and_time() {
    let app = clinic_at(TestClock::at(TUESDAY_MORNING), |_| {}).await;
    let booked = app.book_appointment(json!({ "appointment_id": "A-7", "patient_id": "p-1", "starts_at": APPOINTMENT, "params": {} }),
    )
    .await;

    let response = app
        .request(
            Method::PUT,
            "/v1/appointments/A-7",
            &app.key,
            Some(json!({ "starts_at": "2026-12-03T14:00:00+02:00" })),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let moved: Value = response.json().await.expect("appointment");
    let new_start = at("2026-12-03T14:00:00+02:00");
    assert_eq!(ts(&moved["starts_at"]), new_start);
    assert_eq!(
        reminders(&moved),
        [
            (
                "2d".to_owned(),
                at("2026-12-01T14:00:00+02:00"),
                new_start,
                "scheduled".to_owned()
            ),
            (
                "2h".to_owned(),
                at("2026-12-03T12:00:00+02:00"),
                new_start,
                "scheduled".to_owned()
            ),
        ]
    );
    assert_eq!(
        moved["reminders"][1]["notification_id"], booked["reminders"][1]["notification_id"],
        "the same reminders, moved"
    );
    let id = moved["reminders"][1]["notification_id"]
        .as_str()
        .expect("id");
    let notification = app.notification(id).await;
    assert_eq!(
        notification["params"],
        json!({ "date": "03.12.2026", "time": "14:00" })
    );
    let moved_event = notification["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "moved")
        .expect("a moved event");
    assert!(
        moved_event["detail"].as_str().is_some_and(|d| d.contains(
            "moved from 2026-12-01T07:30:00Z to 2026-12-03T12:00:00Z by booking key"
        ) && d.contains("the 2h reminder is now scheduled for 2026-12-03T10:00:00Z (was 2026-12-01T05:30:00Z)")),
        "{moved_event:#}"
    );
    assert_eq!(moved_event["type"], "reminder_moved");
    assert_eq!(moved_event["data"]["change"]["type"], "moved");
    assert_eq!(
        moved_event["data"]["timing"],
        json!({ "type": "scheduled_for", "at": "2026-12-03T10:00:00Z" })
    );
    assert!(
        moved_event["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("key:key_")),
        "the booking key moved it: {moved_event:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn moving_closer_cancels_a_reminder_whose_time_has_passed_and_moving_away_brings_it_back() {
    let app = clinic_at(TestClock::at(TUESDAY_MORNING), |_| {}).await;
    let booked = app
        .book_appointment(
            json!({ "appointment_id": "A-9", "patient_id": "p-1", "starts_at": APPOINTMENT }),
        )
        .await;
    let move_to = |starts_at: &str| {
        app.request(
            Method::PUT,
            "/v1/appointments/A-9",
            &app.key,
            Some(json!({ "starts_at": starts_at })),
        )
    };

    // Tomorrow at 15:00: two days before is already past.
    let closer: Value = move_to("2026-11-25T15:00:00+02:00")
        .await
        .json()
        .await
        .expect("appointment");
    let statuses: Vec<(String, String)> =
        reminders(&closer).into_iter().map(|r| (r.0, r.3)).collect();
    assert_eq!(
        statuses,
        [
            ("2d".to_owned(), "cancelled".to_owned()),
            ("2h".to_owned(), "scheduled".to_owned())
        ]
    );
    assert_eq!(closer["skipped_reminders"][0]["before"], "2d");
    let first_2d = booked["reminders"][0]["notification_id"]
        .as_str()
        .expect("id");
    assert!(
        event_details(&app.notification(first_2d).await)
            .iter()
            .any(|d| d.contains("the 2d reminder is left out: its time")
                && d.contains("had already passed")),
    );

    let later: Value = move_to("2026-12-10T10:00:00+02:00")
        .await
        .json()
        .await
        .expect("appointment");
    let live: Vec<(String, Timestamp, String)> = reminders(&later)
        .into_iter()
        .filter(|r| r.3 == "scheduled")
        .map(|r| (r.0, r.1, r.3))
        .collect();
    assert_eq!(
        live,
        [
            (
                "2h".to_owned(),
                at("2026-12-10T08:00:00+02:00"),
                "scheduled".to_owned()
            ),
            (
                "2d".to_owned(),
                at("2026-12-08T10:00:00+02:00"),
                "scheduled".to_owned()
            ),
        ],
        "a new 2d reminder; the 2h one moved"
    );
    assert_eq!(later["skipped_reminders"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_cancelled_appointments_reminders_are_cancelled_and_never_sent() {
    let clock = TestClock::at(TUESDAY_MORNING);
    let app = clinic_at(Arc::clone(&clock), |config| {
        config.appointments.reminder_offsets = vec!["30m".to_owned()];
    })
    .await;
    app.patient(
        "p-2",
        json!({ "name": "Omar", "email": "omar@example.org" }),
    )
    .await;
    // Noon in Jerusalem: each reminder is due at 11:30.
    let noon = "2026-11-24T12:00:00+02:00";
    let cancelled = app
        .book_appointment(json!({ "patient_id": "p-1", "starts_at": noon }))
        .await;
    let kept = app
        .book_appointment(json!({ "patient_id": "p-2", "starts_at": noon }))
        .await;

    let id = cancelled["id"].as_str().expect("id");
    let response = app
        .request(
            Method::DELETE,
            &format!("/v1/appointments/{id}"),
            &app.key,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let after: Value = response.json().await.expect("appointment");
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["reminders"][0]["status"], "cancelled");

    clock.jump(SignedDuration::from_mins(100));
    let sent = kept["reminders"][0]["notification_id"]
        .as_str()
        .expect("id");
    assert_eq!(app.wait_until_finished(sent).await["status"], "sent");
    let reminder_id = after["reminders"][0]["notification_id"]
        .as_str()
        .expect("id");
    let reminder = app.notification(reminder_id).await;
    assert_eq!(reminder["status"], "cancelled");
    assert!(
        event_details(&reminder)
            .iter()
            .any(|d| d.starts_with(&format!(
                "cancelled: appointment {id} at 2026-11-24T10:00:00Z was cancelled by booking key"
            ))),
        "{reminder:#}"
    );
    assert!(app.outbox("dana@example.org").await.is_empty());
    assert_eq!(app.outbox("omar@example.org").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn booking_again_with_the_same_appointment_id_is_a_replay_and_other_details_conflict() {
    let app = clinic_at(TestClock::at(TUESDAY_MORNING), |_| {}).await;
    let request = json!({ "appointment_id": "A-1", "patient_id": "p-1", "starts_at": APPOINTMENT });
    let first = app.book_appointment(request.clone()).await;

    let again = app.book_appointment(request).await;
    let other = app
        .request(
            Method::POST,
            "/v1/appointments",
            &app.key,
            Some(json!({ "appointment_id": "A-1", "patient_id": "p-1", "starts_at": "2026-12-02T09:30:00+02:00" })),
        )
        .await;

    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["reminders"], first["reminders"], "no second series");
    assert_eq!(other.status(), StatusCode::CONFLICT);
    app.stop().await;
}

#[tokio::test]
async fn a_cancelled_appointment_id_is_booked_again_with_post_and_put_says_so() {
    let app = clinic_at(TestClock::at(TUESDAY_MORNING), |_| {}).await;
    let request = json!({ "appointment_id": "A-1", "patient_id": "p-1", "starts_at": APPOINTMENT });
    let first = app.book_appointment(request.clone()).await;
    let cancelled = app
        .request(Method::DELETE, "/v1/appointments/A-1", &app.key, None)
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);

    let moved = app
        .request(
            Method::PUT,
            "/v1/appointments/A-1",
            &app.key,
            Some(json!({ "starts_at": "2026-12-02T09:30:00+02:00" })),
        )
        .await;
    let again = app.book_appointment(request).await;

    assert_eq!(moved.status(), StatusCode::CONFLICT);
    let problem: Value = moved.json().await.expect("problem");
    assert_eq!(
        problem["detail"],
        "the appointment is cancelled; to book it again, POST /v1/appointments with its \
         appointment_id and the new starts_at"
    );
    assert_eq!(
        again["id"], first["id"],
        "the same appointment, booked again"
    );
    assert_eq!(again["status"], "booked");
    let statuses: Vec<(String, String)> = reminders(&again)
        .into_iter()
        .map(|(before, _, _, status)| (before, status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("2d".to_owned(), "cancelled".to_owned()),
            ("2h".to_owned(), "cancelled".to_owned()),
            ("2d".to_owned(), "scheduled".to_owned()),
            ("2h".to_owned(), "scheduled".to_owned()),
        ],
        "the cancelled booking's reminders stay as they were; the new booking has its own"
    );
    let new_reminder = again["reminders"][2]["notification_id"]
        .as_str()
        .expect("id");
    assert!(
        event_details(&app.notification(new_reminder).await)[0]
            .contains("booked again after its cancellation"),
    );
    assert_eq!(appointment(&app, "A-1").await["status"], "booked");
    app.stop().await;
}

#[tokio::test]
async fn moving_with_notify_patient_confirms_the_new_time_in_the_patients_language() {
    let app = clinic_at(TestClock::at(TUESDAY_MORNING), |_| {}).await;
    app.patient(
        "p-3",
        json!({ "name": "Samir", "language": "ar", "email": "samir@example.org" }),
    )
    .await;
    app.book_appointment(
        json!({ "appointment_id": "A-3", "patient_id": "p-3", "starts_at": APPOINTMENT }),
    )
    .await;

    let quiet_move = app
        .request(
            Method::PUT,
            "/v1/appointments/A-3",
            &app.key,
            Some(json!({ "starts_at": "2026-12-02T09:30:00+02:00" })),
        )
        .await;
    let response = app
        .request(
            Method::PUT,
            "/v1/appointments/A-3",
            &app.key,
            Some(json!({ "starts_at": "2026-12-03T11:00:00+02:00", "notify_patient": true })),
        )
        .await;

    assert_eq!(quiet_move.status(), StatusCode::OK);
    let quiet: Value = quiet_move.json().await.expect("appointment");
    assert_eq!(quiet.get("patient_notice"), None, "no notice unless asked");
    assert_eq!(response.status(), StatusCode::OK);
    let moved: Value = response.json().await.expect("appointment");
    let id = moved["patient_notice"]["notification_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a notice: {moved:#}"));
    let sent = app.wait_until_finished(id).await;
    assert_eq!(sent["topic"], "appointment_confirmation");
    assert_eq!(sent["priority"], "normal");
    let outbox = app.outbox("samir@example.org").await;
    assert_eq!(
        outbox.len(),
        1,
        "one notice, for the move that asked for it"
    );
    assert!(
        outbox[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("تم تأكيد موعدك") && b.contains("03.12.2026")),
        "{outbox:#?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn reminders_neither_count_against_nor_are_refused_by_the_patient_cap() {
    let app = clinic_at(TestClock::at(TUESDAY_MORNING), |config| {
        config.api.patient_daily_cap = 1;
        config.appointments.reminder_offsets =
            vec!["3d".to_owned(), "2d".to_owned(), "2h".to_owned()];
    })
    .await;

    let booked = app
        .book_appointment(json!({ "patient_id": "p-1", "starts_at": APPOINTMENT }))
        .await;

    assert_eq!(reminders(&booked).len(), 3);
    app.notify(reminder()).await;
    app.stop().await;
}

#[tokio::test]
async fn bad_appointments_are_refused_with_every_field_and_rule_named() {
    let app = clinic_at(TestClock::at(TUESDAY_MORNING), |_| {}).await;
    let refused = |body: Value| {
        let app = &app;
        async move {
            let response = app
                .request(Method::POST, "/v1/appointments", &app.key, Some(body))
                .await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
            let problem: Value = response.json().await.expect("problem");
            problem["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(
        refused(json!({
            "appointment_id": "A 1", "patient_id": "nobody", "starts_at": "next tuesday",
            "topic": "gossip", "params": { "date": "01.12", "room": "4" }
        }))
        .await,
        [
            "appointment_id",
            "starts_at",
            "topic",
            "params.date",
            "patient_id"
        ],
        "extra params are checked against the copy the patient gets, once the patient is known"
    );
    assert_eq!(
        refused(json!({
            "patient_id": "p-1", "starts_at": APPOINTMENT, "params": { "room": "4" }
        }))
        .await,
        ["params.room"]
    );
    assert_eq!(
        refused(json!({ "patient_id": "p-1", "starts_at": "2026-11-23T09:00:00+02:00" })).await,
        ["starts_at"],
        "an appointment in the past"
    );
    assert_eq!(
        refused(json!({ "patient_id": "p-1", "starts_at": APPOINTMENT, "template": "nope" })).await,
        ["template"]
    );
    assert_eq!(
        refused(json!({ "starts_at": APPOINTMENT })).await,
        ["patient_id"]
    );
    assert_eq!(
        refused(json!({ "patient_id": "p-1", "starts_at": APPOINTMENT, "when": "soon" })).await,
        ["when"]
    );
    let bad_move = app
        .request(
            Method::PUT,
            "/v1/appointments/A-404",
            &app.key,
            Some(json!({ "starts_at": APPOINTMENT })),
        )
        .await;
    assert_eq!(bad_move.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn another_clinic_cannot_see_or_change_the_appointment() {
    let app = clinic_at(TestClock::at(TUESDAY_MORNING), |_| {}).await;
    app.book_appointment(
        json!({ "appointment_id": "A-1", "patient_id": "p-1", "starts_at": APPOINTMENT }),
    )
    .await;
    let other = app.other_clinic_key().await;

    for method in [Method::GET, Method::DELETE] {
        let response = app
            .request(method, "/v1/appointments/A-1", &other, None)
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(appointment(&app, "A-1").await["status"], "booked");
    app.stop().await;
}
