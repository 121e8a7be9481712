//! What the gateway writes to its log, read as an operator's log collector reads it: a line per
//! request with its route, status, latency and key, and never a patient's details.

use std::path::Path;
use std::time::Duration;

use medrelay_testkit::process::{self, Process, free_port};
use medrelay_testkit::wait;

/// The binary on a free port in `dir` with a fresh SQLite file, logging at info in `format`;
/// standard error goes to `medrelay.log` in `dir`.
fn serve(dir: &Path, format: &str) -> (Process, String) {
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
        // A file is no terminal: no colour whatever the environment's taste.
        .env_remove("NO_COLOR");
    let process = Process::spawn(command, "medrelay", Some(dir.join("medrelay.log")));
    (process, format!("http://{listen}"))
}

/// Saves Dana, with her phone number and name, through the API.
async fn save_a_patient(gateway: &mut Process, base: &str) {
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
