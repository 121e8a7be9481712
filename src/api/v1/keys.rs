//! `/v1/keys`: a clinic's admins list, make and revoke the clinic's API keys. A key's secret is
//! shown once, when it is made; a revoked key stops working on every instance within seconds.

use axum::Json;
use axum::extract::{Path, State};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::created::Created;
use crate::api::json::ApiJson;
use crate::api::problem::ApiError;
use crate::domain::ApiKeyId;
use crate::store::{ApiKeyRole, ApiKeyView};

/// A key as its clinic's admins see it: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct KeyOut {
    id: ApiKeyId,
    role: ApiKeyRole,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
}

impl From<ApiKeyView> for KeyOut {
    fn from(key: ApiKeyView) -> Self {
        Self {
            id: key.id,
            role: key.role,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A key just made: the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct IssuedKeyOut {
    #[serde(flatten)]
    view: KeyOut,
    /// The secret: shown this once.
    key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct KeyList {
    items: Vec<KeyOut>,
}

#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    responses(
        (status = 200, description = "The clinic's keys, without their secrets", body = KeyList),
        (status = 403, description = "Needs an admin key"),
    )
)]
pub(super) async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<KeyList>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let items = state.store.api_keys(&caller.0.clinic.id).await?;
    Ok(Json(KeyList {
        items: items.into_iter().map(KeyOut::from).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "booking"}))]
pub(super) struct KeyIn {
    #[schema(value_type = ApiKeyRole)]
    role: String,
}

#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    request_body = KeyIn,
    responses(
        (status = 201, description = "The new key, with its secret", body = IssuedKeyOut,
            headers(("Location" = String, description = "The key: `/v1/keys/{id}`"))),
        (status = 403, description = "Needs an admin key"),
    )
)]
pub(super) async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<KeyIn>,
) -> Result<Created<IssuedKeyOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let role = ApiKeyRole::parse(&body.value.role)
        .ok_or_else(|| ApiError::invalid("role", "must be one of booking, staff, admin"))?;
    let issued = state
        .store
        .issue_api_key(&caller.0.clinic.id, role, state.clock.now())
        .await?;
    tracing::info!(clinic = %caller.0.clinic.slug, key = %issued.view.id, role = role.as_str(), by = %caller.0.id, "API key created");
    let location = format!("/v1/keys/{}", issued.view.id);
    let issued = IssuedKeyOut {
        view: issued.view.into(),
        key: issued.key,
    };
    Ok(Created::at(location, issued))
}

#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "keys",
    params(("id" = ApiKeyId, Path, description = "The key's id")),
    responses(
        (status = 200, description = "Revoked", body = KeyOut),
        (status = 403, description = "Needs an admin key"),
        (status = 404, description = "No such key"),
    )
)]
pub(super) async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let id = ApiKeyId::parse(&id).ok_or(ApiError::NotFound("API key"))?;
    let revoked = state
        .store
        .revoke_api_key(&caller.0.clinic.id, &id, state.clock.now())
        .await
        .map_err(ApiError::not_found("API key"))?;
    state.keys.forget(&id);
    tracing::info!(clinic = %caller.0.clinic.slug, key = %id, by = %caller.0.id, "API key revoked");
    Ok(Json(revoked.into()))
}
