//! Provider webhooks: Meta's subscription handshake and signed status POSTs, Twilio's signed SMS
//! and call status callbacks and the key a patient presses during a call.
//!
//! The clinic has its own WhatsApp and Twilio accounts here, pointed at a mock of Meta and Twilio
//! that accepts every message and never reports back, so the only statuses the gateway hears are
//! the ones each test signs and posts itself, with secrets the test knows. The gateway sits
//! behind a public address different from the one it listens on, as in production, and is
//! configured as the README shows: the callback URLs name the public address, `public_url` is
//! left out. Twilio signs the URL it was given and called, which is the public one.

use std::collections::BTreeMap;

use medrelay::config::ProviderAccounts;
use medrelay_channels::Secret;
use medrelay_channels::twilio::{
    self, TwilioConfig, TwilioSmsConfig, TwilioVoiceConfig, VoiceLanguage,
};
use medrelay_channels::whatsapp::{self, WhatsAppConfig};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use base64::Engine as _;
use hmac::{Hmac, Mac};

use crate::harness::{TestApp, reminder};

/// Where Meta and Twilio reach the gateway; it listens elsewhere (the harness's port).
const PUBLIC_URL: &str = "https://relay.hadar.example";
const PHONE_NUMBER_ID: &str = "123456";
const APP_SECRET: &str = "test-app-secret";
const VERIFY_TOKEN: &str = "test-verify";
const ACCOUNT_SID: &str = "ACtest00000000000000000000000001";
const AUTH_TOKEN: &str = "test-token";
const DANA: &str = "+972541234567";
const WAMID: &str = "wamid.TEST1";
const MESSAGE_SID: &str = "SMTEST1";
const CALL_SID: &str = "CATEST1";

/// The gateway with the clinic's own provider accounts, and the mock providers behind them.
struct Gateway {
    app: TestApp,
    providers: MockServer,
}

impl Gateway {
    async fn start() -> Self {
        Self::start_with(|_, _| {}).await
    }

    /// Like [`Gateway::start`], with `adjust` given the configuration and the mock providers'
    /// address.
    async fn start_with(adjust: impl FnOnce(&mut medrelay::Config, &str)) -> Self {
        let providers = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "messaging_product": "whatsapp",
                "contacts": [{ "input": "972541234567", "wa_id": "972541234567" }],
                "messages": [{ "id": WAMID }]
            })))
            .mount(&providers)
            .await;
        Mock::given(method("POST"))
            .and(path(format!(
                "/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
            )))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({ "sid": MESSAGE_SID, "status": "queued" })),
            )
            .mount(&providers)
            .await;
        Mock::given(method("POST"))
            .and(path(format!(
                "/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
            )))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({ "sid": CALL_SID, "status": "queued" })),
            )
            .mount(&providers)
            .await;

        let base_url = providers.uri();
        let app = TestApp::spawn_with(move |config| {
            config.sandbox.enabled = Some(true);
            // No receipt comes unless a test posts one: the attempt must wait for it meanwhile.
            config.delivery_timeout.whatsapp_ms = 3_600_000;
            config.delivery_timeout.sms_ms = 3_600_000;
            config.delivery_timeout.voice_ms = 3_600_000;
            config
                .clinics
                .insert("hadar".to_owned(), clinic_accounts(&base_url));
            adjust(config, &base_url);
        })
        .await;
        Self { app, providers }
    }

    async fn stop(self) {
        self.app.stop().await;
    }

    /// Sends Dana an appointment reminder on `channel` only and waits until the provider has
    /// accepted it. Returns the notification id and its attempt's id.
    async fn accepted_on(&self, channel: &str) -> (String, String) {
        let (id, notification) = self
            .reminder_accepted(json!({ "name": "Dana", "phone": DANA, "channels": [channel] }))
            .await;
        let attempt = &notification["attempts"][0];
        assert_eq!(attempt["channel"], channel, "{notification:#}");
        let attempt_id = attempt["id"].as_str().expect("attempt id").to_owned();
        (id, attempt_id)
    }

    /// Saves `patient` as `p-1`, sends them an appointment reminder and waits until the provider
    /// has accepted its first attempt. Returns the notification id and the notification.
    async fn reminder_accepted(&self, patient: Value) -> (String, Value) {
        self.app.patient("p-1", patient).await;
        let id = self.app.notify(reminder()).await;
        let notification = self.attempt_reaches(&id, "accepted").await;
        (id, notification)
    }

    /// Polls until the notification's first attempt has `status`; fails after a few seconds.
    async fn attempt_reaches(&self, id: &str, status: &str) -> Value {
        self.app
            .wait_until(id, |n| n["attempts"][0]["status"] == status)
            .await
    }

    /// The first attempt of the notification, as the API shows it now.
    async fn attempt(&self, id: &str) -> Value {
        self.app.notification(id).await["attempts"][0].clone()
    }

    async fn get(&self, path_and_query: &str) -> Response {
        self.app
            .client()
            .get(format!("{}{path_and_query}", self.app.base))
            .send()
            .await
            .expect("request sent")
    }

    /// POSTs a Meta webhook body, with `signature` as `X-Hub-Signature-256` when given.
    async fn post_whatsapp(&self, body: &[u8], signature: Option<&str>) -> Response {
        let mut request = self
            .app
            .client()
            .post(format!("{}/webhooks/whatsapp", self.app.base))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        request.send().await.expect("request sent")
    }

    /// POSTs a Twilio form to the public URL `url` (it reaches the gateway at its own address),
    /// with `signature` as `X-Twilio-Signature` when given.
    async fn post_twilio(
        &self,
        url: &str,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> Response {
        let path_and_query = url.strip_prefix(PUBLIC_URL).expect("a public URL");
        let mut request = self
            .app
            .client()
            .post(format!("{}{path_and_query}", self.app.base))
            .form(params);
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        request.send().await.expect("request sent")
    }

    /// POSTs a Twilio form to `url`, signed the way Twilio signs it with our auth token.
    async fn post_signed_twilio(&self, url: &str, params: &[(String, String)]) -> Response {
        let signature = twilio_signature(AUTH_TOKEN, url, params);
        self.post_twilio(url, params, Some(&signature)).await
    }

    /// The form fields of the last request the gateway made to Twilio's `resource`
    /// (`Messages`, `Calls`).
    async fn sent_to_twilio(&self, resource: &str) -> BTreeMap<String, String> {
        let endpoint = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/{resource}.json");
        let requests = self.providers.received_requests().await.unwrap_or_default();
        let request = requests
            .iter()
            .rev()
            .find(|r| r.url.path() == endpoint)
            .unwrap_or_else(|| panic!("nothing was sent to Twilio {resource}"));
        form_urlencoded::parse(&request.body).into_owned().collect()
    }
}

fn clinic_accounts(base_url: &str) -> ProviderAccounts {
    let languages = [("he", "he-IL"), ("en", "en-US")]
        .into_iter()
        .map(|(tag, language)| {
            (
                tag.to_owned(),
                VoiceLanguage {
                    voice: None,
                    language: Some(language.to_owned()),
                    audio_url: None,
                },
            )
        })
        .collect();
    ProviderAccounts {
        whatsapp: Some(WhatsAppConfig {
            base_url: base_url.to_owned(),
            api_version: "v23.0".to_owned(),
            phone_number_id: PHONE_NUMBER_ID.to_owned(),
            access_token: Secret::new("test-access-token"),
            app_secret: Secret::new(APP_SECRET),
            verify_token: Secret::new(VERIFY_TOKEN),
            request_timeout_ms: 2_000,
            template_ttl_seconds: None,
        }),
        twilio: Some(TwilioConfig {
            base_url: base_url.to_owned(),
            account_sid: ACCOUNT_SID.to_owned(),
            auth_token: Secret::new(AUTH_TOKEN),
            request_timeout_ms: 2_000,
            sms: Some(TwilioSmsConfig {
                from: Some("Clinic".to_owned()),
                messaging_service_sid: None,
                status_callback_url: format!("{PUBLIC_URL}/webhooks/twilio/sms"),
                incoming_url: Some(format!("{PUBLIC_URL}/webhooks/twilio/sms/incoming")),
                validity_period_seconds: None,
            }),
            voice: Some(TwilioVoiceConfig {
                from: "+97235551234".to_owned(),
                status_callback_url: format!("{PUBLIC_URL}/webhooks/twilio/voice"),
                confirm_url: format!("{PUBLIC_URL}/webhooks/twilio/voice/confirm"),
                machine_detection: false,
                languages,
            }),
        }),
        smtp: None,
    }
}

/// A Meta webhook reporting `status` for the message sent as `attempt`.
fn whatsapp_status(attempt: &str, status: &str) -> Vec<u8> {
    let mut entry = json!({
        "id": WAMID, "status": status, "timestamp": "1767225600",
        "recipient_id": "972541234567", "biz_opaque_callback_data": attempt
    });
    if status == "failed" {
        entry["errors"] = json!([{
            "code": 131026, "title": "Message undeliverable",
            "message": "Message undeliverable",
            "error_data": { "details": "Message Undeliverable." }
        }]);
    }
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "97235551234", "phone_number_id": PHONE_NUMBER_ID },
            "statuses": [entry]
        }}]}]
    });
    serde_json::to_vec(&body).expect("json")
}

/// The header Meta sends with `body`, signed with our app secret.
fn meta_signature(body: &[u8]) -> String {
    whatsapp::sign(&Secret::new(APP_SECRET), body)
}

/// `X-Twilio-Signature` as Twilio's request validator computes it (twilio.com/docs/usage/security),
/// written here from Twilio's description rather than taken from the gateway: the full URL
/// Twilio requested, then every POST parameter sorted by name as name followed by value,
/// HMAC-SHA1 keyed with the auth token, base64.
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

/// The form Twilio posts to an SMS status callback.
fn sms_status(status: &str) -> Vec<(String, String)> {
    form(&[
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("From", "Clinic"),
        ("MessageSid", MESSAGE_SID),
        ("MessageStatus", status),
        ("SmsSid", MESSAGE_SID),
        ("SmsStatus", status),
        ("To", DANA),
    ])
}

/// The form Twilio posts to a call status callback.
fn call_status(status: &str) -> Vec<(String, String)> {
    form(&[
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", CALL_SID),
        ("CallStatus", status),
        ("CallDuration", "12"),
        ("Direction", "outbound-api"),
        ("From", "+97235551234"),
        ("To", DANA),
    ])
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// `params` with `name` set to `value`.
fn with(params: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(n, v)| {
            let v = if n == name { value } else { v.as_str() };
            (n.clone(), v.to_owned())
        })
        .collect()
}

/// The `action` of the `<Gather>` in the TwiML the gateway gave Twilio for a call.
fn gather_action(twiml: &str) -> String {
    let start = twiml.find("action=\"").expect("a <Gather action>") + "action=\"".len();
    let end = start + twiml[start..].find('"').expect("closing quote");
    twiml[start..end].replace("&amp;", "&")
}

async fn assert_problem(response: Response, status: StatusCode, case: &str) {
    assert_eq!(response.status(), status, "{case}");
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "{case}");
    let problem: Value = response.json().await.expect("problem json");
    assert_eq!(problem["status"], status.as_u16(), "{case}");
}

/// The attempt's events, as their details, in order.
fn attempt_events(notification: &Value, attempt: &str) -> Vec<String> {
    notification["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "attempt" && e["attempt_id"] == attempt)
        .filter_map(|e| e["detail"].as_str().map(str::to_owned))
        .collect()
}

fn count(details: &[String], detail: &str) -> usize {
    details.iter().filter(|d| *d == detail).count()
}

// --- WhatsApp: the subscription handshake -------------------------------------------------

#[tokio::test]
async fn meta_subscribing_with_our_verify_token_gets_its_challenge_back_and_anyone_else_is_refused()
{
    let gateway = Gateway::start().await;

    let ours = gateway
        .get("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=test-verify&hub.challenge=1158201444")
        .await;
    assert_eq!(ours.status(), StatusCode::OK);
    assert_eq!(ours.text().await.expect("body"), "1158201444");

    for (case, query) in [
        (
            "a token that is not ours",
            "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444",
        ),
        ("no token", "hub.mode=subscribe&hub.challenge=1158201444"),
        (
            "a mode other than subscribe",
            "hub.mode=unsubscribe&hub.verify_token=test-verify&hub.challenge=1158201444",
        ),
    ] {
        let refused = gateway.get(&format!("/webhooks/whatsapp?{query}")).await;
        assert_problem(refused, StatusCode::FORBIDDEN, case).await;
    }
    gateway.stop().await;
}

// --- WhatsApp: signed statuses --------------------------------------------------------------

#[tokio::test]
async fn a_whatsapp_status_without_a_signature_is_refused_and_changes_nothing() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("whatsapp").await;
    let before = gateway.app.notification(&id).await;

    let response = gateway
        .post_whatsapp(&whatsapp_status(&attempt, "delivered"), None)
        .await;

    assert_problem(response, StatusCode::UNAUTHORIZED, "no X-Hub-Signature-256").await;
    assert_eq!(gateway.app.notification(&id).await, before);
    assert_eq!(gateway.attempt(&id).await["status"], "accepted");
    gateway.stop().await;
}

#[tokio::test]
async fn a_whatsapp_status_whose_signature_does_not_sign_it_is_refused_and_changes_nothing() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("whatsapp").await;
    let before = gateway.app.notification(&id).await;
    let delivered = whatsapp_status(&attempt, "delivered");
    let read = whatsapp_status(&attempt, "read");

    for (case, body, signature) in [
        (
            "signed with another app's secret",
            delivered.clone(),
            whatsapp::sign(&Secret::new("not-our-app-secret"), &delivered),
        ),
        (
            "a body changed after signing",
            read.clone(),
            meta_signature(&delivered),
        ),
        (
            "not a signature at all",
            delivered.clone(),
            "sha256=not-hex".to_owned(),
        ),
        (
            "the right HMAC under another algorithm's name",
            delivered.clone(),
            meta_signature(&delivered).replace("sha256=", "sha1="),
        ),
    ] {
        let response = gateway.post_whatsapp(&body, Some(&signature)).await;
        assert_problem(response, StatusCode::FORBIDDEN, case).await;
    }

    assert_eq!(gateway.app.notification(&id).await, before);
    assert_eq!(gateway.attempt(&id).await["status"], "accepted");
    gateway.stop().await;
}

#[tokio::test]
async fn signed_whatsapp_statuses_move_the_attempt_through_sent_delivered_and_read() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("whatsapp").await;

    for status in ["sent", "delivered", "read"] {
        let body = whatsapp_status(&attempt, status);
        let response = gateway
            .post_whatsapp(&body, Some(&meta_signature(&body)))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{status}");
        assert_eq!(gateway.attempt(&id).await["status"], status);
    }

    let done = gateway.app.notification(&id).await;
    assert_eq!(done["status"], "read");
    assert_eq!(done["channel"], "whatsapp");
    let attempt_view = &done["attempts"][0];
    assert_eq!(attempt_view["provider_message_id"], WAMID);
    assert!(attempt_view["delivered_at"].is_string() && attempt_view["read_at"].is_string());
    let events = attempt_events(&done, &attempt);
    assert_eq!(
        events[events.len().saturating_sub(3)..],
        ["whatsapp sent", "whatsapp delivered", "whatsapp read"],
        "{events:#?}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_signed_whatsapp_failure_fails_the_attempt_with_metas_error_code() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("whatsapp").await;

    let body = whatsapp_status(&attempt, "failed");
    let response = gateway
        .post_whatsapp(&body, Some(&meta_signature(&body)))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let failed = gateway.attempt(&id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error_code"], "131026");
    assert!(failed["failed_at"].is_string());
    gateway.stop().await;
}

#[tokio::test]
async fn a_signed_whatsapp_failure_carrying_only_the_wamid_falls_back_to_sms_at_once() {
    let gateway = Gateway::start().await;
    let (id, _) = gateway
        .reminder_accepted(
            json!({ "name": "Dana", "phone": DANA, "channels": ["whatsapp", "sms"] }),
        )
        .await;

    // Meta does not promise `biz_opaque_callback_data` on a failure: only the wamid names it.
    let mut failure: Value =
        serde_json::from_slice(&whatsapp_status("unused", "failed")).expect("json");
    let status = &mut failure["entry"][0]["changes"][0]["value"]["statuses"][0];
    status
        .as_object_mut()
        .expect("a status")
        .remove("biz_opaque_callback_data");
    let body = serde_json::to_vec(&failure).expect("json");
    let response = gateway
        .post_whatsapp(&body, Some(&meta_signature(&body)))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    // The delivery timeout is an hour: only the failure can have moved it on.
    let fell_back = gateway
        .app
        .wait_until(&id, |n| n["attempts"][1]["status"] == "accepted")
        .await;
    assert_eq!(
        fell_back["attempts"][0]["status"], "failed",
        "{fell_back:#}"
    );
    assert_eq!(fell_back["attempts"][0]["error_code"], "131026");
    assert_eq!(fell_back["attempts"][1]["channel"], "sms");
    gateway.stop().await;
}

#[tokio::test]
async fn a_whatsapp_status_delivered_twice_is_recorded_once() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("whatsapp").await;

    let body = whatsapp_status(&attempt, "delivered");
    for delivery in ["first", "redelivery"] {
        let response = gateway
            .post_whatsapp(&body, Some(&meta_signature(&body)))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{delivery}");
    }

    let done = gateway.app.notification(&id).await;
    assert_eq!(done["attempts"][0]["status"], "delivered");
    assert_eq!(
        count(&attempt_events(&done, &attempt), "whatsapp delivered"),
        1
    );
    gateway.stop().await;
}

#[tokio::test]
async fn whatsapp_statuses_arriving_out_of_order_never_move_the_attempt_backward() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("whatsapp").await;

    for status in ["read", "delivered", "sent"] {
        let body = whatsapp_status(&attempt, status);
        let response = gateway
            .post_whatsapp(&body, Some(&meta_signature(&body)))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{status}");
        assert_eq!(
            gateway.attempt(&id).await["status"],
            "read",
            "after a late {status}"
        );
    }

    let done = gateway.app.notification(&id).await;
    assert_eq!(done["status"], "read");
    let events = attempt_events(&done, &attempt);
    assert_eq!(count(&events, "whatsapp read"), 1);
    assert_eq!(count(&events, "whatsapp delivered"), 0);
    assert_eq!(count(&events, "whatsapp sent"), 0);
    gateway.stop().await;
}

// --- Twilio: SMS status callbacks -----------------------------------------------------------

#[tokio::test]
async fn the_sms_status_callback_url_given_to_twilio_names_the_attempt() {
    let gateway = Gateway::start().await;
    let (_, attempt) = gateway.accepted_on("sms").await;

    let sent = gateway.sent_to_twilio("Messages").await;
    assert_eq!(
        sent["StatusCallback"],
        format!("{PUBLIC_URL}/webhooks/twilio/sms?attempt={attempt}")
    );
    gateway.stop().await;
}

#[tokio::test]
async fn an_sms_status_signed_over_the_exact_callback_url_twilio_was_given_is_accepted() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("sms").await;
    let callback = gateway.sent_to_twilio("Messages").await["StatusCallback"].clone();
    assert_eq!(
        callback,
        format!("{PUBLIC_URL}/webhooks/twilio/sms?attempt={attempt}")
    );
    let delivered = sms_status("delivered");

    let elsewhere = format!("{PUBLIC_URL}/other/webhooks/twilio/sms?attempt={attempt}");
    let over_another_url = twilio_signature(AUTH_TOKEN, &elsewhere, &delivered);
    let refused = gateway
        .post_twilio(&callback, &delivered, Some(&over_another_url))
        .await;
    assert_problem(refused, StatusCode::FORBIDDEN, "signed over another URL").await;
    assert_eq!(gateway.attempt(&id).await["status"], "accepted");

    let over_the_callback = twilio_signature(AUTH_TOKEN, &callback, &delivered);
    let accepted = gateway
        .post_twilio(&callback, &delivered, Some(&over_the_callback))
        .await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(gateway.attempt(&id).await["status"], "delivered");
    gateway.stop().await;
}

#[tokio::test]
async fn an_sms_status_without_a_signature_is_refused_and_changes_nothing() {
    let gateway = Gateway::start().await;
    let (id, _) = gateway.accepted_on("sms").await;
    let callback = gateway.sent_to_twilio("Messages").await["StatusCallback"].clone();
    let before = gateway.app.notification(&id).await;

    let response = gateway
        .post_twilio(&callback, &sms_status("delivered"), None)
        .await;

    assert_problem(response, StatusCode::UNAUTHORIZED, "no X-Twilio-Signature").await;
    assert_eq!(gateway.app.notification(&id).await, before);
    assert_eq!(gateway.attempt(&id).await["status"], "accepted");
    gateway.stop().await;
}

#[tokio::test]
async fn an_sms_status_whose_signature_does_not_sign_it_is_refused_and_changes_nothing() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("sms").await;
    let callback = gateway.sent_to_twilio("Messages").await["StatusCallback"].clone();
    let before = gateway.app.notification(&id).await;
    let delivered = sms_status("delivered");
    let token = Secret::new(AUTH_TOKEN);

    let listen_url = format!("{}/webhooks/twilio/sms?attempt={attempt}", gateway.app.base);
    for (case, params, signature) in [
        (
            "signed with another auth token",
            delivered.clone(),
            twilio::sign(&Secret::new("not-our-token"), &callback, &delivered),
        ),
        (
            "a parameter changed after signing",
            with(&delivered, "MessageStatus", "failed"),
            twilio::sign(&token, &callback, &delivered),
        ),
        (
            "a parameter added after signing",
            [delivered.clone(), form(&[("ErrorCode", "30003")])].concat(),
            twilio::sign(&token, &callback, &delivered),
        ),
        (
            "signed for another attempt",
            delivered.clone(),
            twilio::sign(
                &token,
                &format!("{PUBLIC_URL}/webhooks/twilio/sms?attempt=another"),
                &delivered,
            ),
        ),
        (
            "signed for the address the gateway listens on, not the one Twilio called",
            delivered.clone(),
            twilio::sign(&token, &listen_url, &delivered),
        ),
        (
            "an account that is not ours, signed with our token",
            with(&delivered, "AccountSid", "ACnotours0000000000000000000000"),
            twilio::sign(
                &token,
                &callback,
                &with(&delivered, "AccountSid", "ACnotours0000000000000000000000"),
            ),
        ),
    ] {
        let response = gateway
            .post_twilio(&callback, &params, Some(&signature))
            .await;
        assert_problem(response, StatusCode::FORBIDDEN, case).await;
    }

    assert_eq!(gateway.app.notification(&id).await, before);
    assert_eq!(gateway.attempt(&id).await["status"], "accepted");
    gateway.stop().await;
}

#[tokio::test]
async fn signed_sms_statuses_move_the_attempt_to_sent_then_delivered() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("sms").await;
    let callback = gateway.sent_to_twilio("Messages").await["StatusCallback"].clone();

    for status in ["sent", "delivered"] {
        let response = gateway
            .post_signed_twilio(&callback, &sms_status(status))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{status}");
        assert_eq!(
            response.headers().get(CONTENT_TYPE).expect("content type"),
            "text/xml"
        );
        assert_eq!(
            response.text().await.expect("twiml"),
            "<Response></Response>"
        );
        assert_eq!(gateway.attempt(&id).await["status"], status);
    }

    let done = gateway.app.notification(&id).await;
    assert_eq!(done["status"], "delivered");
    assert_eq!(done["channel"], "sms");
    assert_eq!(done["attempts"][0]["provider_message_id"], MESSAGE_SID);
    let events = attempt_events(&done, &attempt);
    assert_eq!(
        events[events.len().saturating_sub(2)..],
        ["sms sent", "sms delivered"],
        "{events:#?}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn sms_statuses_repeated_or_late_never_move_the_attempt_backward() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("sms").await;
    let callback = gateway.sent_to_twilio("Messages").await["StatusCallback"].clone();

    for status in ["delivered", "delivered", "sent"] {
        let response = gateway
            .post_signed_twilio(&callback, &sms_status(status))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{status}");
        assert_eq!(
            gateway.attempt(&id).await["status"],
            "delivered",
            "after {status}"
        );
    }

    let events = attempt_events(&gateway.app.notification(&id).await, &attempt);
    assert_eq!(count(&events, "sms delivered"), 1);
    assert_eq!(count(&events, "sms sent"), 0);
    gateway.stop().await;
}

// --- Twilio: calls --------------------------------------------------------------------------

#[tokio::test]
async fn a_call_status_without_a_valid_signature_is_refused_and_changes_nothing() {
    let gateway = Gateway::start().await;
    let (id, _) = gateway.accepted_on("voice").await;
    let callback = gateway.sent_to_twilio("Calls").await["StatusCallback"].clone();
    let before = gateway.app.notification(&id).await;
    let completed = call_status("completed");

    let unsigned = gateway.post_twilio(&callback, &completed, None).await;
    assert_problem(unsigned, StatusCode::UNAUTHORIZED, "no X-Twilio-Signature").await;
    let wrong_token = twilio::sign(&Secret::new("not-our-token"), &callback, &completed);
    let forged = gateway
        .post_twilio(&callback, &completed, Some(&wrong_token))
        .await;
    assert_problem(
        forged,
        StatusCode::FORBIDDEN,
        "signed with another auth token",
    )
    .await;

    assert_eq!(gateway.app.notification(&id).await, before);
    assert_eq!(gateway.attempt(&id).await["status"], "accepted");
    gateway.stop().await;
}

#[tokio::test]
async fn a_signed_completed_call_status_marks_the_call_delivered() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("voice").await;
    let callback = gateway.sent_to_twilio("Calls").await["StatusCallback"].clone();
    assert_eq!(
        callback,
        format!("{PUBLIC_URL}/webhooks/twilio/voice?attempt={attempt}")
    );

    let response = gateway
        .post_signed_twilio(&callback, &call_status("completed"))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let done = gateway.app.notification(&id).await;
    assert_eq!(done["attempts"][0]["status"], "delivered");
    assert_eq!(done["attempts"][0]["provider_message_id"], CALL_SID);
    assert_eq!(done["status"], "delivered");
    assert_eq!(done["channel"], "voice");
    gateway.stop().await;
}

#[tokio::test]
async fn pressing_1_during_the_call_is_answered_with_thanks_and_recorded_as_a_patient_reply() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("voice").await;
    let action = gather_action(&gateway.sent_to_twilio("Calls").await["Twiml"]);
    assert_eq!(
        action,
        format!("{PUBLIC_URL}/webhooks/twilio/voice/confirm?attempt={attempt}&language=he")
    );
    let pressed_1 = form(&[
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", CALL_SID),
        ("CallStatus", "in-progress"),
        ("Digits", "1"),
        ("Direction", "outbound-api"),
        ("FinishedOnKey", ""),
        ("From", "+97235551234"),
        ("To", DANA),
    ]);

    let unsigned = gateway.post_twilio(&action, &pressed_1, None).await;
    assert_problem(unsigned, StatusCode::UNAUTHORIZED, "no X-Twilio-Signature").await;
    let no_reply = gateway.app.notification(&id).await;
    assert!(
        no_reply["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["kind"] != "patient_reply"),
        "an unsigned key press is not a reply: {no_reply:#}"
    );

    let response = gateway.post_signed_twilio(&action, &pressed_1).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get(CONTENT_TYPE).expect("content type"),
        "text/xml"
    );
    // The clinic's language, Hebrew, is Dana's.
    assert_eq!(
        response.text().await.expect("twiml"),
        r#"<Response><Say language="he-IL">תודה.</Say><Hangup/></Response>"#
    );

    let notification = gateway.app.notification(&id).await;
    let replies: Vec<&Value> = notification["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "patient_reply")
        .collect();
    assert_eq!(replies.len(), 1, "{notification:#}");
    assert_eq!(replies[0]["attempt_id"], attempt);
    assert_eq!(
        replies[0]["detail"],
        "the patient pressed 1 on the call: confirmed"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn an_english_speaking_patient_who_presses_1_is_thanked_in_english() {
    let gateway = Gateway::start().await;
    let (_, notification) = gateway
        .reminder_accepted(
            json!({ "name": "Dana", "phone": DANA, "language": "en", "channels": ["voice"] }),
        )
        .await;
    let attempt = notification["attempts"][0]["id"]
        .as_str()
        .expect("attempt id");
    let action = gather_action(&gateway.sent_to_twilio("Calls").await["Twiml"]);
    assert_eq!(
        action,
        format!("{PUBLIC_URL}/webhooks/twilio/voice/confirm?attempt={attempt}&language=en")
    );
    let pressed_1 = form(&[
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", CALL_SID),
        ("Digits", "1"),
    ]);

    let response = gateway.post_signed_twilio(&action, &pressed_1).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.expect("twiml"),
        r#"<Response><Say language="en-US">Thank you.</Say><Hangup/></Response>"#
    );
    gateway.stop().await;
}

// --- One clinic's provider secrets are not another's ----------------------------------------

/// A second clinic on the same gateway with its own WhatsApp number and Twilio account, whose
/// secrets are not ours.
fn with_another_clinic(config: &mut medrelay::Config, base_url: &str) {
    let mut other = clinic_accounts(base_url);
    if let Some(whatsapp) = other.whatsapp.as_mut() {
        whatsapp.phone_number_id = "654321".to_owned();
        whatsapp.app_secret = Secret::new("other-clinic-app-secret");
        whatsapp.verify_token = Secret::new("other-clinic-verify");
    }
    if let Some(twilio) = other.twilio.as_mut() {
        twilio.account_sid = "ACother0000000000000000000000002".to_owned();
        twilio.auth_token = Secret::new("other-clinic-token");
    }
    config.clinics.insert("other".to_owned(), other);
}

#[tokio::test]
async fn a_whatsapp_status_signed_by_another_clinics_number_does_not_move_this_clinics_attempt() {
    let gateway = Gateway::start_with(with_another_clinic).await;
    let (id, attempt) = gateway.accepted_on("whatsapp").await;
    let before = gateway.app.notification(&id).await;

    let body = whatsapp_status(&attempt, "read");
    let signature = whatsapp::sign(&Secret::new("other-clinic-app-secret"), &body);
    gateway.post_whatsapp(&body, Some(&signature)).await;

    assert_eq!(gateway.app.notification(&id).await, before);
    assert_eq!(gateway.attempt(&id).await["status"], "accepted");
    gateway.stop().await;
}

#[tokio::test]
async fn an_sms_status_signed_by_another_clinics_twilio_account_does_not_move_this_clinics_attempt()
{
    let gateway = Gateway::start_with(with_another_clinic).await;
    let (id, _) = gateway.accepted_on("sms").await;
    let callback = gateway.sent_to_twilio("Messages").await["StatusCallback"].clone();
    let before = gateway.app.notification(&id).await;

    let params = with(
        &sms_status("delivered"),
        "AccountSid",
        "ACother0000000000000000000000002",
    );
    let signature = twilio::sign(&Secret::new("other-clinic-token"), &callback, &params);
    gateway
        .post_twilio(&callback, &params, Some(&signature))
        .await;

    assert_eq!(gateway.app.notification(&id).await, before);
    assert_eq!(gateway.attempt(&id).await["status"], "accepted");
    gateway.stop().await;
}

#[tokio::test]
async fn a_large_batch_of_whatsapp_statuses_is_taken_beyond_the_api_request_limit() {
    let gateway = Gateway::start().await;
    let (id, attempt) = gateway.accepted_on("whatsapp").await;

    // Meta batches statuses: 500 of them (other businesses' messages among ours) pass 64 KiB.
    let mut body: Value =
        serde_json::from_slice(&whatsapp_status(&attempt, "delivered")).expect("json");
    let statuses = body["entry"][0]["changes"][0]["value"]["statuses"]
        .as_array_mut()
        .expect("statuses");
    let ours = statuses[0].clone();
    for i in 0..500 {
        let mut other = ours.clone();
        other["id"] = json!(format!("wamid.other-{i}"));
        other["biz_opaque_callback_data"] = json!(format!("att_not_ours_{i}"));
        statuses.push(other);
    }
    let body = serde_json::to_vec(&body).expect("json");
    assert!(body.len() > 64 * 1024);

    let response = gateway
        .post_whatsapp(&body, Some(&meta_signature(&body)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        gateway.attempt_reaches(&id, "delivered").await["status"],
        "delivered"
    );
    gateway.stop().await;
}
