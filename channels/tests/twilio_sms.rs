//! Twilio SMS adapter against a wiremock Twilio; signature and status-callback parsing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use medrelay_channels::twilio::{
    ConfigError, TwilioConfig, TwilioSms, callback_ref_from_url, known_error, parse_inbound_sms,
    parse_sms_status, validate_signature,
};
use medrelay_channels::{
    Channel, ChannelKind, DeliveryState, OutgoingMessage, ProviderStatus, Recipient, RecipientFact,
    Secret, SendOutcome,
};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "auth-token-do-not-print";
const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";
const STATUS_URL: &str = "https://relay.clinic.example/webhooks/twilio/sms";

fn config(base_url: &str, sms: serde_json::Value) -> TwilioConfig {
    serde_json::from_value(json!({
        "base_url": base_url,
        "account_sid": SID,
        "auth_token": TOKEN,
        "request_timeout_ms": 2000,
        "sms": sms,
    }))
    .expect("a valid Twilio config")
}

fn sms_channel(base_url: &str) -> TwilioSms {
    let config = config(
        base_url,
        json!({ "from": "Clinic", "status_callback_url": STATUS_URL }),
    );
    TwilioSms::new(&config, config.sms.as_ref().expect("an sms section"))
        .expect("a valid sms channel")
}

fn message(body: &str, valid_for: Option<Duration>) -> OutgoingMessage {
    OutgoingMessage {
        to: Recipient::Phone("+972541234567".into()),
        subject: None,
        body: body.into(),
        language: "en".into(),
        callback_ref: "att_42".into(),
        template: None,
        valid_for,
    }
}

fn basic_auth() -> String {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    format!("Basic {credentials}")
}

fn form_of(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

async fn only_request(server: &MockServer) -> Request {
    let mut requests = server
        .received_requests()
        .await
        .expect("request recording is on");
    assert_eq!(requests.len(), 1, "exactly one request");
    requests.pop().expect("one request")
}

#[tokio::test]
async fn a_message_is_a_form_post_with_basic_auth_and_comes_back_accepted_with_its_sid() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .and(header("authorization", basic_auth().as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "sid": "SM0123456789abcdef", "status": "queued" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let channel = sms_channel(&server.uri());

    let outcome = channel
        .send(&message(
            "Reminder: Dr. Levi & co, 10:00 <room 3>",
            Some(Duration::from_secs(3600)),
        ))
        .await;

    assert_eq!(
        outcome,
        SendOutcome::Accepted {
            provider_message_id: "SM0123456789abcdef".into()
        }
    );
    let request = only_request(&server).await;
    assert_eq!(
        form_of(&request),
        pairs(&[
            ("To", "+972541234567"),
            ("From", "Clinic"),
            ("Body", "Reminder: Dr. Levi & co, 10:00 <room 3>"),
            (
                "StatusCallback",
                "https://relay.clinic.example/webhooks/twilio/sms?attempt=att_42"
            ),
            ("ValidityPeriod", "3600"),
        ])
    );
    assert_eq!(channel.kind(), ChannelKind::Sms);
    assert_eq!(channel.sender_id(), format!("{SID}/Clinic"));
}

#[tokio::test]
async fn a_messaging_service_replaces_from_and_its_default_validity_applies() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM1" })))
        .mount(&server)
        .await;
    let config = config(
        &server.uri(),
        json!({
            "messaging_service_sid": "MG0123",
            "status_callback_url": "https://relay.clinic.example/webhooks/twilio/sms?clinic=7",
            "validity_period_seconds": 14400,
        }),
    );
    let channel = TwilioSms::new(&config, config.sms.as_ref().expect("an sms section"))
        .expect("a valid sms channel");

    let outcome = channel.send(&message("Hi", None)).await;

    assert!(
        matches!(outcome, SendOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(channel.sender_id(), format!("{SID}/MG0123"));
    assert_eq!(
        form_of(&only_request(&server).await),
        pairs(&[
            ("To", "+972541234567"),
            ("MessagingServiceSid", "MG0123"),
            ("Body", "Hi"),
            (
                "StatusCallback",
                "https://relay.clinic.example/webhooks/twilio/sms?clinic=7&attempt=att_42"
            ),
            ("ValidityPeriod", "14400"),
        ])
    );
}

#[tokio::test]
async fn validity_is_clamped_to_ten_hours_and_left_out_when_nobody_asks_for_one() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM1" })))
        .mount(&server)
        .await;
    let channel = sms_channel(&server.uri());

    channel
        .send(&message("Hi", Some(Duration::from_secs(20 * 3600))))
        .await;
    channel.send(&message("Hi", None)).await;

    let requests = server
        .received_requests()
        .await
        .expect("request recording is on");
    let validity = |request: &Request| {
        form_of(request)
            .into_iter()
            .find(|(name, _)| name == "ValidityPeriod")
            .map(|(_, value)| value)
    };
    assert_eq!(validity(&requests[0]).as_deref(), Some("36000"));
    assert_eq!(validity(&requests[1]), None);
}

/// Every code in providers.md §2.5, answered the way Twilio answers a create request.
#[tokio::test]
async fn every_documented_error_code_is_classified_as_the_table_says() {
    fn permanent(code: &str, fact: Option<RecipientFact>) -> SendOutcome {
        SendOutcome::Permanent {
            code: code.into(),
            reason: "rejected".into(),
            fact,
        }
    }
    fn retry(code: &str, after: Option<Duration>) -> SendOutcome {
        SendOutcome::RetryLater {
            code: code.into(),
            reason: "rejected".into(),
            after,
        }
    }
    fn down(code: &str) -> SendOutcome {
        SendOutcome::ChannelDown {
            code: code.into(),
            reason: "rejected".into(),
        }
    }
    let one_second = SendOutcome::RateLimited {
        after: Duration::from_secs(1),
    };
    let cases: Vec<(u16, u32, SendOutcome)> = vec![
        (429, 20429, one_second),
        (400, 21211, permanent("21211", None)),
        (400, 21408, down("21408")),
        (400, 21608, down("21608")),
        (
            400,
            21610,
            permanent("21610", Some(RecipientFact::OptedOut)),
        ),
        (400, 21611, retry("21611", None)),
        (400, 21612, down("21612")),
        (
            400,
            21614,
            permanent("21614", Some(RecipientFact::Landline)),
        ),
        (
            400,
            21635,
            permanent("21635", Some(RecipientFact::Landline)),
        ),
        (400, 30001, retry("30001", None)),
        (400, 30003, retry("30003", None)),
        (400, 30005, permanent("30005", None)),
        (
            400,
            30006,
            permanent("30006", Some(RecipientFact::Landline)),
        ),
        (400, 30007, permanent("30007", None)),
        (400, 30008, retry("30008", None)),
        (400, 30036, permanent("30036", None)),
        (400, 14107, retry("14107", Some(Duration::from_secs(30)))),
        (400, 63016, permanent("63016", None)),
        (400, 63017, retry("63017", None)),
        (401, 20003, down("20003")),
        (400, 21999, permanent("21999", None)),
    ];
    let server = MockServer::start().await;
    let channel = sms_channel(&server.uri());
    for (http, code, expected) in cases {
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(http).set_body_json(json!({
                "code": code,
                "message": "rejected",
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
                "status": http,
            })))
            .mount(&server)
            .await;

        let outcome = channel.send(&message("Hi", None)).await;

        assert_eq!(outcome, expected, "code {code}");
    }
}

#[tokio::test]
async fn answers_without_a_known_code_are_classified_by_http_status() {
    let server = MockServer::start().await;
    let channel = sms_channel(&server.uri());
    let cases: Vec<(ResponseTemplate, SendOutcome)> = vec![
        (
            ResponseTemplate::new(429).insert_header("retry-after", "7"),
            SendOutcome::RateLimited {
                after: Duration::from_secs(7),
            },
        ),
        (
            ResponseTemplate::new(401),
            SendOutcome::ChannelDown {
                code: "http-401".into(),
                reason: "HTTP 401".into(),
            },
        ),
        (
            ResponseTemplate::new(404).set_body_string("<html>not here</html>"),
            SendOutcome::ChannelDown {
                code: "http-404".into(),
                reason: "HTTP 404".into(),
            },
        ),
        (
            ResponseTemplate::new(500)
                .set_body_json(json!({ "code": 20500, "message": "Internal" })),
            SendOutcome::Ambiguous {
                reason: "Twilio answered 500: Internal (20500)".into(),
            },
        ),
        (
            ResponseTemplate::new(503).set_body_json(json!({ "code": 21211, "message": "odd" })),
            SendOutcome::Ambiguous {
                reason: "Twilio answered 503: odd (21211)".into(),
            },
        ),
    ];
    for (response, expected) in cases {
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(response)
            .mount(&server)
            .await;

        let outcome = channel.send(&message("Hi", None)).await;

        assert_eq!(outcome, expected);
    }
}

#[tokio::test]
async fn a_created_answer_without_a_readable_sid_is_ambiguous_not_a_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_string("not json"))
        .mount(&server)
        .await;

    let outcome = sms_channel(&server.uri()).send(&message("Hi", None)).await;

    assert!(
        matches!(&outcome, SendOutcome::Ambiguous { reason } if reason.contains("without a readable sid")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn phone_numbers_in_twilio_error_messages_do_not_reach_the_outcome() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21211,
            "message": "The 'To' number +972541234567 is not a valid phone number.",
            "status": 400,
        })))
        .mount(&server)
        .await;

    let outcome = sms_channel(&server.uri()).send(&message("Hi", None)).await;

    assert_eq!(
        outcome,
        SendOutcome::Permanent {
            code: "21211".into(),
            reason: "The 'To' number ***567 is not a valid phone number.".into(),
            fact: None,
        }
    );
}

/// Records every event's fields as text, on this thread only.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<String>>);

impl CapturedLogs {
    fn text(&self) -> String {
        self.0.lock().expect("log buffer lock").clone()
    }
}

struct FieldsAsText<'a>(&'a mut String);

impl tracing::field::Visit for FieldsAsText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for CapturedLogs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = String::new();
        event.record(&mut FieldsAsText(&mut line));
        let mut text = self.0.lock().expect("log buffer lock");
        text.push_str(&line);
        text.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn logs_name_the_attempt_and_the_code_but_never_the_number_or_the_text() {
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(logs.clone());
    let server = MockServer::start().await;
    let channel = sms_channel(&server.uri());
    for response in [
        ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM1" })),
        ResponseTemplate::new(400).set_body_json(json!({
            "code": 21211,
            "message": "The 'To' number +972541234567 is not a valid phone number.",
        })),
    ] {
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(response)
            .mount(&server)
            .await;
        channel
            .send(&message("Your biopsy result is ready", None))
            .await;
    }

    let text = logs.text();
    assert!(text.contains("att_42") && text.contains("***567"), "{text}");
    assert!(text.contains("21211"), "{text}");
    assert!(!text.contains("541234567"), "{text}");
    assert!(!text.contains("biopsy"), "{text}");
}

#[tokio::test]
async fn a_timeout_after_sending_is_ambiguous_never_a_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "sid": "SM1" }))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let mut config = config(
        &server.uri(),
        json!({ "from": "Clinic", "status_callback_url": STATUS_URL }),
    );
    config.request_timeout_ms = 300;
    let channel = TwilioSms::new(&config, config.sms.as_ref().expect("an sms section"))
        .expect("a valid sms channel");

    let outcome = channel.send(&message("Hi", None)).await;

    assert!(
        matches!(outcome, SendOutcome::Ambiguous { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_never_sent_anything_so_it_is_retried_later() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("a local address");
    drop(listener);

    let outcome = sms_channel(&format!("http://{address}"))
        .send(&message("Hi", None))
        .await;

    assert!(
        matches!(&outcome, SendOutcome::RetryLater { code, after: None, .. } if code == "connect"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_email_recipient_is_refused_without_calling_twilio() {
    let server = MockServer::start().await;
    let mut email = message("Hi", None);
    email.to = Recipient::Email("dana@example.org".into());

    let outcome = sms_channel(&server.uri()).send(&email).await;

    assert!(
        matches!(&outcome, SendOutcome::Permanent { code, fact: None, .. } if code == "not-a-phone"),
        "{outcome:?}"
    );
    assert!(
        server
            .received_requests()
            .await
            .expect("recording")
            .is_empty()
    );
}

#[test]
fn the_sms_section_needs_exactly_one_sender_a_sane_validity_and_known_fields() {
    let build = |sms: serde_json::Value| {
        let config = config("https://api.twilio.com", sms);
        TwilioSms::new(&config, config.sms.as_ref().expect("an sms section")).map(|_| ())
    };
    assert_eq!(
        build(json!({ "status_callback_url": STATUS_URL })),
        Err(ConfigError::SmsSender)
    );
    assert_eq!(
        build(
            json!({ "from": "Clinic", "messaging_service_sid": "MG1", "status_callback_url": STATUS_URL })
        ),
        Err(ConfigError::SmsSender)
    );
    assert_eq!(
        build(
            json!({ "from": "Clinic", "status_callback_url": STATUS_URL, "validity_period_seconds": 36001 })
        ),
        Err(ConfigError::Validity)
    );
    assert!(matches!(
        build(json!({ "from": "Clinic", "status_callback_url": "/relative" })),
        Err(ConfigError::Url { .. })
    ));
    let unknown: Result<TwilioConfig, _> = serde_json::from_value(json!({
        "account_sid": SID, "auth_token": TOKEN, "auth_tokn": "typo",
    }));
    assert!(unknown.is_err(), "unknown keys are rejected");
    let bad_sid: TwilioConfig = serde_json::from_value(json!({
        "account_sid": "AC1/../x", "auth_token": TOKEN,
        "sms": { "from": "Clinic", "status_callback_url": STATUS_URL },
    }))
    .expect("parses");
    assert_eq!(
        TwilioSms::new(&bad_sid, bad_sid.sms.as_ref().expect("an sms section")).map(|_| ()),
        Err(ConfigError::AccountSid)
    );
}

#[test]
fn the_auth_token_never_appears_in_debug_output() {
    let config = config(
        "https://api.twilio.com",
        json!({ "from": "Clinic", "status_callback_url": STATUS_URL }),
    );
    let channel = TwilioSms::new(&config, config.sms.as_ref().expect("an sms section"))
        .expect("a valid sms channel");
    let printed = format!("{config:?} {channel:?}");
    assert!(!printed.contains(TOKEN), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
}

// --- X-Twilio-Signature (providers.md §2.3) ---

const VECTOR_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const VECTOR_SIGNATURE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

fn vector_params() -> Vec<(String, String)> {
    // Deliberately not in sorted order: the validator sorts.
    pairs(&[
        ("To", "+18005551212"),
        ("CallSid", "CA1234567890ABCDE"),
        ("From", "+12349013030"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
    ])
}

#[test]
fn the_documented_signature_vector_validates() {
    let token = Secret::new("12345");
    assert!(validate_signature(
        &token,
        VECTOR_URL,
        &vector_params(),
        Some(VECTOR_SIGNATURE)
    ));
}

#[test]
fn a_signature_survives_a_proxy_adding_or_dropping_the_default_port() {
    let token = Secret::new("12345");
    let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    assert!(validate_signature(
        &token,
        with_port,
        &vector_params(),
        Some(VECTOR_SIGNATURE)
    ));
}

#[test]
fn a_tampered_parameter_a_wrong_token_a_wrong_url_or_a_missing_header_is_rejected() {
    let token = Secret::new("12345");
    let mut tampered = vector_params();
    tampered[4].1 = "1235".into();
    assert!(!validate_signature(
        &token,
        VECTOR_URL,
        &tampered,
        Some(VECTOR_SIGNATURE)
    ));
    let mut extra = vector_params();
    extra.push(("ErrorCode".into(), "30003".into()));
    assert!(!validate_signature(
        &token,
        VECTOR_URL,
        &extra,
        Some(VECTOR_SIGNATURE)
    ));
    assert!(!validate_signature(
        &Secret::new("54321"),
        VECTOR_URL,
        &vector_params(),
        Some(VECTOR_SIGNATURE)
    ));
    assert!(!validate_signature(
        &token,
        "https://mycompany.com/myapp.php?foo=1&bar=3",
        &vector_params(),
        Some(VECTOR_SIGNATURE)
    ));
    assert!(!validate_signature(
        &token,
        VECTOR_URL,
        &vector_params(),
        None
    ));
    assert!(!validate_signature(
        &token,
        VECTOR_URL,
        &vector_params(),
        Some("")
    ));
    assert!(!validate_signature(
        &token,
        VECTOR_URL,
        &vector_params(),
        Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ")
    ));
}

// --- status callbacks ---

fn status_params(status: &str, error_code: Option<&str>) -> Vec<(String, String)> {
    let mut params = pairs(&[
        ("AccountSid", SID),
        ("ApiVersion", "2010-04-01"),
        ("From", "Clinic"),
        ("MessageSid", "SM0123"),
        ("MessageStatus", status),
        ("SmsSid", "SM0123"),
        ("SmsStatus", status),
        ("To", "+972541234567"),
    ]);
    if let Some(code) = error_code {
        params.push(("ErrorCode".into(), code.into()));
    }
    params
}

#[test]
fn each_message_status_maps_to_delivery_evidence_or_to_nothing() {
    let expected = |state, error_code: Option<&str>, error_text: Option<&str>, fact| {
        Some(ProviderStatus {
            callback_ref: Some("att_42".into()),
            provider_message_id: "SM0123".into(),
            state,
            error_code: error_code.map(Into::into),
            error_text: error_text.map(Into::into),
            fact,
        })
    };
    let cases = [
        ("queued", None, None),
        ("accepted", None, None),
        ("scheduled", None, None),
        ("sending", None, None),
        (
            "sent",
            None,
            expected(DeliveryState::Sent, None, None, None),
        ),
        (
            "delivered",
            None,
            expected(DeliveryState::Delivered, None, None, None),
        ),
        (
            "read",
            None,
            expected(DeliveryState::Read, None, None, None),
        ),
        (
            "undelivered",
            Some("30003"),
            expected(
                DeliveryState::Failed,
                Some("30003"),
                Some("undelivered: handset unreachable"),
                None,
            ),
        ),
        (
            "undelivered",
            Some("30006"),
            expected(
                DeliveryState::Failed,
                Some("30006"),
                Some("undelivered: landline or unreachable carrier"),
                Some(RecipientFact::Landline),
            ),
        ),
        (
            "failed",
            Some("21610"),
            expected(
                DeliveryState::Failed,
                Some("21610"),
                Some("failed: recipient unsubscribed (STOP)"),
                Some(RecipientFact::OptedOut),
            ),
        ),
        (
            "failed",
            Some("30036"),
            expected(
                DeliveryState::Failed,
                Some("30036"),
                Some("failed: validity period expired in queue"),
                None,
            ),
        ),
        (
            "failed",
            None,
            expected(DeliveryState::Failed, Some("failed"), Some("failed"), None),
        ),
        (
            "undelivered",
            Some("39999"),
            expected(
                DeliveryState::Failed,
                Some("39999"),
                Some("undelivered"),
                None,
            ),
        ),
    ];
    for (status, code, want) in cases {
        assert_eq!(
            parse_sms_status(&status_params(status, code), Some("att_42")),
            want,
            "{status} {code:?}"
        );
    }
}

#[test]
fn a_request_without_a_message_sid_or_status_is_not_a_status() {
    assert_eq!(
        parse_sms_status(&pairs(&[("MessageStatus", "delivered")]), None),
        None
    );
    assert_eq!(
        parse_sms_status(&pairs(&[("MessageSid", "SM1")]), None),
        None
    );
}

#[test]
fn the_attempt_id_is_read_back_from_the_callback_url() {
    assert_eq!(
        callback_ref_from_url("https://relay.clinic.example/sms?clinic=7&attempt=att_42")
            .as_deref(),
        Some("att_42")
    );
    assert_eq!(
        callback_ref_from_url("https://relay.clinic.example/sms"),
        None
    );
    assert_eq!(callback_ref_from_url("not a url"), None);
}

#[test]
fn known_error_codes_carry_a_meaning_for_the_audit_trail() {
    let known = known_error("30003").expect("30003 is known");
    assert_eq!(known.meaning, "handset unreachable");
    assert!(known_error("12").is_none());
    assert!(known_error("abc").is_none());
}

#[test]
fn an_inbound_sms_is_read_and_its_debug_hides_number_and_text() {
    let params = pairs(&[
        ("MessageSid", "SM9"),
        ("AccountSid", SID),
        ("From", "+972541234567"),
        ("To", "+97235551234"),
        ("Body", "הסר"),
        ("NumMedia", "0"),
    ]);

    let inbound = parse_inbound_sms(&params).expect("an inbound SMS");

    assert_eq!(inbound.from, "+972541234567");
    assert_eq!(inbound.body, "הסר");
    assert_eq!(inbound.account_sid, SID);
    assert!(inbound.media.is_empty());
    let printed = format!("{inbound:?}");
    assert!(
        !printed.contains("541234") && !printed.contains("הסר"),
        "{printed}"
    );
    assert!(parse_inbound_sms(&pairs(&[("MessageSid", "SM9")])).is_none());
}

#[test]
fn an_inbound_mms_carries_its_attachments_in_twilios_order() {
    let params = pairs(&[
        ("MessageSid", "MM1"),
        ("AccountSid", SID),
        ("MessagingServiceSid", "MG1"),
        ("From", "+972541234567"),
        ("To", "+97235551234"),
        ("Body", ""),
        ("NumMedia", "2"),
        ("MediaUrl0", "https://api.twilio.com/media/ME0"),
        ("MediaContentType0", "image/jpeg"),
        ("MediaUrl1", "https://api.twilio.com/media/ME1"),
    ]);

    let inbound = parse_inbound_sms(&params).expect("an inbound MMS");

    assert_eq!(inbound.body, "");
    assert_eq!(inbound.messaging_service_sid.as_deref(), Some("MG1"));
    let media: Vec<(&str, Option<&str>)> = inbound
        .media
        .iter()
        .map(|m| (m.url.as_str(), m.content_type.as_deref()))
        .collect();
    assert_eq!(
        media,
        [
            ("https://api.twilio.com/media/ME0", Some("image/jpeg")),
            ("https://api.twilio.com/media/ME1", None)
        ]
    );
}

#[test]
fn an_incoming_url_that_is_not_the_incoming_webhook_is_refused() {
    let config = config(
        "https://api.twilio.com",
        json!({
            "from": "Clinic",
            "status_callback_url": STATUS_URL,
            "incoming_url": "https://relay.clinic.example/webhooks/twilio/sms",
        }),
    );

    let refused = config.hook_urls().expect_err("refused");

    assert!(
        refused
            .to_string()
            .starts_with("twilio.sms.incoming_url must end with /webhooks/twilio/sms/incoming"),
        "{refused}"
    );
}
