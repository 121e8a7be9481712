//! What an orchestrator and a monitoring system ask: `/health` (the process serves), `/ready`
//! (it can take and deliver notifications) and `/metrics` (Prometheus text).

use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::Caller;
use super::problem::ApiError;
use crate::store::{ApiKeyRole, FailureKind};

/// The content type of Prometheus' text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process is up and serving.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Liveness {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// Whether this instance can take notifications and deliver them, check by check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Readiness {
    /// `ready`, or `not_ready` when a check failed.
    #[schema(example = "ready")]
    status: &'static str,
    checks: Vec<ReadinessCheck>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ReadinessCheck {
    /// `database` (a write commits and reads back), `dispatcher` (its workers run) or
    /// `providers` (every clinic has a channel to send on).
    #[schema(example = "database")]
    name: &'static str,
    ok: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "the database is full: writes are refused until space is freed")]
    detail: Option<String>,
}

/// Live: the process serves HTTP. It reads nothing, so a slow database never makes an
/// orchestrator restart a healthy process; `/ready` says whether it can work.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses((status = 200, description = "The process serves", body = Liveness))
)]
pub(super) async fn health() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// Ready: a write commits and reads back, the dispatcher's workers run, and every clinic has a
/// provider (or the sandbox) for at least one channel. `503` names the checks that failed.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Every check passed", body = Readiness),
        (status = 503, description = "A check failed; `checks` says which and why", body = Readiness),
    )
)]
pub(super) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let checks = vec![
        database_check(&state).await,
        dispatcher_check(&state),
        providers_check(&state),
    ];
    let ready = checks.iter().all(|check| check.ok);
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    let body = Readiness {
        status: word,
        checks,
    };
    (status, Json(body))
}

/// The gateway's metrics in Prometheus' text format. When `metrics.bearer_token` is set it
/// wants that token or an admin API key.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security((), ("api_key" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "`metrics.bearer_token` is set and neither it nor an admin key was sent"),
        (status = 403, description = "A key below admin"),
        (status = 429, description = "Too many wrong keys from this address"),
    )
)]
pub(super) async fn metrics(_reader: MetricsReader) -> Response {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        crate::observability::render(),
    )
        .into_response()
}

async fn database_check(state: &AppState) -> ReadinessCheck {
    let detail = match state.store.check_health().await {
        Ok(()) => None,
        Err(error) => {
            tracing::warn!(%error, "readiness: the database check failed");
            Some(match error.kind() {
                FailureKind::DiskFull => {
                    "the database is full: writes are refused until space is freed"
                }
                FailureKind::Unavailable => "the database cannot be reached or is busy",
                FailureKind::Other => "a write did not read back",
            })
        }
    };
    check("database", detail.map(str::to_owned))
}

fn dispatcher_check(state: &AppState) -> ReadinessCheck {
    // Its workers beat at least once a lease while they run (see `dispatch::Heartbeat`).
    let within = state.config.dispatch.lease() + Duration::from_secs(1);
    let detail = (!state.dispatcher_heartbeat.is_alive(within)).then(|| {
        format!(
            "the dispatcher is stopped or has not looked for work in {} s",
            within.as_secs()
        )
    });
    check("dispatcher", detail)
}

fn providers_check(state: &AppState) -> ReadinessCheck {
    let unserved = state.providers.without_channels();
    let detail = (!unserved.is_empty()).then(|| {
        format!(
            "no provider account (and no sandbox) for any channel: {}",
            unserved.join(", ")
        )
    });
    check("providers", detail)
}

fn check(name: &'static str, detail: Option<String>) -> ReadinessCheck {
    ReadinessCheck {
        name,
        ok: detail.is_none(),
        detail,
    }
}

/// Who may read `/metrics`: anyone, or with `metrics.bearer_token` set, whoever sends it or an
/// admin API key.
#[derive(Debug)]
pub(super) struct MetricsReader;

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = &state.config.metrics.bearer_token else {
            return Ok(Self);
        };
        let sent = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, sent)| sent.trim());
        // Compared as digests, so the time taken says nothing about the token.
        if sent.is_some_and(|sent| Sha256::digest(sent) == Sha256::digest(token.expose())) {
            return Ok(Self);
        }
        Caller::from_request_parts(parts, state)
            .await?
            .require(ApiKeyRole::Admin)?;
        Ok(Self)
    }
}
