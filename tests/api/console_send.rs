//! The console's send page: the message in the patient's language, the routing preview from the
//! dispatcher's own decision, sending through intake in the staff member's name, and the right
//! patient's one confirmation.

use std::sync::Arc;

use medrelay::clock::AdjustableClock;
use medrelay::domain::ClinicHours;
use medrelay::store::ApiKeyRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console_harness::{Console, location};
use crate::harness::TestApp;

/// Posts the send form for a text to `patient`, confirmed or not.
async fn send_text(console: &Console, patient: &str, confirmed: bool) -> reqwest::Response {
    let mut fields = vec![
        ("patient", patient),
        ("topic", "general"),
        ("kind", "text"),
        ("body", "The clinic is closed on Friday."),
    ];
    if confirmed {
        fields.push(("right_patient", "yes"));
    }
    console.post("/console/send", &fields).await
}

/// The id of the notification a send redirected to.
fn sent_id(answer: &reqwest::Response) -> String {
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let to = location(answer);
    to.strip_prefix("/console/notifications/")
        .unwrap_or_else(|| panic!("redirected to {to}"))
        .to_owned()
}

async fn notifications_of(app: &TestApp, patient: &str) -> usize {
    let answer = app
        .request(
            Method::GET,
            &format!("/v1/notifications?patient_id={patient}"),
            &app.key,
            None,
        )
        .await;
    let page: Value = answer.json().await.expect("list");
    page["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_sensitive_topic_at_night_shows_notices_waiting_for_the_morning() {
    let clock = Arc::new(AdjustableClock::default());
    // Monday 23:00 in Jerusalem.
    clock.set("2026-12-07T21:00:00Z".parse().expect("time"));
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    let clinic = app.store.clinic_by_slug("hadar").await.expect("clinic");
    app.store
        .set_clinic_hours(&clinic.id, &ClinicHours::israeli_default())
        .await
        .expect("hours");
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "054-123-4567", "channels": ["whatsapp", "sms"] }),
    )
    .await;
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console
        .page(
            "/console/send?patient=p-1&topic=test_result_ready&kind=text&body=Your+results+are+in",
        )
        .await;

    let routing = &page[page.find("Routing preview").expect("the routing preview")..];
    assert!(
        routing.contains("WhatsApp") && routing.contains("SMS"),
        "{routing}"
    );
    assert_eq!(
        routing.matches("a notice without the content").count(),
        2,
        "{routing}"
    );
    assert!(routing.contains("at Tuesday 09:00"), "{routing}");
    assert!(routing.contains("quiet hours") || routing.contains("outside clinic hours"));
    assert!(page.contains("Dana Levi") && page.contains("…4567"));
    app.stop().await;
}

#[tokio::test]
async fn a_template_is_previewed_in_the_patients_language() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "054-123-4567", "language": "en" }),
    )
    .await;
    app.patient(
        "p-2",
        json!({ "name": "דנה לוי", "phone": "054-123-4568", "language": "he" }),
    )
    .await;
    let console = app.console(ApiKeyRole::Staff).await;

    let path = |p: &str| {
        format!(
            "/console/send?patient={p}&topic=appointment_reminder&kind=template\
             &template=appointment_reminder&params=date%3D2026-12-08%0Atime%3D10%3A30"
        )
    };
    let english = console.page(&path("p-1")).await;
    let hebrew = console.page(&path("p-2")).await;

    assert!(
        english.contains("Hello Dana Levi, a reminder of your appointment"),
        "{english}"
    );
    assert!(english.contains("at 10:30"));
    assert!(hebrew.contains("שלום דנה לוי, תזכורת לתור שלך"), "{hebrew}");
    app.stop().await;
}

#[tokio::test]
async fn sending_hands_the_notification_in_as_the_staff_member() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "054-123-4567" }),
    )
    .await;
    let console = app.console(ApiKeyRole::Staff).await;

    let id = sent_id(&send_text(&console, "p-1", true).await);

    let notification = app.notification(&id).await;
    let actors: Vec<&str> = notification["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["actor"].as_str())
        .collect();
    let staff = format!("staff:{}", console.member.name);
    assert!(actors.contains(&staff.as_str()), "{actors:?}");
    app.stop().await;
}

#[tokio::test]
async fn another_patient_than_the_last_one_needs_one_confirmation() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "054-123-4567" }),
    )
    .await;
    app.patient(
        "p-2",
        json!({ "name": "Noa Cohen", "phone": "052-765-4321" }),
    )
    .await;
    let console = app.console(ApiKeyRole::Staff).await;
    sent_id(&send_text(&console, "p-1", true).await);

    let same_again = send_text(&console, "p-1", false).await;
    let other = send_text(&console, "p-2", false).await;

    sent_id(&same_again);
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = other.text().await.expect("page");
    assert!(page.contains("Yes, send to"), "{page}");
    assert!(page.contains("Noa Cohen") && page.contains("…4321"));
    assert_eq!(notifications_of(&app, "p-2").await, 0);
    sent_id(&send_text(&console, "p-2", true).await);
    assert_eq!(notifications_of(&app, "p-2").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn another_clinics_patient_cannot_be_sent_to() {
    let app = TestApp::spawn().await;
    let other = app.other_clinic_key().await;
    let answer = app
        .request(
            Method::PUT,
            "/v1/patients/p-9",
            &other,
            Some(json!({ "name": "Someone Else", "phone": "054-999-9999" })),
        )
        .await;
    assert!(answer.status().is_success());
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console
        .get("/console/send?patient=p-9&kind=text&body=Hi")
        .await;
    let send = send_text(&console, "p-9", true).await;

    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(send.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
