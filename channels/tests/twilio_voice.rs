//! Twilio voice adapter against a wiremock Twilio: the call request, its TwiML, classification
//! and call-status callbacks.

use std::time::Duration;

use base64::Engine as _;
use medrelay_channels::twilio::{
    CallReply, ConfigError, TwilioConfig, TwilioVoice, parse_call_reply, parse_call_status,
};
use medrelay_channels::{
    Channel, ChannelKind, DeliveryState, OutgoingMessage, ProviderStatus, Recipient, SendOutcome,
};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "voice-token-do-not-print";
const CALLS_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json";
const STATUS_URL: &str = "https://relay.clinic.example/webhooks/twilio/voice";
const CONFIRM_URL: &str = "https://relay.clinic.example/webhooks/twilio/voice/confirm";
const HEBREW_AUDIO: &str = "https://relay.clinic.example/prompts/he.mp3?v=2&clinic=7";

fn voice_section() -> serde_json::Value {
    json!({
        "from": "+97235551234",
        "status_callback_url": STATUS_URL,
        "confirm_url": CONFIRM_URL,
        "languages": {
            "en": { "voice": "Polly.Joanna", "language": "en-US" },
            "ru": { "voice": "Polly.Tatyana", "language": "ru-RU" },
            "ar": { "language": "arb" },
            "he": { "audio_url": HEBREW_AUDIO },
        },
    })
}

fn config(base_url: &str, voice: serde_json::Value) -> TwilioConfig {
    serde_json::from_value(json!({
        "base_url": base_url,
        "account_sid": SID,
        "auth_token": TOKEN,
        "request_timeout_ms": 2000,
        "voice": voice,
    }))
    .expect("a valid Twilio config")
}

fn voice_channel(base_url: &str, voice: serde_json::Value) -> TwilioVoice {
    let config = config(base_url, voice);
    TwilioVoice::new(&config, config.voice.as_ref().expect("a voice section"))
        .expect("a valid voice channel")
}

fn message(language: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage {
        to: Recipient::Phone("+972541234567".into()),
        subject: None,
        body: body.into(),
        language: language.into(),
        callback_ref: "att_7".into(),
        template: None,
        valid_for: Some(Duration::from_secs(600)),
    }
}

fn form_of(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn field(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

async fn mount_created(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(CALLS_PATH))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "sid": "CA0123456789abcdef", "status": "queued" })),
        )
        .mount(server)
        .await;
}

/// Places one call and returns the form Twilio received.
async fn call_form(voice: serde_json::Value, message: &OutgoingMessage) -> Vec<(String, String)> {
    let server = MockServer::start().await;
    mount_created(&server).await;
    let outcome = voice_channel(&server.uri(), voice).send(message).await;
    assert!(
        matches!(outcome, SendOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    let requests = server
        .received_requests()
        .await
        .expect("request recording is on");
    assert_eq!(requests.len(), 1, "exactly one request");
    form_of(&requests[0])
}

#[tokio::test]
async fn a_call_is_a_form_post_with_basic_auth_inline_twiml_and_a_completed_callback() {
    let server = MockServer::start().await;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    Mock::given(method("POST"))
        .and(path(CALLS_PATH))
        .and(header(
            "authorization",
            format!("Basic {credentials}").as_str(),
        ))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "sid": "CA0123456789abcdef", "status": "queued" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let channel = voice_channel(&server.uri(), voice_section());

    let outcome = channel
        .send(&message("en", "Dr. <Cohen> & partners: see you at 10"))
        .await;

    assert_eq!(
        outcome,
        SendOutcome::Accepted {
            provider_message_id: "CA0123456789abcdef".into()
        }
    );
    let requests = server
        .received_requests()
        .await
        .expect("request recording is on");
    let expected: Vec<(String, String)> = [
        ("To", "+972541234567"),
        ("From", "+97235551234"),
        (
            "Twiml",
            "<Response><Gather numDigits=\"1\" \
             action=\"https://relay.clinic.example/webhooks/twilio/voice/confirm?attempt=att_7&amp;language=en\">\
             <Say voice=\"Polly.Joanna\" language=\"en-US\">\
             Dr. &lt;Cohen&gt; &amp; partners: see you at 10</Say></Gather></Response>",
        ),
        (
            "StatusCallback",
            "https://relay.clinic.example/webhooks/twilio/voice?attempt=att_7",
        ),
        ("StatusCallbackEvent", "completed"),
        ("StatusCallbackMethod", "POST"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(form_of(&requests[0]), expected);
    assert_eq!(channel.kind(), ChannelKind::Voice);
    assert_eq!(channel.sender_id(), format!("{SID}/+97235551234"));
}

#[tokio::test]
async fn hebrew_plays_the_recorded_prompt_with_its_url_escaped() {
    let form = call_form(voice_section(), &message("he", "תזכורת <תור> & מחר")).await;

    assert_eq!(
        field(&form, "Twiml").as_deref(),
        Some(
            "<Response><Gather numDigits=\"1\" \
             action=\"https://relay.clinic.example/webhooks/twilio/voice/confirm?attempt=att_7&amp;language=he\">\
             <Play>https://relay.clinic.example/prompts/he.mp3?v=2&amp;clinic=7</Play>\
             </Gather></Response>"
        )
    );
}

#[tokio::test]
async fn hebrew_without_a_recording_is_spoken_when_a_he_il_voice_is_configured() {
    let mut voice = voice_section();
    voice["languages"]["he"] = json!({ "voice": "Google.he-IL-Standard-A", "language": "he-IL" });

    let form = call_form(voice, &message("he", "תזכורת <תור> & מחר")).await;

    assert_eq!(
        field(&form, "Twiml").as_deref(),
        Some(
            "<Response><Gather numDigits=\"1\" \
             action=\"https://relay.clinic.example/webhooks/twilio/voice/confirm?attempt=att_7&amp;language=he\">\
             <Say voice=\"Google.he-IL-Standard-A\" language=\"he-IL\">\
             תזכורת &lt;תור&gt; &amp; מחר</Say></Gather></Response>"
        )
    );
}

#[tokio::test]
async fn a_regional_language_tag_uses_its_own_entry_or_else_its_primary_language() {
    let russian = call_form(voice_section(), &message("ru-RU", "Напоминание")).await;
    let arabic = call_form(voice_section(), &message("ar", "تذكير")).await;
    let mut regional = voice_section();
    regional["languages"]["he-IL"] = json!({ "language": "he-IL" });
    let hebrew = call_form(regional, &message("he-il", "שלום")).await;

    let twiml = |form: &[(String, String)]| field(form, "Twiml").expect("a Twiml field");
    assert!(
        twiml(&russian)
            .contains("<Say voice=\"Polly.Tatyana\" language=\"ru-RU\">Напоминание</Say>"),
        "{}",
        twiml(&russian)
    );
    assert!(
        twiml(&arabic).contains("<Say language=\"arb\">تذكير</Say>"),
        "{}",
        twiml(&arabic)
    );
    assert!(
        twiml(&hebrew).contains("<Say language=\"he-IL\">שלום</Say>"),
        "an exact regional key wins over the primary language: {}",
        twiml(&hebrew)
    );
}

#[tokio::test]
async fn machine_detection_is_requested_only_when_configured() {
    let mut voice = voice_section();
    voice["machine_detection"] = json!(true);

    let with = call_form(voice, &message("en", "Hi")).await;
    let without = call_form(voice_section(), &message("en", "Hi")).await;

    assert_eq!(field(&with, "MachineDetection").as_deref(), Some("Enable"));
    assert_eq!(field(&without, "MachineDetection"), None);
}

#[tokio::test]
async fn a_language_without_a_voice_or_recording_falls_back_without_calling() {
    let server = MockServer::start().await;

    let outcome = voice_channel(&server.uri(), voice_section())
        .send(&message("fr", "Bonjour"))
        .await;

    assert!(
        matches!(&outcome, SendOutcome::Permanent { code, fact: None, .. } if code == "unsupported-language"),
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

#[tokio::test]
async fn call_rejections_are_classified_like_sms() {
    let server = MockServer::start().await;
    let channel = voice_channel(&server.uri(), voice_section());
    let cases: Vec<(u16, u32, SendOutcome)> = vec![
        (
            400,
            21210,
            SendOutcome::ChannelDown {
                code: "21210".into(),
                reason: "no".into(),
            },
        ),
        (
            400,
            21215,
            SendOutcome::ChannelDown {
                code: "21215".into(),
                reason: "no".into(),
            },
        ),
        (
            400,
            21211,
            SendOutcome::Permanent {
                code: "21211".into(),
                reason: "no".into(),
                fact: None,
            },
        ),
        (
            429,
            20429,
            SendOutcome::RateLimited {
                after: Duration::from_secs(1),
            },
        ),
        (
            502,
            20502,
            SendOutcome::Ambiguous {
                reason: "Twilio answered 502: no (20502)".into(),
            },
        ),
    ];
    for (http, code, expected) in cases {
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(http)
                    .set_body_json(json!({ "code": code, "message": "no", "status": http })),
            )
            .mount(&server)
            .await;

        let outcome = channel.send(&message("en", "Hi")).await;

        assert_eq!(outcome, expected, "code {code}");
    }
}

#[tokio::test]
async fn a_call_request_that_times_out_is_ambiguous() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "sid": "CA1" }))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let mut config = config(&server.uri(), voice_section());
    config.request_timeout_ms = 300;
    let channel = TwilioVoice::new(&config, config.voice.as_ref().expect("a voice section"))
        .expect("a valid voice channel");

    let outcome = channel.send(&message("en", "Hi")).await;

    assert!(
        matches!(outcome, SendOutcome::Ambiguous { .. }),
        "{outcome:?}"
    );
}

#[test]
fn the_voice_section_is_checked_when_the_channel_is_built() {
    let build = |voice: serde_json::Value| {
        let config = config("https://api.twilio.com", voice);
        TwilioVoice::new(&config, config.voice.as_ref().expect("a voice section")).map(|_| ())
    };
    let mut no_speech = voice_section();
    no_speech["languages"]["he"] = json!({ "voice": "Polly.Joanna" });
    assert_eq!(
        build(no_speech),
        Err(ConfigError::VoiceLanguage("he".into()))
    );
    let mut no_languages = voice_section();
    no_languages["languages"] = json!({});
    assert_eq!(build(no_languages), Err(ConfigError::NoVoiceLanguages));
    let mut bad_confirm = voice_section();
    bad_confirm["confirm_url"] = json!("relay/confirm");
    assert!(matches!(build(bad_confirm), Err(ConfigError::Url { .. })));
    let mut typo = voice_section();
    typo["languages"]["en"]["voise"] = json!("Polly.Joanna");
    let parsed: Result<TwilioConfig, _> = serde_json::from_value(json!({
        "account_sid": SID, "auth_token": TOKEN, "voice": typo,
    }));
    assert!(parsed.is_err(), "unknown keys are rejected");
}

#[test]
fn the_voice_channel_never_prints_its_auth_token() {
    let channel = voice_channel("https://api.twilio.com", voice_section());
    let printed = format!("{channel:?}");
    assert!(!printed.contains(TOKEN), "{printed}");
}

// --- call status callbacks ---

fn call_params(status: &str, answered_by: Option<&str>) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("AccountSid", SID),
        ("CallSid", "CA0123"),
        ("CallStatus", status),
        ("From", "+97235551234"),
        ("To", "+972541234567"),
        ("Direction", "outbound-api"),
        ("CallbackSource", "call-progress-events"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    if let Some(by) = answered_by {
        params.push(("AnsweredBy".into(), by.into()));
    }
    params
}

#[test]
fn each_call_status_maps_to_delivered_failed_or_nothing() {
    let status = |state, code: Option<&str>, text: Option<&str>| {
        Some(ProviderStatus {
            callback_ref: Some("att_7".into()),
            provider_message_id: "CA0123".into(),
            state,
            error_code: code.map(Into::into),
            error_text: text.map(Into::into),
            fact: None,
        })
    };
    let failed = |code: &'static str, text: &'static str| {
        status(DeliveryState::Failed, Some(code), Some(text))
    };
    let cases = [
        ("queued", None, None),
        ("initiated", None, None),
        ("ringing", None, None),
        ("in-progress", None, None),
        (
            "completed",
            None,
            status(DeliveryState::Delivered, None, None),
        ),
        (
            "completed",
            Some("human"),
            status(DeliveryState::Delivered, None, None),
        ),
        (
            "completed",
            Some("unknown"),
            status(DeliveryState::Delivered, None, None),
        ),
        (
            "completed",
            Some("machine_end_beep"),
            failed("answered-by-machine", "answered by machine_end_beep"),
        ),
        (
            "completed",
            Some("fax"),
            failed("answered-by-machine", "answered by fax"),
        ),
        ("busy", None, failed("busy", "call ended: busy")),
        (
            "no-answer",
            None,
            failed("no-answer", "call ended: no-answer"),
        ),
        ("failed", None, failed("failed", "call ended: failed")),
        ("canceled", None, failed("canceled", "call ended: canceled")),
    ];
    for (call_status, answered_by, expected) in cases {
        assert_eq!(
            parse_call_status(&call_params(call_status, answered_by), Some("att_7")),
            expected,
            "{call_status} {answered_by:?}"
        );
    }
    assert_eq!(
        parse_call_status(&call_params("completed", None)[2..], None),
        None,
        "no CallSid, no status"
    );
}

#[test]
fn a_pressed_key_is_read_from_the_gather_action() {
    let params = vec![
        ("CallSid".to_owned(), "CA0123".to_owned()),
        ("Digits".to_owned(), "1".to_owned()),
    ];
    assert_eq!(
        parse_call_reply(&params),
        Some(CallReply {
            call_sid: "CA0123".into(),
            digits: "1".into()
        })
    );
    assert_eq!(parse_call_reply(&params[..1]), None);
}
