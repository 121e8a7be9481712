//! The HTTP edge: routes, authentication and validation. Handlers stay thin: they turn requests
//! into domain values, call the store, and map errors to problem+json.

mod audit_trail;
pub(crate) mod auth;
mod created;
mod fhir;
mod hooks;
mod json;
mod openapi;
mod ops;
mod problem;
mod request_log;
mod sandbox;
mod secure_link;
pub(crate) mod v1;

use std::sync::Arc;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;
use tower_http::timeout::RequestBodyTimeoutLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{ClientNet, FailedAuthLimit, KeyGuard};
pub use problem::{ApiError, FieldError};
pub use request_log::RequestId;

use crate::audit::AuditLog;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::dispatch::Heartbeat;
use crate::intake::{ClinicSettingsCache, Intake};
use crate::providers::Providers;
use crate::sandbox::Sandbox;
use crate::secure_link::SecureLinks;
use crate::store::Store;
use crate::tracking::Tracker;

/// What every handler reads, behind one `Arc`: axum clones the state for each request, and one
/// reference count is cheaper than the twenty its parts hold (about 1.5 % of the CPU profile).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(Debug)]
pub struct Shared {
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
    /// The dispatcher's sign of life, for `/ready`.
    pub dispatcher_heartbeat: Arc<Heartbeat>,
    /// Where the audit middleware records who did what.
    pub audit: AuditLog,
}

/// Every route; with a sandbox, its pages and look-alike provider APIs too. The documented
/// routes and `/openapi.json` come from one list, so neither can miss what the other has.
pub fn router(state: AppState, sandbox: Option<Arc<Sandbox>>) -> Router {
    let limit = state.config.api.max_request_bytes;
    let http = state.config.http.clone();
    let mut documented = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(ops::health))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics))
        .merge(v1::routes())
        .merge(fhir::routes())
        .merge(hooks::routes(&http))
        .layer(axum::middleware::map_response(
            problem::problem_for_client_errors,
        ))
        .merge(secure_link::routes());
    // The sandbox's routes exist only while it runs: production has no outbox to read.
    if let Some(sandbox) = &sandbox {
        documented = documented.merge(sandbox::routes(Arc::clone(sandbox)));
    }
    let (api, mut document) = documented.split_for_parts();
    openapi::complete(&mut document);
    let console = crate::console::routes(state.clone(), sandbox.clone());
    let look_alikes = sandbox.map(crate::sandbox::router).unwrap_or_default();
    let audit = middleware::from_fn_with_state(state.clone(), audit_trail::audit_requests);
    api.merge(openapi::routes(&document))
        .layer(audit)
        .merge(console)
        .with_state(state)
        .merge(look_alikes)
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyTimeoutLayer::new(http.body_timeout()))
        .layer(middleware::from_fn_with_state(
            http.request_timeout(),
            request_deadline,
        ))
        .layer(middleware::from_fn(fhir::outcomes_for_errors))
        .layer(middleware::from_fn(request_log::log_requests))
}

/// A request still unanswered after `limit` is answered `408`, and its work is dropped.
async fn request_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    tokio::time::timeout(limit, next.run(request))
        .await
        .unwrap_or_else(|_| ApiError::RequestTimeout.into_response())
}
