//! The sandbox is never mistaken for production: its pages need a clinic's key and show only that
//! clinic, nobody outside the process can sign a status callback as the sandbox, a production-like
//! configuration does not fall into it, and every attempt it took says so.

use medrelay::app::{Application, StartError};
use medrelay::config::ProviderAccounts;
use medrelay::sandbox::{TWILIO_ACCOUNT_SID, WHATSAPP_NEVER_DELIVERED, WHATSAPP_PHONE_NUMBER_ID};
use medrelay_channels::smtp::{Security, SmtpConfig};
use medrelay_channels::{Secret, twilio, whatsapp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, attempts, event_details, reminder, reminder_for, test_config};

/// The secrets every gateway's sandbox used before they became random per process.
const OLD_WHATSAPP_APP_SECRET: &str = "sandbox-app-secret";
const OLD_TWILIO_AUTH_TOKEN: &str = "sandbox-auth-token";

async fn get_outbox(app: &TestApp, key: Option<&str>) -> reqwest::Response {
    let mut request = app.client().get(format!("{}/sandbox/outbox", app.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("outbox")
}

async fn patient_writes(app: &TestApp, key: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app
        .client()
        .post(format!("{}/sandbox/inbound", app.base))
        .json(&body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("inbound")
}

#[tokio::test]
async fn the_outbox_needs_a_key() {
    let app = TestApp::spawn().await;

    let response = get_outbox(&app, None).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = response.json().await.expect("problem");
    assert!(problem["title"].is_string(), "{problem:#}");
    app.stop().await;
}

#[tokio::test]
async fn a_clinics_outbox_shows_only_its_own_patients_messages_and_no_attempt_ids() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;
    let other = app.other_clinic_key().await;
    let created = app
        .request(
            Method::PUT,
            "/v1/patients/p-1",
            &other,
            Some(json!({ "name": "Noa", "phone": "+972541234568" })),
        )
        .await;
    assert!(created.status().is_success(), "{}", created.status());
    let ours = app.notify(reminder()).await;
    app.notify_as(&other, reminder()).await;
    let ours = app.wait_until_finished(&ours).await;
    // The other clinic's message is in the sandbox too, to be left out below.
    app.outbox_holding(&other, "+972541234568", 1).await;

    let response = get_outbox(&app, Some(&app.key)).await;

    assert_eq!(response.status(), StatusCode::OK);
    let outbox: Value = response.json().await.expect("outbox");
    let messages = outbox["messages"].as_array().expect("messages");
    let recipients: Vec<&str> = messages
        .iter()
        .map(|m| m["recipient"].as_str().unwrap_or_default())
        .collect();
    assert!(
        !recipients.is_empty() && recipients.iter().all(|r| *r == "+972541234567"),
        "only this clinic's patient: {recipients:?}"
    );
    assert!(messages.iter().all(|m| m["notification_id"] == ours["id"]));
    let text = outbox.to_string();
    for attempt in ours["attempts"].as_array().expect("attempts") {
        let id = attempt["id"].as_str().expect("attempt id");
        assert!(!text.contains(id), "the outbox names attempt {id}: {text}");
    }
    assert!(!text.contains("callback_ref"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_status_signed_with_the_sandboxs_old_constant_secrets_is_refused_and_changes_nothing() {
    let app = TestApp::spawn_with(|config| config.delivery_timeout.whatsapp_ms = 60_000).await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "phone": WHATSAPP_NEVER_DELIVERED }),
    )
    .await;
    let id = app.notify(reminder()).await;
    let sent = app.wait_for(&id, &["sent"]).await;
    let attempt = sent["attempts"][0]["id"].as_str().expect("attempt id");

    // A forged failure would make the gateway send a second message on the next channel.
    let forged = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "sandbox-waba", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "972500000100", "phone_number_id": WHATSAPP_PHONE_NUMBER_ID },
            "statuses": [{
                "id": sent["attempts"][0]["provider_message_id"], "status": "failed",
                "timestamp": "1764000000", "recipient_id": "972500000002",
                "biz_opaque_callback_data": attempt,
                "errors": [{ "code": 131026, "title": "Message undeliverable" }],
            }],
        }}]}],
    })
    .to_string();
    let whatsapp_status = app
        .client()
        .post(format!("{}/webhooks/whatsapp", app.base))
        .header("content-type", "application/json")
        .header(
            whatsapp::SIGNATURE_HEADER,
            whatsapp::sign(&Secret::new(OLD_WHATSAPP_APP_SECRET), forged.as_bytes()),
        )
        .body(forged)
        .send()
        .await
        .expect("webhook");
    let url = format!(
        "{}/webhooks/twilio/sms?{}={attempt}",
        app.base,
        twilio::ATTEMPT_PARAM
    );
    let params: Vec<(String, String)> = [
        ("MessageSid", "SM0000"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003"),
        ("AccountSid", TWILIO_ACCOUNT_SID),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .collect();
    let twilio_status = app
        .client()
        .post(&url)
        .header(
            "X-Twilio-Signature",
            twilio::sign(&Secret::new(OLD_TWILIO_AUTH_TOKEN), &url, &params),
        )
        .form(&params)
        .send()
        .await
        .expect("callback");

    assert_eq!(whatsapp_status.status(), StatusCode::FORBIDDEN);
    assert_eq!(twilio_status.status(), StatusCode::FORBIDDEN);
    let after = app.notification(&id).await;
    assert_eq!(after["status"], "sent", "{after:#}");
    assert_eq!(attempts(&after).len(), 1, "no second message: {after:#}");
    app.stop().await;
}

#[tokio::test]
async fn playing_a_patient_needs_a_key_and_takes_any_valid_number_known_to_the_clinic_or_not() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;
    let text_from = |from: &str| json!({ "channel": "whatsapp", "from": from, "text": "hello" });

    let without_key = patient_writes(&app, None, text_from("+972541234567")).await;
    let ours = patient_writes(&app, Some(&app.key), text_from("+972541234567")).await;
    let unknown = patient_writes(&app, Some(&app.key), text_from("+972541234599")).await;
    let magic = patient_writes(&app, Some(&app.key), text_from(WHATSAPP_NEVER_DELIVERED)).await;
    let not_a_number = patient_writes(&app, Some(&app.key), text_from("hello")).await;

    assert_eq!(without_key.status(), StatusCode::UNAUTHORIZED);
    for accepted in [ours, unknown, magic] {
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
        let receipt: Value = accepted.json().await.expect("receipt");
        let id = receipt["provider_message_id"].as_str().unwrap_or_default();
        assert!(id.starts_with("wamid."), "{receipt:#}");
    }
    assert_eq!(not_a_number.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = not_a_number.json().await.expect("problem");
    assert_eq!(problem["errors"][0]["field"], "from", "{problem:#}");
    app.stop().await;
}

#[tokio::test]
async fn a_patient_sends_one_thing_and_an_sms_carries_only_text() {
    let app = TestApp::spawn().await;
    let from = "+972541234567";
    let cases = [
        (
            json!({ "channel": "sms", "from": from, "image": {} }),
            "image",
        ),
        (
            json!({ "channel": "sms", "from": from, "button": { "payload": "CONFIRM", "text": "Yes" } }),
            "button",
        ),
        (
            json!({ "channel": "whatsapp", "from": from, "text": "hi", "image": {} }),
            "body",
        ),
        (json!({ "channel": "whatsapp", "from": from }), "body"),
        (
            json!({ "channel": "whatsapp", "from": from, "text": " " }),
            "text",
        ),
        (
            json!({ "channel": "email", "from": from, "text": "hi" }),
            "channel",
        ),
    ];

    for (body, field) in cases {
        let response = patient_writes(&app, Some(&app.key), body.clone()).await;

        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let problem: Value = response.json().await.expect("problem");
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem:#}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_attempt_the_sandbox_took_says_so_in_the_api_and_its_events() {
    let app = TestApp::spawn().await;
    app.patient("p-1", json!({ "name": "Dana", "phone": "+972541234567" }))
        .await;

    let id = app.notify(reminder_for("p-1")).await;
    let done = app.wait_until_finished(&id).await;

    let attempt = &done["attempts"][0];
    assert_eq!(attempt["sandbox"], true, "{done:#}");
    assert!(
        event_details(&done)
            .iter()
            .any(|d| d.contains("through the sandbox (it reaches no patient)")),
        "{:?}",
        event_details(&done)
    );
    app.stop().await;
}

fn clinic_smtp() -> ProviderAccounts {
    ProviderAccounts {
        smtp: Some(SmtpConfig {
            host: "smtp.clinic.example".to_owned(),
            port: 587,
            security: Security::Starttls,
            username: None,
            password: None,
            from: "clinic@clinic.example".to_owned(),
            bounce_domain: "bounces.clinic.example".to_owned(),
            hello_name: None,
            pool_size: 1,
            timeout_ms: 1_000,
        }),
        ..ProviderAccounts::default()
    }
}

/// The refusal, as an operator reads it.
async fn refusal(config: medrelay::Config) -> String {
    match Application::build(config).await {
        Err(error @ StartError::SandboxUndecided(_)) => error.to_string(),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("started with the sandbox undecided"),
    }
}

#[tokio::test]
async fn a_production_like_configuration_must_enable_the_sandbox_explicitly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("medrelay.db").display());
    let mut listening_everywhere = test_config();
    listening_everywhere.database_url = database_url.clone();
    listening_everywhere.listen = "0.0.0.0:0".parse().expect("address");
    let mut with_an_account = test_config();
    with_an_account.database_url = database_url.clone();
    with_an_account
        .clinics
        .insert("hadar".to_owned(), clinic_smtp());

    let everywhere = refusal(listening_everywhere.clone()).await;
    let account = refusal(with_an_account.clone()).await;

    assert!(
        everywhere.contains("sandbox.enabled") && everywhere.contains("listen is not a loopback"),
        "{everywhere}"
    );
    assert!(
        account.contains("MEDRELAY_SANDBOX__ENABLED")
            && account.contains("provider accounts are configured"),
        "{account}"
    );
    // Said explicitly, either way is fine; off, there is no sandbox to reach.
    listening_everywhere.sandbox.enabled = Some(false);
    let running = Application::build(listening_everywhere)
        .await
        .expect("starts without the sandbox")
        .start();
    let outbox = reqwest::get(format!(
        "http://127.0.0.1:{}/sandbox/outbox",
        running.addr.port()
    ))
    .await
    .expect("request");
    assert_eq!(outbox.status(), StatusCode::NOT_FOUND);
    running.stop().await;
    with_an_account.sandbox.enabled = Some(true);
    let app = Application::build(with_an_account)
        .await
        .expect("starts with the sandbox");
    assert_eq!(
        app.sandboxed_channels(),
        vec![
            (None, medrelay_channels::ChannelKind::ALL.to_vec()),
            (
                Some("hadar"),
                vec![
                    medrelay_channels::ChannelKind::Whatsapp,
                    medrelay_channels::ChannelKind::Sms,
                    medrelay_channels::ChannelKind::Voice,
                ]
            ),
        ]
    );
}
