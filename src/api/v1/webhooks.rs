//! `/v1/webhooks`: a clinic's admins register the booking system's endpoints, choose the event
//! types each hears, switch them on and off, rotate their signing secret, read their deliveries
//! log and replay from a point in time. A secret is shown once, when it is made.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::deliveries::TryOut;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::created::Created;
use crate::api::json::ApiJson;
use crate::api::problem::{ApiError, FieldError};
use crate::booking_webhooks::{checked_event_types, checked_url, new_secret};
use crate::domain::{WebhookEndpointId, WebhookEventId, WebhookEventType};
use crate::store::{
    ApiKeyRole, DeliveryRecord, EndpointChange, NewWebhookEndpoint, WebhookEndpoint,
};

/// How long the secret before a rotation still signs beside the new one.
const ROTATION_OVERLAP: SignedDuration = SignedDuration::from_hours(24);

/// An endpoint as its clinic's admins see it: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WebhookOut {
    #[schema(value_type = String, example = "ep_0190f3a1c2d37b40a1b2c3d4e5f60718")]
    id: WebhookEndpointId,
    #[schema(example = "https://booking.example/medrelay-hooks")]
    url: String,
    #[schema(example = json!(["notification.status_changed", "message.received"]))]
    event_types: Vec<String>,
    enabled: bool,
    /// Since when every delivery has failed; `null` after a success.
    failing_since: Option<Timestamp>,
    disabled_at: Option<Timestamp>,
    disabled_reason: Option<String>,
    /// Until when the secret before the last rotation still signs, beside the current one.
    previous_secret_valid_until: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<WebhookEndpoint> for WebhookOut {
    fn from(e: WebhookEndpoint) -> Self {
        Self {
            id: e.id,
            url: e.url,
            event_types: e
                .event_types
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            enabled: e.enabled,
            failing_since: e.failing_since,
            disabled_at: e.disabled_at,
            disabled_reason: e.disabled_reason,
            previous_secret_valid_until: e.previous_secret_until,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WebhookWithSecretOut {
    #[serde(flatten)]
    endpoint: WebhookOut,
    /// `whsec_…`: verify each webhook's `webhook-signature` with it (Standard Webhooks).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WebhookList {
    items: Vec<WebhookOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhookIn {
    /// `https://`; loopback and private addresses only where the gateway allows them.
    url: String,
    /// The event types this endpoint hears.
    #[schema(example = json!(["notification.status_changed", "notification.failed"]))]
    event_types: Vec<String>,
    /// Default `true`.
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhookPatch {
    url: Option<String>,
    event_types: Option<Vec<String>>,
    /// `true` switches a disabled endpoint on again: what waited for it goes now, in order.
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayIn {
    /// Events that happened at or after this instant are sent again.
    #[schema(value_type = String, example = "2026-12-05T08:00:00Z")]
    since: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ReplayOut {
    /// Messages queued to be sent again.
    replayed: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct DeliveryOut {
    /// The `webhook-id` of the message.
    #[schema(value_type = String, example = "evt_0190f3a1c2d37b40a1b2c3d4e5f60718")]
    event_id: WebhookEventId,
    event_type: String,
    #[serde(flatten)]
    tried: TryOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct DeliveryList {
    items: Vec<DeliveryOut>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(super) struct DeliveriesQuery {
    /// 1–500, default 100.
    limit: Option<u32>,
}

fn endpoint_id(id: &str) -> Result<WebhookEndpointId, ApiError> {
    WebhookEndpointId::parse(id).ok_or(ApiError::NotFound("webhook endpoint"))
}

fn event_types(names: &[String], errors: &mut Vec<FieldError>) -> Option<Vec<WebhookEventType>> {
    checked_event_types(names, errors)
}

fn target(state: &AppState, url: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    checked_url(url, state.config.webhooks.target_rule(), errors)
}

#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = WebhookIn,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = WebhookWithSecretOut,
            headers(("Location" = String, description = "The endpoint: `/v1/webhooks/{id}`"))),
        (status = 403, description = "Not an admin key"),
        (status = 422, description = "A field breaks a rule"),
    ))]
pub(super) async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<WebhookIn>,
) -> Result<Created<WebhookWithSecretOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let body = body.value;
    let mut errors = Vec::new();
    let url = target(&state, &body.url, &mut errors);
    let types = event_types(&body.event_types, &mut errors);
    let (Some(url), Some(event_types)) = (url, types) else {
        return Err(ApiError::Invalid(errors));
    };
    let secret = new_secret();
    let new = NewWebhookEndpoint {
        url,
        event_types,
        secret: secret.clone(),
        enabled: body.enabled.unwrap_or(true),
    };
    let clinic = &caller.0.clinic;
    let endpoint = state
        .store
        .create_webhook_endpoint(&clinic.id, new, state.clock.now())
        .await?;
    tracing::info!(clinic = %clinic.slug, endpoint = %endpoint.id, by = %caller.0.id, "webhook endpoint registered");
    let location = format!("/v1/webhooks/{}", endpoint.id);
    let out = WebhookWithSecretOut {
        endpoint: endpoint.into(),
        secret,
    };
    Ok(Created::at(location, out))
}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "The clinic's endpoints, without their secrets", body = WebhookList),
        (status = 403, description = "Not an admin key")))]
pub(super) async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<WebhookList>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let items = state.store.webhook_endpoints(&caller.0.clinic.id).await?;
    Ok(Json(WebhookList {
        items: items.into_iter().map(WebhookOut::from).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses((status = 200, description = "The endpoint, without its secret", body = WebhookOut),
        (status = 403, description = "Not an admin key"),
        (status = 404, description = "No such endpoint")))]
pub(super) async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let id = endpoint_id(&id)?;
    let endpoint = state
        .store
        .webhook_endpoint(&caller.0.clinic.id, &id)
        .await
        .map_err(ApiError::not_found("webhook endpoint"))?;
    Ok(Json(endpoint.into()))
}

#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", request_body = WebhookPatch,
    params(("id" = String, Path, description = "The endpoint's id")),
    responses((status = 200, description = "The endpoint as changed", body = WebhookOut),
        (status = 403, description = "Not an admin key"),
        (status = 404, description = "No such endpoint"),
        (status = 422, description = "A field breaks a rule")))]
pub(super) async fn patch_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<WebhookPatch>,
) -> Result<Json<WebhookOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let id = endpoint_id(&id)?;
    let body = body.value;
    let mut errors = Vec::new();
    let url = body.url.map(|u| target(&state, &u, &mut errors));
    let types = body.event_types.map(|t| event_types(&t, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let change = EndpointChange {
        url: url.flatten(),
        event_types: types.flatten(),
        enabled: body.enabled,
    };
    let clinic = &caller.0.clinic;
    let endpoint = state
        .store
        .change_webhook_endpoint(&clinic.id, &id, change, state.clock.now())
        .await
        .map_err(ApiError::not_found("webhook endpoint"))?;
    tracing::info!(clinic = %clinic.slug, endpoint = %id, enabled = endpoint.enabled, by = %caller.0.id, "webhook endpoint changed");
    Ok(Json(endpoint.into()))
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses((status = 204, description = "Deleted, with its undelivered messages and its log"),
        (status = 403, description = "Not an admin key"),
        (status = 404, description = "No such endpoint")))]
pub(super) async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let id = endpoint_id(&id)?;
    let clinic = &caller.0.clinic;
    state
        .store
        .delete_webhook_endpoint(&clinic.id, &id)
        .await
        .map_err(ApiError::not_found("webhook endpoint"))?;
    tracing::info!(clinic = %clinic.slug, endpoint = %id, by = %caller.0.id, "webhook endpoint deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses((status = 200, description = "The new secret, shown this once; the old one signs beside it for 24 h", body = WebhookWithSecretOut),
        (status = 403, description = "Not an admin key"),
        (status = 404, description = "No such endpoint")))]
pub(super) async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookWithSecretOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let id = endpoint_id(&id)?;
    let now = state.clock.now();
    let secret = new_secret();
    let keep_until = now.saturating_add(ROTATION_OVERLAP).unwrap_or(now);
    let clinic = &caller.0.clinic;
    let endpoint = state
        .store
        .rotate_webhook_secret(&clinic.id, &id, &secret, keep_until, now)
        .await
        .map_err(ApiError::not_found("webhook endpoint"))?;
    tracing::info!(clinic = %clinic.slug, endpoint = %id, by = %caller.0.id, "webhook secret rotated");
    Ok(Json(WebhookWithSecretOut {
        endpoint: endpoint.into(),
        secret,
    }))
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/replay", tag = "webhooks", request_body = ReplayIn,
    params(("id" = String, Path, description = "The endpoint's id")),
    responses((status = 202, description = "Queued to be sent again, in order, with their first webhook-id", body = ReplayOut),
        (status = 403, description = "Not an admin key"),
        (status = 404, description = "No such endpoint"),
        (status = 422, description = "A field breaks a rule")))]
pub(super) async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<ReplayIn>,
) -> Result<(StatusCode, Json<ReplayOut>), ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let id = endpoint_id(&id)?;
    let clinic = &caller.0.clinic;
    let replayed = state
        .store
        .replay_webhooks(&clinic.id, &id, body.value.since, state.clock.now())
        .await
        .map_err(ApiError::not_found("webhook endpoint"))?;
    tracing::info!(clinic = %clinic.slug, endpoint = %id, replayed, by = %caller.0.id, "webhooks replayed");
    Ok((StatusCode::ACCEPTED, Json(ReplayOut { replayed })))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id"), DeliveriesQuery),
    responses((status = 200, description = "The latest tries, newest first", body = DeliveryList),
        (status = 403, description = "Not an admin key"),
        (status = 404, description = "No such endpoint"),
        (status = 422, description = "A parameter breaks a rule")))]
pub(super) async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let id = endpoint_id(&id)?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 500"));
    }
    let records = state
        .store
        .webhook_deliveries(&caller.0.clinic.id, &id, limit)
        .await
        .map_err(ApiError::not_found("webhook endpoint"))?;
    let items = records.into_iter().map(DeliveryOut::from).collect();
    Ok(Json(DeliveryList { items }))
}

impl From<DeliveryRecord> for DeliveryOut {
    fn from(r: DeliveryRecord) -> Self {
        Self {
            event_id: r.event_id,
            event_type: r.event_type,
            tried: r.tried.into(),
        }
    }
}
