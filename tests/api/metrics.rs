//! `GET /metrics` read as Prometheus reads it: parsed by a Prometheus text-format parser. The
//! counting test runs the gateway as a process of its own, since the recorder is the process's
//! and the other tests' applications count in this one; so every figure is exact.

use std::path::Path;
use std::time::Duration;

use medrelay::observability::recorder::{
    ALL_NAMES, ATTEMPTS, DB_POOL_CONNECTIONS, HTTP_REQUEST_DURATION, HTTP_REQUESTS, NOTIFICATIONS,
    PROVIDER_REQUEST_DURATION, QUEUE_DEPTH, QUEUE_OLDEST_DUE_AGE, RATE_LIMIT_REFUSALS,
};
use medrelay_channels::Secret;
use medrelay_testkit::process::{self, Process, free_port};
use medrelay_testkit::{TestDatabase, wait};
use prometheus_parse::Value as Sampled;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::harness::TestApp;

/// One scrape, parsed.
pub(crate) struct Scrape(prometheus_parse::Scrape);

impl Scrape {
    pub(crate) async fn of(client: &Client, base: &str, token: Option<&str>) -> Self {
        let mut request = client.get(format!("{base}/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.expect("the gateway answers");
        assert_eq!(answer.status(), StatusCode::OK);
        let content_type = answer.headers()["content-type"].to_str().unwrap_or("");
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = answer.text().await.expect("a body");
        let lines = text.lines().map(|line| Ok(line.to_owned()));
        Self(prometheus_parse::Scrape::parse(lines).expect("Prometheus text format"))
    }

    /// The sum of `metric`'s samples whose labels include `labels`; a histogram counts its
    /// observations.
    pub(crate) fn value(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                Sampled::Counter(v) | Sampled::Gauge(v) | Sampled::Untyped(v) => *v,
                Sampled::Histogram(buckets) => buckets
                    .iter()
                    .find(|b| b.less_than.is_infinite())
                    .map_or(0.0, |b| b.count),
                Sampled::Summary(_) => f64::NAN,
            })
            .sum()
    }

    fn has(&self, metric: &str) -> bool {
        self.0.samples.iter().any(|s| s.metric == metric) && self.0.docs.contains_key(metric)
    }
}

/// The binary as a process of its own, with a fresh database, its demo clinic's admin key and
/// one patient, Dana, reached by email.
struct Gateway {
    process: Process,
    base: String,
    key: String,
    client: Client,
    database: TestDatabase,
}

impl Gateway {
    /// Sampling its gauges every 100 ms and refusing a second wrong key from one address
    /// within a second.
    async fn start(dir: &Path) -> Self {
        let database = TestDatabase::fresh(dir).await;
        let listen = format!("127.0.0.1:{}", free_port());
        let mut command = process::command(&[env!("CARGO_BIN_EXE_medrelay")]);
        command
            .current_dir(dir)
            .env("MEDRELAY_LISTEN", &listen)
            .env("MEDRELAY_DATABASE_URL", database.url())
            .env("MEDRELAY_METRICS__SAMPLE_INTERVAL_MS", "100")
            .env("MEDRELAY_METRICS__STATUS_SAMPLE_INTERVAL_MS", "100")
            .env("MEDRELAY_HTTP__AUTH_FAILURES_PER_SECOND", "1")
            .env("MEDRELAY_HTTP__AUTH_FAILURE_BURST", "1");
        let mut process = Process::spawn(command, "medrelay", Some(dir.join("medrelay.log")));
        let base = format!("http://{listen}");
        let client = Client::new();
        process.wait_until_ready(&client, &base).await;
        let key = process.admin_key();
        let gateway = Self {
            process,
            base,
            key,
            client,
            database,
        };
        let dana = json!({ "name": "Dana Levi", "email": "dana@example.org" });
        let (status, body) = gateway
            .send(reqwest::Method::PUT, "/v1/patients/p-1", Some(dana))
            .await;
        assert!(status.is_success(), "{body}");
        gateway
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.expect("the gateway answers");
        let status = answer.status();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    /// Emails Dana `count` urgent notifications (sent now whatever the demo clinic's hours) and
    /// waits until each is `sent`: accepted by the mail server, final for email.
    async fn email_dana(&self, count: usize) {
        for i in 0..count {
            let note = json!({ "patient_id": "p-1", "topic": "general", "priority": "urgent",
                               "body": format!("Your results are ready ({i})") });
            let (status, body) = self
                .send(reqwest::Method::POST, "/v1/notifications", Some(note))
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            let path = format!("/v1/notifications/{}", body["id"].as_str().expect("an id"));
            wait::within(Duration::from_secs(30))
                .until(
                    async || match self.send(reqwest::Method::GET, &path, None).await {
                        (_, body) if body["status"] == "sent" => Ok(()),
                        (_, body) => Err(format!("not sent yet: {body}")),
                    },
                )
                .await;
        }
    }

    /// Sends `count` requests with a wrong key; returns how many were refused with `429`.
    async fn wrong_keys(&self, count: usize) -> usize {
        let mut refused = 0;
        for _ in 0..count {
            let wrong = self
                .client
                .get(format!("{}/v1/notifications", self.base))
                .bearer_auth("not-a-key");
            let status = wrong.send().await.expect("the gateway answers").status();
            refused += usize::from(status == StatusCode::TOO_MANY_REQUESTS);
        }
        refused
    }

    /// The first scrape in which `notifications{status="sent"}` is `sent` and the queue has
    /// drained: a status report right after a hand-over puts its notification back in the
    /// queue for a moment ("look again now"), which a busy machine can sample.
    async fn scrape_when_settled(&self, sent: f64) -> Scrape {
        wait::within(Duration::from_secs(20))
            .until(async || {
                let scrape = Scrape::of(&self.client, &self.base, None).await;
                let sampled = scrape.value(NOTIFICATIONS, &[("status", "sent")]);
                let queued = scrape.value(QUEUE_DEPTH, &[]);
                if sampled == sent && queued == 0.0 {
                    Ok(scrape)
                } else {
                    Err(format!(
                        "{sampled} sent notifications sampled so far, {queued} in the queue"
                    ))
                }
            })
            .await
    }

    async fn stop(self) {
        drop(self.process);
        let _ = self.database.remove().await;
    }
}

#[tokio::test]
async fn after_three_emails_the_counters_show_three_requests_three_hand_overs_and_no_queue() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::start(dir.path()).await;

    gateway.email_dana(3).await;
    let refused = gateway.wrong_keys(3).await;
    let scrape = gateway.scrape_when_settled(3.0).await;

    let posted = [("route", "/v1/notifications"), ("method", "POST")];
    assert_eq!(
        scrape.value(HTTP_REQUESTS, &[posted[0], posted[1], ("status", "202")]),
        3.0
    );
    assert_eq!(scrape.value(HTTP_REQUEST_DURATION, &posted), 3.0);
    assert_eq!(scrape.value(ATTEMPTS, &[]), 3.0);
    assert_eq!(
        scrape.value(ATTEMPTS, &[("channel", "email"), ("outcome", "accepted")]),
        3.0
    );
    assert_eq!(
        scrape.value(PROVIDER_REQUEST_DURATION, &[("channel", "email")]),
        3.0
    );
    assert!(
        refused >= 1,
        "a second wrong key within a second is refused"
    );
    assert_eq!(
        scrape.value(RATE_LIMIT_REFUSALS, &[("limit", "auth_failures")]),
        refused as f64
    );
    assert_eq!(scrape.value(QUEUE_OLDEST_DUE_AGE, &[]), 0.0);
    assert!(scrape.value(DB_POOL_CONNECTIONS, &[]) >= 1.0);
    // Webhook deliveries and FHIR pushes are counted once a clinic has somewhere to send them.
    let sent = |name: &&&str| !name.contains("webhook") && !name.contains("fhir");
    for name in ALL_NAMES.iter().filter(sent) {
        assert!(scrape.has(name), "{name} is missing or undescribed");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn with_a_bearer_token_metrics_are_for_its_holder_and_admin_keys_only() {
    let app = TestApp::spawn_with(|config| {
        config.metrics.bearer_token = Some(Secret::new("scrape-token"));
    })
    .await;
    let metrics = format!("{}/metrics", app.base);
    let status = async |key: Option<&str>| {
        let request = app.client().get(&metrics);
        let request = match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        };
        request.send().await.expect("the gateway answers").status()
    };

    assert_eq!(status(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(Some("wrong-token")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(Some(&app.staff_key().await)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(status(Some("scrape-token")).await, StatusCode::OK);
    let admin = app.admin_key().await;
    assert!(
        Scrape::of(app.client(), &app.base, Some(&admin))
            .await
            .has(HTTP_REQUESTS)
    );
    app.stop().await;
}

#[test]
fn the_grafana_dashboard_charts_every_metric_and_no_other() {
    let dashboard: Value = serde_json::from_str(include_str!("../../ops/grafana/medrelay.json"))
        .expect("the dashboard is JSON");
    let text = dashboard.to_string();
    let charted: std::collections::BTreeSet<&str> = text
        .match_indices("medrelay_")
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest[..end]
                .trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum")
        })
        .collect();
    let known: std::collections::BTreeSet<&str> = ALL_NAMES.into_iter().collect();
    assert_eq!(charted, known);
}
