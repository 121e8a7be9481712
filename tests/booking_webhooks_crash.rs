//! Webhooks to the booking system survive a receiver outage and a `kill -9` of the gateway: the
//! real binary sends notifications while its webhooks go to a receiver that first answers 503,
//! then recovers; the gateway is killed mid-delivery and started again on the same database.
//! The receiver, which verifies every signature with the Standard Webhooks reference verifier and
//! keeps each `webhook-id` once, must end with every status change of every notification, each
//! once, in the order of the notification's audit trail.
//!
//! Runs on the back end `MEDRELAY_TEST_POSTGRES_URL` selects (SQLite without it).

use std::path::Path;
use std::time::{Duration, Instant};

use medrelay_testkit::crash_run;
use medrelay_testkit::process::Process;
use medrelay_testkit::{Backend, TestDatabase, WebhookReceiver, free_port, wait};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const NOTIFICATIONS: usize = 150;
const PATIENTS: usize = 15;
/// The gateway is killed once the receiver holds this many events (after its outage).
const KILL_AFTER_EVENTS: usize = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_webhook_arrives_once_and_in_order_across_an_outage_and_a_kill_9() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let backend = Backend::from_env();
    let database = TestDatabase::create(&backend, dir.path(), "mrw")
        .await
        .expect("a fresh database");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = crash_run::client();
    let receiver = WebhookReceiver::start().await;
    receiver.fail_with(503);

    let mut gateway = start(dir.path(), database.url(), port, 1);
    gateway.wait_until_ready(&client, &base).await;
    let key = gateway.admin_key();
    prepare_clinic(&client, &base, &key, &receiver).await;
    let ids = crash_run::send_notifications(&client, &base, &key, NOTIFICATIONS, PATIENTS).await;
    wait_for_requests(&receiver, 30).await;
    receiver.recover();
    wait_for_events(&receiver, KILL_AFTER_EVENTS).await;
    gateway.kill_9();
    let at_kill = receiver.events().len();

    let mut gateway = start(dir.path(), database.url(), port, 2);
    gateway.wait_until_ready(&client, &base).await;
    let restarted = Instant::now();
    wait_for_every_change(&client, &base, &key, &receiver, &ids).await;

    eprintln!(
        "[{}] {} events at the kill, {} in the end, {} sent again after the kill (kept once), \
         {} requests in all; all in {:.1}s after the restart",
        backend.label(),
        at_kill,
        receiver.events().len(),
        receiver.duplicates(),
        receiver.requests(),
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(receiver.bad_signatures(), 0);
    drop(gateway);
    let _ = database.remove().await;
}

fn start(dir: &Path, database_url: &str, port: u16, run: u32) -> Process {
    crash_run::start(env!("CARGO_BIN_EXE_medrelay"), dir, database_url, port, run)
}

/// Open around the clock, patients who receive SMS, and the receiver registered for every
/// status change.
async fn prepare_clinic(client: &Client, base: &str, key: &str, receiver: &WebhookReceiver) {
    crash_run::prepare_clinic(client, base, key, PATIENTS).await;
    let endpoint = json!({ "url": receiver.url, "event_types": ["notification.status_changed"] });
    let response = client
        .post(format!("{base}/v1/webhooks"))
        .bearer_auth(key)
        .json(&endpoint)
        .send()
        .await
        .expect("POST /v1/webhooks");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("json");
    receiver.trust(created["secret"].as_str().expect("secret"));
}

async fn wait_for_requests(receiver: &WebhookReceiver, count: usize) {
    wait::within(Duration::from_secs(60))
        .until(async || match receiver.requests() {
            n if n >= count => Ok(()),
            n => Err(format!("{n} requests during the outage")),
        })
        .await;
}

async fn wait_for_events(receiver: &WebhookReceiver, count: usize) {
    wait::within(Duration::from_secs(120))
        .until(async || match receiver.events().len() {
            n if n >= count => Ok(()),
            n => Err(format!("{n} events received")),
        })
        .await;
}

/// Waits until the receiver holds, for each notification, exactly the status changes of its
/// audit trail in the same order, and the notification has finished.
async fn wait_for_every_change(
    client: &Client,
    base: &str,
    key: &str,
    receiver: &WebhookReceiver,
    ids: &[String],
) {
    wait::within(Duration::from_secs(300))
        .every(Duration::from_millis(250))
        .until(async || {
            for id in ids {
                let notification = crash_run::finished(client, base, key, id).await?;
                let audited = changes(
                    notification["events"].as_array().into_iter().flatten(),
                    |e| (e["type"] == "status_changed").then(|| &e["data"]),
                );
                let events = receiver.events();
                let received = changes(events.iter().map(|e| &e.body), |b| {
                    (b["data"]["notification_id"] == id.as_str()).then(|| &b["data"])
                });
                if received != audited {
                    return Err(format!("{id}: audited {audited:?}, received {received:?}"));
                }
            }
            Ok(())
        })
        .await;
}

/// `from→to` of the changes `pick` finds among `items`.
fn changes<'a>(
    items: impl Iterator<Item = &'a Value>,
    pick: impl Fn(&'a Value) -> Option<&'a Value>,
) -> Vec<String> {
    items
        .filter_map(pick)
        .map(|d| {
            let status = |key: &str| d[key].as_str().unwrap_or("?").to_owned();
            format!("{}→{}", status("from"), status("to"))
        })
        .collect()
}
