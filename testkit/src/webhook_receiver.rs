//! A booking system's webhook receiver on a port of its own: it verifies every request's
//! signature with the `standardwebhooks` crate (the specification's reference implementation,
//! not medrelay's code), keeps each event once by its `webhook-id` as the specification tells
//! receivers to, and answers with the status the test chooses, to play an outage.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use standardwebhooks::Webhook;
use tokio::task::JoinHandle;

/// One event as the receiver kept it.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    /// Its `webhook-id`.
    pub id: String,
    pub body: serde_json::Value,
    /// Which of the trusted secrets (by the order they were trusted) verify its signature.
    pub verified_by: Vec<usize>,
}

impl ReceivedEvent {
    pub fn event_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }

    pub fn data(&self, key: &str) -> &serde_json::Value {
        &self.body["data"][key]
    }
}

#[derive(Debug, Default)]
struct Shared {
    secrets: Mutex<Vec<String>>,
    /// 0: answer 204 and keep the event; anything else: answer it and keep nothing.
    failing_with: AtomicU16,
    events: Mutex<Vec<ReceivedEvent>>,
    seen: Mutex<HashSet<String>>,
    requests: AtomicUsize,
    bad_signatures: AtomicUsize,
    duplicates: AtomicUsize,
}

#[derive(Debug)]
pub struct WebhookReceiver {
    /// Where to register it: `http://127.0.0.1:<port>/hooks`.
    pub url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("receiver listens");
        let addr = listener.local_addr().expect("receiver address");
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/hooks"),
            shared,
            server,
        }
    }

    /// Verifies signatures with `secret` too (a `whsec_` secret as medrelay showed it).
    pub fn trust(&self, secret: &str) {
        lock(&self.shared.secrets).push(secret.to_owned());
    }

    /// Answers every request with `status` and keeps nothing, until [`Self::recover`].
    pub fn fail_with(&self, status: u16) {
        self.shared.failing_with.store(status, Ordering::SeqCst);
    }

    pub fn recover(&self) {
        self.shared.failing_with.store(0, Ordering::SeqCst);
    }

    /// Each event once, in the order they first arrived.
    pub fn events(&self) -> Vec<ReceivedEvent> {
        lock(&self.shared.events).clone()
    }

    /// Requests of any kind, failed ones and duplicates included.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn bad_signatures(&self) -> usize {
        self.shared.bad_signatures.load(Ordering::SeqCst)
    }

    /// Requests for an event already kept (a retry after a lost answer, or a replay).
    pub fn duplicates(&self) -> usize {
        self.shared.duplicates.load(Ordering::SeqCst)
    }

    /// Forgets the events kept so far (a receiver that lost its data, before a replay).
    pub fn forget(&self) {
        lock(&self.shared.events).clear();
        lock(&self.shared.seen).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let failing = shared.failing_with.load(Ordering::SeqCst);
    if failing != 0 {
        return StatusCode::from_u16(failing).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    }
    let verified_by: Vec<usize> = lock(&shared.secrets)
        .iter()
        .enumerate()
        .filter(|(_, secret)| {
            Webhook::new(secret).is_ok_and(|hook| hook.verify(&body, &headers).is_ok())
        })
        .map(|(i, _)| i)
        .collect();
    if verified_by.is_empty() {
        shared.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !lock(&shared.seen).insert(id.clone()) {
        shared.duplicates.fetch_add(1, Ordering::SeqCst);
        return StatusCode::NO_CONTENT;
    }
    let Ok(body) = serde_json::from_slice(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    lock(&shared.events).push(ReceivedEvent {
        id,
        body,
        verified_by,
    });
    StatusCode::NO_CONTENT
}
