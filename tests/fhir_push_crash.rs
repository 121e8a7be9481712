//! Pushes to the clinic's FHIR server survive a server outage and a `kill -9` of the gateway: the
//! real binary sends notifications while their records go to the test FHIR server (in this
//! process, so it outlives the gateway), which first answers 503, then takes them slowly; the
//! gateway is killed mid-push and started again on the same database. The server, which holds
//! every push to R4's transaction semantics, must end with each notification's
//! CommunicationRequest and each of its Communications exactly once, in their final state.
//!
//! Runs on the back end `MEDRELAY_TEST_POSTGRES_URL` selects (SQLite without it).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use medrelay_testkit::process::Process;
use medrelay_testkit::{Backend, FhirServer, TestDatabase, crash_run, free_port, wait};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const NOTIFICATIONS: usize = 60;
const PATIENTS: usize = 10;
/// The gateway is killed once the server has applied this many transactions (after its outage).
const KILL_AFTER_TRANSACTIONS: usize = 60;
const TOKEN: &str = "crash-test-token";
const BASE: &str = "urn:medrelay:clinic:demo";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_record_is_on_the_server_once_across_an_outage_and_a_kill_9() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let backend = Backend::from_env();
    let database = TestDatabase::create(&backend, dir.path(), "mrf")
        .await
        .expect("a fresh database");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = crash_run::client();
    let server = FhirServer::start().await;
    server.require_bearer(TOKEN);
    server.fail_next(20, 503);
    server.answer_after(Duration::from_millis(10));

    let mut gateway = start(dir.path(), database.url(), port, 1);
    gateway.wait_until_ready(&client, &base).await;
    let key = gateway.admin_key();
    crash_run::prepare_clinic(&client, &base, &key, PATIENTS).await;
    connect(&client, &base, &key, &server).await;
    let ids = crash_run::send_notifications(&client, &base, &key, NOTIFICATIONS, PATIENTS).await;
    wait::within(Duration::from_secs(120))
        .until(async || match server.applied() {
            n if n >= KILL_AFTER_TRANSACTIONS => Ok(()),
            n => Err(format!("{n} transactions applied")),
        })
        .await;
    gateway.kill_9();
    let at_kill = server.applied();

    let mut gateway = start(dir.path(), database.url(), port, 2);
    gateway.wait_until_ready(&client, &base).await;
    let restarted = Instant::now();
    wait_for_every_record(&client, &base, &key, &server, &ids).await;

    eprintln!(
        "[{}] {at_kill} transactions at the kill, {} in the end ({} requests); all in {:.1}s \
         after the restart",
        backend.label(),
        server.applied(),
        server.requests().len(),
        restarted.elapsed().as_secs_f64()
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&*format!("Bearer {TOKEN}")))
    );
    drop(gateway);
    let _ = database.remove().await;
}

fn start(dir: &Path, database_url: &str, port: u16, run: u32) -> Process {
    crash_run::start(env!("CARGO_BIN_EXE_medrelay"), dir, database_url, port, run)
}

async fn connect(client: &Client, base: &str, key: &str, server: &FhirServer) {
    let settings = json!({ "server": {
        "base_url": server.base_url, "auth": { "kind": "bearer", "token": TOKEN } } });
    let response = client
        .put(format!("{base}/v1/clinic/fhir"))
        .bearer_auth(key)
        .json(&settings)
        .send()
        .await
        .expect("PUT /v1/clinic/fhir");
    assert_eq!(response.status(), StatusCode::OK);
}

/// What the server holds of each identifier: how many resources, and the last one's JSON.
fn by_identifier(server: &FhirServer, resource_type: &str) -> HashMap<String, (usize, Value)> {
    let mut found: HashMap<String, (usize, Value)> = HashMap::new();
    for stored in server.resources(resource_type) {
        let value = stored.resource["identifier"][0]["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let entry = found.entry(value).or_insert((0, Value::Null));
        entry.0 += 1;
        entry.1 = stored.resource;
    }
    found
}

/// The CommunicationRequest status a finished notification's record ends in.
fn final_request_status(status: &str) -> &'static str {
    match status {
        "delivered" | "read" => "completed",
        _ => "revoked",
    }
}

/// Waits until every notification has finished and the server holds its records once each, in
/// their final state: the request's status, and a completed Communication for the attempt
/// that delivered it.
async fn wait_for_every_record(
    client: &Client,
    base: &str,
    key: &str,
    server: &FhirServer,
    ids: &[String],
) {
    wait::within(Duration::from_secs(300))
        .every(Duration::from_millis(250))
        .until(async || {
            let requests = by_identifier(server, "CommunicationRequest");
            let communications = by_identifier(server, "Communication");
            let twice = (requests.iter().chain(&communications)).find(|(_, (n, _))| *n > 1);
            if let Some((id, _)) = twice {
                panic!("{id} is on the server more than once");
            }
            for id in ids {
                let notification = crash_run::finished(client, base, key, id).await?;
                let status = notification["status"].as_str().unwrap_or_default();
                let expected = final_request_status(status);
                let pushed = requests.get(id).map(|(_, r)| r["status"].clone());
                if pushed != Some(json!(expected)) {
                    return Err(format!(
                        "{id} is {status}; its request on the server: {pushed:?}"
                    ));
                }
                let attempts = notification["attempts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for attempt in attempts.iter().filter(|a| a["status"] == "delivered") {
                    let attempt_id = attempt["id"].as_str().unwrap_or_default();
                    let pushed = communications
                        .get(attempt_id)
                        .map(|(_, c)| c["status"].clone());
                    if pushed != Some(json!("completed")) {
                        return Err(format!("{attempt_id} delivered; on the server: {pushed:?}"));
                    }
                }
            }
            Ok(())
        })
        .await;
    let requests = server.resources("CommunicationRequest");
    assert_eq!(requests.len(), ids.len());
    assert!(
        requests
            .iter()
            .all(|r| { r.resource["identifier"][0]["system"] == format!("{BASE}/notification") })
    );
}
