//! The HTTP edge: routes, authentication and validation. Handlers stay thin: they turn requests
//! into domain values, call the store, and map errors to problem+json.

mod appointments;
mod auth;
mod callbacks;
mod clinic_hours;
mod clinic_settings;
mod json;
mod keys;
mod notifications;
mod patients;
mod problem;
mod sandbox;
mod templates;
mod topics;
mod webhooks;

use std::sync::Arc;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use medrelay_channels::whatsapp;
use tokio::sync::{Notify, Semaphore};
use tower_http::timeout::RequestBodyTimeoutLayer;

pub use auth::{FailedAuthLimit, KeyGuard};
pub use clinic_settings::ClinicSettingsCache;
pub use problem::{ApiError, FieldError};

use crate::batch::Batcher;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::providers::Providers;
use crate::sandbox::Sandbox;
use crate::store::{IntakeResult, NewNotification, Store};
use crate::tracking::Tracker;

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub keys: Arc<KeyGuard>,
    /// Failed key checks per client address.
    pub auth_failures: Arc<FailedAuthLimit>,
    /// Group-commit writer for new notifications.
    pub intake: Batcher<NewNotification, IntakeResult>,
    /// Wakes the dispatcher when something is due now.
    pub dispatcher_wake: Arc<Notify>,
    /// Provider accounts: what webhooks are checked against.
    pub providers: Arc<Providers>,
    pub tracker: Tracker,
    /// Clinic settings intake reads for every notification.
    pub clinic_settings: Arc<ClinicSettingsCache>,
    /// Where providers reach this gateway; Twilio signs URLs under it.
    pub public_url: Arc<str>,
}

/// Every route; with a sandbox, its look-alike provider APIs too.
pub fn router(state: AppState, sandbox: Option<Arc<Sandbox>>) -> Router {
    let limit = state.config.api.max_request_bytes;
    let http = state.config.http.clone();
    // The sandbox's routes exist only while it runs: production has no outbox to read.
    let sandbox = sandbox
        .map(|sandbox| {
            crate::sandbox::router(Arc::clone(&sandbox)).merge(
                Router::new()
                    .route("/sandbox/outbox", get(sandbox::outbox))
                    .route("/sandbox/whatsapp/inbound", post(sandbox::patient_writes))
                    .layer(axum::Extension(sandbox))
                    .with_state(state.clone()),
            )
        })
        .unwrap_or_default();
    Router::new()
        .route("/health", get(health))
        .route(
            "/v1/patients/{external_id}",
            get(patients::get_patient).put(patients::put_patient),
        )
        .route(
            "/v1/notifications",
            get(notifications::list_notifications).post(notifications::create_notification),
        )
        .route(
            "/v1/notifications/{id}",
            get(notifications::get_notification).delete(notifications::cancel_notification),
        )
        .route("/v1/topics", get(topics::list_topics))
        .route("/v1/topics/{name}", axum::routing::put(topics::put_topic))
        .merge(template_routes())
        .route(
            "/v1/clinic/hours",
            get(clinic_hours::get_hours).put(clinic_hours::put_hours),
        )
        .route("/v1/appointments", post(appointments::book_appointment))
        .route(
            "/v1/appointments/{id}",
            get(appointments::get_appointment)
                .put(appointments::move_appointment)
                .delete(appointments::cancel_appointment),
        )
        .route("/v1/callbacks", get(callbacks::list_callbacks))
        .route("/v1/callbacks/{id}/claim", post(callbacks::claim_callback))
        .route("/v1/callbacks/{id}/close", post(callbacks::close_callback))
        .merge(webhook_routes(&http))
        .route("/v1/keys", get(keys::list_keys).post(keys::create_key))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke_key))
        .layer(axum::middleware::map_response(
            problem::problem_for_client_errors,
        ))
        .with_state(state)
        .merge(sandbox)
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyTimeoutLayer::new(http.body_timeout()))
        .layer(middleware::from_fn_with_state(
            http.request_timeout(),
            request_deadline,
        ))
}

/// A request still unanswered after `limit` is answered `408`, and its work is dropped.
async fn request_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    tokio::time::timeout(limit, next.run(request))
        .await
        .unwrap_or_else(|_| ApiError::RequestTimeout.into_response())
}

fn template_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/templates", get(templates::list_templates))
        .route(
            "/v1/templates/{name}/{language}",
            get(templates::get_template)
                .put(templates::put_template)
                .delete(templates::delete_template),
        )
        .route("/v1/quick-replies", get(templates::list_quick_replies))
        .route(
            "/v1/quick-replies/{name}",
            get(templates::get_quick_reply)
                .put(templates::put_quick_reply)
                .delete(templates::delete_quick_reply),
        )
}

/// Largest provider webhook accepted: Meta batches up to 1,000 statuses into one POST (a few
/// hundred KiB), well past what an API request may carry.
const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

/// Provider webhooks. Their bodies are large and read before the signature over them can be
/// checked, so a POST without the signature header is refused before its body is read, and only
/// `http.webhook_bodies_in_flight` bodies are read at once.
fn webhook_routes(http: &crate::config::HttpConfig) -> Router<AppState> {
    let bodies = Arc::new(Semaphore::new(http.webhook_bodies_in_flight as usize));
    let signed_by = |signature: &'static str| {
        middleware::from_fn_with_state(
            webhooks::Gate {
                signature,
                bodies: Arc::clone(&bodies),
                max_bytes: MAX_WEBHOOK_BYTES,
            },
            webhooks::gate,
        )
    };
    let whatsapp_event = webhooks::whatsapp_event.layer(signed_by(whatsapp::SIGNATURE_HEADER));
    Router::new()
        .route(
            "/webhooks/whatsapp",
            get(webhooks::whatsapp_subscribe).post(whatsapp_event),
        )
        .merge(
            Router::new()
                .route("/webhooks/twilio/sms", post(webhooks::twilio_sms_status))
                .route("/webhooks/twilio/voice", post(webhooks::twilio_call_status))
                .route(
                    "/webhooks/twilio/voice/confirm",
                    post(webhooks::twilio_call_reply),
                )
                .route_layer(signed_by(webhooks::TWILIO_SIGNATURE)),
        )
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BYTES))
}

/// 200 only when a write commits and is read back; 503 (or 507) with problem+json otherwise.
async fn health(State(state): State<AppState>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    state
        .store
        .check_health()
        .await
        .map_err(|error| match error.kind() {
            // A canary that did not read back is a writer that cannot be trusted, not a bug here.
            crate::store::FailureKind::Other => {
                tracing::error!(%error, "health check failed");
                ApiError::Unavailable
            }
            _ => ApiError::from(error),
        })?;
    Ok(axum::Json(serde_json::json!({ "status": "ok" })))
}
