//! Crash test: start the real binary, submit 2,000 notifications from many concurrent clients,
//! `kill -9` it mid-way, start it again on the same database, and check that every acknowledged
//! notification reaches a terminal state, none is lost, and the sandbox provider delivered none of
//! them twice (on the same channel or another), and that no notification stored at the kill
//! lacks the audit entry of the request that handed it in.
//!
//! The provider is the sandbox as a process of its own (`medrelay sandbox`, with its own SQLite
//! database), as a real provider is: it keeps the messages it took and the status callbacks it
//! owes while the gateway is dead, and delivers the callbacks once the gateway is back.
//!
//! It also measures what the crash cost: how many hand-overs the dead instance had claimed, how
//! many of them were on the wire (their request started), and how many were then waited on
//! instead of going at once. Only a hand-over on the wire may wait: every claimed one that had
//! not started must go again at once.
//!
//! Runs on SQLite always. The PostgreSQL run is ignored unless asked for (`--ignored`), and then
//! needs `MEDRELAY_TEST_POSTGRES_URL` to name a server (the test creates a fresh database there
//! and drops it afterwards, unless `MEDRELAY_TEST_KEEP_DATABASE` is set).
//!
//! Clients send every notification with an `Idempotency-Key`, like a booking system that retries:
//! requests cut off by the crash are sent again after the restart, and must come back with the
//! notification the first run may already have stored, never a second one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use medrelay_testkit::database::{self, TEST_PREFIX};
use medrelay_testkit::process::{self, Process};
use medrelay_testkit::{Backend, TestDatabase, free_port, outbox, wait};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const NOTIFICATIONS: usize = 2_000;
const PATIENTS: usize = 200;
const CLIENTS: usize = 32;
/// The first run is killed once this many notifications have been acknowledged.
const KILL_AFTER_ACKS: usize = 900;
/// … and once the provider has taken this many messages, so that dispatch is in full swing.
const KILL_AFTER_HAND_OVERS: usize = 100;
/// Patient 0 is not on WhatsApp (the sandbox rejects it there; it falls back to SMS).
const NOT_ON_WHATSAPP: &str = "+972500000001";
/// Patient 1 gets two transient provider errors per message, then success. On SMS, the first
/// (Twilio's 500) leaves the send ambiguous: it is not resent, and with no status to come the
/// notification falls back to email once the delivery timeout passes, across the kill.
const TRANSIENT_TWICE: &str = "+972500000005";
/// The accounts the gateway uses and the sandbox accepts, as a provider knows its customer's.
const WHATSAPP_PHONE_NUMBER_ID: &str = "100000000000042";
const TWILIO_ACCOUNT_SID: &str = "ACcrash0000000000000000000000000";
/// The bounce domain matches bounces (and the sandbox's outbox) to attempts.
const BOUNCE_DOMAIN: &str = "bounces.crash.test";
const MAGIC_PATIENTS: usize = 2;
/// How long an accepted message may go without a receipt before the next channel is tried.
/// It must outlast the longest a receipt can lag without anything being wrong: the sandbox
/// posts one callback per SMS status, and the gateway takes them in while it sends, so the
/// receipts of 2,000 messages lag their hand-overs by up to 18 s on SQLite and 19 s on
/// PostgreSQL (2026-12-07, the longest of one run each); the timeout is three times that. A
/// receipt later than the timeout means the next channel was tried meanwhile and the patient got
/// the message twice: the timeout's design, not the crash's doing; such duplicates are counted
/// apart from real ones. Patient 1's ten ambiguous sends wait it out, so it sets how long the
/// test takes.
const DELIVERY_TIMEOUT_MS: &str = "60000";
/// Messages per second the gateway hands to one SMS or email sender.
const SENDER_RATE: &str = "200";

/// One crash test at a time: they are timing-sensitive and each loads the machine on its own.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_9_mid_way_loses_nothing_acknowledged_and_delivers_nothing_twice_on_sqlite() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = TestDatabase::create(&Backend::Sqlite, dir.path(), TEST_PREFIX)
        .await
        .expect("a SQLite database");
    let outcome = AssertUnwindSafe(crash_and_check("sqlite", database.url(), dir.path()))
        .catch_unwind()
        .await;
    keep_for_inspection(dir);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// With `MEDRELAY_TEST_KEEP_DATABASE` set, the run's directory (databases, the children's logs)
/// stays for inspection.
fn keep_for_inspection(dir: tempfile::TempDir) {
    if std::env::var_os("MEDRELAY_TEST_KEEP_DATABASE").is_some() {
        eprintln!(
            "kept the test directory for inspection: {}",
            dir.keep().display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: run with --ignored and MEDRELAY_TEST_POSTGRES_URL set"]
async fn a_kill_9_mid_way_loses_nothing_acknowledged_and_delivers_nothing_twice_on_postgres() {
    let server = std::env::var("MEDRELAY_TEST_POSTGRES_URL").expect(
        "MEDRELAY_TEST_POSTGRES_URL must name a PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/postgres) for the crash test on PostgreSQL",
    );
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = TestDatabase::create(&Backend::Postgres { server }, dir.path(), TEST_PREFIX)
        .await
        .expect("a fresh PostgreSQL database");
    let outcome = AssertUnwindSafe(crash_and_check("postgres", database.url(), dir.path()))
        .catch_unwind()
        .await;
    if std::env::var_os("MEDRELAY_TEST_KEEP_DATABASE").is_some() {
        eprintln!("kept the test database for inspection: {}", database.url());
    } else if let Err(error) = database.remove().await {
        eprintln!("could not drop the test database: {error}");
    }
    keep_for_inspection(dir);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The whole scenario against one database.
async fn crash_and_check(backend: &str, database_url: &str, dir: &Path) {
    let started = Instant::now();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let accounts = Accounts::write(dir, port);
    let provider = sandbox(dir, &accounts, &base);
    provider.line_after("medrelay sandbox is running on");
    let client = Client::builder()
        // A guard against a hung request, not a timing check: the machine may be loaded.
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("HTTP client");

    // First run: a fresh database, so the binary creates clinic `demo` and prints its key.
    let mut server = gateway(dir, &accounts, database_url, port, 1);
    server.wait_until_ready(&client, &base).await;
    let key = server.admin_key();
    open_around_the_clock(&client, &base, &key).await;
    create_patients(&client, &base, &key).await;

    let submission = Arc::new(Submission::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(submit_until_killed(
                client.clone(),
                base.clone(),
                key.clone(),
                Arc::clone(&submission),
            ))
        })
        .collect();
    wait_for_acks(&submission, KILL_AFTER_ACKS).await;
    // At full load: taking requests and handing over at the same time.
    wait_until_the_provider_has(&accounts.sandbox_db, KILL_AFTER_HAND_OVERS).await;
    submission.killed.store(true, Ordering::SeqCst);
    server.kill_9();
    let killed_at = jiff::Timestamp::now();
    let at_kill = HandOvers::left_by_the_kill(database_url).await;
    let unaudited = stored_without_their_audit_entry(database_url).await;
    assert!(
        unaudited.is_empty(),
        "{} notifications were stored at the kill without the audit entry of the request that \
         handed them in: {unaudited:?}",
        unaudited.len()
    );
    for task in clients {
        task.await.expect("a submitting client panicked");
    }
    let acked_before_kill = submission.acked.lock().expect("acks").len();
    let interrupted = submission.interrupted.lock().expect("interrupted").clone();
    let unexpected = submission.unexpected.lock().expect("unexpected").clone();
    assert!(
        unexpected.is_empty(),
        "requests failed before the kill: {unexpected:#?}"
    );
    eprintln!(
        "[{backend}] killed the first run with SIGKILL after {acked_before_kill} acknowledgements \
         ({} requests in flight were cut off), {:.1}s in",
        interrupted.len(),
        started.elapsed().as_secs_f64()
    );

    // Second run on the same database and port: no new key; the clients send the rest, and
    // retry the requests the crash cut off with the same idempotency keys.
    let mut server = gateway(dir, &accounts, database_url, port, 2);
    server.wait_until_ready(&client, &base).await;
    let restarted = Instant::now();
    let pending: Vec<usize> = {
        let acked = submission.acked.lock().expect("acks");
        (0..NOTIFICATIONS)
            .filter(|i| !acked.contains_key(i))
            .collect()
    };
    submit_all(&client, &base, &key, &pending, &submission).await;
    let acked: BTreeMap<usize, String> = submission
        .acked
        .lock()
        .expect("acks")
        .clone()
        .into_iter()
        .collect();
    assert_eq!(
        acked.len(),
        NOTIFICATIONS,
        "every notification is acknowledged in the end"
    );
    let ids: Vec<String> = acked.values().cloned().collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        NOTIFICATIONS,
        "each idempotency key yields its own notification"
    );

    // None lost, none doubled: the server holds exactly the acknowledged notifications.
    let stored = list_all_notification_ids(&client, &base, &key).await;
    let missing: Vec<&String> = ids.iter().filter(|id| !stored.contains(*id)).collect();
    let extra: Vec<&String> = stored.iter().filter(|id| !distinct.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged notifications are not stored: {missing:?}",
        missing.len()
    );
    assert!(
        extra.is_empty(),
        "{} notifications were stored that no client was given: {extra:?}",
        extra.len()
    );

    // The limits below only keep a broken run from hanging; every wait ends as soon as what it
    // waits for is true.
    let terminal =
        wait_until_all_terminal(&client, &base, &key, &ids, Duration::from_secs(600)).await;
    eprintln!(
        "[{backend}] all {} notifications terminal {:.1}s after the restart",
        terminal.len(),
        restarted.elapsed().as_secs_f64()
    );
    let settled = wait_until_sandbox_settles(&accounts.sandbox_db, Duration::from_secs(300)).await;
    eprintln!(
        "[{backend}] sandbox owed no more statuses after another {:.1}s",
        settled.as_secs_f64()
    );

    // Final look at what the patients got and at every notification, now that nothing more
    // can happen to either.
    let outbox = outbox::from_database(&accounts.sandbox_db).await;
    let notifications = fetch_notifications(&client, &base, &key, &ids).await;
    let report = Report::build(&acked, &notifications, &outbox);
    let replays = interrupted
        .iter()
        .filter(|i| created_before(&notifications[&acked[i]], killed_at))
        .count();
    report.print(backend, replays, interrupted.len());
    let fates = at_kill.fates(&notifications);
    at_kill.print(backend, &fates);
    print_errors(dir, "medrelay", 2);
    print_errors(dir, "sandbox", 1);
    report.assert_sound();
    assert!(
        fates.not_started_but_held.is_empty(),
        "{} hand-overs had not started at the kill, yet were not sent again at once; for example:\n{}",
        fates.not_started_but_held.len(),
        fates
            .not_started_but_held
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "[{backend}] crash test took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// The notifications in the database without a `notification.create` entry naming them: a
/// notification and its entry commit together, so a kill can leave neither or both.
async fn stored_without_their_audit_entry(database_url: &str) -> Vec<String> {
    let pool = database::connect(database_url).await;
    let sql = "SELECT id FROM notifications n WHERE NOT EXISTS (SELECT 1 FROM audit_entries a \
               WHERE a.action = 'notification.create' AND a.outcome = 202 \
               AND a.resource_id = n.id)";
    let ids: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(&pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    pool.close().await;
    ids
}

// ---------------------------------------------------------------------------------------------
// The binary

/// Where the gateway reaches the sandbox process, and the accounts both know: one configuration
/// file for both, as a clinic would configure a real provider's accounts.
struct Accounts {
    file: PathBuf,
    sandbox_listen: String,
    smtp_listen: String,
    /// The sandbox's own database.
    sandbox_db: String,
}

impl Accounts {
    fn write(dir: &Path, gateway_port: u16) -> Self {
        let sandbox = format!("http://127.0.0.1:{}", free_port());
        let smtp_port = free_port();
        let gateway = format!("http://127.0.0.1:{gateway_port}");
        let file = dir.join("medrelay.toml");
        let config = format!(
            r#"
[providers.whatsapp]
base_url = "{sandbox}/sandbox/meta"
api_version = "v23.0"
phone_number_id = "{WHATSAPP_PHONE_NUMBER_ID}"
access_token = "crash-access-token"
app_secret = "crash-app-secret"
verify_token = "crash-verify-token"

[providers.twilio]
base_url = "{sandbox}/sandbox/twilio"
account_sid = "{TWILIO_ACCOUNT_SID}"
auth_token = "crash-auth-token"
[providers.twilio.sms]
from = "MedRelay"
status_callback_url = "{gateway}/webhooks/twilio/sms"
[providers.twilio.voice]
from = "+972500000100"
status_callback_url = "{gateway}/webhooks/twilio/voice"
confirm_url = "{gateway}/webhooks/twilio/voice/confirm"
[providers.twilio.voice.languages]
he = {{ language = "he-IL" }}
ar = {{ language = "ar-XA" }}
ru = {{ language = "ru-RU" }}
en = {{ language = "en-US" }}

[providers.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "clinic@crash.test"
bounce_domain = "{BOUNCE_DOMAIN}"
"#
        );
        std::fs::write(&file, config).expect("write the accounts file");
        Self {
            file,
            sandbox_listen: sandbox.trim_start_matches("http://").to_owned(),
            smtp_listen: format!("127.0.0.1:{smtp_port}"),
            sandbox_db: format!("sqlite://{}", dir.join("sandbox.db").display()),
        }
    }
}

/// A `medrelay` command with only the settings given here and the accounts file.
fn command(dir: &Path, accounts: &Accounts) -> Command {
    let mut command = process::command(&[env!("CARGO_BIN_EXE_medrelay")]);
    command
        .current_dir(dir)
        .env("MEDRELAY_CONFIG", &accounts.file)
        .env("MEDRELAY_SANDBOX__SMTP_LISTEN", &accounts.smtp_listen)
        .env("MEDRELAY_SANDBOX__DELIVERY_DELAY_MS", "100")
        .env("MEDRELAY_SANDBOX__READ_DELAY_MS", "100");
    command
}

/// Starts run `run` of `name`, logging to `<name>-run-<run>.log` in `dir`.
fn spawn(command: Command, dir: &Path, name: &str, run: u32) -> Process {
    let log = dir.join(format!("{name}-run-{run}.log"));
    Process::spawn(command, &format!("run {run} of {name}"), Some(log))
}

/// The provider: the sandbox as its own process, on its own database.
fn sandbox(dir: &Path, accounts: &Accounts, gateway: &str) -> Process {
    let mut command = command(dir, accounts);
    command
        .env("MEDRELAY_DATABASE_URL", &accounts.sandbox_db)
        .args([
            "sandbox",
            "--listen",
            &accounts.sandbox_listen,
            "--gateway",
            gateway,
        ]);
    spawn(command, dir, "sandbox", 1)
}

fn gateway(dir: &Path, accounts: &Accounts, database_url: &str, port: u16, run: u32) -> Process {
    let mut command = command(dir, accounts);
    command
        .env("MEDRELAY_DATABASE_URL", database_url)
        .env("MEDRELAY_LISTEN", format!("127.0.0.1:{port}"))
        // Every channel has an account: the sandbox process.
        .env("MEDRELAY_SANDBOX__ENABLED", "false")
        // Free text goes by SMS here (no WhatsApp window is open). Held to a sender rate,
        // like a real account's, many claimed hand-overs wait for their turn when the kill
        // comes: those never started and must not be held up by it.
        .env("MEDRELAY_SENDERS__SMS_PER_SECOND", SENDER_RATE)
        .env("MEDRELAY_SENDERS__EMAIL_PER_SECOND", SENDER_RATE)
        // Short, so that the restart takes over soon; long enough that a loaded machine
        // renews it in time.
        .env("MEDRELAY_DISPATCH__LEASE_MS", "5000")
        .env("MEDRELAY_DISPATCH__RETRY_BASE_MS", "100")
        .env("MEDRELAY_DISPATCH__RETRY_CAP_MS", "1000")
        .env(
            "MEDRELAY_DELIVERY_TIMEOUT__WHATSAPP_MS",
            DELIVERY_TIMEOUT_MS,
        )
        .env("MEDRELAY_DELIVERY_TIMEOUT__SMS_MS", DELIVERY_TIMEOUT_MS)
        .env("MEDRELAY_DELIVERY_TIMEOUT__VOICE_MS", DELIVERY_TIMEOUT_MS)
        .env("MEDRELAY_API__KEY_RATE_PER_SECOND", "100000")
        .env("MEDRELAY_API__KEY_BURST", "100000")
        // Each patient gets ten notifications here; the patient cap is tested elsewhere.
        .env("MEDRELAY_API__PATIENT_DAILY_CAP", "0");
    spawn(command, dir, "medrelay", run)
}

/// The children log at `warn`; anything at `ERROR` is worth seeing next to the results.
fn print_errors(dir: &Path, name: &str, runs: u32) {
    for run in 1..=runs {
        let text =
            std::fs::read_to_string(dir.join(format!("{name}-run-{run}.log"))).unwrap_or_default();
        let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
        if !errors.is_empty() {
            eprintln!(
                "{name} run {run} logged {} errors; the first ones:",
                errors.len()
            );
            for line in errors.iter().take(10) {
                eprintln!("  {line}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

fn patient_id(patient: usize) -> String {
    format!("crash-p-{patient}")
}

fn phone(patient: usize) -> String {
    match patient {
        0 => NOT_ON_WHATSAPP.to_owned(),
        1 => TRANSIENT_TWICE.to_owned(),
        n => format!("+97254{:07}", 3_000_000 + n),
    }
}

fn email(patient: usize) -> String {
    format!("patient{patient}@example.org")
}

fn patient_of(index: usize) -> usize {
    index % PATIENTS
}

/// Unique per notification, so the outbox can be matched to it by text as well.
fn body(index: usize) -> String {
    format!("Crash test message #{index}: your appointment is confirmed.")
}

/// The demo clinic keeps Israeli hours; open it at every hour with nobody quiet, so that the test
/// sends the same at any time of day.
async fn open_around_the_clock(client: &Client, base: &str, key: &str) {
    let all_day = json!([{ "start": "00:00", "end": "24:00" }]);
    let week: serde_json::Map<String, serde_json::Value> = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ]
    .into_iter()
    .map(|day| (day.to_owned(), all_day.clone()))
    .collect();
    let response = client
        .put(format!("{base}/v1/clinic/hours"))
        .bearer_auth(key)
        .json(&json!({ "week": week, "holidays": [], "patient_quiet_hours": null }))
        .send()
        .await
        .expect("PUT /v1/clinic/hours");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "clinic hours: {}",
        response.text().await.unwrap_or_default()
    );
}

async fn create_patients(client: &Client, base: &str, key: &str) {
    let results: Vec<Result<(), String>> = futures::stream::iter(0..PATIENTS)
        .map(|patient| async move {
            let response = client
                .put(format!("{base}/v1/patients/{}", patient_id(patient)))
                .bearer_auth(key)
                .json(&json!({ "name": format!("Patient {patient}"), "phone": phone(patient), "email": email(patient) }))
                .send()
                .await
                .map_err(|e| format!("PUT patient {patient}: {e}"))?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("PUT patient {patient}: HTTP {status}: {}", response.text().await.unwrap_or_default()))
            }
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "could not create patients: {failures:#?}"
    );
}

/// One `POST /v1/notifications`; the notification id when it is acknowledged (202).
async fn post_notification(
    client: &Client,
    base: &str,
    key: &str,
    index: usize,
) -> Result<String, String> {
    let response = client
        .post(format!("{base}/v1/notifications"))
        .bearer_auth(key)
        .header("Idempotency-Key", format!("crash-test-{index}"))
        .json(&json!({ "patient_id": patient_id(patient_of(index)), "topic": "general", "body": body(index) }))
        .send()
        .await
        .map_err(|e| format!("notification #{index}: {e}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("notification #{index}: reading the answer: {e}"))?;
    if status != StatusCode::ACCEPTED {
        return Err(format!("notification #{index}: HTTP {status}: {text}"));
    }
    let receipt: Value =
        serde_json::from_str(&text).map_err(|e| format!("notification #{index}: {e}: {text}"))?;
    receipt["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("notification #{index}: no id in {text}"))
}

#[derive(Debug, Default)]
struct Submission {
    next: AtomicUsize,
    /// Notification index → id, for every 202.
    acked: Mutex<HashMap<usize, String>>,
    /// Requests that failed because the server was killed under them.
    interrupted: Mutex<Vec<usize>>,
    /// Requests that failed while the server was up.
    unexpected: Mutex<Vec<String>>,
    killed: AtomicBool,
}

/// One client of the first run: submits notifications in turn until the server is killed.
async fn submit_until_killed(
    client: Client,
    base: String,
    key: String,
    submission: Arc<Submission>,
) {
    loop {
        let index = submission.next.fetch_add(1, Ordering::SeqCst);
        if index >= NOTIFICATIONS {
            return;
        }
        match post_notification(&client, &base, &key, index).await {
            Ok(id) => {
                submission.acked.lock().expect("acks").insert(index, id);
            }
            Err(_) if submission.killed.load(Ordering::SeqCst) => {
                submission
                    .interrupted
                    .lock()
                    .expect("interrupted")
                    .push(index);
                return;
            }
            Err(error) => submission
                .unexpected
                .lock()
                .expect("unexpected")
                .push(error),
        }
    }
}

async fn wait_for_acks(submission: &Submission, count: usize) {
    wait::within(Duration::from_secs(300))
        .every(Duration::from_millis(1))
        .until(
            async || match submission.acked.lock().expect("acks").len() {
                n if n < count => Err(format!("{n} of {count} notifications acknowledged")),
                _ => Ok(()),
            },
        )
        .await;
}

/// The second run: every remaining notification must be acknowledged.
async fn submit_all(
    client: &Client,
    base: &str,
    key: &str,
    indexes: &[usize],
    submission: &Submission,
) {
    let results: Vec<(usize, Result<String, String>)> =
        futures::stream::iter(indexes.iter().copied())
            .map(|index| async move { (index, post_notification(client, base, key, index).await) })
            .buffer_unordered(CLIENTS)
            .collect()
            .await;
    let mut failures = Vec::new();
    let mut acked = submission.acked.lock().expect("acks");
    for (index, result) in results {
        match result {
            Ok(id) => {
                acked.insert(index, id);
            }
            Err(error) => failures.push(error),
        }
    }
    assert!(
        failures.is_empty(),
        "requests to the restarted server failed: {failures:#?}"
    );
}

/// Every notification id the server has for the clinic, through the paged list.
async fn list_all_notification_ids(client: &Client, base: &str, key: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = client
            .get(format!("{base}/v1/notifications"))
            .bearer_auth(key)
            .query(&[("limit", "500")]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor.as_str())]);
        }
        let page = get_json(request, "GET /v1/notifications").await;
        let items = page["items"]
            .as_array()
            .expect("items in the notification list");
        ids.extend(
            items
                .iter()
                .filter_map(|n| n["id"].as_str().map(str::to_owned)),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

async fn get_json(request: reqwest::RequestBuilder, what: &str) -> Value {
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = response.status();
    let text = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("{what}: reading the answer: {e}"));
    assert_eq!(status, StatusCode::OK, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"))
}

async fn fetch_notification(client: &Client, base: &str, key: &str, id: &str) -> Value {
    get_json(
        client
            .get(format!("{base}/v1/notifications/{id}"))
            .bearer_auth(key),
        &format!("GET /v1/notifications/{id}"),
    )
    .await
}

async fn fetch_notifications(
    client: &Client,
    base: &str,
    key: &str,
    ids: &[String],
) -> HashMap<String, Value> {
    futures::stream::iter(ids)
        .map(|id| async move { (id.clone(), fetch_notification(client, base, key, id).await) })
        .buffer_unordered(CLIENTS)
        .collect()
        .await
}

/// `sent` is final only for email, which has no delivery receipt.
fn is_terminal(notification: &Value) -> bool {
    match notification["status"].as_str() {
        Some("delivered" | "read" | "failed" | "cancelled" | "expired") => true,
        Some("sent") => notification["channel"].as_str() == Some("email"),
        _ => false,
    }
}

async fn wait_until_all_terminal(
    client: &Client,
    base: &str,
    key: &str,
    ids: &[String],
    within: Duration,
) -> HashMap<String, Value> {
    let mut done = HashMap::new();
    let mut waiting: Vec<String> = ids.to_vec();
    wait::within(within)
        .every(Duration::from_millis(200))
        .until(async || {
            let seen = fetch_notifications(client, base, key, &waiting).await;
            let mut still = Vec::new();
            for (id, notification) in seen {
                if is_terminal(&notification) {
                    done.insert(id, notification);
                } else {
                    still.push((id, notification));
                }
            }
            if still.is_empty() {
                return Ok(());
            }
            let examples: Vec<String> = still.iter().take(5).map(|(_, n)| describe(n)).collect();
            let why_not = format!(
                "{} notifications are not terminal after the restart; for example:\n{}",
                still.len(),
                examples.join("\n")
            );
            waiting = still.into_iter().map(|(id, _)| id).collect();
            Err(why_not)
        })
        .await;
    done
}

/// A notification with its attempts and audit trail, for failure messages.
fn describe(notification: &Value) -> String {
    let attempts: Vec<String> = attempts(notification)
        .iter()
        .map(|a| {
            format!(
                "{}:{}:{}",
                a["id"].as_str().unwrap_or("?"),
                a["channel"],
                a["status"]
            )
        })
        .collect();
    let events: Vec<String> = notification["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| format!("    {} {} {}", e["at"], e["kind"], e["detail"]))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "  {} status {} channel {} attempts [{}]\n{}",
        notification["id"],
        notification["status"],
        notification["channel"],
        attempts.join(", "),
        events.join("\n")
    )
}

/// The details of the events about one attempt of a notification.
fn events_of<'a>(notification: &'a Value, attempt: &str) -> Vec<&'a str> {
    notification["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["attempt_id"] == attempt)
                .filter_map(|e| e["detail"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// The details of a notification's audit trail.
fn events(notification: &Value) -> Vec<&str> {
    notification["events"]
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["detail"].as_str()).collect())
        .unwrap_or_default()
}

fn attempts(notification: &Value) -> &[Value] {
    notification["attempts"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

fn created_before(notification: &Value, at: jiff::Timestamp) -> bool {
    notification["created_at"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .is_some_and(|created| created < at)
}

// ---------------------------------------------------------------------------------------------
// What the kill left behind

/// The dead instance's unsettled hand-overs (attempt ids), read from its database before the
/// restart.
struct HandOvers {
    /// Attempts still `sending` whose request had started: they may have reached the provider.
    on_the_wire: HashSet<String>,
    /// Attempts still `sending` whose request had not started: claimed, waiting their turn.
    not_started: HashSet<String>,
}

impl HandOvers {
    async fn left_by_the_kill(database_url: &str) -> Self {
        let pool = database::connect(database_url).await;
        let ids = |sql: &'static str| {
            let pool = pool.clone();
            async move {
                let ids: Vec<String> = sqlx::query_scalar(sql)
                    .fetch_all(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                ids.into_iter().collect::<HashSet<String>>()
            }
        };
        let on_the_wire =
            ids("SELECT id FROM attempts WHERE status = 'sending' AND started_at IS NOT NULL")
                .await;
        let not_started =
            ids("SELECT id FROM attempts WHERE status = 'sending' AND started_at IS NULL").await;
        pool.close().await;
        Self {
            on_the_wire,
            not_started,
        }
    }

    /// What became of them after the restart.
    fn fates(&self, notifications: &HashMap<String, Value>) -> Fates {
        let mut fates = Fates::default();
        for notification in notifications.values() {
            for attempt in attempts(notification) {
                let Some(id) = attempt["id"].as_str() else {
                    continue;
                };
                let waited = events_of(notification, id)
                    .iter()
                    .any(|d| d.contains("hand-over was interrupted; not resending"));
                if self.on_the_wire.contains(id) && waited {
                    fates.waited += 1;
                    if attempt["status"] == "timed_out" {
                        fates.waited_out += 1;
                    }
                }
                if self.not_started.contains(id) {
                    if attempt["status"] == "unsent" {
                        fates.sent_again += 1;
                    } else {
                        fates.not_started_but_held.push(describe(notification));
                    }
                }
            }
        }
        fates
    }

    fn print(&self, backend: &str, fates: &Fates) {
        eprintln!(
            "[{backend}] at the kill: {} hand-overs claimed and unsettled, {} of them on the wire; \
             after the restart {} of those on the wire were waited on ({} got no receipt and fell back after the delivery timeout), \
             {} not started went again at once",
            self.on_the_wire.len() + self.not_started.len(),
            self.on_the_wire.len(),
            fates.waited,
            fates.waited_out,
            fates.sent_again
        );
    }
}

#[derive(Debug, Default)]
struct Fates {
    /// On the wire at the kill, then waited on (not resent) after the restart.
    waited: usize,
    /// Of those, the ones no receipt settled: they fell back after the delivery timeout.
    waited_out: usize,
    /// Not started at the kill, and handed over again at once after the restart.
    sent_again: usize,
    /// Not started at the kill, yet treated as if they might have reached the provider.
    not_started_but_held: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The sandbox outbox

/// Whether the patient got this message: delivered or read, or for email taken by the server.
fn reached_patient(message: &Value) -> bool {
    matches!(
        (message["channel"].as_str(), message["status"].as_str()),
        (_, Some("delivered" | "read")) | (Some("email"), Some("accepted" | "sent"))
    )
}

async fn wait_until_the_provider_has(sandbox_db: &str, messages: usize) {
    wait::within(Duration::from_secs(300))
        .every(Duration::from_millis(20))
        .until(
            async || match outbox::from_database(sandbox_db).await.len() {
                n if n < messages => Err(format!("the sandbox took {n} of {messages} messages")),
                _ => Ok(()),
            },
        )
        .await;
}

/// Waits until the sandbox owes no more status reports, so that a late delivery (a duplicate in
/// the making) has shown up before the outbox is counted.
async fn wait_until_sandbox_settles(sandbox_db: &str, within: Duration) -> Duration {
    let started = Instant::now();
    wait::within(within)
        .every(Duration::from_millis(200))
        .until(async || {
            let owing: Vec<Value> = outbox::from_database(sandbox_db)
                .await
                .into_iter()
                .filter(|m| !m["next_status"].is_null())
                .collect();
            match owing.first() {
                None => Ok(()),
                Some(example) => Err(format!(
                    "{} sandbox messages still owe a status report, e.g. {example:?}",
                    owing.len()
                )),
            }
        })
        .await;
    started.elapsed()
}

// ---------------------------------------------------------------------------------------------
// Checks

struct Report {
    statuses: BTreeMap<String, usize>,
    channels: BTreeMap<String, usize>,
    attempt_statuses: BTreeMap<String, usize>,
    outbox_statuses: BTreeMap<String, usize>,
    outbox_messages: usize,
    /// Notifications (index) that never reached a terminal state.
    not_terminal: Vec<String>,
    /// Notifications for ordinary patients that did not end delivered or read (or, by email,
    /// sent).
    undelivered: Vec<String>,
    /// Delivered or read, yet the outbox shows nothing that reached the patient.
    delivered_without_evidence: Vec<String>,
    /// Notifications that failed (every patient here is reachable on some channel).
    failed: Vec<String>,
    /// Notifications whose patient got it more than once.
    duplicates: Vec<String>,
    /// Notifications whose patient got it more than once because a receipt came after the
    /// channel's delivery timeout, when the next channel had already been tried: the timeout's
    /// design, not a fault.
    late_duplicates: Vec<String>,
    /// Outbox messages that belong to no attempt of any acknowledged notification.
    orphans: Vec<String>,
    /// The sandbox reported delivered, read or failed, but the attempt does not say so.
    receipts_lost: Vec<String>,
}

impl Report {
    fn build(
        acked: &BTreeMap<usize, String>,
        notifications: &HashMap<String, Value>,
        outbox: &[Value],
    ) -> Self {
        let mut attempt_owner: HashMap<&str, (&str, &Value)> = HashMap::new();
        for (id, notification) in notifications {
            for attempt in attempts(notification) {
                if let Some(attempt_id) = attempt["id"].as_str() {
                    attempt_owner.insert(attempt_id, (id.as_str(), attempt));
                }
            }
        }
        let mut receipts_lost = Vec::new();
        let mut reached: HashMap<&str, Vec<&Value>> = HashMap::new();
        let mut orphans = Vec::new();
        let mut outbox_statuses = BTreeMap::new();
        for message in outbox {
            let key = format!(
                "{}:{}",
                message["channel"].as_str().unwrap_or("?"),
                message["status"].as_str().unwrap_or("?")
            );
            *outbox_statuses.entry(key).or_default() += 1;
            let Some((owner, attempt)) = message["callback_ref"]
                .as_str()
                .and_then(|r| attempt_owner.get(r).copied())
            else {
                orphans.push(message.to_string());
                continue;
            };
            if reached_patient(message) {
                reached.entry(owner).or_default().push(message);
            }
            // What the sandbox reported last, the gateway must know.
            let reported = message["status"]
                .as_str()
                .filter(|s| matches!(*s, "delivered" | "read" | "failed"));
            if reported.is_some_and(|r| attempt["status"].as_str() != Some(r)) {
                receipts_lost.push(format!(
                    "{}\n  sandbox: {message}",
                    describe(&notifications[owner])
                ));
            }
        }

        let mut report = Self {
            statuses: BTreeMap::new(),
            channels: BTreeMap::new(),
            attempt_statuses: BTreeMap::new(),
            outbox_statuses,
            outbox_messages: outbox.len(),
            not_terminal: Vec::new(),
            undelivered: Vec::new(),
            delivered_without_evidence: Vec::new(),
            failed: Vec::new(),
            duplicates: Vec::new(),
            late_duplicates: Vec::new(),
            orphans,
            receipts_lost,
        };
        for (index, id) in acked {
            let notification = &notifications[id];
            let status = notification["status"].as_str().unwrap_or("?").to_owned();
            *report.statuses.entry(status.clone()).or_default() += 1;
            let channel = notification["channel"]
                .as_str()
                .unwrap_or("none")
                .to_owned();
            *report.channels.entry(channel).or_default() += 1;
            for attempt in attempts(notification) {
                let key = format!(
                    "{}:{}",
                    attempt["channel"].as_str().unwrap_or("?"),
                    attempt["status"].as_str().unwrap_or("?")
                );
                *report.attempt_statuses.entry(key).or_default() += 1;
            }
            let label = || {
                format!(
                    "#{index} (patient {}):\n{}",
                    patient_of(*index),
                    describe(notification)
                )
            };
            if !is_terminal(notification) {
                report.not_terminal.push(label());
            }
            // A hand-over cut off by the kill may never have reached the provider: after the
            // delivery timeout it falls back, possibly to email, whose best proof is `sent`.
            let delivered = matches!(status.as_str(), "delivered" | "read")
                || (status == "sent" && notification["channel"] == "email");
            if patient_of(*index) >= MAGIC_PATIENTS && !delivered {
                report.undelivered.push(label());
            }
            if status == "failed" {
                report.failed.push(label());
            }
            let details = events(notification);
            let received = reached.get(id.as_str()).map_or(&[][..], Vec::as_slice);
            if received.len() > 1 {
                let copies: Vec<String> = received.iter().map(|m| m.to_string()).collect();
                let copy = format!("{}\n  received: {}", label(), copies.join("\n            "));
                if details
                    .iter()
                    .any(|d| d.contains("(after its delivery timeout)"))
                {
                    report.late_duplicates.push(copy);
                } else {
                    report.duplicates.push(copy);
                }
            }
            if delivered && received.is_empty() {
                report.delivered_without_evidence.push(label());
            }
        }
        report
    }

    fn print(&self, backend: &str, replays: usize, interrupted: usize) {
        eprintln!("[{backend}] notification statuses: {:?}", self.statuses);
        eprintln!("[{backend}] delivered on: {:?}", self.channels);
        eprintln!("[{backend}] attempts: {:?}", self.attempt_statuses);
        eprintln!(
            "[{backend}] sandbox outbox ({} messages): {:?}",
            self.outbox_messages, self.outbox_statuses
        );
        eprintln!(
            "[{backend}] of the {interrupted} requests the kill cut off, {replays} had been stored before it \
             and were answered as replays after the restart"
        );
        eprintln!(
            "[{backend}] {} notifications reached their patient twice because a receipt came after the delivery timeout",
            self.late_duplicates.len()
        );
    }

    fn assert_sound(&self) {
        let mut problems = Vec::new();
        let mut check = |items: &[String], what: &str| {
            if !items.is_empty() {
                let examples: Vec<String> = items.iter().take(5).cloned().collect();
                problems.push(format!(
                    "{} {what}; for example:\n{}",
                    items.len(),
                    examples.join("\n")
                ));
            }
        };
        check(&self.not_terminal, "notifications are not terminal");
        check(
            &self.duplicates,
            "notifications reached their patient more than once",
        );
        check(
            &self.orphans,
            "sandbox messages belong to no acknowledged notification",
        );
        check(
            &self.receipts_lost,
            "status reports from the sandbox were lost",
        );
        check(
            &self.delivered_without_evidence,
            "notifications say delivered, but the sandbox delivered nothing for them",
        );
        check(
            &self.undelivered,
            "notifications to ordinary patients were not delivered",
        );
        check(
            &self.failed,
            "notifications failed, though every patient is reachable on some channel",
        );
        assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    }
}
