use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{
    Store, StoreError, in_list, join_channels, millis, opt_timestamp, padded, parse_channels,
    timestamp,
};
use crate::domain::{
    ApiKeyId, Clinic, ClinicHours, ClinicHoursText, ClinicId, Language, LineType, Phone,
    PhoneRegion, TimeZoneName,
};
use utoipa::ToSchema;

#[derive(Debug, Clone)]
pub struct NewClinic {
    pub slug: String,
    pub name: String,
    pub timezone: TimeZoneName,
    pub default_language: Language,
    pub default_channels: Vec<ChannelKind>,
    pub phone_region: PhoneRegion,
}

/// What a key may do: `booking` for booking systems, `staff` for people, `admin` for set-up. Each
/// may do what the ones before it may (the order is the derived one).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyRole {
    Booking,
    Staff,
    Admin,
}

impl ApiKeyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booking => "booking",
            Self::Staff => "staff",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Booking, Self::Staff, Self::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A key as its clinic's admins see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyView {
    pub id: ApiKeyId,
    pub role: ApiKeyRole,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A key just made: the secret is shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedKey {
    #[serde(flatten)]
    pub view: ApiKeyView,
    pub key: String,
}

/// The key a request came with, once checked.
#[derive(Debug, Clone)]
pub struct AuthenticatedKey {
    pub id: ApiKeyId,
    pub clinic: Clinic,
    pub role: ApiKeyRole,
}

const CLINIC_COLUMNS: &str =
    "id, slug, name, timezone, default_language, default_channels, phone, phone_region";

#[derive(sqlx::FromRow)]
pub(super) struct ClinicRow {
    id: String,
    slug: String,
    name: String,
    timezone: String,
    default_language: String,
    default_channels: String,
    phone: Option<String>,
    phone_region: String,
}

impl TryFrom<ClinicRow> for Clinic {
    type Error = StoreError;

    fn try_from(row: ClinicRow) -> Result<Self, StoreError> {
        let timezone = row.timezone;
        let language = row.default_language;
        Ok(Self {
            id: ClinicId::from_stored(row.id),
            slug: row.slug,
            name: row.name,
            timezone: TimeZoneName::parse(&timezone)
                .ok_or_else(|| StoreError::Corrupt(format!("time zone {timezone}")))?,
            default_language: Language::parse(&language)
                .ok_or_else(|| StoreError::Corrupt(format!("language {language}")))?,
            default_channels: parse_channels(&row.default_channels)?,
            // A clinic's own number is called, never texted: its line type is not needed.
            phone: row.phone.map(|p| Phone::from_stored(p, LineType::Unknown)),
            phone_region: PhoneRegion::parse(&row.phone_region)
                .ok_or_else(|| StoreError::Corrupt(format!("phone region {}", row.phone_region)))?,
        })
    }
}

pub(super) fn role(stored: &str) -> Result<ApiKeyRole, StoreError> {
    ApiKeyRole::parse(stored).ok_or_else(|| StoreError::Corrupt(format!("role {stored}")))
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    role: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

/// A key with its clinic, as a request's key check reads it.
#[derive(sqlx::FromRow)]
struct KeyClinicRow {
    key_id: String,
    role: String,
    #[sqlx(flatten)]
    clinic: ClinicRow,
}

/// A clinic's stored hours; none stored means the Israeli defaults.
fn hours_from_stored(stored: Option<String>) -> Result<ClinicHours, StoreError> {
    let Some(stored) = stored else {
        return Ok(ClinicHours::israeli_default());
    };
    serde_json::from_str::<ClinicHoursText>(&stored)
        .ok()
        .and_then(|text| ClinicHours::parse(&text).ok())
        .ok_or_else(|| StoreError::Corrupt("clinic messaging hours".to_owned()))
}

/// Keys are 32 random bytes; a plain SHA-256 is enough to store such keys, unlike passwords.
pub fn key_fingerprint(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A clinic's settings that are stored as one JSON document each.
#[derive(Debug, Clone, Copy)]
pub(super) enum ClinicDocument {
    MessagingHours,
    InboundSettings,
}

impl ClinicDocument {
    fn column(self) -> &'static str {
        match self {
            Self::MessagingHours => "messaging_hours",
            Self::InboundSettings => "inbound_settings",
        }
    }
}

impl Store {
    pub async fn create_clinic(
        &self,
        clinic: NewClinic,
        now: Timestamp,
    ) -> Result<Clinic, StoreError> {
        let id = ClinicId::generate();
        sqlx::query(
            "INSERT INTO clinics (id, slug, name, timezone, default_language, default_channels, phone_region, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.as_str())
        .bind(&clinic.slug)
        .bind(&clinic.name)
        .bind(clinic.timezone.as_str())
        .bind(clinic.default_language.as_str())
        .bind(join_channels(&clinic.default_channels))
        .bind(clinic.phone_region.as_str())
        .bind(millis(now))
        .execute(&self.write)
        .await
        .map_err(|e| StoreError::from(e).on_unique("clinic slug"))?;
        Ok(Clinic {
            id,
            slug: clinic.slug,
            name: clinic.name,
            timezone: clinic.timezone,
            default_language: clinic.default_language,
            default_channels: clinic.default_channels,
            phone: None,
            phone_region: clinic.phone_region,
        })
    }

    pub async fn clinic_by_slug(&self, slug: &str) -> Result<Clinic, StoreError> {
        sqlx::query_as::<_, ClinicRow>(&format!(
            "SELECT {CLINIC_COLUMNS} FROM clinics WHERE slug = $1"
        ))
        .bind(slug)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into()
    }

    pub async fn clinic_by_id(&self, id: &ClinicId) -> Result<Clinic, StoreError> {
        sqlx::query_as::<_, ClinicRow>(&format!(
            "SELECT {CLINIC_COLUMNS} FROM clinics WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?
        .try_into()
    }

    /// Sets the number content-free notices ask the clinic's patients to call.
    pub async fn set_clinic_phone(&self, id: &ClinicId, phone: &Phone) -> Result<(), StoreError> {
        let updated = sqlx::query("UPDATE clinics SET phone = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(phone.as_str())
            .execute(&self.write)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn has_clinics(&self) -> Result<bool, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) AS n FROM clinics")
            .fetch_one(&self.read)
            .await?;
        Ok(count > 0)
    }

    /// Makes a new key and returns it in clear text: the only time it is ever seen.
    pub async fn create_api_key(
        &self,
        clinic: &ClinicId,
        role: ApiKeyRole,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        Ok(self.issue_api_key(clinic, role, now).await?.key)
    }

    /// Makes a new key; its secret is in the answer and nowhere else (only a hash is stored).
    pub async fn issue_api_key(
        &self,
        clinic: &ClinicId,
        role: ApiKeyRole,
        now: Timestamp,
    ) -> Result<IssuedKey, StoreError> {
        let secret: [u8; 32] = rand::random();
        let key = format!("mr_{}", hex::encode(secret));
        let id = ApiKeyId::generate();
        sqlx::query(
            "INSERT INTO api_keys (id, clinic_id, role, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.as_str())
        .bind(clinic.as_str())
        .bind(role.as_str())
        .bind(key_fingerprint(&key))
        .bind(millis(now))
        .execute(&self.write)
        .await?;
        Ok(IssuedKey {
            view: ApiKeyView {
                id,
                role,
                created_at: now,
                revoked_at: None,
            },
            key,
        })
    }

    /// The clinic's keys, oldest first, revoked ones included; never their secrets.
    pub async fn api_keys(&self, clinic: &ClinicId) -> Result<Vec<ApiKeyView>, StoreError> {
        sqlx::query_as::<_, KeyRow>(
            "SELECT id, role, created_at, revoked_at FROM api_keys WHERE clinic_id = $1 \
             ORDER BY created_at, id",
        )
        .bind(clinic.as_str())
        .fetch_all(&self.read)
        .await?
        .into_iter()
        .map(|row| {
            Ok(ApiKeyView {
                id: ApiKeyId::from_stored(row.id),
                role: role(&row.role)?,
                created_at: timestamp(row.created_at)?,
                revoked_at: opt_timestamp(row.revoked_at)?,
            })
        })
        .collect()
    }

    /// Revokes one of the clinic's keys: from now on it authenticates nothing. Revoking a
    /// revoked key keeps its first revocation time.
    pub async fn revoke_api_key(
        &self,
        clinic: &ClinicId,
        id: &ApiKeyId,
        now: Timestamp,
    ) -> Result<ApiKeyView, StoreError> {
        sqlx::query(
            "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND clinic_id = $2 AND revoked_at IS NULL",
        )
        .bind(id.as_str())
        .bind(clinic.as_str())
        .bind(millis(now))
        .execute(&self.write)
        .await?;
        self.api_keys(clinic)
            .await?
            .into_iter()
            .find(|key| &key.id == id)
            .ok_or(StoreError::NotFound)
    }

    pub async fn authenticate(&self, key: &str) -> Result<Option<AuthenticatedKey>, StoreError> {
        let row = sqlx::query_as::<_, KeyClinicRow>(
            "SELECT k.id AS key_id, k.role, c.id, c.slug, c.name, c.timezone, c.default_language, c.default_channels, c.phone, c.phone_region \
             FROM api_keys k JOIN clinics c ON c.id = k.clinic_id \
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(key_fingerprint(key))
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AuthenticatedKey {
            id: ApiKeyId::from_stored(row.key_id),
            role: role(&row.role)?,
            clinic: row.clinic.try_into()?,
        }))
    }

    /// Whose `key` was, when it is a revoked key: its id, role and clinic. Someone still using
    /// a key taken from them is worth a line in that clinic's audit trail.
    pub async fn revoked_key_owner(
        &self,
        key: &str,
    ) -> Result<Option<(ApiKeyId, ApiKeyRole, ClinicId)>, StoreError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT id, role, clinic_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NOT NULL",
        )
        .bind(key_fingerprint(key))
        .fetch_optional(&self.read)
        .await?;
        row.map(|(id, stored_role, clinic)| {
            Ok((
                ApiKeyId::from_stored(id),
                role(&stored_role)?,
                ClinicId::from_stored(clinic),
            ))
        })
        .transpose()
    }

    /// The clinic's messaging hours: the Israeli defaults until it sets its own.
    pub async fn clinic_hours(&self, clinic: &ClinicId) -> Result<ClinicHours, StoreError> {
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT messaging_hours FROM clinics WHERE id = $1")
                .bind(clinic.as_str())
                .fetch_optional(&self.read)
                .await?;
        hours_from_stored(stored.ok_or(StoreError::NotFound)?)
    }

    /// The messaging hours of several clinics at once, for a dispatch round.
    pub(crate) async fn clinic_hours_by_ids(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<ClinicId, Arc<ClinicHours>>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT id, messaging_hours FROM clinics WHERE id IN ({})",
            in_list(1, ids.len())
        );
        let mut query = sqlx::query_as::<_, (String, Option<String>)>(&sql);
        for id in padded(ids) {
            query = query.bind(id);
        }
        query
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(|(id, hours)| {
                Ok((
                    ClinicId::from_stored(id),
                    Arc::new(hours_from_stored(hours)?),
                ))
            })
            .collect()
    }

    pub async fn set_clinic_hours(
        &self,
        clinic: &ClinicId,
        hours: &ClinicHours,
    ) -> Result<(), StoreError> {
        self.set_clinic_document(clinic, ClinicDocument::MessagingHours, &hours.to_text())
            .await
    }

    /// Replaces one of the clinic's settings kept as a JSON document in a column of its own.
    pub(super) async fn set_clinic_document(
        &self,
        clinic: &ClinicId,
        document: ClinicDocument,
        value: &impl Serialize,
    ) -> Result<(), StoreError> {
        let column = document.column();
        let stored = serde_json::to_string(value)
            .map_err(|e| StoreError::Corrupt(format!("clinic {column}: {e}")))?;
        let updated = sqlx::query(&format!("UPDATE clinics SET {column} = $2 WHERE id = $1"))
            .bind(clinic.as_str())
            .bind(stored)
            .execute(&self.write)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
