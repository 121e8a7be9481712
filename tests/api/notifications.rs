use std::sync::Arc;
use std::time::Duration;

use medrelay::clock::{AdjustableClock, Clock, later};
use medrelay::sandbox::WHATSAPP_NEVER_DELIVERED;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, body, reminder};

/// Dana, who wrote to the clinic on WhatsApp today: free text may go to her there.
async fn app_with_dana() -> TestApp {
    dana_writes(TestApp::spawn().await).await
}

/// [`app_with_dana`] with the application's clock in the test's hands.
async fn app_with_dana_at(clock: Arc<AdjustableClock>) -> TestApp {
    dana_writes(TestApp::spawn_with_clock(|_| {}, clock).await).await
}

async fn dana_writes(app: TestApp) -> TestApp {
    app.patient(
        "p-1",
        json!({ "name": "Dana", "phone": "+972541234567", "email": "dana@example.org" }),
    )
    .await;
    app.patient_writes_on_whatsapp("+972541234567").await;
    app
}

#[tokio::test]
async fn free_text_goes_by_sms_until_the_patient_writes_on_whatsapp_then_by_whatsapp() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Omar", "phone": "+972541234599" }))
        .await;

    let first = app.notify(body("Please call the clinic")).await;
    let first = app.wait_for(&first, &["delivered"]).await;
    assert_eq!(first["channel"], "sms");
    assert!(
        crate::harness::event_details(&first).iter().any(
            |d| d.contains("whatsapp skipped: free text goes on WhatsApp only within 24 hours")
        ),
        "{first:#}"
    );

    app.patient_writes_on_whatsapp("+972541234599").await;
    let second = app.notify(body("Please call the clinic")).await;
    let second = app.wait_for(&second, &["read"]).await;
    assert_eq!(second["channel"], "whatsapp");
    app.stop().await;
}

#[tokio::test]
async fn a_notification_is_accepted_durably_then_delivered_and_read_on_whatsapp() {
    let app = app_with_dana().await;

    let response = app
        .post_notification(body("Your appointment is tomorrow at 09:30"))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let receipt: Value = response.json().await.expect("receipt");
    assert_eq!(receipt["status"], "queued");
    let id = receipt["id"].as_str().expect("id");

    let done = app.wait_for(id, &["read"]).await;
    assert_eq!(done["channel"], "whatsapp");
    let attempt = &done["attempts"][0];
    assert_eq!(attempt["status"], "read");
    assert!(
        attempt["provider_message_id"]
            .as_str()
            .is_some_and(|p| p.starts_with("wamid."))
    );
    assert!(attempt["delivered_at"].is_string() && attempt["read_at"].is_string());
    let kinds: Vec<&str> = done["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"received"));

    // Dana's own message earlier got the clinic's receipt; this notification is the other one.
    let outbox: Vec<Value> = app
        .outbox("+972541234567")
        .await
        .into_iter()
        .filter(|m| m["notification_id"] == receipt["id"])
        .collect();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["channel"], "whatsapp");
    assert_eq!(outbox[0]["body"], "Your appointment is tomorrow at 09:30");
    app.stop().await;
}

#[tokio::test]
async fn a_template_is_rendered_in_the_patients_language() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Anna", "language": "ru", "phone": "+972541234567" }),
    )
    .await;

    let id = app
        .notify(json!({
            "patient_id": "p-1", "topic": "appointment_reminder",
            "template": "appointment_reminder", "params": { "date": "01.12", "time": "09:30" }
        }))
        .await;
    app.wait_for(&id, &["delivered", "read"]).await;

    let outbox = app.outbox("+972541234567").await;
    assert_eq!(outbox[0]["language"], "ru");
    assert_eq!(
        outbox[0]["body"],
        "Здравствуйте, Anna! Напоминаем о вашем приёме в Clinic hadar 01.12 в 09:30. Ответьте 1, чтобы подтвердить, или 2, чтобы отменить."
    );
    app.stop().await;
}

#[tokio::test]
async fn a_notification_with_send_at_is_scheduled_then_sent_at_that_time() {
    let clock = Arc::new(AdjustableClock::default());
    let app = app_with_dana_at(clock.clone()).await;
    let send_at = later(clock.now(), Duration::from_secs(3600));

    let mut request = body("Fasting from midnight");
    request["send_at"] = json!(send_at.to_string());
    let receipt: Value = app
        .post_notification(request)
        .await
        .json()
        .await
        .expect("receipt");
    assert_eq!(receipt["status"], "scheduled");
    let id = receipt["id"].as_str().expect("id");
    // Dana's own message may get the clinic's automatic receipt meanwhile; this one waits.
    let outbox = app.outbox("+972541234567").await;
    assert!(
        outbox.iter().all(|m| m["body"] != "Fasting from midnight"),
        "nothing goes out an hour before send_at: {outbox:#?}"
    );
    assert_eq!(app.notification(id).await["attempts"], json!([]));

    clock.advance(Duration::from_secs(3600));
    let done = app.wait_for(id, &["delivered", "read"]).await;
    let sent_at: jiff::Timestamp = done["attempts"][0]["created_at"]
        .as_str()
        .expect("created_at")
        .parse()
        .expect("time");
    assert!(sent_at >= send_at, "sent at {sent_at}, before {send_at}");
    let outbox = app.outbox("+972541234567").await;
    assert!(
        outbox.iter().any(|m| m["body"] == "Fasting from midnight"),
        "{outbox:#?}"
    );
    app.stop().await;
}

/// The `detail` of the `409` that cancelling notification `id` gets.
async fn refused_cancel(app: &TestApp, id: &str) -> String {
    let response = app.cancel(id).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let problem: Value = response.json().await.expect("problem");
    problem["detail"].as_str().expect("detail").to_owned()
}

/// A week open only on the weekday three days from now (Asia/Jerusalem), so nothing posted now
/// is allowed before then.
fn open_only_in_three_days() -> Value {
    let day = jiff::Zoned::now()
        .in_tz("Asia/Jerusalem")
        .expect("zone")
        .checked_add(jiff::Span::new().days(3))
        .expect("date")
        .strftime("%A")
        .to_string()
        .to_lowercase();
    json!({ "week": { day: [{ "start": "09:00", "end": "18:00" }] }, "patient_quiet_hours": null })
}

#[tokio::test]
async fn cancelling_a_finished_notification_says_how_it_finished() {
    let app = app_with_dana().await;
    app.patient(
        "email-only",
        json!({ "name": "Noa", "email": "noa@example.org", "channels": ["email"] }),
    )
    .await;
    app.patient(
        "bouncing",
        json!({ "name": "Avi", "email": "avi@bounce.test", "channels": ["email"] }),
    )
    .await;
    let for_patient = |patient: &str| json!({ "patient_id": patient, "topic": "general", "body": "See you on Sunday" });

    let delivered = app.notify(body("See you on Sunday")).await;
    app.wait_for(&delivered, &["read"]).await;
    let sent = app.notify(for_patient("email-only")).await;
    app.wait_for(&sent, &["sent"]).await;
    let failed = app.notify(for_patient("bouncing")).await;
    app.wait_for(&failed, &["failed"]).await;
    let mut later = body("See you on Sunday");
    later["send_at"] =
        json!((jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string());
    let cancelled = app.notify(later).await;
    assert_eq!(app.cancel(&cancelled).await.status(), StatusCode::OK);

    assert_eq!(
        refused_cancel(&app, &delivered).await,
        "notification was already delivered on whatsapp and read by the patient"
    );
    assert_eq!(
        refused_cancel(&app, &sent).await,
        "notification was already sent on email: the provider has it and it cannot be called back"
    );
    assert_eq!(
        refused_cancel(&app, &failed).await,
        "notification has already failed: no channel reached the patient, so there is nothing \
         left to cancel"
    );
    assert_eq!(
        refused_cancel(&app, &cancelled).await,
        "notification is already cancelled"
    );
    app.stop().await;
}

#[tokio::test]
async fn cancelling_an_expired_notification_says_it_expired_unsent() {
    let app = app_with_dana().await;
    let admin = app.admin_key().await;
    let hours = app
        .request(
            Method::PUT,
            "/v1/clinic/hours",
            &admin,
            Some(open_only_in_three_days()),
        )
        .await;
    assert_eq!(hours.status(), StatusCode::OK);
    let expires_at = jiff::Timestamp::from_millisecond(
        (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).as_millisecond(),
    )
    .expect("time");
    let mut reminder = body("See you on Sunday");
    reminder["expires_at"] = json!(expires_at.to_string());
    let expired = app.notify(reminder).await;
    app.drain_dispatcher().await;
    app.wait_for(&expired, &["expired"]).await;

    assert_eq!(
        refused_cancel(&app, &expired).await,
        format!(
            "notification already expired at {expires_at} without being sent; there is nothing \
             left to cancel"
        )
    );
    app.stop().await;
}

#[tokio::test]
async fn a_scheduled_notification_can_be_cancelled_once_and_a_delivered_one_not_at_all() {
    let app = app_with_dana().await;
    let mut later = body("Reminder");
    later["send_at"] =
        json!((jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string());
    let scheduled = app.notify(later).await;

    let cancelled = app
        .request(
            Method::DELETE,
            &format!("/v1/notifications/{scheduled}"),
            &app.key,
            None,
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let cancelled: Value = cancelled.json().await.expect("json");
    assert_eq!(cancelled["status"], "cancelled");
    assert!(
        cancelled["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "cancelled")
    );

    let again = app
        .request(
            Method::DELETE,
            &format!("/v1/notifications/{scheduled}"),
            &app.key,
            None,
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let delivered = app.notify(body("Now")).await;
    app.wait_for(&delivered, &["delivered", "read"]).await;
    let too_late = app
        .request(
            Method::DELETE,
            &format!("/v1/notifications/{delivered}"),
            &app.key,
            None,
        )
        .await;
    assert_eq!(too_late.status(), StatusCode::CONFLICT);
    let problem: Value = too_late.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("notification was already delivered")),
        "{problem}"
    );

    let missing = app
        .request(
            Method::DELETE,
            "/v1/notifications/ntf_0000000000000000000000000000000",
            &app.key,
            None,
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_return_the_first_response_and_store_one_notification() {
    let app = app_with_dana().await;
    let send = |text: &'static str| {
        let app = &app;
        async move {
            app.client()
                .post(format!("{}/v1/notifications", app.base))
                .bearer_auth(&app.key)
                .header("Idempotency-Key", "booking-42-reminder")
                .json(&body(text))
                .send()
                .await
                .expect("sent")
        }
    };

    let (first, second) = tokio::join!(send("Reminder"), send("Reminder"));
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.expect("json");
    let second: Value = second.json().await.expect("json");
    assert_eq!(first, second);

    let different = send("Another text").await;
    assert_eq!(different.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = different.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");

    // Beside the receipt medrelay sent when Dana wrote (origin `auto:receipt`).
    let list: Value = app
        .request(Method::GET, "/v1/notifications?origin=api", &app.key, None)
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}

#[tokio::test]
async fn notifications_are_listed_by_patient_and_status_page_by_page() {
    let app = app_with_dana().await;
    app.patient("p-2", json!({ "name": "Omar", "phone": "+972541234568" }))
        .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.notify(body(&format!("Message {i}"))).await);
    }
    let mut for_omar = body("For Omar");
    for_omar["patient_id"] = json!("p-2");
    app.notify(for_omar).await;
    for id in &ids {
        app.wait_for(id, &["read"]).await;
    }

    let mut seen = Vec::new();
    let mut path = "/v1/notifications?patient_id=p-1&status=read&origin=api&limit=2".to_owned();
    loop {
        let page: Value = app
            .request(Method::GET, &path, &app.key, None)
            .await
            .json()
            .await
            .expect("page");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|n| n["id"].as_str().unwrap_or_default().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!(
                    "/v1/notifications?patient_id=p-1&status=read&origin=api&limit=2&cursor={cursor}"
                )
            }
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once, only Dana's");
    app.stop().await;
}

/// The API shows the channel a notification went on as soon as a provider took it, not only once
/// it is delivered; one that ends undelivered names none.
#[tokio::test]
async fn a_sent_notification_names_its_channel_and_a_failed_one_names_none() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "phone": WHATSAPP_NEVER_DELIVERED, "channels": ["whatsapp"] }),
    )
    .await;

    let id = app.notify(reminder()).await;
    app.drain_dispatcher().await;
    let sent = app.notification(&id).await;
    let failed = app.wait_for(&id, &["failed"]).await;

    assert_eq!(
        (&sent["status"], &sent["channel"]),
        (&json!("sent"), &json!("whatsapp")),
        "{sent:#}"
    );
    assert_eq!(failed["channel"], Value::Null, "{failed:#}");
    app.stop().await;
}

#[tokio::test]
async fn notifications_posted_together_each_go_to_their_own_patient_and_an_unknown_one_is_refused()
{
    // Intake looks the patients of requests arriving together up in one statement: each answer
    // must still be its own request's patient.
    let app = TestApp::spawn().await;
    for i in 0..24 {
        app.patient(
            &format!("p-{i}"),
            json!({ "name": format!("Patient {i}"), "email": format!("p{i}@example.org") }),
        )
        .await;
    }
    let patients: Vec<String> = (0..24)
        .map(|i| format!("p-{i}"))
        .chain(["p-unknown".to_owned()])
        .collect();

    let answers = futures::future::join_all(
        patients
            .iter()
            .map(|patient| app.post_notification(crate::harness::reminder_for(patient))),
    )
    .await;

    for (patient, answer) in patients.iter().zip(answers) {
        if patient == "p-unknown" {
            assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
            let problem: Value = answer.json().await.expect("problem");
            assert_eq!(problem["errors"][0]["field"], "patient_id", "{problem:#}");
            continue;
        }
        assert_eq!(answer.status(), StatusCode::ACCEPTED, "{patient}");
        let receipt: Value = answer.json().await.expect("receipt");
        let id = receipt["id"].as_str().expect("id");
        assert_eq!(app.notification(id).await["patient_id"], patient.as_str());
    }
    app.stop().await;
}
