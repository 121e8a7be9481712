//! End to end through the real provider adapters: the sandbox's look-alikes of Meta's and
//! Twilio's APIs and its SMTP server, and a clinic's own provider account (a wiremock Meta).

use medrelay::config::ProviderAccounts;
use medrelay_channels::Secret;
use medrelay_channels::whatsapp::{self, WhatsAppConfig};
use medrelay_testkit::wait;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{TestApp, attempts, event_details, pairs, reminder_for};

/// A reminder to `+972500000009`, whose WhatsApp answer comes only after the adapter stopped
/// waiting, followed until the patient read it. The delivery timeout is long enough for the
/// provider's status webhook to settle the send first.
async fn reminder_answered_too_late() -> (TestApp, Value) {
    let app = TestApp::spawn_with(|config| {
        config.sandbox.request_timeout_ms = 300;
        config.delivery_timeout.whatsapp_ms = 5_000;
    })
    .await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "language": "en", "phone": "+972500000009" }),
    )
    .await;
    let id = app.notify(reminder_for("p-1")).await;
    let done = app.wait_for(&id, &["read"]).await;
    (app, done)
}

#[tokio::test]
async fn a_whatsapp_send_that_timed_out_is_not_resent_and_is_settled_by_the_status_webhook() {
    let (app, done) = reminder_answered_too_late().await;

    assert_eq!(done["channel"], "whatsapp");
    assert_eq!(
        attempts(&done),
        pairs(&[("whatsapp", "read")]),
        "one WhatsApp attempt, not resent, no SMS: {done:#}"
    );
    let trail = event_details(&done);
    assert!(
        trail
            .iter()
            .any(|d| d.starts_with("whatsapp hand-over got no answer")
                && d.contains("not resending, waiting for a status")),
        "the ambiguous send is recorded as such: {trail:?}"
    );
    assert!(
        trail.contains(&"whatsapp delivered".to_owned()),
        "{trail:?}"
    );
    assert!(trail.contains(&"whatsapp read".to_owned()), "{trail:?}");
    assert!(
        !trail.iter().any(|d| d.starts_with("falling back")),
        "{trail:?}"
    );

    let outbox = app.outbox("+972500000009").await;
    assert_eq!(outbox.len(), 1, "the patient got it once: {outbox:#?}");
    assert_eq!(outbox[0]["channel"], "whatsapp");
    let attempt = &done["attempts"][0];
    assert_eq!(
        outbox[0]["notification_id"], done["id"],
        "Meta echoes the attempt id, which names the notification"
    );
    assert_eq!(
        attempt["provider_message_id"], outbox[0]["id"],
        "the message id lost with the answer is learnt from the status webhook"
    );
    assert!(attempt["delivered_at"].is_string() && attempt["read_at"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn an_ambiguous_send_adds_no_status_change_that_did_not_happen_to_the_audit_trail() {
    let (app, done) = reminder_answered_too_late().await;
    let unchanged: Vec<&str> = done["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "status")
        .filter_map(|e| e["detail"].as_str())
        .filter(|d| d.split_once(" → ").is_some_and(|(from, to)| from == to))
        .collect();
    assert!(
        unchanged.is_empty(),
        "status events must record changes: {unchanged:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_hebrew_speaking_patient_with_only_an_email_gets_the_template_in_hebrew_through_the_smtp_server()
 {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "דנה", "language": "he", "email": "dana@example.org" }),
    )
    .await;
    let id = app.notify(reminder_for("p-1")).await;
    let done = app.wait_until_finished(&id).await;

    assert_eq!(
        (done["status"].as_str(), done["channel"].as_str()),
        (Some("sent"), Some("email")),
        "accepted by the SMTP server is final for email: {done:#}"
    );
    assert_eq!(attempts(&done), pairs(&[("email", "accepted")]));

    let outbox = app.outbox("dana@example.org").await;
    assert_eq!(outbox.len(), 1, "{outbox:#?}");
    let email = &outbox[0];
    assert_eq!(email["channel"], "email");
    assert!(
        email["subject"]
            .as_str()
            .is_some_and(|s| !s.trim().is_empty()),
        "{email:#}"
    );
    assert_eq!(
        email["body"],
        "שלום דנה, תזכורת לתור שלך אצל Clinic hadar בתאריך 01.12 בשעה 09:30."
    );
    assert_eq!(email["language"], "he");
    assert_eq!(
        email["notification_id"], done["id"],
        "the envelope sender names the attempt, so a bounce can find it"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_whatsapp_template_reaches_an_arabic_speaking_patient_as_the_approved_arabic_text_filled_in()
 {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Omar", "language": "ar", "phone": "+972541234567" }),
    )
    .await;
    let id = app.notify(reminder_for("p-1")).await;
    let done = app.wait_for(&id, &["delivered", "read"]).await;
    assert_eq!(done["channel"], "whatsapp");

    let outbox = app.outbox("+972541234567").await;
    assert_eq!(outbox.len(), 1, "{outbox:#?}");
    assert_eq!(outbox[0]["channel"], "whatsapp");
    assert_eq!(outbox[0]["language"], "ar");
    assert_eq!(
        outbox[0]["body"],
        "مرحبًا Omar، تذكير بموعدك في Clinic hadar بتاريخ 01.12 الساعة 09:30. يرجى الرد بـ 1 للتأكيد أو 2 للإلغاء."
    );
    app.stop().await;
}

/// The app secret of clinic `hadar`'s own Meta account.
const CLINIC_APP_SECRET: &str = "clinic-app-secret";

/// The app with clinic `hadar` sending WhatsApp through its own Meta account, played by `meta`,
/// and the other clinics through the sandbox; `hadar` has patient `p-1`, Omar, who reads Arabic.
async fn with_own_whatsapp_account(meta: &MockServer) -> TestApp {
    let meta_uri = meta.uri();
    let app = TestApp::spawn_with(|config| {
        // Nothing settles the clinic's messages but the statuses the tests post.
        config.delivery_timeout.whatsapp_ms = 60_000;
        config.sandbox.enabled = Some(true);
        config.clinics.insert(
            "hadar".to_owned(),
            ProviderAccounts {
                whatsapp: Some(WhatsAppConfig {
                    base_url: meta_uri,
                    api_version: "v23.0".to_owned(),
                    phone_number_id: "123456".to_owned(),
                    access_token: Secret::new("clinic-token"),
                    app_secret: Secret::new(CLINIC_APP_SECRET),
                    verify_token: Secret::new("clinic-verify-token"),
                    request_timeout_ms: 5_000,
                    template_ttl_seconds: None,
                }),
                twilio: None,
                smtp: None,
            },
        );
    })
    .await;
    app.patient(
        "p-1",
        json!({ "name": "Omar", "language": "ar", "phone": "+972541234567" }),
    )
    .await;
    app
}

/// Meta's answer to a send to Omar, accepted as `wamid`.
fn meta_accepts(wamid: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": "972541234567", "wa_id": "972541234567" }],
        "messages": [{ "id": wamid }],
    }))
}

/// Posts one status webhook to the app as Meta does for clinic `hadar`'s account, signed with its
/// app secret; returns how the app answered.
async fn post_clinic_status(app: &TestApp, status: Value) -> StatusCode {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "clinic-waba", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "972500000200", "phone_number_id": "123456" },
            "statuses": [status],
        }}]}],
    })
    .to_string();
    app.client()
        .post(format!("{}/webhooks/whatsapp", app.base))
        .header("content-type", "application/json")
        .header(
            whatsapp::SIGNATURE_HEADER,
            whatsapp::sign(&Secret::new(CLINIC_APP_SECRET), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("webhook")
        .status()
}

#[tokio::test]
async fn a_clinic_with_its_own_whatsapp_account_sends_through_it_while_other_clinics_use_the_sandbox()
 {
    let meta = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v23.0/123456/messages"))
        .and(header("authorization", "Bearer clinic-token"))
        .respond_with(meta_accepts("wamid.clinic-1"))
        .expect(1)
        .mount(&meta)
        .await;
    let app = with_own_whatsapp_account(&meta).await;
    let other = app.other_clinic_key().await;
    let created = app
        .request(
            Method::PUT,
            "/v1/patients/p-1",
            &other,
            Some(json!({ "name": "Noa", "language": "en", "phone": "+972541234568" })),
        )
        .await;
    assert!(created.status().is_success(), "{}", created.status());

    let own = app.notify(reminder_for("p-1")).await;
    let others = app.notify_as(&other, reminder_for("p-1")).await;

    // The clinic's own account took the message.
    let accepted = app
        .wait_until_as(&app.key, &own, |n| {
            n["attempts"][0]["provider_message_id"] == "wamid.clinic-1"
        })
        .await;
    let attempt = accepted["attempts"][0].clone();
    assert_eq!(attempt["channel"], "whatsapp");
    let requests = meta.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].headers["authorization"], "Bearer clinic-token",
        "the clinic's token"
    );
    let sent: Value = serde_json::from_slice(&requests[0].body).expect("json");
    assert_eq!(sent["messaging_product"], "whatsapp");
    assert_eq!(sent["to"], "972541234567");
    assert_eq!(sent["biz_opaque_callback_data"], attempt["id"]);
    assert_eq!(
        sent["type"], "template",
        "an approved template, not free text"
    );
    assert_eq!(sent["template"]["name"], "appointment_reminder");
    assert_eq!(sent["template"]["language"]["code"], "ar");
    let body = sent["template"]["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "body"))
        .expect("a body component");
    let parameters: Vec<&str> = body["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| p["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(parameters, ["Omar", "Clinic hadar", "01.12", "09:30"]);

    // Meta reports it delivered, signed with the clinic's app secret.
    let posted = post_clinic_status(
        &app,
        json!({
            "id": "wamid.clinic-1", "status": "delivered", "timestamp": "1764000000",
            "recipient_id": "972541234567", "biz_opaque_callback_data": attempt["id"],
        }),
    )
    .await;
    assert_eq!(posted, StatusCode::OK);
    let done = app.wait_for(&own, &["delivered"]).await;
    assert_eq!(done["channel"], "whatsapp");
    assert_eq!(attempts(&done), pairs(&[("whatsapp", "delivered")]));
    assert_eq!(done["attempts"][0]["sandbox"], false, "a real delivery");
    assert!(
        app.outbox("+972541234567").await.is_empty(),
        "nothing of this clinic's went through the sandbox"
    );

    // The other clinic has no account of its own: the sandbox has its message.
    let theirs = app
        .wait_until_as(&other, &others, |n| n["status"] == "read")
        .await;
    assert_eq!(theirs["channel"], "whatsapp");
    assert_eq!(
        theirs["attempts"][0]["sandbox"], true,
        "the sandbox's delivery says so"
    );
    let outbox = app.outbox_as(&other, "+972541234568").await;
    assert_eq!(outbox.len(), 1, "{outbox:#?}");
    assert_eq!(outbox[0]["channel"], "whatsapp");
    assert_eq!(outbox[0]["notification_id"], theirs["id"]);
    assert_eq!(
        outbox[0]["body"],
        "Hello Noa, a reminder of your appointment at Clinic other on 01.12 at 09:30. Reply 1 to confirm or 2 to cancel."
    );
    app.stop().await;
}

#[tokio::test]
async fn a_whatsapp_failure_that_overtakes_the_send_answer_is_kept_and_applied_once_the_answer_names_the_message()
 {
    // Meta answers the send late; its failure, which carries only the wamid, comes first.
    let meta = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v23.0/123456/messages"))
        .respond_with(meta_accepts("wamid.early-1").set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&meta)
        .await;
    let app = with_own_whatsapp_account(&meta).await;
    let id = app.notify(reminder_for("p-1")).await;
    wait::within(Duration::from_secs(10))
        .until(async || match meta.received_requests().await {
            Some(requests) if !requests.is_empty() => Ok(()),
            _ => Err("Meta has not been sent the message yet".to_owned()),
        })
        .await;

    let failed = json!({
        "id": "wamid.early-1", "status": "failed", "timestamp": "1764000000",
        "recipient_id": "972541234567",
        "errors": [{ "code": 131026, "title": "Message undeliverable" }],
    });
    assert_eq!(
        post_clinic_status(&app, failed).await,
        StatusCode::OK,
        "acknowledged though no attempt carries the wamid yet"
    );
    let before = app.notification(&id).await;
    assert!(
        before["attempts"][0]["provider_message_id"].is_null(),
        "the failure came before the send's answer: {before:#}"
    );

    let done = app
        .wait_until(&id, |n| n["attempts"][0]["status"] == "failed")
        .await;
    let attempt = &done["attempts"][0];
    assert_eq!(attempt["channel"], "whatsapp");
    assert_eq!(attempt["provider_message_id"], "wamid.early-1");
    assert_eq!(attempt["error_code"], "131026");
    assert!(
        event_details(&done)
            .iter()
            .any(|d| d.starts_with("whatsapp failed")),
        "{:?}",
        event_details(&done)
    );
    app.stop().await;
}

#[tokio::test]
async fn an_sms_records_its_encoding_and_segments_one_hebrew_letter_makes_it_ucs2() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "phone": "+972541234567", "channels": ["sms"] }),
    )
    .await;
    let english = "Your test results are ready. Please log in to the clinic portal to see them.";
    let hebrew = format!("{english} תודה");

    let mut request = crate::harness::body(english);
    request["channel"] = json!("sms");
    let plain = app.notify(request).await;
    let mut request = crate::harness::body(&hebrew);
    request["channel"] = json!("sms");
    let with_hebrew = app.notify(request).await;

    let plain = app.wait_for(&plain, &["delivered"]).await;
    assert_eq!(plain["attempts"][0]["sms_encoding"], "gsm7");
    assert_eq!(plain["attempts"][0]["sms_segments"], 1);
    let with_hebrew = app.wait_for(&with_hebrew, &["delivered"]).await;
    assert_eq!(with_hebrew["attempts"][0]["sms_encoding"], "ucs2");
    assert_eq!(
        with_hebrew["attempts"][0]["sms_segments"], 2,
        "81 characters in UCS-2: more than 70, so two parts of up to 67"
    );
    app.stop().await;
}

/// Dana (`p-1`), who gets texts on SMS, else by email.
async fn dana_on_sms_then_email(app: &TestApp) {
    app.patient(
        "p-1",
        json!({
            "name": "Dana", "phone": "+972541234567", "email": "dana@example.org",
            "channels": ["sms", "email"]
        }),
    )
    .await;
}

/// 1,601 UTF-16 code units, as Twilio counts a body: one more than it takes.
fn one_unit_too_long_for_sms() -> String {
    // 798 emoji are 1,596 units; each Hebrew letter one more.
    format!("{}{}", "👍".repeat(798), "שלום ")
}

#[tokio::test]
async fn a_text_longer_than_twilio_takes_is_refused_for_a_patient_reachable_only_by_sms() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "phone": "+972541234567", "channels": ["sms"] }),
    )
    .await;
    let too_long = one_unit_too_long_for_sms();
    assert_eq!(too_long.chars().count(), 803, "fewer characters than units");

    let refused = app.post_notification(crate::harness::body(&too_long)).await;

    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.expect("problem");
    let errors = problem["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{problem:#}");
    assert_eq!(errors[0]["field"], "body");
    assert!(
        errors[0]["rule"]
            .as_str()
            .is_some_and(|r| r.starts_with("is 1601 characters")),
        "{problem:#}"
    );
    let at_the_limit: String = too_long.chars().take(802).collect();
    let accepted = app
        .post_notification(crate::harness::body(&at_the_limit))
        .await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    app.stop().await;
}

#[tokio::test]
async fn a_text_longer_than_twilio_takes_skips_sms_with_the_reason_and_goes_by_email() {
    let app = TestApp::spawn().await;
    dana_on_sms_then_email(&app).await;

    let id = app
        .notify(crate::harness::body(&one_unit_too_long_for_sms()))
        .await;

    let done = app.wait_until_finished(&id).await;
    assert_eq!(attempts(&done), pairs(&[("email", "accepted")]), "{done:#}");
    let trail = event_details(&done);
    assert!(
        trail.iter().any(|d| d
            == "sms skipped: the text is 1601 characters, longer than the 1600 an SMS may carry"),
        "{trail:#?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_sandbox_refuses_an_sms_longer_than_twilio_takes_as_twilio_does() {
    let app = TestApp::spawn().await;
    dana_on_sms_then_email(&app).await;
    // Only the rendered SMS copy of the template is too long: routing cannot know it beforehand.
    let mut reminder = reminder_for("p-1");
    reminder["params"]["date"] = json!("1".repeat(1_600));

    let id = app.notify(reminder).await;

    let done = app.wait_until_finished(&id).await;
    assert_eq!(
        attempts(&done),
        pairs(&[("sms", "failed"), ("email", "accepted")]),
        "{done:#}"
    );
    assert_eq!(done["attempts"][0]["error_code"], "21617", "{done:#}");
    app.stop().await;
}
