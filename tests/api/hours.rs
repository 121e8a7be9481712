//! Messaging hours: normal notifications wait for the clinic's hours and the patient's waking
//! hours; urgent ones go at once; one whose next opening is past its expiry is never sent. The
//! application runs on a clock the test sets, so nothing here depends on when the suite runs.

use std::sync::Arc;

use jiff::Timestamp;
use medrelay::clock::AdjustableClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, appointment_reminders, event_details, reminder};

/// Thursday 3 December 2026, 23:30 in Jerusalem.
const THURSDAY_23_30: &str = "2026-12-03T23:30:00+02:00";
/// Friday 4 December 2026, 09:00 in Jerusalem: the next working day opens.
const FRIDAY_09_00: &str = "2026-12-04T09:00:00+02:00";

pub(crate) fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

/// The Israeli default hours: Sunday–Thursday 09:00–18:00, Friday 09:00–13:00, patients quiet
/// 21:00–08:00.
fn israeli_hours() -> Value {
    let weekday = json!([{ "start": "09:00", "end": "18:00" }]);
    json!({
        "week": {
            "sunday": weekday, "monday": weekday, "tuesday": weekday, "wednesday": weekday,
            "thursday": weekday, "friday": [{ "start": "09:00", "end": "13:00" }]
        },
        "holidays": [],
        "patient_quiet_hours": { "start": "21:00", "end": "08:00" }
    })
}

/// A clinic on Israeli hours, Dana as its patient in Jerusalem, and the clock at `now`.
pub(crate) async fn clinic_on_israeli_hours_at(now: &str) -> (TestApp, Arc<AdjustableClock>) {
    clinic_on_israeli_hours_with(now, |_| {}).await
}

/// [`clinic_on_israeli_hours_at`], with the settings adjusted.
pub(crate) async fn clinic_on_israeli_hours_with(
    now: &str,
    adjust: impl FnOnce(&mut medrelay::Config),
) -> (TestApp, Arc<AdjustableClock>) {
    let clock = Arc::new(AdjustableClock::default());
    clock.set(at(now));
    let app = TestApp::spawn_with_clock(adjust, clock.clone()).await;
    let admin = app.admin_key().await;
    let response = app
        .request(
            Method::PUT,
            "/v1/clinic/hours",
            &admin,
            Some(israeli_hours()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;
    (app, clock)
}

async fn receipt(app: &TestApp, body: Value) -> Value {
    let response = app.post_notification(body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.json().await.expect("receipt")
}

#[tokio::test]
async fn a_reminder_posted_at_23_30_is_scheduled_for_09_00_next_working_day_and_sent_then() {
    let (app, clock) = clinic_on_israeli_hours_at(THURSDAY_23_30).await;

    let receipt = receipt(&app, reminder()).await;
    let id = receipt["id"].as_str().expect("id");

    assert_eq!(receipt["status"], "scheduled");
    assert_eq!(
        at(receipt["send_at"].as_str().expect("send_at")),
        at(FRIDAY_09_00)
    );
    let waiting = app.notification(id).await;
    assert!(
        event_details(&waiting).contains(
            &"deferred to 2026-12-04T09:00+02:00[Asia/Jerusalem]: outside clinic hours \
              (Thursday 09:00–18:00); patient's quiet hours 21:00–08:00 (Asia/Jerusalem)"
                .to_owned()
        ),
        "{waiting:#}"
    );
    app.drain_dispatcher().await;
    assert_eq!(app.notification(id).await["status"], "scheduled");
    assert!(
        app.outbox("+972541234567").await.is_empty(),
        "nothing at night"
    );

    clock.set(at(FRIDAY_09_00));
    app.drain_dispatcher().await;
    let handed_over = app.notification(id).await;
    assert_eq!(
        handed_over["attempts"][0]["channel"], "whatsapp",
        "handed over and recorded once the dispatcher is drained: {handed_over:#}"
    );
    let sent = app.wait_for(id, &["delivered", "read"]).await;

    let attempt_at = at(sent["attempts"][0]["created_at"].as_str().expect("attempt"));
    assert!(attempt_at >= at(FRIDAY_09_00), "sent at {attempt_at}");
    assert_eq!(app.outbox("+972541234567").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_urgent_notification_at_23_30_goes_now_and_says_why() {
    let (app, _clock) = clinic_on_israeli_hours_at(THURSDAY_23_30).await;

    let mut urgent = reminder();
    urgent["priority"] = json!("urgent");
    let staff = app.staff_key().await;
    let response = app
        .request(Method::POST, "/v1/notifications", &staff, Some(urgent))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let receipt: Value = response.json().await.expect("receipt");
    let id = receipt["id"].as_str().expect("id");

    assert_eq!(receipt["status"], "queued");
    let sent = app.wait_for(id, &["delivered", "read"]).await;
    assert!(
        event_details(&sent).iter().any(|d| d.starts_with(
            "urgent: sent now, not deferred for outside clinic hours (Thursday 09:00–18:00)"
        )),
        "{sent:#}"
    );
    assert_eq!(app.outbox("+972541234567").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_reminder_that_expires_before_the_next_opening_is_expired_and_never_sent() {
    let (app, clock) = clinic_on_israeli_hours_at(THURSDAY_23_30).await;

    let mut reminder = reminder();
    reminder["expires_at"] = json!("2026-12-04T08:00:00+02:00");
    let receipt = receipt(&app, reminder).await;
    let id = receipt["id"].as_str().expect("id");

    assert_eq!(receipt["status"], "expired");
    let expired = app.notification(id).await;
    assert_eq!(expired["status"], "expired");
    assert!(
        event_details(&expired).iter().any(|d| d.starts_with(
            "expired: it could go no earlier than 2026-12-04T09:00+02:00[Asia/Jerusalem]"
        )),
        "{expired:#}"
    );
    clock.set(at(FRIDAY_09_00));
    app.drain_dispatcher().await;
    assert_eq!(app.notification(id).await["status"], "expired");
    assert!(app.outbox("+972541234567").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_patients_own_quiet_hours_count_in_the_patients_time_zone() {
    // The harness clinic is open around the clock; only the patient's night stands in the way.
    let clock = Arc::new(AdjustableClock::default());
    clock.set(at("2026-12-03T23:30:00+00:00"));
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    app.patient(
        "p-1",
        json!({
            "name": "Dana", "phone": "+972541234567", "timezone": "Europe/London",
            "quiet_hours": { "start": "22:00", "end": "07:30" }
        }),
    )
    .await;

    let receipt = receipt(&app, reminder()).await;

    assert_eq!(receipt["status"], "scheduled");
    assert_eq!(
        at(receipt["send_at"].as_str().expect("send_at")),
        at("2026-12-04T07:30:00+00:00")
    );
    let notification = app.notification(receipt["id"].as_str().expect("id")).await;
    assert!(
        event_details(&notification).contains(
            &"deferred to 2026-12-04T09:30+02:00[Asia/Jerusalem]: patient's quiet hours \
              22:00–07:30 (Europe/London)"
                .to_owned()
        ),
        "{notification:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn clinic_hours_are_read_and_replaced_with_an_admin_key_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let staff = app.staff_key().await;

    for key in [&app.key, &staff] {
        let response = app
            .request(Method::GET, "/v1/clinic/hours", key, None)
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = app
            .request(Method::PUT, "/v1/clinic/hours", key, Some(israeli_hours()))
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    let mut hours = israeli_hours();
    hours["holidays"] = json!(["2026-09-21"]);
    let response = app
        .request(Method::PUT, "/v1/clinic/hours", &admin, Some(hours.clone()))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let stored: Value = app
        .request(Method::GET, "/v1/clinic/hours", &admin, None)
        .await
        .json()
        .await
        .expect("hours");
    assert_eq!(stored["week"]["friday"], hours["week"]["friday"]);
    assert_eq!(
        stored["week"]["saturday"],
        json!([]),
        "a day left out is closed"
    );
    assert_eq!(stored["holidays"], json!(["2026-09-21"]));
    assert_eq!(stored["patient_quiet_hours"], hours["patient_quiet_hours"]);
    app.stop().await;
}

#[tokio::test]
async fn bad_clinic_hours_are_refused_naming_each_field_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await;
    let before: Value = app
        .request(Method::GET, "/v1/clinic/hours", &admin, None)
        .await
        .json()
        .await
        .expect("hours");

    let bad = json!({
        "week": {
            "sunday": [{ "start": "18:00", "end": "09:00" }],
            "monday": [{ "start": "9am", "end": "24:00" }],
            "tuesday": [{ "start": "08:00", "end": "12:00" }, { "start": "11:00", "end": "14:00" }]
        },
        "holidays": ["2026-02-30"],
        "patient_quiet_hours": { "start": "21:00", "end": "25:00" }
    });
    let response = app
        .request(Method::PUT, "/v1/clinic/hours", &admin, Some(bad))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.expect("problem");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        [
            "week.sunday[0].end",
            "week.monday[0].start",
            "week.tuesday",
            "holidays[0]",
            "patient_quiet_hours.end"
        ]
    );
    let unknown_day = app
        .request(
            Method::PUT,
            "/v1/clinic/hours",
            &admin,
            Some(json!({ "week": { "funday": [] } })),
        )
        .await;
    assert_eq!(unknown_day.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = unknown_day.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "week.funday");
    let after: Value = app
        .request(Method::GET, "/v1/clinic/hours", &admin, None)
        .await
        .json()
        .await
        .expect("hours");
    assert_eq!(after, before);
    app.stop().await;
}

#[tokio::test]
async fn a_patients_quiet_hours_are_kept_shown_and_checked() {
    let app = TestApp::spawn().await;

    let response = app
        .put_patient(
            "p-1",
            json!({ "name": "Dana", "quiet_hours": { "start": "22:00", "end": "07:00" } }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let patient: Value = response.json().await.expect("patient");
    assert_eq!(
        patient["quiet_hours"],
        json!({ "start": "22:00", "end": "07:00" })
    );

    let response = app
        .put_patient("p-1", json!({ "name": "Dana", "quiet_hours": null }))
        .await;
    let patient: Value = response.json().await.expect("patient");
    assert_eq!(patient["quiet_hours"], Value::Null, "the clinic's default");

    let response = app
        .put_patient(
            "p-1",
            json!({ "name": "Dana", "quiet_hours": { "start": "7", "end": "07:00" } }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "quiet_hours.start");
    app.stop().await;
}

/// Sunday 13 December 2026, 08:30 in Jerusalem: before the clinic opens, after a closed Saturday.
const SUNDAY_08_30: &str = "2026-12-13T08:30:00+02:00";

/// Books appointment `appointment_id` of `patient_id` at `starts_at`, then cancels it asking for
/// the patient to be told; the cancellation's answer.
async fn booked_then_cancelled_telling_the_patient(
    app: &TestApp,
    appointment_id: &str,
    patient_id: &str,
    starts_at: &str,
) -> Value {
    app.book_appointment(json!({
        "appointment_id": appointment_id, "patient_id": patient_id, "starts_at": starts_at
    }))
    .await;
    let response = app
        .request(
            Method::DELETE,
            &format!("/v1/appointments/{appointment_id}?notify_patient=true"),
            &app.key,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("appointment")
}

#[tokio::test]
async fn a_2h_reminder_for_sunday_08_30_is_scheduled_for_friday_12_30_and_sent_then_not_expired() {
    let (app, clock) = clinic_on_israeli_hours_at("2026-12-08T10:00:00+02:00").await;

    let booked = app
        .book_appointment(json!({ "patient_id": "p-1", "starts_at": SUNDAY_08_30 }))
        .await;

    // 2d (Friday 08:30) is before opening: Thursday, half an hour before 18:00. 2h (Sunday
    // 06:30) has Saturday closed before it: Friday, half an hour before 13:00.
    let thursday = at("2026-12-10T17:30:00+02:00");
    let friday = at("2026-12-11T12:30:00+02:00");
    let appointment = at(SUNDAY_08_30);
    assert_eq!(
        appointment_reminders(&booked),
        [
            (
                "2d".to_owned(),
                thursday,
                appointment,
                "scheduled".to_owned()
            ),
            ("2h".to_owned(), friday, appointment, "scheduled".to_owned()),
        ]
    );
    let two_hours = booked["reminders"][1]["notification_id"]
        .as_str()
        .expect("id");
    let waiting = app.notification(two_hours).await;
    assert!(
        event_details(&waiting)[0].ends_with(
            "the 2h reminder, scheduled for 2026-12-11T12:30+02:00[Asia/Jerusalem], the latest \
             moment the hours allow before its time 2026-12-13T04:30:00Z (outside clinic hours \
             (Sunday 09:00–18:00); patient's quiet hours 21:00–08:00 (Asia/Jerusalem))"
        ),
        "{waiting:#}"
    );

    clock.set(thursday);
    app.drain_dispatcher().await;
    let two_days = booked["reminders"][0]["notification_id"]
        .as_str()
        .expect("id");
    app.wait_for(two_days, &["delivered", "read"]).await;
    clock.set(friday);
    app.drain_dispatcher().await;

    let sent = app.wait_for(two_hours, &["delivered", "read"]).await;
    let attempt_at = at(sent["attempts"][0]["created_at"].as_str().expect("attempt"));
    assert!(
        friday <= attempt_at && attempt_at < at("2026-12-11T12:31:00+02:00"),
        "handed over at its send_at, not deferred: {sent:#}"
    );
    let outbox = app.outbox("+972541234567").await;
    assert_eq!(outbox.len(), 2, "both reminders: {outbox:#?}");
    app.stop().await;
}

#[tokio::test]
async fn a_reminder_with_no_allowed_moment_before_the_appointment_is_left_out_saying_why() {
    // Saturday evening: Friday has passed, and Sunday opens after the appointment.
    let (app, _clock) = clinic_on_israeli_hours_at("2026-12-12T20:00:00+02:00").await;

    let booked = app
        .book_appointment(json!({ "patient_id": "p-1", "starts_at": SUNDAY_08_30 }))
        .await;

    assert_eq!(booked["reminders"], json!([]), "{booked:#}");
    assert_eq!(
        booked["skipped_reminders"][1],
        json!({
            "before": "2h",
            "reason": "no moment the hours allow near its time (2026-12-13T04:30:00Z) before the \
                       appointment: outside clinic hours (Sunday 09:00–18:00); patient's quiet \
                       hours 21:00–08:00 (Asia/Jerusalem)"
        })
    );
    app.stop().await;
}

#[tokio::test]
async fn a_cancellation_at_22_00_for_08_30_tomorrow_reaches_the_patient_now_in_their_language() {
    let (app, _clock) = clinic_on_israeli_hours_at("2026-12-08T22:00:00+02:00").await;
    app.patient(
        "p-2",
        json!({ "name": "Olga", "language": "ru", "phone": "+972541234568" }),
    )
    .await;
    let cancelled =
        booked_then_cancelled_telling_the_patient(&app, "A-7", "p-2", "2026-12-09T08:30:00+02:00")
            .await;

    let notice = &cancelled["patient_notice"];
    assert_eq!(notice["status"], "queued", "{cancelled:#}");
    let send_at = at(notice["send_at"].as_str().expect("send_at"));
    assert!(send_at < at("2026-12-08T22:01:00+02:00"), "now: {send_at}");
    app.drain_dispatcher().await;
    let id = notice["notification_id"].as_str().expect("id");
    let sent = app.wait_for(id, &["delivered", "read"]).await;
    assert_eq!(sent["topic"], "appointment_cancellation");
    assert_eq!(
        sent["priority"], "urgent",
        "the clinic opens after the appointment"
    );
    let events = event_details(&sent);
    assert!(
        events[0].ends_with(
            "the patient is told; urgent: it goes at once, as the hours would not let it arrive \
             an hour before 2026-12-09T06:30:00Z; template appointment_cancellation: the \
             built-in copy in ru"
        ),
        "{sent:#}"
    );
    assert!(
        events
            .iter()
            .any(|d| d.starts_with("urgent: sent now, not deferred for")),
        "{sent:#}"
    );
    let outbox = app.outbox("+972541234568").await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        outbox[0]["body"],
        "Здравствуйте, Olga! Ваш приём в Clinic hadar 09.12.2026 в 08:30 отменён."
    );
    app.stop().await;
}

#[tokio::test]
async fn a_cancellation_that_the_hours_still_deliver_in_time_waits_for_them() {
    let (app, _clock) = clinic_on_israeli_hours_at("2026-12-08T22:00:00+02:00").await;
    let cancelled =
        booked_then_cancelled_telling_the_patient(&app, "A-8", "p-1", "2026-12-09T14:00:00+02:00")
            .await;

    let again = app
        .request(
            Method::DELETE,
            "/v1/appointments/A-8?notify_patient=true",
            &app.key,
            None,
        )
        .await;

    let notice = &cancelled["patient_notice"];
    assert_eq!(notice["status"], "scheduled", "{cancelled:#}");
    assert_eq!(
        at(notice["send_at"].as_str().expect("send_at")),
        at("2026-12-09T09:00:00+02:00")
    );
    let again: Value = again.json().await.expect("appointment");
    assert_eq!(
        again["patient_notice"],
        json!({ "not_sent": "the appointment was already cancelled; a notice goes only with the \
                              cancellation" }),
        "one notice per cancellation"
    );
    app.stop().await;
}
