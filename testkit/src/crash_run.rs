//! What the outboxes' crash tests share: the `medrelay` binary run on one database with the
//! sandbox fast, short leases and outboxes that retry fast and may deliver to loopback; a clinic
//! open around the clock with patients who receive SMS; a burst of notifications. The test kills
//! a run with `kill -9` and starts the next on the same database and port.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::process::{self, Process};

/// Run `run` of the gateway at `bin` on `database_url`, listening on `port`, its log in `dir`.
pub fn start(bin: &str, dir: &Path, database_url: &str, port: u16, run: u32) -> Process {
    let mut command = process::command(&[bin]);
    command
        .current_dir(dir)
        .env("MEDRELAY_DATABASE_URL", database_url)
        .env("MEDRELAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("MEDRELAY_SANDBOX__ENABLED", "true")
        .env("MEDRELAY_SANDBOX__DELIVERY_DELAY_MS", "50")
        .env("MEDRELAY_SANDBOX__READ_DELAY_MS", "50")
        .env("MEDRELAY_DISPATCH__LEASE_MS", "3000")
        // The in-process sandbox dies with the gateway: a receipt it owed for a hand-over the
        // kill cut short may never come, and the next channel is tried after this.
        .env("MEDRELAY_DELIVERY_TIMEOUT__SMS_MS", "3000")
        .env("MEDRELAY_DELIVERY_TIMEOUT__VOICE_MS", "3000")
        .env("MEDRELAY_DELIVERY_TIMEOUT__WHATSAPP_MS", "3000")
        .env("MEDRELAY_API__PATIENT_DAILY_CAP", "0")
        .env("MEDRELAY_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
        .env("MEDRELAY_FHIR__ALLOW_PRIVATE_TARGETS", "true")
        .env("MEDRELAY_WEBHOOKS__POLL_INTERVAL_MS", "20")
        .env("MEDRELAY_WEBHOOKS__RETRY_BASE_MS", "100")
        .env("MEDRELAY_WEBHOOKS__RETRY_CAP_MS", "500")
        .env("MEDRELAY_WEBHOOKS__LEASE_MS", "3000");
    let log = dir.join(format!("medrelay-run-{run}.log"));
    Process::spawn(command, &format!("run {run} of medrelay"), Some(log))
}

/// Opens the clinic around the clock and makes `patients` patients, `p-0`…, who receive SMS.
pub async fn prepare_clinic(client: &Client, base: &str, key: &str, patients: usize) {
    let all_day = json!([{ "start": "00:00", "end": "24:00" }]);
    let days = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    let week: serde_json::Map<String, Value> = days
        .iter()
        .map(|d| ((*d).to_owned(), all_day.clone()))
        .collect();
    let hours = json!({ "week": week, "holidays": [], "patient_quiet_hours": null });
    let response = client
        .put(format!("{base}/v1/clinic/hours"))
        .bearer_auth(key)
        .json(&hours)
        .send()
        .await
        .expect("PUT /v1/clinic/hours");
    assert_eq!(response.status(), StatusCode::OK);
    for patient in 0..patients {
        let response = client
            .put(format!("{base}/v1/patients/p-{patient}"))
            .bearer_auth(key)
            .json(&json!({ "name": format!("Patient {patient}"), "phone": format!("+9725412345{patient:02}") }))
            .send()
            .await
            .expect("PUT patient");
        assert!(response.status().is_success(), "patient {patient}");
    }
}

/// Sends `count` notifications spread over `patients` patients, eight at a time; their ids.
pub async fn send_notifications(
    client: &Client,
    base: &str,
    key: &str,
    count: usize,
    patients: usize,
) -> Vec<String> {
    futures::stream::iter(0..count)
        .map(|i| async move {
            let body = json!({ "patient_id": format!("p-{}", i % patients), "topic": "general", "body": format!("Message {i}") });
            let response = client
                .post(format!("{base}/v1/notifications"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .expect("POST /v1/notifications");
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            let created: Value = response.json().await.expect("json");
            created["id"].as_str().expect("id").to_owned()
        })
        .buffered(8)
        .collect()
        .await
}

/// A client patient enough for a loaded machine.
pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// The notification `id` once it has finished (delivered, read, failed, expired or cancelled).
pub async fn finished(client: &Client, base: &str, key: &str, id: &str) -> Result<Value, String> {
    let notification: Value = client
        .get(format!("{base}/v1/notifications/{id}"))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let status = notification["status"].as_str().unwrap_or_default();
    if ["delivered", "read", "failed", "expired", "cancelled"].contains(&status) {
        Ok(notification)
    } else {
        Err(format!("{id} is {status}"))
    }
}
