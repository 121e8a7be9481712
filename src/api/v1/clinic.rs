//! `GET/PATCH /v1/clinic`: the clinic's own details (name, phone, emergency number, language,
//! channel order, time zone). Every key may read them; only admins change them, with a merge
//! patch (RFC 7396) checked whole and written in one transaction. This instance sees the change
//! at once; the dispatcher of every instance within its clinic cache's half minute.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::{self, MergePatch};
use crate::api::problem::ApiError;
use crate::domain::{ClinicProfile, ClinicProfileText, PhoneRegion};
use crate::store::ApiKeyRole;

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ClinicOut {
    /// The clinic's short name on the command line.
    #[schema(example = "hadar")]
    slug: String,
    #[serde(flatten)]
    profile: ClinicProfileText,
    /// Where numbers written without a country code are read (ISO 3166); set at creation.
    #[schema(example = "IL")]
    phone_region: String,
}

impl ClinicOut {
    fn new(slug: &str, profile: &ClinicProfile, region: PhoneRegion) -> Self {
        Self {
            slug: slug.to_owned(),
            profile: profile.to_text(),
            phone_region: region.as_str().to_owned(),
        }
    }
}

/// The clinic's details.
#[utoipa::path(
    get,
    path = "/v1/clinic",
    tag = "clinic",
    responses(
        (status = 200, description = "The clinic's details", body = ClinicOut),
    )
)]
pub(super) async fn get_clinic(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ClinicOut>, ApiError> {
    let clinic = &caller.0.clinic;
    let (profile, region) = state.store.clinic_profile(&clinic.id).await?;
    Ok(Json(ClinicOut::new(&clinic.slug, &profile, region)))
}

/// Changes only the details the body names; `phone: null` removes the clinic's number.
#[utoipa::path(
    patch,
    path = "/v1/clinic",
    tag = "clinic",
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "Any of the fields of the clinic's details", example = json!({"name": "Hadar Clinic", "timezone": "Asia/Jerusalem"})),
    responses(
        (status = 200, description = "The clinic's details after the change", body = ClinicOut),
        (status = 403, description = "Not an admin key"),
        (status = 422, description = "A field breaks its rule; nothing changed"),
    )
)]
pub(super) async fn patch_clinic(
    State(state): State<AppState>,
    caller: Caller,
    patch: MergePatch,
) -> Result<Json<ClinicOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let clinic = &caller.0.clinic;
    let changed = state
        .store
        .edit_clinic_profile(&clinic.id, |current, region| {
            let mut document = serde_json::to_value(current.to_text())
                .map_err(|e| ApiError::Internal(Box::new(e)))?;
            patch.apply_to(&mut document);
            let text = json::parse::<ClinicProfileText>(document.to_string().as_bytes())?.value;
            ClinicProfile::parse(&text, region).map_err(ApiError::Invalid)
        })
        .await??;
    state.keys.forget_clinic(&clinic.id);
    state.clinic_settings.forget(&clinic.id);
    tracing::info!(clinic = %clinic.slug, "clinic details changed");
    Ok(Json(ClinicOut::new(
        &clinic.slug,
        &changed,
        clinic.phone_region,
    )))
}
