//! The console's notifications: the list with its filters, one notification's timeline with
//! every attempt and the reason for each fallback in the clinic's time zone, cancelling one still
//! pending, and another clinic's notifications out of sight.

use medrelay::domain::UiLanguage;
use medrelay::store::ApiKeyRole;
use reqwest::StatusCode;
use serde_json::json;

use crate::console_harness::{Console, location};
use crate::harness::{TestApp, reminder, settled_by_receipts};

/// A reminder to a patient who is not on WhatsApp (the sandbox's magic `+972500000001`): it falls
/// back to SMS. Returns its id once delivered.
async fn fallen_back(app: &TestApp) -> String {
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "+972500000001" }),
    )
    .await;
    let id = app.notify(reminder()).await;
    app.wait_for(&id, &["delivered", "read"]).await;
    id
}

/// The time `at` (RFC 3339) as the clinic's staff read it: in the clinic's zone.
async fn in_clinic_zone(app: &TestApp, at: &str) -> String {
    let clinic = app.store.clinic_by_slug("hadar").await.expect("clinic");
    let at: jiff::Timestamp = at.parse().expect("time");
    at.to_zoned(clinic.timezone.zone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

#[tokio::test]
async fn a_fallback_shows_both_attempts_and_the_reason_on_the_timeline_in_the_clinics_time() {
    let app = TestApp::spawn_with(settled_by_receipts).await;
    let id = fallen_back(&app).await;
    let console = app.console(ApiKeyRole::Staff).await;

    let page = console.page(&format!("/console/notifications/{id}")).await;

    let whatsapp = page
        .find("<strong>WhatsApp</strong>")
        .expect("the WhatsApp attempt");
    let sms = page.find("<strong>SMS</strong>").expect("the SMS attempt");
    assert!(whatsapp < sms, "the attempts in the order they were made");
    assert!(
        page.contains("131026"),
        "the provider's reason for WhatsApp"
    );
    assert!(
        page.contains("falling back to sms after whatsapp failed (131026"),
        "the fallback and its reason on the timeline"
    );
    let created = app.notification(&id).await["created_at"]
        .as_str()
        .expect("created_at")
        .to_owned();
    assert!(page.contains(&in_clinic_zone(&app, &created).await));
    app.stop().await;
}

#[tokio::test]
async fn the_list_filters_by_status_channel_topic_day_and_patient() {
    let app = TestApp::spawn_with(settled_by_receipts).await;
    let id = fallen_back(&app).await;
    let console = app.console(ApiKeyRole::Staff).await;
    let link = format!("/console/notifications/{id}");
    let today = in_clinic_zone(&app, &jiff::Timestamp::now().to_string()).await[..10].to_owned();

    for matching in [
        "/console/notifications".to_owned(),
        "/console/notifications?channel=sms&status=delivered".to_owned(),
        format!("/console/notifications?topic=appointment_reminder&patient=p-1&date={today}"),
    ] {
        assert!(console.page(&matching).await.contains(&link), "{matching}");
    }
    for other in [
        "/console/notifications?status=cancelled",
        "/console/notifications?channel=email",
        "/console/notifications?patient=p-2",
        "/console/notifications?date=2020-01-01",
    ] {
        assert!(!console.page(other).await.contains(&link), "{other}");
    }
    let bad = console.get("/console/notifications?status=lost").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn a_pending_notification_is_cancelled_by_the_signed_in_person_with_the_forms_token() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "+972541234567" }),
    )
    .await;
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48);
    let mut request = reminder();
    request["send_at"] = json!(later.to_string());
    let id = app.notify(request).await;
    let console = app.console(ApiKeyRole::Staff).await;
    let path = format!("/console/notifications/{id}/cancel");
    assert!(
        console
            .page(&format!("/console/notifications/{id}"))
            .await
            .contains(&path)
    );

    let forged = console.post_raw(&path, &[]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let cancelled = console.post(&path, &[]).await;

    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&cancelled),
        format!("/console/notifications/{id}?done=cancelled")
    );
    let now = app.notification(&id).await;
    assert_eq!(now["status"], "cancelled");
    let by = &now["events"]
        .as_array()
        .expect("events")
        .last()
        .expect("event")["actor"];
    assert_eq!(by, "staff:dana Cohen", "{now:#}");
    let again = console.post(&path, &[]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("already cancelled"));
    app.stop().await;
}

#[tokio::test]
async fn another_clinics_notification_is_not_found() {
    let app = TestApp::spawn_with(settled_by_receipts).await;
    let id = fallen_back(&app).await;
    app.other_clinic_key().await;
    let stranger = app
        .staff_member_of(
            "other",
            "noa@other.example",
            ApiKeyRole::Admin,
            UiLanguage::En,
        )
        .await;
    let stranger = Console::sign_in(&app.base, stranger).await;

    let page = stranger.get(&format!("/console/notifications/{id}")).await;
    let cancel = stranger
        .post(&format!("/console/notifications/{id}/cancel"), &[])
        .await;
    let list = stranger.page("/console/notifications").await;

    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(cancel.status(), StatusCode::NOT_FOUND);
    assert!(!list.contains(&id));
    app.stop().await;
}
