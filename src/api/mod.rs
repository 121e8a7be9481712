//! The HTTP edge: routes, authentication and validation. Handlers stay thin: they turn requests
//! into domain values, call the store, and map errors to problem+json.

mod auth;
mod created;
mod hooks;
mod json;
mod problem;
mod request_log;
mod sandbox;
mod secure_link;
mod v1;

use std::sync::Arc;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;
use tower_http::timeout::RequestBodyTimeoutLayer;

pub use auth::{FailedAuthLimit, KeyGuard};
pub use problem::{ApiError, FieldError};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::intake::{ClinicSettingsCache, Intake};
use crate::providers::Providers;
use crate::sandbox::Sandbox;
use crate::secure_link::SecureLinks;
use crate::store::Store;
use crate::tracking::Tracker;

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub keys: Arc<KeyGuard>,
    /// Failed key checks per client address.
    pub auth_failures: Arc<FailedAuthLimit>,
    pub intake: Intake,
    /// Wakes the dispatcher when something is due now.
    pub dispatcher_wake: Arc<Notify>,
    /// Provider accounts: what webhooks are checked against.
    pub providers: Arc<Providers>,
    pub tracker: Tracker,
    /// Clinic settings intake reads for every notification.
    pub clinic_settings: Arc<ClinicSettingsCache>,
    /// Secure message links: issued with notices, answered on their pages.
    pub secure_links: Arc<SecureLinks>,
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
                    .route("/sandbox/inbound", post(sandbox::patient_writes))
                    .layer(axum::Extension(sandbox))
                    .with_state(state.clone()),
            )
        })
        .unwrap_or_default();
    Router::new()
        .route("/health", get(health))
        .merge(v1::routes())
        .merge(hooks::routes(&http))
        .layer(axum::middleware::map_response(
            problem::problem_for_client_errors,
        ))
        .merge(secure_link::routes().with_state(state.clone()))
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
        .layer(middleware::from_fn(request_log::log_requests))
}

/// A request still unanswered after `limit` is answered `408`, and its work is dropped.
async fn request_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    tokio::time::timeout(limit, next.run(request))
        .await
        .unwrap_or_else(|_| ApiError::RequestTimeout.into_response())
}

/// 200 only when a write commits and is read back; 503 (or 507) with problem+json otherwise.
async fn health(State(state): State<AppState>) -> Result<axum::Json<serde_json::Value>, ApiError> {
    state
        .store
        .check_health()
        .await
        .map_err(|error| match error.kind() {
            // A canary that did not read back is a writer that cannot be trusted, not a bug here.
            crate::store::FailureKind::Other => ApiError::Unavailable(Box::new(error)),
            _ => ApiError::from(error),
        })?;
    Ok(axum::Json(serde_json::json!({ "status": "ok" })))
}
