use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use medrelay::Config;
use medrelay::app::{Application, RunningApp};
use medrelay::clock::{SharedClock, SystemClock};
use medrelay::domain::{ClinicHours, Language, PhoneRegion, TimeZoneName};
use medrelay::store::{ApiKeyRole, Backend, NewClinic, Store};
use medrelay_channels::ChannelKind;
use medrelay_testkit::{TestDatabase, outbox, wait};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

pub struct TestApp {
    pub base: String,
    pub key: String,
    pub store: Store,
    client: reqwest::Client,
    running: Option<RunningApp>,
    /// The database the application uses: the fresh one, unless the test chose another.
    database_url: String,
    database: TestDatabase,
    /// Holds a SQLite database's file.
    _dir: tempfile::TempDir,
}

/// Settings that make the sandbox and the dispatcher fast enough to watch a whole delivery.
pub fn test_config() -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        bootstrap_demo: false,
        ..Config::default()
    };
    config.sandbox.delivery_delay_ms = 40;
    config.sandbox.read_delay_ms = 40;
    config.dispatch.poll_interval_ms = 20;
    config.dispatch.retry_base_ms = 50;
    config.dispatch.retry_cap_ms = 200;
    config.dispatch.unanswered_call_retry_ms = 50;
    config.delivery_timeout.whatsapp_ms = 800;
    config.delivery_timeout.sms_ms = 800;
    config.delivery_timeout.voice_ms = 800;
    config
}

/// For tests that show a receipt settling an attempt (a failure's error code, the fallback it
/// causes): delivery timeouts that outlast any receipt, so that on a loaded machine a late
/// receipt still settles it. The default 800 ms is what makes `+972500000002`, which never
/// gets one, fall back quickly.
pub fn settled_by_receipts(config: &mut Config) {
    config.delivery_timeout.whatsapp_ms = 60_000;
    config.delivery_timeout.sms_ms = 60_000;
    config.delivery_timeout.voice_ms = 60_000;
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_with_clock(adjust, Arc::new(SystemClock)).await
    }

    /// Like [`TestApp::spawn_with`], with the application's clock chosen by the test.
    pub async fn spawn_with_clock(adjust: impl FnOnce(&mut Config), clock: SharedClock) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config();
        let database = TestDatabase::migrated(dir.path(), |url| async move {
            Store::connect(&url)
                .await
                .expect("migrations")
                .close()
                .await;
        })
        .await;
        config.database_url = database.url().to_owned();
        adjust(&mut config);
        let database_url = config.database_url.clone();
        let app = Application::build_with_clock(config, clock)
            .await
            .expect("application starts");
        let store = app.store().clone();
        let key = new_clinic_key(&store, "hadar").await;
        let running = app.start();
        Self {
            base: format!("http://{}", running.addr),
            key,
            store,
            client: reqwest::Client::new(),
            running: Some(running),
            database_url,
            database,
            _dir: dir,
        }
    }

    /// Stops the application and starts a new one on the same database, as a process restart
    /// would; the key stays valid.
    pub async fn restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        self.store.close().await;
        let mut config = test_config();
        config.database_url = self.database_url.clone();
        let app = Application::build(config)
            .await
            .expect("application starts again");
        self.store = app.store().clone();
        let running = app.start();
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    /// Runs the dispatcher until nothing is due now: what it would send now has been handed
    /// over and recorded (delivery receipts may still come).
    pub async fn drain_dispatcher(&self) {
        self.running
            .as_ref()
            .expect("the application runs")
            .drain_dispatcher()
            .await
            .expect("dispatch rounds");
    }

    pub fn is_sqlite(&self) -> bool {
        Backend::of_url(&self.database_url) == Some(Backend::Sqlite)
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        self.store.close().await;
        // A database left behind is dropped by `.ci/run`; the test has passed by now.
        let _ = self.database.remove().await;
    }

    /// A staff key for the test's clinic.
    pub async fn staff_key(&self) -> String {
        self.key_with_role(ApiKeyRole::Staff).await
    }

    /// An admin key for the test's clinic.
    pub async fn admin_key(&self) -> String {
        self.key_with_role(ApiKeyRole::Admin).await
    }

    async fn key_with_role(&self, role: ApiKeyRole) -> String {
        let clinic = self.store.clinic_by_slug("hadar").await.expect("clinic");
        self.store
            .create_api_key(&clinic.id, role, jiff::Timestamp::now())
            .await
            .expect("key")
    }

    /// A second clinic on the same gateway, with its own key.
    pub async fn other_clinic_key(&self) -> String {
        new_clinic_key(&self.store, "other").await
    }

    /// The database this test's application uses, for a second instance to share.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn put_patient(&self, id: &str, body: Value) -> Response {
        self.request(
            Method::PUT,
            &format!("/v1/patients/{id}"),
            &self.key,
            Some(body),
        )
        .await
    }

    /// Creates a patient who must be accepted.
    pub async fn patient(&self, id: &str, body: Value) {
        let response = self.put_patient(id, body).await;
        assert!(
            response.status().is_success(),
            "patient {id}: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// The patient writes to the clinic's (sandbox) WhatsApp number, which opens their 24-hour
    /// window: free text may go to them on WhatsApp until it closes.
    pub async fn patient_writes_on_whatsapp(&self, phone: &str) {
        self.patient_sends(json!({ "channel": "whatsapp", "from": phone, "text": "hello" }))
            .await;
    }

    /// The sandbox plays a patient sending `message` (`POST /sandbox/inbound`), which the gateway
    /// must take; returns the provider's message id. A webhook the gateway refused for now (503:
    /// busy) reaches the sandbox's caller as 502; like the provider, which redelivers it, this
    /// sends the message again, for up to ten seconds.
    pub async fn patient_sends(&self, message: Value) -> String {
        let receipt = wait::within(Duration::from_secs(10))
            .every(Duration::from_millis(100))
            .until(async || {
                let response = self
                    .client
                    .post(format!("{}/sandbox/inbound", self.base))
                    .bearer_auth(&self.key)
                    .json(&message)
                    .send()
                    .await
                    .expect("sandbox inbound");
                let status = response.status();
                let receipt: Value = response.json().await.unwrap_or(Value::Null);
                match status {
                    StatusCode::ACCEPTED => Ok(receipt),
                    StatusCode::BAD_GATEWAY => Err(format!("refused for now: {receipt:#}")),
                    other => panic!("sandbox inbound answered {other}: {receipt:#}"),
                }
            })
            .await;
        receipt["provider_message_id"]
            .as_str()
            .expect("provider_message_id")
            .to_owned()
    }

    pub async fn post_notification(&self, body: Value) -> Response {
        self.request(Method::POST, "/v1/notifications", &self.key, Some(body))
            .await
    }

    /// Posts a notification that must be accepted; returns its id.
    pub async fn notify(&self, body: Value) -> String {
        self.notify_as(&self.key, body).await
    }

    /// Posts a notification with `key` (another role or clinic); returns its id.
    pub async fn notify_as(&self, key: &str, body: Value) -> String {
        let response = self
            .request(Method::POST, "/v1/notifications", key, Some(body))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let receipt: Value = response.json().await.expect("receipt");
        receipt["id"].as_str().expect("id").to_owned()
    }

    /// Asks to cancel notification `id`.
    pub async fn cancel(&self, id: &str) -> Response {
        self.request(
            Method::DELETE,
            &format!("/v1/notifications/{id}"),
            &self.key,
            None,
        )
        .await
    }

    pub async fn notification(&self, id: &str) -> Value {
        self.notification_as(&self.key, id).await
    }

    /// The notification as the clinic holding `key` sees it.
    pub async fn notification_as(&self, key: &str, id: &str) -> Value {
        let response = self
            .request(Method::GET, &format!("/v1/notifications/{id}"), key, None)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("notification")
    }

    /// Polls until the notification's status is one of `statuses`; fails after a few seconds.
    pub async fn wait_for(&self, id: &str, statuses: &[&str]) -> Value {
        self.wait_until(id, |n| {
            statuses.contains(&n["status"].as_str().unwrap_or_default())
        })
        .await
    }

    /// Polls until the notification is finished: delivered, read, failed, cancelled, expired, or
    /// sent by email (which has no delivery receipt).
    pub async fn wait_until_finished(&self, id: &str) -> Value {
        self.wait_until(id, |n| {
            let status = n["status"].as_str().unwrap_or_default();
            ["delivered", "read", "failed", "cancelled", "expired"].contains(&status)
                || (status == "sent" && n["channel"] == "email")
        })
        .await
    }

    /// Polls the notification until `done` holds; fails after a few seconds.
    pub async fn wait_until(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.wait_until_as(&self.key, id, done).await
    }

    /// [`TestApp::wait_until`] as the clinic holding `key` sees the notification.
    pub async fn wait_until_as(&self, key: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        wait::within(Duration::from_secs(10))
            .until(async || {
                let notification = self.notification_as(key, id).await;
                if done(&notification) {
                    Ok(notification)
                } else {
                    Err(format!(
                        "still {}: {notification:#}",
                        notification["status"]
                    ))
                }
            })
            .await
    }

    /// What the test clinic's patient at `recipient` received from the sandbox.
    /// Books an appointment, which must be accepted (`201`), and returns the answer.
    pub async fn book_appointment(&self, body: Value) -> Value {
        let response = self
            .request(Method::POST, "/v1/appointments", &self.key, Some(body))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("appointment")
    }

    pub async fn outbox(&self, recipient: &str) -> Vec<Value> {
        self.outbox_as(&self.key, recipient).await
    }

    /// The outbox of `recipient` at the clinic of `key` once it holds `count` messages; fails
    /// after a few seconds.
    pub async fn outbox_holding(&self, key: &str, recipient: &str, count: usize) -> Vec<Value> {
        wait::within(Duration::from_secs(10))
            .until(async || {
                let outbox = self.outbox_as(key, recipient).await;
                if outbox.len() >= count {
                    Ok(outbox)
                } else {
                    Err(format!("{recipient} has {outbox:#?}"))
                }
            })
            .await
    }

    /// What the patient at `recipient` of the clinic of `key` received from the sandbox.
    pub async fn outbox_as(&self, key: &str, recipient: &str) -> Vec<Value> {
        outbox::read(&self.client, &self.base, key, &[("recipient", recipient)]).await
    }
}

async fn new_clinic_key(store: &Store, slug: &str) -> String {
    let clinic = new_clinic(store, slug).await;
    store
        .create_api_key(&clinic.id, ApiKeyRole::Booking, jiff::Timestamp::now())
        .await
        .expect("key")
}

/// A clinic `slug` on the gateway of `store`, open at every hour.
pub async fn new_clinic(store: &Store, slug: &str) -> medrelay::domain::Clinic {
    let clinic = store
        .create_clinic(
            NewClinic {
                slug: slug.to_owned(),
                name: format!("Clinic {slug}"),
                timezone: TimeZoneName::parse("Asia/Jerusalem").expect("zone"),
                default_language: Language::parse("he").expect("language"),
                default_channels: ChannelKind::ALL.to_vec(),
                phone_region: PhoneRegion::ISRAEL,
            },
            jiff::Timestamp::now(),
        )
        .await
        .expect("clinic");
    // Open at every hour and nobody quiet: no test depends on the time of day it runs at
    // unless it sets the hours itself.
    store
        .set_clinic_hours(&clinic.id, &ClinicHours::always_open())
        .await
        .expect("clinic hours");
    clinic
}

/// The attempts of a notification as (channel, status) pairs.
pub fn attempts(notification: &Value) -> Vec<(String, String)> {
    notification["attempts"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| {
                    (
                        a["channel"].as_str().unwrap_or("").to_owned(),
                        a["status"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn event_details(notification: &Value) -> Vec<String> {
    notification["events"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| e["detail"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// (before, send_at, expires_at, status) of each reminder of an appointment.
pub fn appointment_reminders(appointment: &Value) -> Vec<(String, Timestamp, Timestamp, String)> {
    let time = |value: &Value| -> Timestamp {
        value
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a timestamp: {value}"))
    };
    appointment["reminders"]
        .as_array()
        .expect("reminders")
        .iter()
        .map(|r| {
            (
                r["before"].as_str().unwrap_or_default().to_owned(),
                time(&r["send_at"]),
                time(&r["expires_at"]),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// An appointment reminder for patient `p-1` on 01.12 at 09:30: a template, which may start a
/// WhatsApp conversation at any time, outside the patient's 24-hour window too.
pub fn reminder() -> Value {
    reminder_for("p-1")
}

/// [`reminder`] for another patient.
pub fn reminder_for(patient_id: &str) -> Value {
    json!({
        "patient_id": patient_id, "topic": "appointment_reminder",
        "template": "appointment_reminder", "params": { "date": "01.12", "time": "09:30" }
    })
}

pub fn body(text: &str) -> Value {
    json!({ "patient_id": "p-1", "topic": "general", "body": text })
}

/// The field each error of a problem names, in order.
pub fn problem_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

/// A fresh database no migration has run on, its pool, and its back end's migrations folder.
pub async fn unmigrated_database(
    dir: &std::path::Path,
) -> (TestDatabase, sqlx::AnyPool, &'static str) {
    let database = TestDatabase::fresh(dir).await;
    let (url, backend) = if database.is_sqlite() {
        (format!("{}?mode=rwc", database.url()), "sqlite")
    } else {
        (database.url().to_owned(), "postgres")
    };
    let pool = medrelay_testkit::database::connect(&url).await;
    (database, pool, backend)
}

/// Runs the migration files of the database's back end whose version `keep` accepts, in order,
/// to test one migration on the rows of the versions before it.
pub async fn migrate(pool: &sqlx::AnyPool, backend: &str, keep: impl Fn(u32) -> bool) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("migrations")
        .map(|entry| entry.expect("migration").path())
        .collect();
    files.sort();
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let version: u32 = name[..4].parse().expect("a numbered migration");
        if keep(version) {
            let sql = std::fs::read_to_string(&file).expect("migration text");
            sqlx::raw_sql(&sql).execute(pool).await.expect(name);
        }
    }
}
