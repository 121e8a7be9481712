//! The console's appointments page: a day of the clinic's calendar with each appointment's
//! status and its reminders, the patient's confirmation included.

use std::sync::Arc;
use std::time::Duration;

use medrelay::clock::AdjustableClock;
use medrelay::store::ApiKeyRole;
use medrelay_testkit::wait;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::hours::at;

/// Sunday 6 December 2026, 10:00 in Jerusalem.
const SUNDAY_10_00: &str = "2026-12-06T10:00:00+02:00";
const DANA: &str = "+972541000021";

async fn clinic_on_sunday() -> TestApp {
    let clock = Arc::new(AdjustableClock::default());
    clock.set(at(SUNDAY_10_00));
    TestApp::spawn_with_clock(|_| {}, clock).await
}

async fn appointment(app: &TestApp, id: &str) -> Value {
    let path = format!("/v1/appointments/{id}");
    let response = app.request(Method::GET, &path, &app.key, None).await;
    response.json().await.expect("appointment")
}

/// Dana (SMS) at 11:30 and Omer at 14:00 on Sunday; Dana answers her reminder with "1", which
/// confirms she is coming.
async fn a_sunday_with_a_confirmation(app: &TestApp) {
    app.patient(
        "p-1",
        json!({ "name": "Dana Peretz", "phone": DANA, "channels": ["sms"] }),
    )
    .await;
    app.patient(
        "p-2",
        json!({ "name": "Omer Ben-David", "phone": "+972541000022" }),
    )
    .await;
    let dana = app
        .book_appointment(json!({ "patient_id": "p-1", "starts_at": "2026-12-06T11:30:00+02:00" }))
        .await;
    app.book_appointment(json!({ "patient_id": "p-2", "starts_at": "2026-12-06T14:00:00+02:00" }))
        .await;
    let dana = dana["id"].as_str().expect("id").to_owned();
    // The reply answers the reminder the gateway knows it delivered.
    wait::within(Duration::from_secs(10))
        .until(async || {
            let now = appointment(app, &dana).await;
            let reminders = now["reminders"].as_array().cloned().unwrap_or_default();
            match reminders.iter().any(|r| r["status"] == "delivered") {
                true => Ok(()),
                false => Err(format!("no reminder delivered yet: {now:#}")),
            }
        })
        .await;
    app.patient_sends(json!({ "channel": "sms", "from": DANA, "text": "1" }))
        .await;
    wait::within(Duration::from_secs(10))
        .until(async || {
            let now = appointment(app, &dana).await;
            match now["status"].as_str() {
                Some("confirmed") => Ok(()),
                _ => Err(format!("not confirmed yet: {now:#}")),
            }
        })
        .await;
}

#[tokio::test]
async fn a_day_lists_its_appointments_in_time_order_with_confirmations_and_reminders() {
    let app = clinic_on_sunday().await;
    a_sunday_with_a_confirmation(&app).await;
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console.page("/console/appointments").await;

    assert!(
        page.contains("Appointments on 2026-12-06"),
        "today by default"
    );
    let dana = page
        .find(r#"<a href="/console/patients/p-1"><bdi>Dana Peretz</bdi></a>"#)
        .expect("Dana's row, her name leading to her card");
    let omer = page.find("<bdi>Omer Ben-David</bdi>").expect("Omer's row");
    assert!(dana < omer, "earliest first");
    let dana_row = &page[dana..omer];
    assert!(dana_row.contains("Confirmed by the patient"), "{dana_row}");
    assert!(
        dana_row.contains(r#"<span class="status-"#),
        "a reminder: {dana_row}"
    );
    assert!(page[omer..].contains(">Booked</span>"));
    assert!(page.contains("Confirmed by the patient: <strong>1</strong>"));
    assert!(
        page.contains(r#"href="/console/appointments?day=2026-12-07""#),
        "next day"
    );
    app.stop().await;
}

#[tokio::test]
async fn another_day_is_picked_on_the_calendar_and_a_day_without_appointments_says_so() {
    let app = clinic_on_sunday().await;
    a_sunday_with_a_confirmation(&app).await;
    let console = app.console(ApiKeyRole::Staff).await;

    let monday = console.page("/console/appointments?day=2026-12-07").await;
    let nonsense = console.get("/console/appointments?day=7.12.2026").await;

    assert!(monday.contains("No appointments on this day."));
    assert!(!monday.contains("Dana Peretz"));
    assert_eq!(nonsense.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let nonsense = nonsense.text().await.expect("page");
    assert!(nonsense.contains("Choose a day on the calendar."));
    app.stop().await;
}

#[tokio::test]
async fn another_clinics_appointments_never_show() {
    let app = clinic_on_sunday().await;
    let other = app.other_clinic_key().await;
    let patient = json!({ "name": "Shira Other", "phone": "+972541000023" });
    let put = app
        .request(Method::PUT, "/v1/patients/p-9", &other, Some(patient))
        .await;
    assert!(put.status().is_success());
    let booking = json!({ "patient_id": "p-9", "starts_at": "2026-12-06T12:00:00+02:00" });
    let booked = app
        .request(Method::POST, "/v1/appointments", &other, Some(booking))
        .await;
    assert_eq!(booked.status(), StatusCode::CREATED);
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console.page("/console/appointments?day=2026-12-06").await;

    assert!(!page.contains("Shira Other"));
    assert!(page.contains("No appointments on this day."));
    app.stop().await;
}
