//! `GET/PUT /v1/clinic/inbound`: how the clinic answers patients who write (the auto-reply
//! period, the response target, the emergency number, stop/start/confirm/cancel words, urgent
//! phrases, its own labels). How long media is kept is in `/v1/clinic/retention`. Staff may read
//! them, since they explain what patients got; only admins change them.

use axum::Json;
use axum::extract::State;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::ApiError;
use crate::policy::inbound::InboundSettings;
use crate::store::ApiKeyRole;

#[utoipa::path(
    get,
    path = "/v1/clinic/inbound",
    tag = "clinic",
    responses(
        (status = 200, description = "The settings in effect", body = InboundSettings),
        (status = 403, description = "Needs a staff or admin key"),
    )
)]
/// The settings in effect, defaults filled in.
pub(super) async fn get_inbound(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<InboundSettings>, ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    let settings = state.store.inbound_settings(&caller.0.clinic.id).await?;
    Ok(Json(settings))
}

#[utoipa::path(
    put,
    path = "/v1/clinic/inbound",
    tag = "clinic",
    request_body = InboundSettings,
    responses(
        (status = 200, description = "The settings as set", body = InboundSettings),
        (status = 403, description = "Needs an admin key"),
    )
)]
/// Replaces the settings as a whole: a field left out takes its default (for urgent phrases,
/// per language).
pub(super) async fn put_inbound(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<InboundSettings>,
) -> Result<Json<InboundSettings>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let settings = body.value;
    let broken = settings.check();
    if !broken.is_empty() {
        return Err(ApiError::Invalid(broken));
    }
    let clinic = &caller.0.clinic;
    state
        .store
        .set_inbound_settings(&clinic.id, &settings)
        .await?;
    tracing::info!(clinic = %clinic.slug, "inbound settings set");
    Ok(Json(settings))
}
