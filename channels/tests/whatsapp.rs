//! The WhatsApp Cloud API adapter against a local look-alike of Meta's Graph API, and its webhook
//! functions against payloads shaped like providers.md §1.4.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medrelay_channels::whatsapp::{
    InboundWhatsApp, SIGNATURE_HEADER, WebhookError, WhatsAppCloud, WhatsAppConfig, classify_code,
    parse_inbound, parse_statuses, verify_signature, verify_subscription,
};
use medrelay_channels::{
    Channel, ChannelKind, DeliveryState, OutgoingMessage, ProviderStatus, ProviderTemplate,
    Recipient, RecipientFact, Secret, SendOutcome,
};
use serde_json::json;
use tokio::io::AsyncReadExt;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PHONE_NUMBER_ID: &str = "106540352242922";
const TOKEN: &str = "EAAG-test-access-token";
const APP_SECRET: &str = "medrelay-app-secret";
const PATIENT: &str = "+972541234567";
const BODY: &str = "Your biopsy result is ready";
const SEND_PATH: &str = "/v23.0/106540352242922/messages";

fn config(base_url: &str) -> WhatsAppConfig {
    WhatsAppConfig {
        base_url: base_url.to_owned(),
        api_version: "v23.0".to_owned(),
        phone_number_id: PHONE_NUMBER_ID.to_owned(),
        access_token: Secret::new(TOKEN),
        app_secret: Secret::new(APP_SECRET),
        verify_token: Secret::new("verify-me"),
        request_timeout_ms: 2_000,
        template_ttl_seconds: Some(14_400),
    }
}

fn adapter(base_url: &str) -> WhatsAppCloud {
    WhatsAppCloud::new(&config(base_url)).expect("test config is valid")
}

fn text_message() -> OutgoingMessage {
    OutgoingMessage {
        to: Recipient::Phone(PATIENT.to_owned()),
        subject: None,
        body: BODY.to_owned(),
        language: "en".to_owned(),
        callback_ref: "att_01HZX3".to_owned(),
        template: None,
        valid_for: None,
    }
}

fn template_message() -> OutgoingMessage {
    OutgoingMessage {
        language: "he".to_owned(),
        template: Some(ProviderTemplate {
            name: "appt_reminder".to_owned(),
            language_code: "he".to_owned(),
            parameters: vec!["ד״ר כהן".to_owned(), "12/03 10:30".to_owned()],
        }),
        valid_for: Some(Duration::from_secs(2 * 60 * 60)),
        ..text_message()
    }
}

fn accepted(wamid: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": "972541234567", "wa_id": "972541234567"}],
        "messages": [{"id": wamid, "message_status": "accepted"}]
    }))
}

fn meta_error(code: i64, message: &str) -> serde_json::Value {
    json!({"error": {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": format!("details of {code}")},
        "fbtrace_id": "AbCdEf"
    }})
}

/// The whole body of a template send to Dana for attempt `att_01HZX3`.
fn template_send(template: serde_json::Value) -> serde_json::Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "972541234567",
        "biz_opaque_callback_data": "att_01HZX3",
        "type": "template",
        "template": template
    })
}

/// A Graph look-alike that accepts one send whose JSON body is exactly `body`, as `wamid`.
async fn meta_expecting(body: serde_json::Value, wamid: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .and(body_json(body))
        .respond_with(accepted(wamid))
        .expect(1)
        .mount(&server)
        .await;
    server
}

/// What the adapter makes of one answer from Meta to a free-text send.
async fn outcome_of(response: ResponseTemplate) -> SendOutcome {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    adapter(&server.uri()).send(&text_message()).await
}

#[tokio::test]
async fn template_parameters_meta_would_refuse_for_line_breaks_tabs_or_long_spaces_are_normalised()
{
    let server = meta_expecting(
        template_send(json!({
            "name": "appt_reminder",
            "language": {"code": "he", "policy": "deterministic"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "ד״ר כהן חדר 3"},
                {"type": "text", "text": "12/03 10:30"},
                {"type": "text", "text": "קומה 2    אגף ב"}
            ]}]
        })),
        "wamid.T1",
    )
    .await;
    let message = OutgoingMessage {
        template: Some(ProviderTemplate {
            name: "appt_reminder".to_owned(),
            language_code: "he".to_owned(),
            parameters: vec![
                "ד״ר כהן\nחדר 3".to_owned(),
                "12/03\t10:30".to_owned(),
                "קומה 2    אגף ב".to_owned(),
            ],
        }),
        ..template_message()
    };

    let outcome = adapter(&server.uri()).send(&message).await;

    assert_eq!(
        outcome,
        SendOutcome::Accepted {
            provider_message_id: "wamid.T1".to_owned()
        }
    );
}

#[tokio::test]
async fn free_text_goes_to_the_versioned_number_endpoint_with_the_token_and_attempt_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "972541234567",
            "biz_opaque_callback_data": "att_01HZX3",
            "type": "text",
            "text": {"body": BODY, "preview_url": false}
        })))
        .respond_with(accepted("wamid.HBgLOTcyNTQxMjM0NTY3FQIAERgSQ0"))
        .expect(1)
        .mount(&server)
        .await;

    let whatsapp = adapter(&server.uri());
    assert_eq!(whatsapp.kind(), ChannelKind::Whatsapp);
    assert_eq!(whatsapp.sender_id(), PHONE_NUMBER_ID);
    assert_eq!(
        whatsapp.send(&text_message()).await,
        SendOutcome::Accepted {
            provider_message_id: "wamid.HBgLOTcyNTQxMjM0NTY3FQIAERgSQ0".to_owned()
        }
    );
}

#[tokio::test]
async fn a_template_carries_its_language_and_body_parameters_but_no_per_message_ttl() {
    // The Cloud API has no per-message TTL (providers.md §1.2: `message_send_ttl_seconds`
    // belongs to the template; `ttl_seconds` only to the Direct Send beta), so `valid_for` adds
    // nothing to the body: `body_json` matches the whole body exactly.
    let server = meta_expecting(
        template_send(json!({
            "name": "appt_reminder",
            "language": {"code": "he", "policy": "deterministic"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "ד״ר כהן"},
                {"type": "text", "text": "12/03 10:30"}
            ]}]
        })),
        "wamid.template",
    )
    .await;

    let whatsapp = adapter(&server.uri());
    assert_eq!(
        whatsapp.send(&template_message()).await,
        SendOutcome::Accepted {
            provider_message_id: "wamid.template".to_owned()
        }
    );
    assert_eq!(whatsapp.template_ttl(), Duration::from_secs(14_400));
}

#[tokio::test]
async fn a_template_without_variables_sends_no_empty_body_component() {
    let server = meta_expecting(
        template_send(json!(
            {"name": "call_the_clinic", "language": {"code": "en_US", "policy": "deterministic"}}
        )),
        "wamid.plain",
    )
    .await;
    let message = OutgoingMessage {
        template: Some(ProviderTemplate {
            name: "call_the_clinic".to_owned(),
            language_code: "en_US".to_owned(),
            parameters: Vec::new(),
        }),
        ..text_message()
    };
    assert!(matches!(
        adapter(&server.uri()).send(&message).await,
        SendOutcome::Accepted { .. }
    ));
}

#[tokio::test]
async fn a_base_url_with_a_path_keeps_it_in_front_of_the_version() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/sandbox/graph/v23.0/106540352242922/messages"))
        .respond_with(accepted("wamid.sandbox"))
        .expect(1)
        .mount(&server)
        .await;
    let whatsapp = adapter(&format!("{}/sandbox/graph/", server.uri()));
    assert!(matches!(
        whatsapp.send(&text_message()).await,
        SendOutcome::Accepted { .. }
    ));
}

#[tokio::test]
async fn a_number_not_on_whatsapp_falls_back_and_is_remembered() {
    let outcome = outcome_of(
        ResponseTemplate::new(400).set_body_json(meta_error(131026, "Message undeliverable")),
    )
    .await;
    assert_eq!(
        outcome,
        SendOutcome::Permanent {
            code: "131026".to_owned(),
            reason: "Message undeliverable: details of 131026".to_owned(),
            fact: Some(RecipientFact::NotOnWhatsapp),
        }
    );
}

#[tokio::test]
async fn a_patient_who_stopped_messages_from_the_clinic_is_recorded_as_opted_out() {
    let outcome = outcome_of(
        ResponseTemplate::new(400).set_body_json(meta_error(131050, "User stopped messages")),
    )
    .await;
    assert!(matches!(
        outcome,
        SendOutcome::Permanent { ref code, fact: Some(RecipientFact::OptedOut), .. } if code == "131050"
    ));
}

#[tokio::test]
async fn free_text_outside_the_24_hour_window_falls_back_with_the_code_that_asks_for_a_template() {
    let outcome = outcome_of(
        ResponseTemplate::new(400).set_body_json(meta_error(131047, "Re-engagement message")),
    )
    .await;
    assert!(matches!(
        outcome,
        SendOutcome::Permanent { ref code, fact: None, .. } if code == "131047"
    ));
}

#[tokio::test]
async fn throughput_and_pair_rate_errors_slow_down_instead_of_failing() {
    let throughput =
        outcome_of(ResponseTemplate::new(400).set_body_json(meta_error(130429, "Rate limit hit")))
            .await;
    assert_eq!(
        throughput,
        SendOutcome::RateLimited {
            after: Duration::from_secs(1)
        }
    );
    let pair = outcome_of(
        ResponseTemplate::new(400).set_body_json(meta_error(131056, "Pair rate limit hit")),
    )
    .await;
    assert_eq!(
        pair,
        SendOutcome::RateLimited {
            after: Duration::from_secs(6)
        }
    );
}

#[tokio::test]
async fn a_plain_429_waits_as_long_as_its_retry_after_header_asks() {
    let outcome = outcome_of(ResponseTemplate::new(429).insert_header("retry-after", "30")).await;
    assert_eq!(
        outcome,
        SendOutcome::RateLimited {
            after: Duration::from_secs(30)
        }
    );
}

#[tokio::test]
async fn an_expired_token_takes_the_channel_down_for_the_operator() {
    let outcome = outcome_of(
        ResponseTemplate::new(401).set_body_json(meta_error(190, "Error validating access token")),
    )
    .await;
    assert!(matches!(outcome, SendOutcome::ChannelDown { ref code, .. } if code == "190"));
}

#[tokio::test]
async fn a_temporary_meta_failure_is_retried_later() {
    let outcome = outcome_of(
        ResponseTemplate::new(503).set_body_json(meta_error(131016, "Service unavailable")),
    )
    .await;
    assert!(matches!(outcome, SendOutcome::RetryLater { ref code, .. } if code == "131016"));
}

#[tokio::test]
async fn a_server_error_without_a_meta_code_is_ambiguous_and_never_resent() {
    let outcome =
        outcome_of(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>")).await;
    assert!(
        matches!(outcome, SendOutcome::Ambiguous { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn unknown_codes_fail_permanently_on_4xx_and_stay_ambiguous_on_5xx() {
    let client_error =
        outcome_of(ResponseTemplate::new(400).set_body_json(meta_error(139999, "Brand new"))).await;
    assert!(
        matches!(client_error, SendOutcome::Permanent { ref code, fact: None, .. } if code == "139999")
    );
    let server_error =
        outcome_of(ResponseTemplate::new(500).set_body_json(meta_error(139999, "Brand new"))).await;
    assert!(
        matches!(server_error, SendOutcome::Ambiguous { .. }),
        "{server_error:?}"
    );
}

#[tokio::test]
async fn a_success_without_a_message_id_is_ambiguous() {
    let outcome =
        outcome_of(ResponseTemplate::new(200).set_body_json(json!({"messages": []}))).await;
    assert!(
        matches!(outcome, SendOutcome::Ambiguous { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn no_answer_before_the_timeout_is_ambiguous_because_meta_may_have_the_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted("wamid.late").set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let whatsapp = WhatsAppCloud::new(&WhatsAppConfig {
        request_timeout_ms: 300,
        ..config(&server.uri())
    })
    .expect("test config is valid");
    let outcome = whatsapp.send(&text_message()).await;
    assert!(
        matches!(outcome, SendOutcome::Ambiguous { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_because_nothing_was_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let address = listener.local_addr().expect("local address");
    drop(listener);
    let outcome = adapter(&format!("http://{address}"))
        .send(&text_message())
        .await;
    assert!(
        matches!(outcome, SendOutcome::RetryLater { ref code, after: None, .. } if code == "connect"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_connection_lost_after_the_request_was_written_is_ambiguous() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let address = listener.local_addr().expect("local address");
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept the adapter");
        // Read the whole request, then hang up without answering.
        let mut request = Vec::new();
        let mut buffer = [0_u8; 4096];
        while !String::from_utf8_lossy(&request).contains("att_01HZX3") {
            let read = socket.read(&mut buffer).await.expect("read the request");
            assert!(read > 0, "the adapter closed first");
            request.extend_from_slice(&buffer[..read]);
        }
    });
    let outcome = adapter(&format!("http://{address}"))
        .send(&text_message())
        .await;
    server.await.expect("the fake server saw the request");
    assert!(
        matches!(outcome, SendOutcome::Ambiguous { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_email_recipient_is_refused_without_calling_meta() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted("wamid.never"))
        .expect(0)
        .mount(&server)
        .await;
    let message = OutgoingMessage {
        to: Recipient::Email("dana@example.org".to_owned()),
        ..text_message()
    };
    assert!(matches!(
        adapter(&server.uri()).send(&message).await,
        SendOutcome::Permanent { fact: None, .. }
    ));
}

#[test]
fn the_config_reads_with_defaults_and_rejects_unknown_keys() {
    let config: WhatsAppConfig = serde_json::from_value(json!({
        "api_version": "v23.0",
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": "verify-me"
    }))
    .expect("minimal config reads");
    assert_eq!(config.base_url, "https://graph.facebook.com");
    assert_eq!(config.request_timeout_ms, 10_000);
    assert_eq!(config.template_ttl_seconds, None);
    let whatsapp = WhatsAppCloud::new(&config).expect("minimal config is valid");
    assert_eq!(
        whatsapp.template_ttl(),
        Duration::from_secs(30 * 24 * 60 * 60)
    );

    let typo = serde_json::from_value::<WhatsAppConfig>(json!({
        "api_version": "v23.0",
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": "verify-me",
        "acess_token": TOKEN
    }));
    assert!(typo.is_err());
}

#[test]
fn a_config_meta_would_refuse_is_rejected_at_start_up() {
    let base = config("https://graph.facebook.com");
    let broken = [
        WhatsAppConfig {
            api_version: "23.0".to_owned(),
            ..base.clone()
        },
        WhatsAppConfig {
            phone_number_id: "+972 3 555 0100".to_owned(),
            ..base.clone()
        },
        WhatsAppConfig {
            base_url: "graph.facebook.com".to_owned(),
            ..base.clone()
        },
        WhatsAppConfig {
            app_secret: Secret::new(""),
            ..base.clone()
        },
        WhatsAppConfig {
            request_timeout_ms: 0,
            ..base.clone()
        },
        WhatsAppConfig {
            template_ttl_seconds: Some(86_400),
            ..base.clone()
        },
        WhatsAppConfig {
            template_ttl_seconds: Some(10),
            ..base.clone()
        },
    ];
    for config in broken {
        assert!(WhatsAppCloud::new(&config).is_err(), "{config:?}");
    }
}

#[test]
fn debug_output_of_the_config_and_the_adapter_never_shows_a_secret() {
    let config = config("https://graph.facebook.com");
    let whatsapp = WhatsAppCloud::new(&config).expect("test config is valid");
    for printed in [format!("{config:?}"), format!("{whatsapp:?}")] {
        for secret in [TOKEN, APP_SECRET, "verify-me"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains(PHONE_NUMBER_ID), "{printed}");
    }
}

/// Collects every field of every span and event, to check what logs would contain.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<String>>);

struct Collect<'a>(&'a mut String);

impl tracing::field::Visit for Collect<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        self.0.lock().expect("log buffer").clone()
    }

    fn collect(&self, record: impl FnOnce(&mut Collect<'_>)) {
        let mut text = self.0.lock().expect("log buffer");
        record(&mut Collect(&mut text));
        text.push('\n');
    }
}

impl tracing::Subscriber for CapturedLogs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.collect(|visitor| span.record(visitor));
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        self.collect(|visitor| values.record(visitor));
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        self.collect(|visitor| event.record(visitor));
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn logs_name_the_attempt_but_never_the_phone_number_or_the_text() {
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(logs.clone());
    // Interest in a log call site is global and may have been settled as "no subscriber" by a
    // test on another thread; the first round registers every call site, the rebuild then
    // settles them with this subscriber in place, and the second round is the one checked.
    for round in 0..2 {
        if round == 1 {
            tracing::callsite::rebuild_interest_cache();
            logs.0.lock().expect("log buffer").clear();
        }
        for response in [
            accepted("wamid.logged"),
            ResponseTemplate::new(400).set_body_json(meta_error(131026, "Message undeliverable")),
            ResponseTemplate::new(502),
        ] {
            outcome_of(response).await;
        }
    }
    let text = logs.text();
    assert!(text.contains("att_01HZX3"), "{text}");
    assert!(text.contains("131026"), "{text}");
    assert!(!text.contains("541234567"), "{text}");
    assert!(!text.contains("biopsy"), "{text}");
}

#[test]
fn the_signature_test_vectors_verify() {
    // providers.md §1.4: HMAC-SHA256(key "secret", msg "test").
    assert!(verify_signature(
        &Secret::new("secret"),
        b"test",
        Some("sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"),
    ));
    // Computed independently with Python's hmac module.
    assert!(verify_signature(
        &Secret::new(APP_SECRET),
        br#"{"object":"whatsapp_business_account","entry":[]}"#,
        Some("sha256=83a15d16460bb70c99ee748e5386a93d0263d26e8d78e83e3e97e617f7c4e197"),
    ));
    assert_eq!(SIGNATURE_HEADER, "X-Hub-Signature-256");
}

#[test]
fn a_tampered_body_a_wrong_secret_or_a_malformed_header_is_rejected() {
    let secret = Secret::new("secret");
    let good = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914";
    assert!(
        !verify_signature(&secret, b"test ", Some(good)),
        "tampered body"
    );
    assert!(
        !verify_signature(&Secret::new("secreT"), b"test", Some(good)),
        "wrong secret"
    );
    assert!(
        !verify_signature(&Secret::new(""), b"test", Some(good)),
        "empty secret"
    );
    assert!(!verify_signature(&secret, b"test", None), "missing header");
    assert!(
        !verify_signature(&secret, b"test", Some(&good["sha256=".len()..])),
        "no sha256= prefix"
    );
    assert!(
        !verify_signature(
            &secret,
            b"test",
            Some("sha1=0329a06b62cd16b33eb6792be8c60b158d89a2ee")
        ),
        "other algorithm"
    );
    assert!(
        !verify_signature(&secret, b"test", Some("sha256=0329a06b")),
        "truncated"
    );
    assert!(
        !verify_signature(&secret, b"test", Some("sha256=not-hex")),
        "not hex"
    );
}

#[test]
fn the_subscription_handshake_echoes_the_challenge_only_for_our_token() {
    let token = Secret::new("verify-me");
    assert_eq!(
        verify_subscription(
            &token,
            Some("subscribe"),
            Some("verify-me"),
            Some("1158201444")
        ),
        Some("1158201444".to_owned())
    );
    assert_eq!(
        verify_subscription(
            &token,
            Some("subscribe"),
            Some("verify-you"),
            Some("1158201444")
        ),
        None
    );
    assert_eq!(
        verify_subscription(
            &token,
            Some("unsubscribe"),
            Some("verify-me"),
            Some("1158201444")
        ),
        None
    );
    assert_eq!(
        verify_subscription(&token, Some("subscribe"), None, Some("1")),
        None
    );
    assert_eq!(
        verify_subscription(&token, Some("subscribe"), Some("verify-me"), None),
        None
    );
    assert_eq!(
        verify_subscription(&Secret::new(""), Some("subscribe"), Some(""), Some("1")),
        None
    );
}

/// A batched delivery: two entries, several changes, statuses out of order, a failure, a kind
/// this adapter does not know, an inbound message and a template event.
const STATUS_BATCH: &str = r#"{
  "object": "whatsapp_business_account",
  "entry": [
    {"id": "102290129340398", "changes": [
      {"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "97235550100", "phone_number_id": "106540352242922"},
        "statuses": [
          {"id": "wamid.A", "status": "read", "timestamp": "1764140460", "recipient_id": "972541234567",
           "biz_opaque_callback_data": "att_A"},
          {"id": "wamid.A", "status": "delivered", "timestamp": "1764140401", "recipient_id": "972541234567",
           "biz_opaque_callback_data": "att_A",
           "pricing": {"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"}},
          {"id": "wamid.B", "status": "failed", "timestamp": "1764140405", "recipient_id": "972500000001",
           "biz_opaque_callback_data": "att_B",
           "errors": [{"code": 131026, "title": "Message undeliverable",
                       "message": "Message undeliverable",
                       "error_data": {"details": "Recipient 972500000001 cannot receive this message"}}]},
          {"id": "wamid.C", "status": "deleted", "timestamp": "1764140406", "recipient_id": "972541234567"}
        ]}},
      {"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_id": 1}}
    ]},
    {"id": "102290129340398", "changes": [
      {"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "97235550100", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Dana"}, "wa_id": "972541234567"}],
        "messages": [{"from": "972541234567", "id": "wamid.IN", "timestamp": "1764140500",
                      "type": "text", "text": {"body": "thanks"}}]}},
      {"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "statuses": [
          {"id": "wamid.A", "status": "sent", "timestamp": "1764140400", "recipient_id": "972541234567",
           "biz_opaque_callback_data": "att_A"},
          {"status": "delivered", "timestamp": "1764140402"},
          {"id": "wamid.D", "status": "delivered", "timestamp": "1764140407", "recipient_id": "972541234568"}
        ]}}
    ]}
  ]
}"#;

fn status(wamid: &str, callback_ref: Option<&str>, state: DeliveryState) -> ProviderStatus {
    ProviderStatus {
        callback_ref: callback_ref.map(str::to_owned),
        provider_message_id: wamid.to_owned(),
        state,
        error_code: None,
        error_text: None,
        fact: None,
    }
}

#[test]
fn a_batched_webhook_yields_every_known_status_in_order_and_skips_the_rest() {
    let statuses = parse_statuses(STATUS_BATCH.as_bytes()).expect("a valid batch parses");
    assert_eq!(
        statuses,
        vec![
            status("wamid.A", Some("att_A"), DeliveryState::Read),
            status("wamid.A", Some("att_A"), DeliveryState::Delivered),
            ProviderStatus {
                error_code: Some("131026".to_owned()),
                error_text: Some(
                    "Message undeliverable: Recipient *** cannot receive this message".to_owned()
                ),
                fact: Some(RecipientFact::NotOnWhatsapp),
                ..status("wamid.B", Some("att_B"), DeliveryState::Failed)
            },
            status("wamid.A", Some("att_A"), DeliveryState::Sent),
            status("wamid.D", None, DeliveryState::Delivered),
        ]
    );
}

#[test]
fn out_of_order_statuses_still_settle_on_the_furthest_state() {
    let statuses = parse_statuses(STATUS_BATCH.as_bytes()).expect("a valid batch parses");
    let furthest = statuses
        .iter()
        .filter(|s| s.provider_message_id == "wamid.A")
        .map(|s| s.state)
        .max();
    assert_eq!(furthest, Some(DeliveryState::Read));
}

#[test]
fn a_failed_status_is_classified_like_a_failed_send() {
    let statuses = parse_statuses(STATUS_BATCH.as_bytes()).expect("a valid batch parses");
    let failed = statuses
        .iter()
        .find(|s| s.state == DeliveryState::Failed)
        .expect("the batch has a failure");
    let code: i64 = failed
        .error_code
        .as_deref()
        .expect("a failure has a code")
        .parse()
        .expect("Meta codes are numbers");
    assert!(matches!(
        classify_code(code, String::new()),
        Some(SendOutcome::Permanent {
            fact: Some(RecipientFact::NotOnWhatsapp),
            ..
        })
    ));
}

#[test]
fn a_body_that_is_not_a_whatsapp_notification_is_an_error_that_hides_the_content() {
    let error =
        parse_statuses(b"{\"object\": \"whatsapp_business_account\", \"entry\": 972541234567}")
            .expect_err("entry must be an array");
    assert!(matches!(error, WebhookError::Malformed { .. }));
    assert!(!error.to_string().contains("972541234567"), "{error}");
    assert!(matches!(
        parse_statuses(br#"{"object":"page","entry":[]}"#),
        Err(WebhookError::WrongObject(_))
    ));
    assert!(matches!(
        parse_statuses(b"not json"),
        Err(WebhookError::Malformed { .. })
    ));
}

/// Patient messages: free text, a template quick-reply tap, an interactive reply to one of
/// our messages, and one without an id, which is skipped.
const INBOUND_BATCH: &str = r#"{
  "object": "whatsapp_business_account",
  "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
    "messaging_product": "whatsapp",
    "metadata": {"display_phone_number": "97235550100", "phone_number_id": "106540352242922"},
    "contacts": [{"profile": {"name": "Dana"}, "wa_id": "972541234567"}],
    "messages": [
      {"from": "972541234567", "id": "wamid.IN1", "timestamp": "1764140500", "type": "text",
       "text": {"body": "Can I move my biopsy?"}},
      {"from": "972541234567", "id": "wamid.IN2", "timestamp": "1764140510", "type": "button",
       "context": {"from": "97235550100", "id": "wamid.A"},
       "button": {"payload": "CONFIRM:apt123", "text": "Confirm"}},
      {"from": "972541234567", "id": "wamid.IN3", "timestamp": "1764140520", "type": "interactive",
       "context": {"from": "97235550100", "id": "wamid.B"},
       "interactive": {"type": "button_reply", "button_reply": {"id": "CANCEL:apt123", "title": "Cancel"}}},
      {"from": "972541234567", "timestamp": "1764140530", "type": "text", "text": {"body": "no id"}}
    ]}}]}]
}"#;

#[test]
fn patient_messages_are_read_with_their_sender_window_time_and_button_payload() {
    let inbound = parse_inbound(INBOUND_BATCH.as_bytes()).expect("a valid batch parses");
    let base = InboundWhatsApp {
        provider_message_id: "wamid.IN1".to_owned(),
        from: PATIENT.to_owned(),
        phone_number_id: Some(PHONE_NUMBER_ID.to_owned()),
        timestamp: Some(1_764_140_500),
        kind: "text".to_owned(),
        text: Some("Can I move my biopsy?".to_owned()),
        reply_payload: None,
        in_reply_to: None,
        media: None,
    };
    assert_eq!(
        inbound,
        vec![
            base.clone(),
            InboundWhatsApp {
                provider_message_id: "wamid.IN2".to_owned(),
                timestamp: Some(1_764_140_510),
                kind: "button".to_owned(),
                text: Some("Confirm".to_owned()),
                reply_payload: Some("CONFIRM:apt123".to_owned()),
                in_reply_to: Some("wamid.A".to_owned()),
                ..base.clone()
            },
            InboundWhatsApp {
                provider_message_id: "wamid.IN3".to_owned(),
                timestamp: Some(1_764_140_520),
                kind: "interactive".to_owned(),
                text: Some("Cancel".to_owned()),
                reply_payload: Some("CANCEL:apt123".to_owned()),
                in_reply_to: Some("wamid.B".to_owned()),
                ..base.clone()
            },
        ]
    );
    let printed = format!("{:?}", inbound[0]);
    assert!(!printed.contains("541234567"), "{printed}");
    assert!(!printed.contains("biopsy"), "{printed}");
}

#[test]
fn statuses_and_patient_messages_are_read_apart_from_the_same_kind_of_body() {
    assert_eq!(
        parse_statuses(INBOUND_BATCH.as_bytes()).expect("a valid batch parses"),
        Vec::new()
    );
    let inbound = parse_inbound(STATUS_BATCH.as_bytes()).expect("a valid batch parses");
    assert_eq!(
        inbound
            .iter()
            .map(|m| m.provider_message_id.as_str())
            .collect::<Vec<_>>(),
        ["wamid.IN"]
    );
}
