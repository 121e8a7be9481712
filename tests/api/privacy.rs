//! Privacy by topic: sensitive topics put only a content-free notice on WhatsApp and SMS,
//! restricted ones carry their content on no channel and go to staff as a callback task.

use medrelay::domain::{Phone, PhoneRegion};
use medrelay::sandbox::WHATSAPP_NEVER_DELIVERED;
use medrelay::store::ApiKeyRole;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, attempts, event_details, pairs};
use crate::hours::{at, clinic_on_israeli_hours_at};

const CLINIC_PHONE: &str = "+97231234567";

/// The test clinic's admin key, with the clinic's phone number set for the notices.
async fn admin_of_clinic_with_phone(app: &TestApp) -> String {
    let clinic = app.store.clinic_by_slug("hadar").await.expect("clinic");
    let phone = Phone::parse(CLINIC_PHONE, PhoneRegion::ISRAEL).expect("phone");
    app.store
        .set_clinic_phone(&clinic.id, &phone)
        .await
        .expect("phone set");
    app.store
        .create_api_key(&clinic.id, ApiKeyRole::Admin, jiff::Timestamp::now())
        .await
        .expect("key")
}

async fn set_topic(app: &TestApp, key: &str, name: &str, sensitivity: &str) -> reqwest::Response {
    app.request(
        Method::PUT,
        &format!("/v1/topics/{name}"),
        key,
        Some(json!({ "sensitivity": sensitivity })),
    )
    .await
}

fn staff_text(topic: &str, text: &str) -> Value {
    json!({ "patient_id": "p-1", "topic": topic, "body": text })
}

fn bodies(outbox: &[Value]) -> Vec<String> {
    outbox
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A test result for patient `p-1` (`patient` as saved with `PUT`), at a clinic with a phone.
async fn test_result_for(patient: Value) -> (TestApp, String) {
    let app = TestApp::spawn().await;
    admin_of_clinic_with_phone(&app).await;
    app.patient("p-1", patient).await;
    let id = app
        .notify(staff_text("test_result_ready", "Your HbA1c is 9.1%"))
        .await;
    (app, id)
}

/// The open callback tasks of the test clinic, as staff see them.
async fn open_tasks(app: &TestApp) -> Vec<Value> {
    let staff = app.staff_key().await;
    let queue: Value = app
        .request(Method::GET, "/v1/callbacks?status=open", &staff, None)
        .await
        .json()
        .await
        .expect("queue");
    queue["items"].as_array().expect("items").clone()
}

/// Each attempt as (channel, what it carried), as staff see the notification.
async fn carried(app: &TestApp, id: &str) -> Vec<(String, String)> {
    let staff = app.staff_key().await;
    let notification = app.notification_as(&staff, id).await;
    notification["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            (
                a["channel"].as_str().unwrap_or_default().to_owned(),
                a["content"]["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn has_events(notification: &Value, expected: &[&str]) {
    let events = event_details(notification);
    for wanted in expected {
        assert!(events.iter().any(|e| e == wanted), "{wanted}: {events:#?}");
    }
}

#[tokio::test]
async fn a_test_result_for_a_patient_with_email_goes_by_email_and_the_whatsapp_notice_says_so() {
    let (app, id) = test_result_for(
        json!({ "name": "Dana", "language": "en", "phone": "+972541234567", "whatsapp": true,
                "email": "dana@example.org", "channels": ["whatsapp", "email"] }),
    )
    .await;
    let notification = app.wait_for(&id, &["delivered", "read"]).await;

    assert_eq!(
        bodies(&app.outbox("dana@example.org").await),
        ["Your HbA1c is 9.1%"]
    );
    assert_eq!(
        bodies(&app.outbox("+972541234567").await),
        [
            "Hello Dana, you have a new message from Clinic hadar; we sent the details to your email."
        ]
    );
    assert_eq!(notification["channel"], "whatsapp", "{notification:#}");
    assert_eq!(
        carried(&app, &id).await,
        pairs(&[("email", "content"), ("whatsapp", "notice")])
    );
    has_events(
        &notification,
        &[
            "sensitive topic test_result_ready: email carries the content",
            "content: email handed over",
            "sensitive topic test_result_ready: whatsapp carries a notice without content",
        ],
    );
    assert!(
        !event_details(&notification).contains(&"sent → sending".to_owned()),
        "not shown as sent (final for email) while the notice is still to go"
    );
    assert!(open_tasks(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_test_result_for_a_patient_without_email_asks_them_to_call_and_opens_a_callback_task() {
    let (app, id) = test_result_for(
        json!({ "name": "Anna", "language": "ru", "phone": "+972541234567", "whatsapp": true,
                "channels": ["whatsapp"] }),
    )
    .await;
    let notification = app.wait_until_finished(&id).await;

    assert_eq!(notification["channel"], "whatsapp", "{notification:#}");
    assert_eq!(
        bodies(&app.outbox("+972541234567").await),
        [
            "Здравствуйте, Anna! У вас новое сообщение от Clinic hadar; пожалуйста, позвоните в клинику по номеру +97231234567."
        ]
    );
    let tasks = open_tasks(&app).await;
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(tasks[0]["notification_id"], id.as_str());
    assert_eq!(
        tasks[0]["reason"],
        "sensitive topic test_result_ready: no channel carried the content; call the patient"
    );
    has_events(
        &notification,
        &[
            "content: not delivered, no channel to try",
            "sensitive topic test_result_ready: whatsapp carries a notice without content",
        ],
    );
    app.stop().await;
}

#[tokio::test]
async fn a_test_result_for_an_email_only_patient_is_just_the_email_with_its_content() {
    let (app, id) = test_result_for(json!({
        "name": "Dana", "language": "en", "phone": "+972541234567", "whatsapp": true,
        "email": "dana@example.org", "channels": ["email"]
    }))
    .await;
    let notification = app.wait_until_finished(&id).await;

    assert_eq!(
        (&notification["status"], &notification["channel"]),
        (&json!("sent"), &json!("email")),
        "{notification:#}"
    );
    assert_eq!(
        bodies(&app.outbox("dana@example.org").await),
        ["Your HbA1c is 9.1%"]
    );
    assert!(app.outbox("+972541234567").await.is_empty());
    assert!(open_tasks(&app).await.is_empty());
    has_events(
        &notification,
        &[
            "sensitive topic test_result_ready: email carries the content",
            "content: email handed over",
        ],
    );
    app.stop().await;
}

#[tokio::test]
async fn a_test_result_whose_email_bounces_gets_a_notice_asking_to_call_and_a_callback_task() {
    let (app, id) = test_result_for(
        json!({ "name": "Dana", "language": "en", "phone": "+972541234567", "whatsapp": true,
                "email": "dana@bounce.test", "channels": ["email", "whatsapp"] }),
    )
    .await;
    let notification = app.wait_for(&id, &["delivered", "read"]).await;

    assert_eq!(
        bodies(&app.outbox("+972541234567").await),
        [
            "Hello Dana, you have a new message from Clinic hadar; please call the clinic at +97231234567."
        ]
    );
    assert_eq!(
        attempts(&notification),
        pairs(&[
            ("email", "failed"),
            (
                "whatsapp",
                notification["status"].as_str().unwrap_or_default()
            )
        ])
    );
    assert_eq!(open_tasks(&app).await.len(), 1);
    let events = event_details(&notification);
    assert!(
        events
            .iter()
            .any(|e| e
                .starts_with("content: not delivered, no channel left to try (email failed (550")),
        "{events:#?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_restricted_topic_opens_a_callback_task_and_puts_no_content_in_any_message() {
    let app = TestApp::spawn().await;
    let admin = admin_of_clinic_with_phone(&app).await;
    assert_eq!(
        set_topic(&app, &admin, "oncology", "restricted")
            .await
            .status(),
        StatusCode::OK
    );
    app.patient(
        "p-1",
        json!({ "name": "Dana", "language": "he", "phone": "+972541234567", "whatsapp": true,
                "email": "dana@example.org", "channels": ["whatsapp", "email"] }),
    )
    .await;

    let id = app
        .notify(staff_text("oncology", "The biopsy shows no malignancy"))
        .await;
    let notification = app.wait_until_finished(&id).await;

    let received = [
        bodies(&app.outbox("+972541234567").await),
        bodies(&app.outbox("dana@example.org").await),
    ]
    .concat();
    assert_eq!(
        received,
        ["שלום Dana, יש לך הודעה חדשה מאת Clinic hadar; נא להתקשר למרפאה בטלפון +97231234567."],
        "only the notice, on the first channel"
    );
    let tasks = open_tasks(&app).await;
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(tasks[0]["notification_id"], id.as_str());
    assert_eq!(
        tasks[0]["reason"],
        "restricted topic oncology: call the patient"
    );
    let events = event_details(&notification);
    for expected in [
        "restricted topic oncology: whatsapp carries a notice without content",
        "restricted topic oncology: call the patient",
    ] {
        assert!(
            events.contains(&expected.to_owned()),
            "{expected}: {events:#?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn staff_text_on_a_restricted_topic_by_sms_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let admin = admin_of_clinic_with_phone(&app).await;
    set_topic(&app, &admin, "psychiatry", "restricted").await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;
    let staff = app.staff_key().await;

    let mut request = staff_text("psychiatry", "About your last session");
    request["channel"] = json!("sms");
    let refused = app
        .request(Method::POST, "/v1/notifications", &staff, Some(request))
        .await;

    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "channel", "{problem:#}");
    assert!(
        problem["errors"][0]["rule"]
            .as_str()
            .is_some_and(|r| r.contains("topic psychiatry is restricted")),
        "{problem:#}"
    );
    let stored: Value = app
        .request(Method::GET, "/v1/notifications", &staff, None)
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(stored["items"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_topic_one_clinic_marks_restricted_changes_nothing_for_another_clinic() {
    let app = TestApp::spawn().await;
    let admin = admin_of_clinic_with_phone(&app).await;
    set_topic(&app, &admin, "general", "restricted").await;
    set_topic(&app, &admin, "oncology", "restricted").await;
    let other = app.other_clinic_key().await;
    let patient = json!({ "name": "Dana", "language": "en", "phone": "+972541234567", "whatsapp": true,
                          "channels": ["whatsapp"] });
    app.patient("p-1", patient.clone()).await;
    let created = app
        .request(Method::PUT, "/v1/patients/p-1", &other, Some(patient))
        .await;
    assert!(created.status().is_success());
    app.patient_writes_on_whatsapp("+972541234567").await;

    let here = app
        .notify(staff_text("general", "Bring your old scans"))
        .await;
    let there = app
        .request(
            Method::POST,
            "/v1/notifications",
            &other,
            Some(staff_text("general", "Bring your old scans")),
        )
        .await;
    let unknown_there = app
        .request(
            Method::POST,
            "/v1/notifications",
            &other,
            Some(staff_text("oncology", "Bring your old scans")),
        )
        .await;

    assert_eq!(there.status(), StatusCode::ACCEPTED);
    let there: Value = there.json().await.expect("receipt");
    let there = there["id"].as_str().expect("id");
    app.wait_until_finished(&here).await;
    app.wait_until_as(&other, there, |n| n["status"] == "read")
        .await;
    // Dana's message earlier got one clinic's receipt too: only the two notifications count here.
    let of = |outbox: Vec<Value>, id: &str| -> Vec<Value> {
        outbox
            .into_iter()
            .filter(|m| m["notification_id"] == id)
            .collect()
    };
    assert_eq!(
        bodies(&of(app.outbox("+972541234567").await, &here)),
        [
            "Hello Dana, you have a new message from Clinic hadar; please call the clinic at +97231234567."
        ]
    );
    assert_eq!(
        bodies(&of(app.outbox_as(&other, "+972541234567").await, there)),
        ["Bring your old scans"]
    );
    assert_eq!(unknown_there.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = unknown_there.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "topic", "{problem:#}");
    app.stop().await;
}

#[tokio::test]
async fn topics_list_the_built_in_ones_and_the_clinics_own_and_only_admins_change_them() {
    let app = TestApp::spawn().await;
    let admin = admin_of_clinic_with_phone(&app).await;
    let staff = app.staff_key().await;

    let by_staff = set_topic(&app, &staff, "oncology", "restricted").await;
    let bad_name = set_topic(&app, &admin, "Oncology!", "restricted").await;
    let bad_sensitivity = set_topic(&app, &admin, "oncology", "secret").await;
    let added = set_topic(&app, &admin, "oncology", "restricted").await;
    let lowered = set_topic(&app, &admin, "prescription_ready", "normal").await;
    let topics: Value = app
        .request(Method::GET, "/v1/topics", &app.key, None)
        .await
        .json()
        .await
        .expect("topics");

    assert_eq!(by_staff.status(), StatusCode::FORBIDDEN);
    for (response, field) in [(bad_name, "name"), (bad_sensitivity, "sensitivity")] {
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = response.json().await.expect("problem");
        assert_eq!(problem["errors"][0]["field"], field, "{problem:#}");
    }
    assert_eq!(added.status(), StatusCode::OK);
    assert_eq!(lowered.status(), StatusCode::OK);
    let listed: Vec<(String, String, bool)> = topics["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["sensitivity"].as_str().unwrap_or_default().to_owned(),
                t["built_in"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        ("appointment_reminder", "normal", true),
        ("appointment_confirmation", "normal", true),
        ("appointment_cancellation", "normal", true),
        ("general", "normal", true),
        ("test_result_ready", "sensitive", true),
        ("prescription_ready", "normal", true),
        ("oncology", "restricted", false),
    ]
    .map(|(n, s, b)| (n.to_owned(), s.to_owned(), b));
    assert_eq!(listed, expected);
    app.stop().await;
}

#[tokio::test]
async fn a_booking_key_sees_that_a_sensitive_or_restricted_notification_exists_but_not_its_text() {
    let app = TestApp::spawn().await;
    let admin = admin_of_clinic_with_phone(&app).await;
    set_topic(&app, &admin, "oncology", "restricted").await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@example.org" }),
    )
    .await;
    let staff = app.staff_key().await;
    let result = app
        .notify_as(
            &staff,
            staff_text("test_result_ready", "Your HbA1c is 9.1%"),
        )
        .await;
    let oncology = app
        .notify_as(
            &staff,
            staff_text("oncology", "The biopsy shows no malignancy"),
        )
        .await;
    let general = app.notify(staff_text("general", "See you on Sunday")).await;

    let as_booking = listed(&app, &app.key).await;
    let as_staff = listed(&app, &staff).await;

    let find = |items: &[Value], id: &str| {
        items
            .iter()
            .find(|n| n["id"] == id)
            .cloned()
            .expect("listed")
    };
    for id in [&result, &oncology] {
        let seen = find(&as_booking, id);
        assert!(
            seen["body"].is_null() && seen["params"].is_null(),
            "{seen:#}"
        );
        assert_eq!(seen["withheld"]["fields"], json!(["body", "params"]));
        assert!(seen["status"].is_string());
        let one: Value = app
            .request(
                Method::GET,
                &format!("/v1/notifications/{id}"),
                &app.key,
                None,
            )
            .await
            .json()
            .await
            .expect("one");
        assert!(one["body"].is_null(), "{one:#}");
        assert!(find(&as_staff, id)["body"].is_string());
    }
    assert_eq!(find(&as_booking, &general)["body"], "See you on Sunday");
    assert!(find(&as_booking, &general).get("withheld").is_none());
    let everything = serde_json::to_string(&as_booking).expect("json");
    assert!(!everything.contains("HbA1c") && !everything.contains("biopsy"));
    app.stop().await;
}

async fn listed(app: &TestApp, key: &str) -> Vec<Value> {
    let list: Value = app
        .request(Method::GET, "/v1/notifications", key, None)
        .await
        .json()
        .await
        .expect("list");
    list["items"].as_array().expect("items").clone()
}

/// Friday 4 December 2026, 14:00 in Jerusalem: after the clinic's Friday hours (09:00–13:00).
const FRIDAY_14_00: &str = "2026-12-04T14:00:00+02:00";
/// Sunday 6 December 2026, 09:00 in Jerusalem: the clinic opens again.
const SUNDAY_09_00: &str = "2026-12-06T09:00:00+02:00";

#[tokio::test]
async fn on_israeli_hours_a_test_result_posted_on_friday_afternoon_goes_on_sunday_content_then_notice()
 {
    let (app, clock) = clinic_on_israeli_hours_at(FRIDAY_14_00).await;
    admin_of_clinic_with_phone(&app).await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "language": "he", "phone": "+972541234567", "whatsapp": true,
                "email": "dana@example.org", "channels": ["whatsapp", "email"] }),
    )
    .await;

    let posted = app
        .post_notification(staff_text("test_result_ready", "Your HbA1c is 9.1%"))
        .await;
    let receipt: Value = posted.json().await.expect("receipt");
    let id = receipt["id"].as_str().expect("id");
    app.drain_dispatcher().await;
    let over_the_weekend = [
        app.outbox("dana@example.org").await,
        app.outbox("+972541234567").await,
    ]
    .concat();
    clock.set(at(SUNDAY_09_00));
    app.drain_dispatcher().await;
    let notification = app.wait_for(id, &["delivered", "read"]).await;

    assert_eq!(receipt["status"], "scheduled");
    assert_eq!(
        at(receipt["send_at"].as_str().expect("send_at")),
        at(SUNDAY_09_00)
    );
    assert!(over_the_weekend.is_empty(), "{over_the_weekend:#?}");
    assert_eq!(
        bodies(&app.outbox("dana@example.org").await),
        ["Your HbA1c is 9.1%"]
    );
    assert_eq!(
        bodies(&app.outbox("+972541234567").await),
        ["שלום Dana, יש לך הודעה חדשה מאת Clinic hadar; שלחנו את הפרטים לדוא״ל שלך."]
    );
    assert_eq!(
        carried(&app, id).await,
        pairs(&[("email", "content"), ("whatsapp", "notice")])
    );
    has_events(&notification, &["content: email handed over"]);
    app.stop().await;
}

/// The parts are decided from stored attempts: a gateway restarted while the notice is out
/// sends the email no second time, and the notice that falls back still says the email went.
#[tokio::test]
async fn after_a_restart_mid_notice_the_notice_falls_back_and_still_says_the_email_went() {
    let (mut app, id) = test_result_for(json!({
        "name": "Dana", "language": "en", "phone": WHATSAPP_NEVER_DELIVERED, "whatsapp": true,
        "email": "dana@example.org", "channels": ["whatsapp", "sms", "email"]
    }))
    .await;
    app.wait_until(&id, |n| n["status"] == "sent" && n["channel"] == "whatsapp")
        .await;

    app.restart().await;
    let notification = app.wait_for(&id, &["delivered", "read"]).await;

    assert_eq!(notification["channel"], "sms", "{notification:#}");
    assert_eq!(
        bodies(&app.outbox("dana@example.org").await),
        ["Your HbA1c is 9.1%"]
    );
    assert_eq!(
        bodies(&app.outbox(WHATSAPP_NEVER_DELIVERED).await),
        ["Hello Dana, you have a new message from Clinic hadar; we sent the details to your email.";
            2]
    );
    assert_eq!(
        carried(&app, &id).await,
        pairs(&[
            ("email", "content"),
            ("whatsapp", "notice"),
            ("sms", "notice")
        ])
    );
    app.stop().await;
}

/// Voice may carry a sensitive topic's content: at a clinic with voice, a patient with only a
/// phone and no preference of their own is called, and a call answered needs no notice.
#[tokio::test]
async fn a_phone_only_patient_at_a_clinic_with_voice_hears_the_result_and_gets_no_notice() {
    let (app, id) = test_result_for(json!({
        "name": "Dana", "language": "en", "phone": "+972541234567", "whatsapp": true
    }))
    .await;
    let notification = app.wait_until_finished(&id).await;

    assert_eq!(
        (&notification["status"], &notification["channel"]),
        (&json!("delivered"), &json!("voice")),
        "{notification:#}"
    );
    assert_eq!(carried(&app, &id).await, pairs(&[("voice", "content")]));
    assert_eq!(app.outbox("+972541234567").await.len(), 1);
    assert!(open_tasks(&app).await.is_empty());
    app.stop().await;
}
