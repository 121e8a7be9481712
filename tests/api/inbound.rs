//! Patients write back: signed WhatsApp and Twilio webhooks carrying patients' messages are
//! stored once, matched to the patient (or an unknown contact), and acted on before the
//! provider hears 200.
//!
//! The clinic has its own WhatsApp and Twilio accounts, pointed at a mock of Meta and Twilio
//! that accepts every message, so each test signs the patient's messages with secrets it knows
//! and sees the auto replies arrive at the "provider".

use std::sync::Arc;

use jiff::Timestamp;
use medrelay::clock::{AdjustableClock, Clock};
use medrelay::config::ProviderAccounts;
use medrelay::domain::ClinicHours;
use medrelay_channels::Secret;
use medrelay_channels::twilio::{TwilioConfig, TwilioSmsConfig};
use medrelay_channels::whatsapp::{self, WhatsAppConfig};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use wiremock::matchers::{body_string_contains, method, path};
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
    clock: Arc<AdjustableClock>,
}

impl Clinic {
    async fn start() -> Self {
        Self::start_at(Timestamp::now()).await
    }

    /// The clinic with its clock at `now` (Asia/Jerusalem, the default Israeli hours).
    async fn start_at(now: Timestamp) -> Self {
        Self::start_with(now, |_| {}).await
    }

    /// Like [`Clinic::start_at`], with `adjust` given the configuration.
    async fn start_with(now: Timestamp, adjust: impl FnOnce(&mut medrelay::Config)) -> Self {
        let clock = Arc::new(AdjustableClock::default());
        clock.set(now);
        let providers = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/v23.0/{PHONE_NUMBER_ID}/messages")))
            .respond_with(meta_accepts("wamid.REPLY"))
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
        let app = TestApp::spawn_with_clock(
            move |config| {
                config.sandbox.enabled = Some(true);
                config
                    .clinics
                    .insert("hadar".to_owned(), clinic_accounts(&base_url));
                adjust(config);
            },
            clock.clone(),
        )
        .await;
        let hadar = app.store.clinic_by_slug("hadar").await.expect("clinic");
        app.store
            .set_clinic_hours(&hadar.id, &ClinicHours::israeli_default())
            .await
            .expect("Israeli hours");
        Self {
            app,
            providers,
            clock,
        }
    }

    /// The clinic with patient `p-1`, Dana, who is on WhatsApp.
    async fn with_dana_on_whatsapp(self) -> Self {
        self.app
            .patient(
                "p-1",
                json!({ "name": "Dana", "phone": DANA, "whatsapp": true }),
            )
            .await;
        self
    }

    /// Moves the clinic's clock to `at`.
    fn at(&self, at: &str) {
        self.clock.set(jerusalem(at));
    }

    /// The texts the clinic's providers were given for `to` on `channel`, in order.
    async fn sent_to(&self, channel: &str, to: &str) -> Vec<String> {
        self.app.drain_dispatcher().await;
        let requests = self.providers.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter_map(|request| match channel {
                "whatsapp" if request.url.path().ends_with("/messages") => {
                    let body: Value = serde_json::from_slice(&request.body).ok()?;
                    (body["to"] == to.trim_start_matches('+')).then(|| {
                        body["text"]["body"]
                            .as_str()
                            .unwrap_or("<template>")
                            .to_owned()
                    })
                }
                "sms" if request.url.path().ends_with("/Messages.json") => {
                    let form: Vec<(String, String)> =
                        form_urlencoded::parse(&request.body).into_owned().collect();
                    let field =
                        |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
                    (field("To").as_deref() == Some(to)).then(|| field("Body").unwrap_or_default())
                }
                _ => None,
            })
            .collect()
    }

    async fn stop(self) {
        self.app.stop().await;
    }

    /// Posts a WhatsApp webhook carrying `message` from `from`, signed with our app secret.
    async fn whatsapp_from(&self, from: &str, message: Value) -> Response {
        let mut message = message;
        message["timestamp"] = json!(self.clock.now().as_second().to_string());
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

/// Meta's answer to a send: accepted as `wamid`.
fn meta_accepts(wamid: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "messages": [{ "id": wamid }]
    }))
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

/// `at` (e.g. `2026-12-06T22:00`) on the clinic's clock in Jerusalem.
fn jerusalem(at: &str) -> Timestamp {
    format!("{at}[Asia/Jerusalem]")
        .parse::<jiff::Zoned>()
        .expect("a civil time")
        .timestamp()
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
    let clinic = Clinic::start().await.with_dana_on_whatsapp().await;

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

// --- Receipt and away messages -------------------------------------------------------------

#[tokio::test]
async fn a_patient_gets_one_receipt_in_hours_one_away_message_at_night_and_nothing_more_minutes_later()
 {
    let clinic = Clinic::start_at(jerusalem("2026-12-06T10:00"))
        .await
        .with_dana_on_whatsapp()
        .await;

    // Sunday 10:00: the clinic is open.
    clinic.whatsapp_from(DANA, text("wamid.A1", "שלום")).await;
    let after_morning = clinic.sent_to("whatsapp", DANA).await;
    clinic.at("2026-12-06T22:00");
    clinic
        .whatsapp_from(DANA, text("wamid.A2", "עוד שאלה"))
        .await;
    let after_night = clinic.sent_to("whatsapp", DANA).await;
    clinic.at("2026-12-06T22:05");
    clinic.whatsapp_from(DANA, text("wamid.A3", "?")).await;
    let minutes_later = clinic.sent_to("whatsapp", DANA).await;

    assert_eq!(after_morning.len(), 1, "{after_morning:?}");
    assert!(
        after_morning[0].contains("קיבלנו את ההודעה"),
        "{after_morning:?}"
    );
    assert_eq!(after_night.len(), 2, "{after_night:?}");
    assert!(
        after_night[1].contains("המרפאה סגורה כעת"),
        "{after_night:?}"
    );
    assert!(after_night[1].contains("101"), "{after_night:?}");
    assert_eq!(minutes_later, after_night);
    clinic.stop().await;
}

#[tokio::test]
async fn an_unknown_number_gets_a_receipt_on_the_channel_it_wrote_on() {
    let clinic = Clinic::start_at(jerusalem("2026-12-06T10:00")).await;

    let response = clinic
        .sms_from(STRANGER, "SMU1", "hello?", AUTH_TOKEN)
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let sent = clinic.sent_to("sms", STRANGER).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("קיבלנו את ההודעה"), "{sent:?}");
    clinic.stop().await;
}

// --- Urgent --------------------------------------------------------------------------------

#[tokio::test]
async fn chest_pain_at_23_00_gets_the_urgent_answer_at_once_then_the_away_message() {
    let clinic = Clinic::start_at(jerusalem("2026-12-06T23:00")).await;
    clinic
        .app
        .patient(
            "p-1",
            json!({ "name": "Dana", "phone": DANA, "whatsapp": true, "language": "en" }),
        )
        .await;

    clinic
        .whatsapp_from(
            DANA,
            text("wamid.U1", "Doctor, I have chest pain, what do I do?"),
        )
        .await;

    let sent = clinic.sent_to("whatsapp", DANA).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[0].contains("emergency") && sent[0].contains("101"),
        "{sent:?}"
    );
    assert!(sent[1].contains("closed"), "{sent:?}");
    let labels = clinic
        .column(
            "SELECT c.labels FROM conversations c JOIN patients p ON p.id = c.patient_id \
             WHERE p.phone = $1 AND c.urgent_since IS NOT NULL",
            DANA,
        )
        .await;
    assert_eq!(labels, [r#"["awaiting_response","urgent"]"#]);
    clinic.stop().await;
}

// --- Replies to a reminder -----------------------------------------------------------------

/// Books Dana (SMS only) an appointment at 11:30 on the clinic's Sunday, whose one reminder goes
/// at once, and waits until Twilio took it. Returns the appointment's id.
async fn reminded_by_sms(clinic: &Clinic) -> String {
    clinic
        .app
        .patient(
            "p-1",
            json!({ "name": "Dana", "phone": DANA, "channels": ["sms"] }),
        )
        .await;
    let booked = clinic
        .app
        .book_appointment(json!({ "patient_id": "p-1", "starts_at": "2026-12-06T11:30:00+02:00" }))
        .await;
    let sent = clinic.sent_to("sms", DANA).await;
    assert_eq!(sent.len(), 1, "the reminder: {sent:?} {booked:#}");
    booked["id"].as_str().expect("appointment id").to_owned()
}

async fn appointment_status(clinic: &Clinic, id: &str) -> Value {
    let response = clinic
        .app
        .request(
            reqwest::Method::GET,
            &format!("/v1/appointments/{id}"),
            &clinic.app.key,
            None,
        )
        .await;
    let appointment: Value = response.json().await.expect("appointment");
    appointment["status"].clone()
}

#[tokio::test]
async fn replying_1_to_a_reminder_confirms_the_appointment_and_2_asks_to_cancel_it() {
    let clinic = Clinic::start_at(jerusalem("2026-12-06T10:00")).await;
    let appointment = reminded_by_sms(&clinic).await;

    clinic.sms_from(DANA, "SMC1", "1", AUTH_TOKEN).await;
    let confirmed = appointment_status(&clinic, &appointment).await;
    let after_yes = clinic.sent_to("sms", DANA).await;
    clinic.sms_from(DANA, "SMC2", " 2 ", AUTH_TOKEN).await;
    let cancelling = appointment_status(&clinic, &appointment).await;
    let after_no = clinic.sent_to("sms", DANA).await;

    assert_eq!(confirmed, "confirmed");
    assert_eq!(after_yes.len(), 2, "{after_yes:?}");
    assert!(after_yes[1].contains("אושר"), "{after_yes:?}");
    assert_eq!(cancelling, "cancellation_requested");
    assert_eq!(after_no.len(), 3, "{after_no:?}");
    let events = clinic
        .column(
            "SELECT detail FROM events WHERE notification_id IN \
             (SELECT id FROM notifications WHERE appointment_id = $1) AND kind = 'patient_message' \
             ORDER BY id",
            &appointment,
        )
        .await;
    assert_eq!(
        events,
        [
            format!("appointment {appointment} confirmed by the patient's reply"),
            format!(
                "the patient asked to cancel appointment {appointment}; the booking system decides"
            ),
        ]
    );
    clinic.stop().await;
}

#[tokio::test]
async fn the_reminders_quick_reply_button_confirms_the_appointment() {
    let clinic = Clinic::start_at(jerusalem("2026-12-06T10:00")).await;
    clinic
        .app
        .patient(
            "p-1",
            json!({ "name": "Dana", "phone": DANA, "channels": ["sms"], "whatsapp": true }),
        )
        .await;
    let booked = clinic
        .app
        .book_appointment(json!({ "patient_id": "p-1", "starts_at": "2026-12-06T11:30:00+02:00" }))
        .await;
    let appointment = booked["id"].as_str().expect("id").to_owned();
    assert_eq!(clinic.sent_to("sms", DANA).await.len(), 1);

    let button = json!({
        "id": "wamid.B1", "type": "button",
        "button": { "payload": format!("CONFIRM:{appointment}"), "text": "Confirm" }
    });
    clinic.whatsapp_from(DANA, button).await;

    assert_eq!(appointment_status(&clinic, &appointment).await, "confirmed");
    // A confirmation is answered by medrelay in full: nothing waits for staff.
    let staff = clinic.app.staff_key().await;
    let conversation: Value = clinic
        .app
        .request(reqwest::Method::GET, "/v1/conversations/p-1", &staff, None)
        .await
        .json()
        .await
        .expect("conversation");
    assert!(conversation["awaiting_since"].is_null(), "{conversation:#}");
    assert_eq!(
        conversation["labels"],
        serde_json::json!([]),
        "{conversation:#}"
    );
    let inbound: Vec<&Value> = conversation["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .collect();
    assert_eq!(inbound.len(), 1, "{conversation:#}");
    assert_eq!(inbound[0]["answered_by"], "medrelay");
    clinic.stop().await;
}

#[tokio::test]
async fn a_whatsapp_reply_to_our_message_is_in_the_medical_record_as_the_answer_to_it() {
    let clinic = Clinic::start_at(jerusalem("2026-12-06T10:00"))
        .await
        .with_dana_on_whatsapp()
        .await;
    // Her question opens WhatsApp's 24 hours for free text; Meta names our next message apart.
    clinic
        .whatsapp_from(DANA, text("wamid.QUESTION", "Are my results in?"))
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Your results are in"))
        .respond_with(meta_accepts("wamid.RESULTS"))
        .with_priority(1)
        .mount(&clinic.providers)
        .await;
    let id = clinic
        .app
        .notify(crate::harness::body("Your results are in"))
        .await;
    let sent = clinic
        .app
        .wait_until(&id, |n| {
            n["attempts"][0]["provider_message_id"] == "wamid.RESULTS"
        })
        .await;
    let attempt = sent["attempts"][0]["id"].as_str().expect("attempt id");

    // Dana answers with WhatsApp's reply, which names the message she answers.
    let mut answer = text("wamid.ANSWER", "Thank you, I will log in tonight");
    answer["context"] = json!({ "from": "97233334444", "id": "wamid.RESULTS" });
    assert_eq!(
        clinic.whatsapp_from(DANA, answer).await.status(),
        StatusCode::OK
    );

    let fhir = crate::fhir::Fhir::staff(&clinic.app).await;
    let found = fhir.search_all("Communication?patient=p-1").await;
    let answer = found
        .iter()
        .find(|c| {
            c["sender"]["identifier"]["value"] == "p-1"
                && c["payload"][0]["contentString"] == "Thank you, I will log in tonight"
        })
        .expect("Dana's answer is a Communication");
    assert_eq!(
        answer["inResponseTo"],
        json!([{ "reference": format!("Communication/{}", attempt.replace('_', "-")) }]),
        "{found:#?}"
    );
    clinic.stop().await;
}

// --- Opting out and in ---------------------------------------------------------------------

#[tokio::test]
async fn hebrew_stop_by_sms_opts_out_of_sms_confirms_once_and_the_next_notification_skips_sms() {
    let clinic = Clinic::start_at(jerusalem("2026-12-06T10:00")).await;
    clinic
        .app
        .patient(
            "p-1",
            json!({ "name": "Dana", "phone": DANA, "email": "dana@example.com", "channels": ["sms", "email"] }),
        )
        .await;

    clinic.sms_from(DANA, "SMO1", "הסר", AUTH_TOKEN).await;
    clinic.sms_from(DANA, "SMO2", "הסר", AUTH_TOKEN).await;
    let confirmations = clinic.sent_to("sms", DANA).await;
    let id = clinic
        .app
        .notify(crate::harness::body("Your results are in"))
        .await;
    let next = clinic.app.wait_until_finished(&id).await;
    clinic.sms_from(DANA, "SMO3", "התחל", AUTH_TOKEN).await;
    let patient: Value = clinic
        .app
        .request(
            reqwest::Method::GET,
            "/v1/patients/p-1",
            &clinic.app.key,
            None,
        )
        .await
        .json()
        .await
        .expect("patient");

    assert_eq!(confirmations.len(), 1, "{confirmations:?}");
    assert!(confirmations[0].contains("הוסרת"), "{confirmations:?}");
    let details = crate::harness::event_details(&next);
    assert!(
        details
            .iter()
            .any(|d| d.contains("sms skipped: patient opted out")),
        "{details:?}"
    );
    assert_eq!(next["attempts"][0]["channel"], "email", "{next:#}");
    assert_eq!(patient["opted_out"], json!([]), "{patient:#}");
    clinic.stop().await;
}

// --- Caps ----------------------------------------------------------------------------------

#[tokio::test]
async fn auto_replies_do_not_count_toward_the_patients_daily_caps() {
    let clinic = Clinic::start_with(jerusalem("2026-12-06T10:00"), |config| {
        config.api.patient_daily_cap = 1;
        config.api.patient_daily_urgent_cap = 1;
    })
    .await;
    clinic
        .app
        .patient(
            "p-1",
            json!({ "name": "Dana", "phone": DANA, "channels": ["sms"] }),
        )
        .await;
    let staff = clinic.app.staff_key().await;

    // A receipt, then the urgent answer and its away message: three auto replies, all urgent.
    clinic.sms_from(DANA, "SMK1", "hello", AUTH_TOKEN).await;
    clinic.at("2026-12-06T23:00");
    clinic
        .sms_from(DANA, "SMK2", "chest pain", AUTH_TOKEN)
        .await;
    assert_eq!(clinic.sent_to("sms", DANA).await.len(), 3);
    let urgent =
        json!({ "patient_id": "p-1", "topic": "general", "body": "Call us", "priority": "urgent" });
    let first_urgent = clinic
        .app
        .request(
            reqwest::Method::POST,
            "/v1/notifications",
            &staff,
            Some(urgent.clone()),
        )
        .await;
    let first_normal = clinic
        .app
        .post_notification(crate::harness::body("Hi"))
        .await;
    let second_urgent = clinic
        .app
        .request(
            reqwest::Method::POST,
            "/v1/notifications",
            &staff,
            Some(urgent),
        )
        .await;

    assert_eq!(first_urgent.status(), StatusCode::ACCEPTED);
    assert_eq!(first_normal.status(), StatusCode::ACCEPTED);
    assert_eq!(second_urgent.status(), StatusCode::TOO_MANY_REQUESTS);
    clinic.stop().await;
}
