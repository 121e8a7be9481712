//! `GET/PUT /v1/clinic/secure-links`: whether the clinic's sensitive notices may carry a secure
//! message link, and how long a link opens. Which topics carry one is each topic's
//! `secure_link`. Set-up, so admin keys only.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::ApiError;
use crate::policy::secure_link::{DEFAULT_EXPIRY_HOURS, EXPIRY_HOURS, EXPIRY_HOURS_RULE};
use crate::store::{ApiKeyRole, SecureLinkSettings};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true, "expires_after_hours": 72}))]
pub(super) struct SecureLinksIn {
    enabled: bool,
    /// How long a link opens, in hours; absent: the default.
    expires_after_hours: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SecureLinksOut {
    enabled: bool,
    expires_after_hours: u32,
}

impl From<SecureLinkSettings> for SecureLinksOut {
    fn from(settings: SecureLinkSettings) -> Self {
        Self {
            enabled: settings.enabled,
            expires_after_hours: settings.expiry_hours,
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/clinic/secure-links",
    tag = "clinic",
    responses(
        (status = 200, description = "The settings", body = SecureLinksOut),
        (status = 403, description = "Needs an admin key"),
    )
)]
pub(super) async fn get_secure_links(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SecureLinksOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let settings = state
        .store
        .secure_link_settings(&caller.0.clinic.id)
        .await?;
    Ok(Json(settings.into()))
}

#[utoipa::path(
    put,
    path = "/v1/clinic/secure-links",
    tag = "clinic",
    request_body = SecureLinksIn,
    responses(
        (status = 200, description = "The settings as set", body = SecureLinksOut),
        (status = 403, description = "Needs an admin key"),
    )
)]
/// Replaces the settings. Turning links on needs an address patients can open them at.
pub(super) async fn put_secure_links(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<SecureLinksIn>,
) -> Result<Json<SecureLinksOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let clinic = &caller.0.clinic;
    let hours = body
        .value
        .expires_after_hours
        .unwrap_or(DEFAULT_EXPIRY_HOURS);
    if !EXPIRY_HOURS.contains(&hours) {
        return Err(ApiError::invalid("expires_after_hours", EXPIRY_HOURS_RULE));
    }
    if body.value.enabled
        && let Err(error) = state.secure_links.link_base(&clinic.slug)
    {
        return Err(ApiError::invalid("enabled", error.to_string()));
    }
    let settings = SecureLinkSettings {
        enabled: body.value.enabled,
        expiry_hours: hours,
    };
    state
        .store
        .set_secure_link_settings(&clinic.id, settings)
        .await?;
    tracing::info!(clinic = %clinic.slug, enabled = settings.enabled, hours, "secure links set");
    Ok(Json(settings.into()))
}
