//! Patients write back: signed WhatsApp and Twilio webhooks carrying patients' messages are
//! stored once, matched to the patient (or an unknown contact), and acted on before the
//! provider hears 200.
//!
//! The clinic has its own WhatsApp and Twilio accounts, pointed at a mock of Meta and Twilio
//! that accepts every message, so each test signs the patient's messages with secrets it knows
//! and sees the auto replies arrive at the "provider".

use medrelay::config::ProviderAccounts;
use medrelay_channels::Secret;
use medrelay_channels::twilio::{TwilioConfig, TwilioSmsConfig};
use medrelay_channels::whatsapp::{self, WhatsAppConfig};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use base64::Engine as _;
use hmac::{Hmac, Mac};

use crate::harness::TestApp;

const PUBLIC_URL: &str = "https://relay.hadar.example";
const PHONE_NUMBER_ID: &str = "123456";
const APP_SECRET: &str = "inbound-app-secret";
const ACCOUNT_SID: &str = "ACinbound0000000000000000000001";
const AUTH_TOKEN: &str = "inbound-token";
/// The clinic's SMS number, which patients answer.
const CLINIC_NUMBER: &str = "+97233334444";
const DANA: &str = "+972541234567";
const STRANGER: &str = "+972529999999";

/// The gateway with the clinic's own accounts, and the mock providers behind them.
struct Clinic {
    app: TestApp,
    providers: MockServer,
}

impl Clinic {
    async fn start() -> Self {
        let providers = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "messaging_product": "whatsapp",
                "messages": [{ "id": "wamid.REPLY" }]
            })))
            .mount(&providers)
            .await;
        Mock::given(method("POST"))
            .and(path(format!(
                "/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
            )))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({ "sid": "SMREPLY", "status": "queued" })),
            )
            .mount(&providers)
            .await;
        let base_url = providers.uri();
        let app = TestApp::spawn_with(move |config| {
            config.sandbox.enabled = Some(true);
            config
                .clinics
                .insert("hadar".to_owned(), clinic_accounts(&base_url));
        })
        .await;
        Self { app, providers }
    }

    async fn stop(self) {
        self.app.stop().await;
    }

    /// Posts a WhatsApp webhook carrying `message` from `from`, signed with our app secret.
    async fn whatsapp_from(&self, from: &str, message: Value) -> Response {
        let body = whatsapp_message(from, message);
        self.post_whatsapp(&body, &whatsapp::sign(&Secret::new(APP_SECRET), &body))
            .await
    }

    async fn post_whatsapp(&self, body: &[u8], signature: &str) -> Response {
        self.app
            .client()
            .post(format!("{}/webhooks/whatsapp", self.app.base))
            .header(CONTENT_TYPE, "application/json")
            .header("X-Hub-Signature-256", signature)
            .body(body.to_vec())
            .send()
            .await
            .expect("request sent")
    }

    /// Posts Twilio's incoming-message webhook for an SMS `sid` from `from`, signed with
    /// `auth_token` over the incoming URL the clinic gave Twilio.
    async fn sms_from(&self, from: &str, sid: &str, text: &str, auth_token: &str) -> Response {
        let params = incoming_sms(from, sid, text);
        let url = format!("{PUBLIC_URL}/webhooks/twilio/sms/incoming");
        self.app
            .client()
            .post(format!("{}/webhooks/twilio/sms/incoming", self.app.base))
            .header(
                "X-Twilio-Signature",
                twilio_signature(auth_token, &url, &params),
            )
            .form(&params)
            .send()
            .await
            .expect("request sent")
    }

    /// Rows of `sql` (one text or integer column) in the application's database.
    async fn column(&self, sql: &str, bind: &str) -> Vec<String> {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(self.app.database_url())
            .await
            .expect("database");
        let rows = sqlx::query(sql)
            .bind(bind)
            .fetch_all(&pool)
            .await
            .expect("query");
        pool.close().await;
        rows.iter()
            .map(|row| {
                row.try_get::<String, _>(0)
                    .or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
                    .unwrap_or_default()
            })
            .collect()
    }
}

fn clinic_accounts(base_url: &str) -> ProviderAccounts {
    ProviderAccounts {
        whatsapp: Some(WhatsAppConfig {
            base_url: base_url.to_owned(),
            api_version: "v23.0".to_owned(),
            phone_number_id: PHONE_NUMBER_ID.to_owned(),
            access_token: Secret::new("inbound-access-token"),
            app_secret: Secret::new(APP_SECRET),
            verify_token: Secret::new("inbound-verify"),
            request_timeout_ms: 2_000,
            template_ttl_seconds: None,
        }),
        twilio: Some(TwilioConfig {
            base_url: base_url.to_owned(),
            account_sid: ACCOUNT_SID.to_owned(),
            auth_token: Secret::new(AUTH_TOKEN),
            request_timeout_ms: 2_000,
            sms: Some(TwilioSmsConfig {
                from: Some(CLINIC_NUMBER.to_owned()),
                messaging_service_sid: None,
                status_callback_url: format!("{PUBLIC_URL}/webhooks/twilio/sms"),
                incoming_url: Some(format!("{PUBLIC_URL}/webhooks/twilio/sms/incoming")),
                validity_period_seconds: None,
            }),
            voice: None,
        }),
        smtp: None,
    }
}

/// A Meta webhook carrying one patient message (`message` gives its id, type and content).
fn whatsapp_message(from: &str, message: Value) -> Vec<u8> {
    let mut message = message;
    message["from"] = json!(from.trim_start_matches('+'));
    if message.get("timestamp").is_none() {
        message["timestamp"] = json!(jiff::Timestamp::now().as_second().to_string());
    }
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "97233334444", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": [{ "profile": { "name": "Dana" }, "wa_id": from.trim_start_matches('+') }],
            "messages": [message]
        }}]}]
    });
    serde_json::to_vec(&body).expect("json")
}

fn text(id: &str, body: &str) -> Value {
    json!({ "id": id, "type": "text", "text": { "body": body } })
}

/// The form Twilio posts for an incoming SMS.
fn incoming_sms(from: &str, sid: &str, text: &str) -> Vec<(String, String)> {
    [
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("Body", text),
        ("From", from),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsMessageSid", sid),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("To", CLINIC_NUMBER),
    ]
    .iter()
    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
    .collect()
}

/// `X-Twilio-Signature` as Twilio computes it: HMAC-SHA1 over the URL and the sorted
/// parameters, base64.
fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut signed = url.to_owned();
    for (name, value) in sorted {
        signed.push_str(&name);
        signed.push_str(&value);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key");
    mac.update(signed.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

// --- Stored once, matched ------------------------------------------------------------------

#[tokio::test]
async fn a_whatsapp_message_delivered_twice_is_stored_once_for_its_patient() {
    let clinic = Clinic::start().await;
    clinic
        .app
        .patient(
            "p-1",
            json!({ "name": "Dana", "phone": DANA, "whatsapp": true }),
        )
        .await;

    for _ in 0..2 {
        let response = clinic.whatsapp_from(DANA, text("wamid.IN1", "שלום")).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    let stored = clinic
        .column(
            "SELECT p.external_id FROM inbound_messages m JOIN patients p ON p.id = m.patient_id \
             WHERE m.provider_message_id = $1",
            "wamid.IN1",
        )
        .await;
    assert_eq!(stored, ["p-1"]);
    let received = clinic
        .column(
            "SELECT e.detail FROM events e JOIN inbound_messages m ON m.id = e.inbound_message_id \
             WHERE m.provider_message_id = $1 AND e.data LIKE '%message_received%'",
            "wamid.IN1",
        )
        .await;
    assert_eq!(received, ["the patient wrote on whatsapp (text)"]);
    clinic.stop().await;
}

#[tokio::test]
async fn an_sms_from_an_unknown_number_opens_a_conversation_for_an_unknown_contact() {
    let clinic = Clinic::start().await;

    let response = clinic
        .sms_from(STRANGER, "SMIN1", "hello?", AUTH_TOKEN)
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.expect("body"),
        "<Response></Response>"
    );
    let contact = clinic
        .column(
            "SELECT p.external_id FROM conversations c JOIN patients p ON p.id = c.patient_id \
             WHERE p.phone = $1 AND p.unknown_contact = 1 AND c.status = 'open'",
            STRANGER,
        )
        .await;
    assert_eq!(contact, [format!("unknown:{STRANGER}")]);
    clinic.stop().await;
}

#[tokio::test]
async fn a_message_whose_signature_does_not_check_out_is_refused_and_changes_nothing() {
    let clinic = Clinic::start().await;

    let sms = clinic
        .sms_from(STRANGER, "SMBAD", "hello?", "not-our-token")
        .await;
    let body = whatsapp_message(STRANGER, text("wamid.BAD", "hello?"));
    let forged = whatsapp::sign(&Secret::new("not-our-secret"), &body);
    let whatsapp = clinic.post_whatsapp(&body, &forged).await;

    assert_eq!(sms.status(), StatusCode::FORBIDDEN);
    assert_eq!(whatsapp.status(), StatusCode::FORBIDDEN);
    let stored = clinic
        .column(
            "SELECT id FROM inbound_messages WHERE from_address = $1",
            STRANGER,
        )
        .await;
    assert!(stored.is_empty(), "{stored:?}");
    clinic.stop().await;
}

// --- Never lost ----------------------------------------------------------------------------

#[tokio::test]
async fn a_message_the_disk_cannot_take_is_refused_with_5xx_and_its_redelivery_is_stored_once() {
    let clinic = Clinic::start().await;
    if !clinic.app.is_sqlite() {
        println!("skipped: SQLite's page limit stands in for a full disk; PostgreSQL has none");
        return clinic.stop().await;
    }
    // A long message needs new pages, which a full disk cannot give.
    let long = "כאב ראש ".repeat(4_000);
    let message = text("wamid.FULL", &long);

    clinic
        .app
        .store
        .cap_sqlite_pages(Some(0))
        .await
        .expect("cap");
    let refused = clinic.whatsapp_from(STRANGER, message.clone()).await;
    clinic
        .app
        .store
        .cap_sqlite_pages(None)
        .await
        .expect("uncap");
    let redelivered = clinic.whatsapp_from(STRANGER, message.clone()).await;
    let again = clinic.whatsapp_from(STRANGER, message).await;

    assert!(
        refused.status().is_server_error(),
        "Meta must redeliver: {}",
        refused.status()
    );
    assert_eq!(redelivered.status(), StatusCode::OK);
    assert_eq!(again.status(), StatusCode::OK);
    let stored = clinic
        .column(
            "SELECT m.provider_message_id FROM inbound_messages m \
             JOIN patients p ON p.id = m.patient_id WHERE p.phone = $1",
            STRANGER,
        )
        .await;
    assert_eq!(stored, ["wamid.FULL"]);
    clinic.stop().await;
}
