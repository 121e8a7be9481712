//! A clinic's two-way settings (`clinics.inbound_settings`): the JSON of `PUT /v1/clinic/inbound`
//! with every field filled in, or NULL for the defaults.

use super::clinics::ClinicDocument;
use super::{Store, StoreError};
use crate::domain::ClinicId;
use crate::policy::inbound::InboundSettings;

impl Store {
    /// The clinic's settings, defaults filled in.
    pub async fn inbound_settings(&self, clinic: &ClinicId) -> Result<InboundSettings, StoreError> {
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT inbound_settings FROM clinics WHERE id = $1")
                .bind(clinic.as_str())
                .fetch_optional(&self.read)
                .await?;
        inbound_settings_from_stored(stored.ok_or(StoreError::NotFound)?)
    }

    /// Replaces the clinic's settings as a whole.
    pub async fn set_inbound_settings(
        &self,
        clinic: &ClinicId,
        settings: &InboundSettings,
    ) -> Result<(), StoreError> {
        self.set_clinic_document(clinic, ClinicDocument::InboundSettings, settings)
            .await
    }
}

/// The settings from the stored column, also for store code that selects it in its own
/// transaction. Fields added to the settings after a clinic saved them read as their defaults.
pub(super) fn inbound_settings_from_stored(
    stored: Option<String>,
) -> Result<InboundSettings, StoreError> {
    stored.map_or_else(
        || Ok(InboundSettings::default()),
        |json| {
            serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("clinic inbound settings: {e}")))
        },
    )
}
