//! What the gateway writes to its log, read as an operator's log collector reads it: a line per
//! request with its route, status, latency and key, and never a patient's details.

use std::path::Path;
use std::time::Duration;

use medrelay_channels::Secret;
use medrelay_channels::whatsapp;
use medrelay_testkit::process::{self, Process, free_port};
use medrelay_testkit::wait;

/// The sandbox's WhatsApp app secret, so a test can sign a webhook as Meta would.
const APP_SECRET: &str = "logs-app-secret";

/// The binary on a free port in `dir` with a fresh SQLite file, logging at info in `format`;
/// standard error goes to `medrelay.log` in `dir`.
fn serve(dir: &Path, format: &str) -> (Process, String) {
    serve_with(dir, format, &[])
}

/// [`serve`] with more settings in the environment.
fn serve_with(dir: &Path, format: &str, env: &[(&str, &str)]) -> (Process, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut command = process::command(&[env!("CARGO_BIN_EXE_medrelay"), "--log-format", format]);
    command
        .current_dir(dir)
        .env("MEDRELAY_LISTEN", &listen)
        .env(
            "MEDRELAY_DATABASE_URL",
            format!("sqlite://{}", dir.join("medrelay.db").display()),
        )
        .env("RUST_LOG", "medrelay=info,warn")
        // Secrets given at all must be given whole.
        .env("MEDRELAY_SANDBOX__SECRETS__WHATSAPP_APP_SECRET", APP_SECRET)
        .env(
            "MEDRELAY_SANDBOX__SECRETS__WHATSAPP_ACCESS_TOKEN",
            "logs-access-token",
        )
        .env(
            "MEDRELAY_SANDBOX__SECRETS__WHATSAPP_VERIFY_TOKEN",
            "logs-verify-token",
        )
        .env(
            "MEDRELAY_SANDBOX__SECRETS__TWILIO_AUTH_TOKEN",
            "logs-auth-token",
        )
        // A file is no terminal: no colour whatever the environment's taste.
        .env_remove("NO_COLOR")
        .envs(env.iter().copied());
    let process = Process::spawn(command, "medrelay", Some(dir.join("medrelay.log")));
    (process, format!("http://{listen}"))
}

/// Saves Dana, with her phone number and name, through the API; returns the admin key used.
async fn save_a_patient(gateway: &mut Process, base: &str) -> String {
    let client = reqwest::Client::new();
    gateway.wait_until_ready(&client, base).await;
    let key = gateway.admin_key();
    let saved = client
        .put(format!("{base}/v1/patients/p-1"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "Dana Levi", "phone": "+972541234567"}))
        .send()
        .await
        .expect("the gateway answers");
    assert!(saved.status().is_success(), "{saved:?}");
    key
}

/// The log once a line holding `text` is in it.
async fn log_with(gateway: &Process, text: &str) -> String {
    wait::within(Duration::from_secs(20))
        .until(async || {
            let log = gateway.log_text();
            if log.contains(text) {
                Ok(log)
            } else {
                Err(format!("no `{text}` in the log yet:\n{log}"))
            }
        })
        .await
}

fn holds_no_patient_detail(log: &str) {
    assert!(
        !log.contains("541234567"),
        "a phone number was logged:\n{log}"
    );
    assert!(!log.contains("Dana"), "a patient's name was logged:\n{log}");
}

#[tokio::test]
async fn in_json_each_request_is_one_object_with_route_status_latency_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut gateway, base) = serve(dir.path(), "json");
    save_a_patient(&mut gateway, &base).await;

    let log = log_with(&gateway, "/v1/patients/{external_id}").await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: `{line}`")))
        .collect();
    let request = lines
        .iter()
        .find(|line| line["span"]["route"] == "/v1/patients/{external_id}")
        .expect("a line for the request");
    assert_eq!(request["message"], "request done", "{request}");
    assert_eq!(request["level"], "INFO", "{request}");
    assert_eq!(request["status"], 201, "{request}");
    assert!(request["latency_ms"].as_f64().is_some(), "{request}");
    assert_eq!(request["span"]["method"], "PUT", "{request}");
    assert!(
        request["span"]["key"]
            .as_str()
            .is_some_and(|key| key.starts_with("key_")),
        "the key's id, not its secret: {request}"
    );
    holds_no_patient_detail(&log);
}

#[tokio::test]
async fn as_text_in_a_file_each_request_is_a_line_without_colour_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut gateway, base) = serve(dir.path(), "text");
    save_a_patient(&mut gateway, &base).await;

    let log = log_with(&gateway, "/v1/patients/{external_id}").await;
    let request = log
        .lines()
        .find(|line| line.contains("route=/v1/patients/{external_id}"))
        .expect("a line for the request");
    for field in [
        "method=PUT",
        "key=key_",
        "request done",
        "status=201",
        "latency_ms=",
    ] {
        assert!(request.contains(field), "no `{field}` in `{request}`");
    }
    assert!(!log.contains('\u{1b}'), "colour codes in a file:\n{log}");
    holds_no_patient_detail(&log);
}

/// A WhatsApp text from Dana for business number `999000999`, which no configured account owns,
/// signed as Meta signs it, posted with `request_id` as `X-Request-Id` if given.
async fn post_message_for_an_unowned_number(
    base: &str,
    request_id: Option<&str>,
) -> reqwest::Response {
    let body = serde_json::to_vec(&serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "97233339999", "phone_number_id": "999000999" },
            "contacts": [{ "profile": { "name": "Dana" }, "wa_id": "972541234567" }],
            "messages": [{ "id": "wamid.unowned", "from": "972541234567", "type": "text",
                           "text": { "body": "Dana here, is the clinic open?" } }]
        }}]}]
    }))
    .expect("json");
    let mut request = reqwest::Client::new()
        .post(format!("{base}/webhooks/whatsapp"))
        .header(
            whatsapp::SIGNATURE_HEADER,
            whatsapp::sign(&Secret::new(APP_SECRET), &body),
        )
        .header("Content-Type", "application/json");
    if let Some(id) = request_id {
        request = request.header("X-Request-Id", id);
    }
    let answer = request
        .body(body)
        .send()
        .await
        .expect("the gateway answers");
    assert!(answer.status().is_success(), "{answer:?}");
    answer
}

/// A message Meta signs for a number of the business account that no configured account owns
/// is not stored, so the log says which number, for an operator to configure it; never who wrote
/// or what.
#[tokio::test]
async fn a_whatsapp_message_for_a_number_nobody_configured_is_logged_by_its_phone_number_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut gateway, base) = serve(dir.path(), "text");
    save_a_patient(&mut gateway, &base).await;
    post_message_for_an_unowned_number(&base, None).await;

    let log = log_with(&gateway, "no configured account owns").await;
    let warning = log
        .lines()
        .find(|line| line.contains("no configured account owns"))
        .expect("the warning");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("phone_number_id=999000999"), "{warning}");
    assert!(
        !log.contains("clinic open"),
        "a message text was logged:\n{log}"
    );
    holds_no_patient_detail(&log);
}

/// Every line a request writes, from the handler's warning to the closing `request done`,
/// carries the request's id: the caller's when it is short and plain, else a new one. The
/// answer says which.
#[tokio::test]
async fn every_line_a_request_writes_carries_its_request_id_and_the_answer_echoes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut gateway, base) = serve(dir.path(), "json");
    save_a_patient(&mut gateway, &base).await;
    let kept = format!("meta-{}", "7".repeat(123));

    let answer = post_message_for_an_unowned_number(&base, Some(&kept)).await;
    let replaced = post_message_for_an_unowned_number(&base, Some("has a space")).await;

    assert_eq!(answer.headers()["x-request-id"], kept.as_str());
    let new_id = replaced.headers()["x-request-id"].to_str().expect("ASCII");
    assert!(
        new_id.len() == 32 && new_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "a new id instead of `has a space`: {new_id}"
    );
    for id in [kept.as_str(), new_id] {
        let messages = messages_of_request(&gateway, id).await;
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].contains("no configured account owns"),
            "{messages:?}"
        );
    }
    let log = gateway.log_text();
    let webhook_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(r#""route":"/webhooks/whatsapp""#))
        .collect();
    assert_eq!(webhook_lines.len(), 4, "{log}");
    let without_id: Vec<&&str> = webhook_lines
        .iter()
        .filter(|line| !line.contains(kept.as_str()) && !line.contains(new_id))
        .collect();
    assert!(
        without_id.is_empty(),
        "lines without their request's id: {without_id:?}"
    );
}

/// The messages of the JSON log lines written under the request `id`, once its closing
/// `request done` is among them.
async fn messages_of_request(gateway: &Process, id: &str) -> Vec<String> {
    wait::within(Duration::from_secs(20))
        .until(async || {
            let messages: Vec<String> = lines_of_request(&gateway.log_text(), id)
                .iter()
                .filter_map(|line| line["message"].as_str().map(str::to_owned))
                .collect();
            if messages.iter().any(|message| message == "request done") {
                Ok(messages)
            } else {
                Err(format!("no `request done` for {id} yet: {messages:?}"))
            }
        })
        .await
}

/// The JSON log lines written under the request `id`.
fn lines_of_request(log: &str, id: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["span"]["request_id"] == id)
        .collect()
}

/// With `telemetry.otlp_endpoint` set, each request is a span at the collector: its trace id is
/// the request id, it is named by method and route and carries the status; never a patient's
/// details.
#[tokio::test]
async fn with_an_otlp_endpoint_each_request_is_a_span_at_the_collector_under_its_request_id() {
    let collector = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v1/traces"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let endpoint = collector.uri();
    let (mut gateway, base) = serve_with(
        dir.path(),
        "json",
        &[("MEDRELAY_TELEMETRY__OTLP_ENDPOINT", endpoint.as_str())],
    );
    let key = save_a_patient(&mut gateway, &base).await;
    let request_id = "0190b3f2c4a87d3e9b1f2a3c4d5e6f70";

    let saved = reqwest::Client::new()
        .put(format!("{base}/v1/patients/p-2"))
        .bearer_auth(&key)
        .header("X-Request-Id", request_id)
        .json(&serde_json::json!({"name": "Dana Levi", "phone": "+972541234567"}))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(saved.status(), 201);

    let (span, exported) = exported_span(&collector, request_id).await;
    assert_eq!(span["name"], "PUT /v1/patients/{external_id}", "{span}");
    assert_eq!(span["kind"], 2, "a server span: {span}");
    let status = span["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .find(|a| a["key"] == "http.response.status_code")
        .map(|a| a["value"]["intValue"].clone());
    assert_eq!(status, Some(serde_json::json!("201")), "{span}");
    holds_no_patient_detail(&exported);
}

/// The span the collector received with `trace_id`, once it has, and every export's text.
async fn exported_span(
    collector: &wiremock::MockServer,
    trace_id: &str,
) -> (serde_json::Value, String) {
    wait::within(Duration::from_secs(20))
        .until(async || {
            let bodies: Vec<String> = collector
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .map(|request| String::from_utf8_lossy(&request.body).into_owned())
                .collect();
            let span = bodies
                .iter()
                .filter_map(|body| serde_json::from_str::<serde_json::Value>(body).ok())
                .flat_map(|body| spans_in(&body))
                .find(|span| span["traceId"] == trace_id);
            span.map(|span| (span, bodies.concat()))
                .ok_or_else(|| format!("no span with trace id {trace_id} yet"))
        })
        .await
}

/// Every span of an OTLP JSON export request.
fn spans_in(export: &serde_json::Value) -> Vec<serde_json::Value> {
    export["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|resource| {
            resource["scopeSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|scope| scope["spans"].as_array().cloned().unwrap_or_default())
        .collect()
}
