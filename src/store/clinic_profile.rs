//! A clinic's own details (`GET/PATCH /v1/clinic`, `medrelay clinic update`): the clinic row's
//! name, zone, language, channel order and phone, and the emergency number kept in its two-way
//! settings, read and changed together.

use super::inbound_settings::inbound_settings_from_stored;
use super::{Store, StoreError, for_update, join_channels, parse_channels};
use crate::domain::{
    ClinicId, ClinicProfile, Language, LineType, Phone, PhoneRegion, TimeZoneName,
};

#[derive(sqlx::FromRow)]
struct ProfileRow {
    name: String,
    timezone: String,
    default_language: String,
    default_channels: String,
    phone: Option<String>,
    phone_region: String,
    inbound_settings: Option<String>,
}

const PROFILE_SELECT: &str = "SELECT name, timezone, default_language, default_channels, phone, \
    phone_region, inbound_settings FROM clinics WHERE id = $1";

impl ProfileRow {
    fn profile(&self) -> Result<(ClinicProfile, PhoneRegion), StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("clinic {what}"));
        let settings = inbound_settings_from_stored(self.inbound_settings.clone())?;
        let profile = ClinicProfile {
            name: self.name.clone(),
            phone: self
                .phone
                .clone()
                .map(|p| Phone::from_stored(p, LineType::Unknown)),
            emergency_number: settings.emergency_number,
            language: Language::parse(&self.default_language).ok_or_else(|| corrupt("language"))?,
            channels: parse_channels(&self.default_channels)?,
            timezone: TimeZoneName::parse(&self.timezone).ok_or_else(|| corrupt("time zone"))?,
        };
        let region = PhoneRegion::parse(&self.phone_region).ok_or_else(|| corrupt("region"))?;
        Ok((profile, region))
    }
}

/// The stored two-way settings with another emergency number. Settings left at their defaults
/// stay so (NULL) unless the emergency number changes.
fn settings_with_emergency(stored: Option<String>, number: &str) -> Result<String, StoreError> {
    let mut settings = inbound_settings_from_stored(stored)?;
    settings.emergency_number = number.to_owned();
    serde_json::to_string(&settings)
        .map_err(|e| StoreError::Corrupt(format!("clinic inbound settings: {e}")))
}

impl Store {
    /// The clinic's details, and the region its numbers are read in.
    pub async fn clinic_profile(
        &self,
        clinic: &ClinicId,
    ) -> Result<(ClinicProfile, PhoneRegion), StoreError> {
        sqlx::query_as::<_, ProfileRow>(PROFILE_SELECT)
            .bind(clinic.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?
            .profile()
    }

    /// Changes the clinic's details in one transaction: `edit` gets them as stored (and the
    /// region its numbers are read in), held against other changes until this one is written,
    /// and returns the new details or refuses (the inner `Err`), in which case nothing changes.
    pub async fn edit_clinic_profile<E>(
        &self,
        clinic: &ClinicId,
        edit: impl FnOnce(ClinicProfile, PhoneRegion) -> Result<ClinicProfile, E>,
    ) -> Result<Result<ClinicProfile, E>, StoreError> {
        let lock = for_update(self.backend);
        let mut tx = self.write.begin().await?;
        let row = sqlx::query_as::<_, ProfileRow>(&format!("{PROFILE_SELECT}{lock}"))
            .bind(clinic.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let (current, region) = row.profile()?;
        let current_emergency = current.emergency_number.clone();
        let changed = match edit(current, region) {
            Ok(changed) => changed,
            Err(refused) => return Ok(Err(refused)),
        };
        let settings = (changed.emergency_number != current_emergency)
            .then(|| settings_with_emergency(row.inbound_settings, &changed.emergency_number))
            .transpose()?;
        sqlx::query(
            "UPDATE clinics SET name = $2, timezone = $3, default_language = $4, \
             default_channels = $5, phone = $6, inbound_settings = COALESCE($7, inbound_settings) \
             WHERE id = $1",
        )
        .bind(clinic.as_str())
        .bind(&changed.name)
        .bind(changed.timezone.as_str())
        .bind(changed.language.as_str())
        .bind(join_channels(&changed.channels))
        .bind(changed.phone.as_ref().map(|p| p.as_str().to_owned()))
        .bind(settings)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(changed))
    }
}
