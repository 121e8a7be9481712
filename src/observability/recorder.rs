//! The one Prometheus recorder of the process, the names the gateway records under and the calls
//! that record them. Code records through the `metrics` facade (`counter!`,
//! `histogram!`, `gauge!`), so a module needs nothing from here but a name; `GET /metrics`
//! renders what the recorder holds. Gauges that need the database come from the sampler, never
//! from a scrape. Labels hold routes, channels, outcomes and statuses: never ids or addresses.

use std::sync::OnceLock;
use std::time::Duration;

use medrelay_channels::ChannelKind;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "medrelay_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "medrelay_http_request_duration_seconds";
pub const NOTIFICATIONS: &str = "medrelay_notifications";
pub const ATTEMPTS: &str = "medrelay_attempts_total";
pub const PROVIDER_REQUEST_DURATION: &str = "medrelay_provider_request_duration_seconds";
pub const QUEUE_DEPTH: &str = "medrelay_queue_depth";
pub const QUEUE_OLDEST_DUE_AGE: &str = "medrelay_queue_oldest_due_age_seconds";
pub const RATE_LIMIT_REFUSALS: &str = "medrelay_rate_limit_refusals_total";
pub const DB_POOL_CONNECTIONS: &str = "medrelay_db_pool_connections";
pub const WEBHOOK_DELIVERIES: &str = "medrelay_webhook_deliveries_total";
pub const WEBHOOK_DELIVERY_DURATION: &str = "medrelay_webhook_delivery_seconds";
pub const WEBHOOK_BACKLOG: &str = "medrelay_webhook_backlog";
pub const FHIR_PUSHES: &str = "medrelay_fhir_pushes_total";
pub const FHIR_PUSH_DURATION: &str = "medrelay_fhir_push_seconds";
pub const FHIR_BACKLOG: &str = "medrelay_fhir_push_backlog";
pub const FHIR_OLDEST_AGE: &str = "medrelay_fhir_push_oldest_age_seconds";
pub const FHIR_PUSH_FAILING: &str = "medrelay_fhir_push_failing";
pub const AUDIT_WRITE_FAILURES: &str = "medrelay_audit_write_failures_total";

/// Every name above: what the dashboard in `ops/grafana/` may chart.
pub const ALL_NAMES: [&str; 18] = [
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    NOTIFICATIONS,
    ATTEMPTS,
    PROVIDER_REQUEST_DURATION,
    QUEUE_DEPTH,
    QUEUE_OLDEST_DUE_AGE,
    RATE_LIMIT_REFUSALS,
    DB_POOL_CONNECTIONS,
    WEBHOOK_DELIVERIES,
    WEBHOOK_DELIVERY_DURATION,
    WEBHOOK_BACKLOG,
    FHIR_PUSHES,
    FHIR_PUSH_DURATION,
    FHIR_BACKLOG,
    FHIR_OLDEST_AGE,
    FHIR_PUSH_FAILING,
    AUDIT_WRITE_FAILURES,
];

/// Latency buckets, in seconds: from a cached read (1 ms) to a provider's slowest answer (30 s).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed as the `metrics` facade's global one on first use. Every
/// application in the process (tests start several) shares it, as it shares the facade.
pub fn recorder() -> &'static PrometheusHandle {
    RECORDER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
            // Refused only for an empty list of buckets.
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Only fails when another recorder was installed first; then that one records.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first; /metrics stays empty");
        }
        describe();
        handle
    })
}

/// The text `GET /metrics` answers with.
pub fn render() -> String {
    recorder().render()
}

/// One answered HTTP request: by matched route (never the raw path), method and status.
pub fn record_request(route: &str, method: &str, status: u16, took: Duration) {
    let labels = [
        ("route", route.to_owned()),
        ("method", method.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, &labels[..2]).record(took.as_secs_f64());
}

/// One hand-over's outcome as the dispatcher records it (`accepted`, `retrying`,
/// `rate_limited`, `failed`, `no_answer`).
pub fn record_attempt(channel: ChannelKind, outcome: &'static str) {
    metrics::counter!(ATTEMPTS, "channel" => channel.as_str(), "outcome" => outcome).increment(1);
}

/// How long one provider took to answer a hand-over.
pub fn record_provider_request(channel: ChannelKind, took: Duration) {
    metrics::histogram!(PROVIDER_REQUEST_DURATION, "channel" => channel.as_str())
        .record(took.as_secs_f64());
}

/// An audit entry that could not be written: `withheld` for a read answered 503 instead of its
/// content, `unrecorded` for a change that was made (and committed) without its entry.
pub fn record_audit_failure(consequence: &'static str) {
    metrics::counter!(AUDIT_WRITE_FAILURES, "consequence" => consequence).increment(1);
}

/// A request refused with `429` for being over `limit` (`key_limit`, `auth_failures`,
/// `patient_limit`: the `reason` of its problem body).
pub fn record_rate_limit_refusal(limit: &'static str) {
    metrics::counter!(RATE_LIMIT_REFUSALS, "limit" => limit).increment(1);
}

fn describe() {
    describe_api();
    describe_delivery();
}

fn describe_api() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route, method and status"
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time from a request's arrival to its answer"
    );
    describe_counter!(RATE_LIMIT_REFUSALS, "Requests refused with 429, by limit");
    describe_counter!(
        AUDIT_WRITE_FAILURES,
        "Audit entries that could not be written, by consequence: a read withheld (503) or a \
         change made without its entry"
    );
    // Present from the start, so an alert on its rate has a series to read.
    for consequence in ["withheld", "unrecorded"] {
        metrics::counter!(AUDIT_WRITE_FAILURES, "consequence" => consequence).increment(0);
    }
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database connections by pool and state (sampled)"
    );
}

fn describe_delivery() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        NOTIFICATIONS,
        "Notifications created in the last 24 hours, by status (sampled)"
    );
    describe_counter!(
        ATTEMPTS,
        "Attempts handed to providers, by channel and outcome"
    );
    describe_histogram!(
        PROVIDER_REQUEST_DURATION,
        Unit::Seconds,
        "Time a provider took to answer a hand-over"
    );
    describe_gauge!(
        QUEUE_DEPTH,
        "Notifications due now and not claimed (sampled)"
    );
    describe_gauge!(
        QUEUE_OLDEST_DUE_AGE,
        Unit::Seconds,
        "How long the longest-waiting due notification has been due (sampled)"
    );
    describe_counter!(WEBHOOK_DELIVERIES, "Webhook deliveries, by outcome");
    describe_histogram!(
        WEBHOOK_DELIVERY_DURATION,
        Unit::Seconds,
        "Time a webhook receiver took to answer"
    );
    describe_gauge!(
        WEBHOOK_BACKLOG,
        "Webhook messages waiting to be delivered (sampled)"
    );
    describe_fhir();
}

fn describe_fhir() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        FHIR_PUSHES,
        "Pushes to clinics' FHIR servers, by outcome (pushed, retrying, dropped)"
    );
    describe_histogram!(
        FHIR_PUSH_DURATION,
        Unit::Seconds,
        "Time a clinic's FHIR server took to answer a push"
    );
    describe_gauge!(
        FHIR_BACKLOG,
        "Records waiting to be pushed to the clinic's FHIR server, by clinic (sampled)"
    );
    describe_gauge!(
        FHIR_OLDEST_AGE,
        Unit::Seconds,
        "How long the oldest unpushed change has waited, by clinic (sampled)"
    );
    describe_gauge!(
        FHIR_PUSH_FAILING,
        "Records whose pushes have failed for longer than fhir.alert_after_ms, by clinic (sampled)"
    );
}
