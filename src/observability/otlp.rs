//! OpenTelemetry trace export, kept small: each HTTP request becomes one server span, sent in
//! batches as OTLP/HTTP JSON to `telemetry.otlp_endpoint` through the HTTP client the gateway
//! already has (the OpenTelemetry SDK and its gRPC stack would double the build). The span's
//! trace id is the request id when that is a 32-digit hex id (what medrelay makes), else a
//! digest of it, so a trace is found from a log line and back. Spans carry the method, the
//! matched route, the status and the request id: never a path's values or a body.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::config::TelemetryConfig;

/// Where finished spans go once the export runs; until then (and without an endpoint) the
/// layer keeps nothing.
static EXPORT: OnceLock<mpsc::Sender<FinishedSpan>> = OnceLock::new();

/// Spans waiting to be sent; past this many, new ones are dropped rather than hold memory
/// while the collector is away.
const QUEUE: usize = 4096;
const BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The layer `logging::init` installs: it turns the `request` spans of `api::request_log` into
/// exported spans.
#[derive(Debug, Default)]
pub struct RequestSpans;

impl RequestSpans {
    /// Where the request spans and their closing lines are written.
    pub const TARGET: &'static str = "medrelay::api::request_log";
}

/// What a request span recorded, kept in the span's extensions until it closes.
#[derive(Debug)]
struct Recording {
    start: SystemTime,
    fields: Vec<(&'static str, String)>,
}

#[derive(Debug)]
struct FinishedSpan {
    start: SystemTime,
    end: SystemTime,
    fields: Vec<(&'static str, String)>,
}

impl Visit for Recording {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field.name(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value.to_owned());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), value.to_string());
    }
}

impl Recording {
    fn set(&mut self, name: &'static str, value: String) {
        // `request done` and the failure lines carry the status; nothing else is kept.
        if matches!(name, "method" | "route" | "request_id" | "status") {
            self.fields.retain(|(kept, _)| *kept != name);
            self.fields.push((name, value));
        }
    }
}

fn field<'a>(fields: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(kept, _)| *kept == name)
        .map(|(_, value)| value.as_str())
}

impl<S> Layer<S> for RequestSpans
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let is_request =
            attrs.metadata().name() == "request" && attrs.metadata().target() == Self::TARGET;
        if EXPORT.get().is_none() || !is_request {
            return;
        }
        let mut recording = Recording {
            start: SystemTime::now(),
            fields: Vec::new(),
        };
        attrs.record(&mut recording);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(recording);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(recording) = span.extensions_mut().get_mut::<Recording>()
        {
            values.record(recording);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        if let Some(recording) = span.extensions_mut().get_mut::<Recording>() {
            event.record(recording);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(recording) = span.extensions_mut().remove::<Recording>() else {
            return;
        };
        if let Some(export) = EXPORT.get() {
            // A full queue drops the span: tracing must never slow a request down.
            let _ = export.try_send(FinishedSpan {
                start: recording.start,
                end: SystemTime::now(),
                fields: recording.fields,
            });
        }
    }
}

/// Starts sending request spans to `config.otlp_endpoint`, if set, until the process ends.
/// Only the first call in a process exports (the layer is the process's).
pub fn start_export(config: &TelemetryConfig, client: reqwest::Client) {
    let Some(endpoint) = &config.otlp_endpoint else {
        return;
    };
    let (sender, spans) = mpsc::channel(QUEUE);
    if EXPORT.set(sender).is_err() {
        return;
    }
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    tracing::info!(%url, "exporting request spans (OTLP/HTTP JSON)");
    tokio::spawn(send_batches(
        spans,
        client,
        url,
        config.service_name.clone(),
    ));
}

async fn send_batches(
    mut spans: mpsc::Receiver<FinishedSpan>,
    client: reqwest::Client,
    url: String,
    service: String,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while spans.recv_many(&mut batch, BATCH).await > 0 {
        let body = export_request(&service, &batch);
        batch.clear();
        let sent = client
            .post(&url)
            .timeout(SEND_TIMEOUT)
            .json(&body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        if let Err(error) = sent {
            tracing::warn!(%error, "could not export request spans; they are dropped");
        }
        // Lets a burst gather into one request instead of one request per span.
        tokio::time::sleep(FLUSH_EVERY).await;
    }
}

/// An OTLP `ExportTraceServiceRequest` in its JSON form.
fn export_request(service: &str, spans: &[FinishedSpan]) -> Value {
    json!({ "resourceSpans": [{
        "resource": { "attributes": [attribute("service.name", json!({ "stringValue": service }))] },
        "scopeSpans": [{
            "scope": { "name": "medrelay", "version": env!("CARGO_PKG_VERSION") },
            "spans": spans.iter().map(otlp_span).collect::<Vec<_>>(),
        }],
    }]})
}

fn otlp_span(span: &FinishedSpan) -> Value {
    let method = field(&span.fields, "method").unwrap_or("");
    let route = field(&span.fields, "route").unwrap_or("");
    let request_id = field(&span.fields, "request_id").unwrap_or("");
    let status: u16 = field(&span.fields, "status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    json!({
        "traceId": trace_id(request_id),
        "spanId": hex::encode(rand::random::<[u8; 8]>()),
        "name": format!("{method} {route}"),
        // SERVER
        "kind": 2,
        "startTimeUnixNano": unix_nanos(span.start),
        "endTimeUnixNano": unix_nanos(span.end),
        "attributes": [
            attribute("http.request.method", json!({ "stringValue": method })),
            attribute("http.route", json!({ "stringValue": route })),
            attribute("http.response.status_code", json!({ "intValue": status.to_string() })),
            attribute("medrelay.request_id", json!({ "stringValue": request_id })),
        ],
        // ERROR for a server error, else UNSET.
        "status": { "code": if status >= 500 { 2 } else { 0 } },
    })
}

fn attribute(key: &str, value: Value) -> Value {
    json!({ "key": key, "value": value })
}

/// The request id itself when it is 32 hex digits, else the first 16 bytes of its digest.
fn trace_id(request_id: &str) -> String {
    if request_id.len() == 32 && request_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        request_id.to_ascii_lowercase()
    } else {
        hex::encode(&Sha256::digest(request_id.as_bytes())[..16])
    }
}

fn unix_nanos(at: SystemTime) -> String {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_medrelay_request_id_is_its_trace_id_and_any_other_is_digested_to_one() {
        let made = "0190b3f2c4a87d3e9b1f2a3c4d5e6f70";
        assert_eq!(trace_id(made), made);
        let digested = trace_id("booking-req-42");
        assert_eq!(digested.len(), 32);
        assert_eq!(digested, trace_id("booking-req-42"));
        assert_ne!(digested, trace_id("booking-req-43"));
    }

    #[test]
    fn a_span_is_named_by_method_and_route_and_a_server_error_is_marked() {
        let span = FinishedSpan {
            start: UNIX_EPOCH + Duration::from_secs(1),
            end: UNIX_EPOCH + Duration::from_secs(2),
            fields: vec![
                ("method", "POST".to_owned()),
                ("route", "/v1/notifications".to_owned()),
                ("request_id", "r-1".to_owned()),
                ("status", "503".to_owned()),
            ],
        };
        let otlp = otlp_span(&span);
        assert_eq!(otlp["name"], "POST /v1/notifications");
        assert_eq!(otlp["startTimeUnixNano"], "1000000000");
        assert_eq!(otlp["status"]["code"], 2);
        assert_eq!(otlp["attributes"][2]["value"]["intValue"], "503");
    }
}
