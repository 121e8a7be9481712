//! A clinic's FHIR server on a port of its own, for the push tests (no real FHIR server can be
//! installed from the registries here: HAPI needs Maven Central, Medplum is not on npm). It
//! takes what a push sends, `POST <base>` with a `transaction` Bundle, and holds medrelay to R4:
//!
//! - `Content-Type: application/fhir+json` or 415; the credentials the test set or 401;
//! - the Bundle parsed strictly by fhirbolt (unknown elements, wrong types: 400 with an
//!   OperationOutcome);
//! - the transaction semantics of [`crate::fhir_transaction`], answered with a
//!   `transaction-response` Bundle;
//!
//! and plays what goes wrong: the next tries failing with a status, a transaction applied and
//! its connection then dropped before any answer, an answer that comes late. It keeps the
//! resources so tests can count and read them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fhirbolt::model::r4::Resource;
use fhirbolt::model::r4::resources::{
    Bundle, BundleEntry, BundleEntryResponse, OperationOutcome, OperationOutcomeIssue,
};
use fhirbolt::serde::{DeserializationConfig, DeserializationMode};
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use crate::fhir_transaction::{EntryResult, Refusal, ResourceStore, StoredResource};

const FHIR_JSON: &str = "application/fhir+json";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// The entries of its Bundle, when it had one.
    pub entries: usize,
    /// What the server answered (or would have, for a dropped connection).
    pub status: u16,
}

#[derive(Debug, Default)]
struct Faults {
    /// The next this many transactions are refused with `fail_status`.
    fail_next: usize,
    fail_status: u16,
    /// The next this many transactions are applied, then their connection is dropped.
    drop_next: usize,
    /// Answers wait this long after the transaction is applied.
    answer_after: Duration,
}

#[derive(Debug, Default)]
struct Shared {
    store: Mutex<ResourceStore>,
    /// The `Authorization` header every request must carry, when set.
    authorization: Mutex<Option<String>>,
    faults: Mutex<Faults>,
    seen: Mutex<Vec<SeenRequest>>,
    applied: AtomicUsize,
}

#[derive(Debug)]
pub struct FhirServer {
    /// Its base URL: `http://127.0.0.1:<port>/fhir`.
    pub base_url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for FhirServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FhirServer {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the FHIR server listens");
        let addr = listener.local_addr().expect("its address");
        let app = axum::Router::new()
            .route("/fhir", axum::routing::post(transaction))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(serve(listener, app, Arc::clone(&shared)));
        Self {
            base_url: format!("http://{addr}/fhir"),
            shared,
            server,
        }
    }

    /// Requires `Authorization: Bearer <token>` from now on.
    pub fn require_bearer(&self, token: &str) {
        *lock(&self.shared.authorization) = Some(format!("Bearer {token}"));
    }

    /// Requires `Authorization: Basic …` of `username` and `password` from now on.
    pub fn require_basic(&self, username: &str, password: &str) {
        use base64::Engine as _;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        *lock(&self.shared.authorization) = Some(format!("Basic {encoded}"));
    }

    /// Refuses the next `count` transactions with `status` (and an OperationOutcome).
    pub fn fail_next(&self, count: usize, status: u16) {
        let mut faults = lock(&self.shared.faults);
        faults.fail_next = count;
        faults.fail_status = status;
    }

    /// Applies the next `count` transactions, then drops their connections without an answer.
    pub fn drop_next(&self, count: usize) {
        lock(&self.shared.faults).drop_next = count;
    }

    /// Answers each transaction `delay` after applying it.
    pub fn answer_after(&self, delay: Duration) {
        lock(&self.shared.faults).answer_after = delay;
    }

    /// The resources of `resource_type`.
    pub fn resources(&self, resource_type: &str) -> Vec<StoredResource> {
        lock(&self.shared.store).all(resource_type)
    }

    /// The resources of `resource_type` with the identifier `system|value`.
    pub fn find(&self, resource_type: &str, system: &str, value: &str) -> Vec<StoredResource> {
        lock(&self.shared.store).matching(resource_type, system, value)
    }

    /// Every request so far, in the order they came.
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.shared.seen).clone()
    }

    /// Transactions applied (dropped answers included).
    pub fn applied(&self) -> usize {
        self.shared.applied.load(Ordering::SeqCst)
    }
}

/// Serves `app` connection by connection, so that a connection can be dropped after its
/// transaction was applied: the service fails instead of answering, and hyper closes it.
async fn serve(listener: tokio::net::TcpListener, app: axum::Router, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        let app = app.clone();
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    let shared = Arc::clone(&shared);
                    async move {
                        let response = app
                            .oneshot(request.map(axum::body::Body::new))
                            .await
                            .unwrap_or_else(|never| match never {});
                        let drop = {
                            let mut faults = lock(&shared.faults);
                            let applied =
                                response.status() == StatusCode::OK && faults.drop_next > 0;
                            faults.drop_next -= usize::from(applied);
                            applied
                        };
                        if drop {
                            Err(std::io::Error::other(
                                "the test FHIR server drops this connection",
                            ))
                        } else {
                            Ok(response)
                        }
                    }
                },
            );
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

async fn transaction(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut seen = SeenRequest {
        content_type: text(header::CONTENT_TYPE),
        authorization: text(header::AUTHORIZATION),
        entries: 0,
        status: 0,
    };
    let answer = answer(&shared, &mut seen, &body).await;
    let status = answer.as_ref().map_or_else(|r| r.status, |_| 200);
    seen.status = status;
    lock(&shared.seen).push(seen);
    if answer.is_ok() {
        let delay = lock(&shared.faults).answer_after;
        tokio::time::sleep(delay).await;
    }
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match answer {
        Ok(results) => fhirbolt::json::to_vec(&transaction_response(results), None),
        Err(refusal) => fhirbolt::json::to_vec(&operation_outcome(&refusal), None),
    };
    let body = body.expect("the answer is written");
    (code, [(header::CONTENT_TYPE, FHIR_JSON)], body).into_response()
}

/// The transaction's entries' results, or why it was refused.
async fn answer(
    shared: &Shared,
    seen: &mut SeenRequest,
    body: &[u8],
) -> Result<Vec<EntryResult>, Refusal> {
    let refusal = |status, code, text: &str| Refusal {
        status,
        code,
        diagnostics: text.to_owned(),
    };
    let fhir_json = seen
        .content_type
        .as_deref()
        .is_some_and(|t| t.starts_with(FHIR_JSON));
    if !fhir_json {
        return Err(refusal(
            415,
            "not-supported",
            "Content-Type must be application/fhir+json",
        ));
    }
    let expected = lock(&shared.authorization).clone();
    if expected.is_some() && seen.authorization != expected {
        return Err(refusal(401, "login", "wrong or missing credentials"));
    }
    let strict = Some(DeserializationConfig {
        mode: DeserializationMode::Strict,
    });
    let parsed: Result<Resource, _> = fhirbolt::json::from_slice(body, strict);
    let Ok(Resource::Bundle(bundle)) = parsed else {
        let why = parsed
            .err()
            .map_or("not a Bundle".to_owned(), |e| e.to_string());
        return Err(refusal(400, "structure", &why));
    };
    seen.entries = bundle.entry.len();
    {
        let mut faults = lock(&shared.faults);
        if faults.fail_next > 0 {
            faults.fail_next -= 1;
            return Err(refusal(
                faults.fail_status,
                "transient",
                "failing as the test asked",
            ));
        }
    }
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| refusal(400, "structure", "not JSON"))?;
    let results = lock(&shared.store).transact(&json)?;
    shared.applied.fetch_add(1, Ordering::SeqCst);
    Ok(results)
}

fn transaction_response(results: Vec<EntryResult>) -> Bundle {
    let entry = results
        .into_iter()
        .map(|result| BundleEntry {
            response: Some(BundleEntryResponse {
                status: result.status.into(),
                location: Some(result.location.into()),
                etag: Some(format!("W/\"{}\"", result.version).into()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    Bundle {
        r#type: "transaction-response".into(),
        entry,
        ..Default::default()
    }
}

fn operation_outcome(refusal: &Refusal) -> OperationOutcome {
    OperationOutcome {
        issue: vec![OperationOutcomeIssue {
            severity: "error".into(),
            code: refusal.code.into(),
            diagnostics: Some(refusal.diagnostics.as_str().into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}
