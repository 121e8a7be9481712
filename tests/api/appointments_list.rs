//! `GET /v1/appointments`: a booking system reads the clinic's appointments by patient or by day
//! of the clinic's calendar (Asia/Jerusalem), optionally of one status, earliest first, a page
//! at a time, each with its reminders.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::conversations::get;
use crate::harness::{TestApp, problem_fields};

/// Three appointments: Dana's at 09:00 (cancelled) and 23:30 on 10 March 2027, Omer's at 00:30
/// the next day in Jerusalem, which is still 10 March in UTC.
async fn app_with_appointments() -> (TestApp, [String; 3]) {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;
    app.patient("p-2", json!({ "name": "Omer", "phone": "+972541234568" }))
        .await;
    let book = async |patient: &str, starts_at: &str| {
        let booked = app
            .book_appointment(json!({ "patient_id": patient, "starts_at": starts_at }))
            .await;
        booked["id"].as_str().expect("id").to_owned()
    };
    let morning = book("p-1", "2027-03-10T09:00:00+02:00").await;
    let night = book("p-1", "2027-03-10T23:30:00+02:00").await;
    let after_midnight = book("p-2", "2027-03-11T00:30:00+02:00").await;
    let cancelled = app
        .request(
            Method::DELETE,
            &format!("/v1/appointments/{morning}"),
            &app.key,
            None,
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    (app, [morning, night, after_midnight])
}

fn ids(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect()
}

async fn list(app: &TestApp, query: &str) -> Value {
    let (status, list) = get(app, &app.key, &format!("/v1/appointments?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{list:#}");
    list
}

#[tokio::test]
async fn a_day_is_a_day_of_the_clinics_calendar() {
    let (app, [morning, night, after_midnight]) = app_with_appointments().await;

    let tenth = list(&app, "day=2027-03-10").await;
    let eleventh = list(&app, "day=2027-03-11").await;

    assert_eq!(ids(&tenth), [morning.as_str(), night.as_str()]);
    assert_eq!(ids(&eleventh), [after_midnight.as_str()]);
    assert_eq!(eleventh["items"][0]["patient_id"], "p-2");
    assert!(
        !eleventh["items"][0]["reminders"]
            .as_array()
            .expect("reminders")
            .is_empty(),
        "each item has its reminders: {eleventh:#}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_patients_appointments_come_earliest_first_and_a_status_narrows_them() {
    let (app, [morning, night, _]) = app_with_appointments().await;

    let all = list(&app, "patient_id=p-1").await;
    let booked = list(&app, "patient_id=p-1&status=booked").await;

    assert_eq!(ids(&all), [morning.as_str(), night.as_str()]);
    assert_eq!(all["items"][0]["status"], "cancelled");
    assert_eq!(ids(&booked), [night.as_str()]);
    app.stop().await;
}

#[tokio::test]
async fn pages_follow_their_cursor_and_show_every_appointment_once() {
    let (app, booked) = app_with_appointments().await;

    let mut seen = Vec::new();
    let mut query = "limit=1".to_owned();
    loop {
        let page = list(&app, &query).await;
        seen.extend(ids(&page).into_iter().map(str::to_owned));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=1&cursor={cursor}"),
            None => break,
        }
    }

    assert_eq!(seen, booked);
    app.stop().await;
}

#[tokio::test]
async fn a_bad_day_status_or_cursor_is_refused_naming_each_field() {
    let (app, _) = app_with_appointments().await;

    let (status, problem) = get(
        &app,
        &app.key,
        "/v1/appointments?day=10.03.2027&status=gone&cursor=x",
    )
    .await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = problem_fields(&problem);
    assert_eq!(fields, ["day", "status", "cursor"]);
    app.stop().await;
}

#[tokio::test]
async fn another_clinics_appointments_are_never_listed() {
    let (app, _) = app_with_appointments().await;
    let other = app.other_clinic_key().await;

    let (_, listed) = get(&app, &other, "/v1/appointments?patient_id=p-1").await;

    assert_eq!(listed["items"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn an_appointments_reference_and_metadata_come_back_everywhere_and_never_change() {
    let (app, _) = app_with_appointments().await;
    let marks = json!({ "room": 4, "first_visit": true, "doctor": "ד\"ר לוי" });
    let booked = app
        .book_appointment(json!({
            "patient_id": "p-2", "starts_at": "2027-03-12T10:00:00+02:00",
            "reference": "booking-48213", "metadata": marks
        }))
        .await;
    let id = booked["id"].as_str().expect("id");
    let path = format!("/v1/appointments/{id}");

    let (_, read) = get(&app, &app.key, &path).await;
    let listed = list(&app, "day=2027-03-12").await;
    let moved = app
        .request(
            Method::PUT,
            &path,
            &app.key,
            Some(json!({ "starts_at": "2027-03-12T11:00:00+02:00", "reference": "booking-48213" })),
        )
        .await;
    let changed = app
        .request(
            Method::PUT,
            &path,
            &app.key,
            Some(json!({ "starts_at": "2027-03-12T12:00:00+02:00", "metadata": { "room": 5 } })),
        )
        .await;

    for answer in [&booked, &read, &listed["items"][0]] {
        assert_eq!(answer["reference"], "booking-48213", "{answer:#}");
        assert_eq!(answer["metadata"], marks);
    }
    assert_eq!(moved.status(), StatusCode::OK);
    assert_eq!(changed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = changed.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "metadata");
    let (_, after) = get(&app, &app.key, &path).await;
    assert_eq!(after["metadata"], marks);
    assert_eq!(after["starts_at"], "2027-03-12T09:00:00Z");
    app.stop().await;
}

#[tokio::test]
async fn a_booking_without_metadata_shows_an_empty_object_and_bad_marks_are_refused() {
    let (app, _) = app_with_appointments().await;

    let plain = app
        .book_appointment(json!({ "patient_id": "p-2", "starts_at": "2027-03-12T10:00:00+02:00" }))
        .await;
    let refused = app
        .request(
            Method::POST,
            "/v1/appointments",
            &app.key,
            Some(json!({
                "patient_id": "p-2", "starts_at": "2027-03-13T10:00:00+02:00",
                "reference": "two\nlines", "metadata": { "nested": { "a": 1 } }
            })),
        )
        .await;

    assert_eq!(plain["reference"], Value::Null);
    assert_eq!(plain["metadata"], json!({}));
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.expect("problem");
    let fields = problem_fields(&problem);
    assert_eq!(fields, ["reference", "metadata.nested"]);
    app.stop().await;
}
