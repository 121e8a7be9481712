//! A clinic's FHIR settings: the identifier systems of its records and the server they are pushed
//! to, set by its admins. The server's credentials are written here and read only by the pusher.

use jiff::Timestamp;

use crate::domain::{ClinicId, FHIR_PUSH_ALERT, FhirAuth, token_hint};
use crate::store::{Store, StoreError, millis, opt_timestamp, timestamp};

/// The clinic's FHIR settings as its admins see them: never the credentials.
#[derive(Debug, Clone)]
pub struct FhirSettings {
    /// NULL: `urn:medrelay:clinic:<slug>`.
    pub identifier_base: Option<String>,
    /// NULL: `<base>/patient`.
    pub patient_system: Option<String>,
    pub server: Option<FhirServerView>,
    /// The latest "FHIR push failing" and "recovered" events, newest first, with their instant.
    pub alerts: Vec<(Timestamp, String)>,
}

#[derive(Debug, Clone)]
pub struct FhirServerView {
    pub base_url: String,
    /// `none`, `bearer` or `basic`.
    pub auth_kind: String,
    /// Basic's user name.
    pub username: Option<String>,
    /// The last characters of a long bearer token.
    pub token_hint: Option<String>,
    pub enabled: bool,
    /// Since when every push has failed.
    pub failing_since: Option<Timestamp>,
    /// When the "FHIR push failing" alert was raised, while it stands.
    pub alerted_at: Option<Timestamp>,
    /// Records waiting to be pushed, and since when the oldest has waited.
    pub waiting: i64,
    pub waiting_since: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What `PUT /v1/clinic/fhir` sets.
#[derive(Debug, Clone)]
pub struct FhirSettingsChange {
    pub identifier_base: Option<String>,
    pub patient_system: Option<String>,
    /// `None`: the clinic has no server (one it had is removed, with what waited for it).
    pub server: Option<FhirServerChange>,
}

#[derive(Debug, Clone)]
pub struct FhirServerChange {
    pub base_url: String,
    /// `None` keeps the credentials of the server the clinic has: [`StoreError::NotFound`]
    /// when it has none.
    pub auth: Option<FhirAuth>,
    pub enabled: bool,
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    fhir_identifier_base: Option<String>,
    fhir_patient_system: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ServerRow {
    base_url: String,
    auth_kind: String,
    auth_username: Option<String>,
    auth_secret: Option<String>,
    enabled: i64,
    failing_since: Option<i64>,
    alerted_at: Option<i64>,
    waiting: i64,
    waiting_since: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ServerRow> for FhirServerView {
    type Error = StoreError;

    fn try_from(row: ServerRow) -> Result<Self, StoreError> {
        let token_hint = match row.auth_kind.as_str() {
            "bearer" => row.auth_secret.as_deref().and_then(token_hint),
            _ => None,
        };
        Ok(Self {
            base_url: row.base_url,
            auth_kind: row.auth_kind,
            username: row.auth_username,
            token_hint,
            enabled: row.enabled != 0,
            failing_since: opt_timestamp(row.failing_since)?,
            alerted_at: opt_timestamp(row.alerted_at)?,
            waiting: row.waiting,
            waiting_since: opt_timestamp(row.waiting_since)?,
            created_at: timestamp(row.created_at)?,
            updated_at: timestamp(row.updated_at)?,
        })
    }
}

const SERVER: &str = "SELECT s.base_url, s.auth_kind, s.auth_username, s.auth_secret, s.enabled, \
    s.failing_since, s.alerted_at, \
    (SELECT COUNT(*) FROM fhir_outbox o WHERE o.clinic_id = s.clinic_id) AS waiting, \
    (SELECT MIN(o.created_at) FROM fhir_outbox o WHERE o.clinic_id = s.clinic_id) AS waiting_since, \
    s.created_at, s.updated_at FROM fhir_servers s WHERE s.clinic_id = $1";

/// The clinic's latest FHIR push alerts, through `events_conversation_kind`.
const ALERTS: &str = "SELECT at, detail FROM events WHERE clinic_id = $1 AND kind = 'alert' \
    AND patient_id IS NULL AND detail LIKE $2 ORDER BY at DESC, id DESC LIMIT 10";

/// Sets the server with its credentials: made, or replaced as a whole.
const UPSERT_SERVER: &str = "INSERT INTO fhir_servers (clinic_id, base_url, auth_kind, \
    auth_username, auth_secret, enabled, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
    ON CONFLICT (clinic_id) DO UPDATE SET base_url = excluded.base_url, \
    auth_kind = excluded.auth_kind, auth_username = excluded.auth_username, \
    auth_secret = excluded.auth_secret, enabled = excluded.enabled, \
    updated_at = excluded.updated_at";

/// Changes the server the clinic has, keeping its credentials.
const CHANGE_SERVER: &str = "UPDATE fhir_servers SET base_url = $2, enabled = $3, \
    updated_at = $4 WHERE clinic_id = $1";

impl Store {
    pub async fn fhir_settings(&self, clinic: &ClinicId) -> Result<FhirSettings, StoreError> {
        let row: SettingsRow = sqlx::query_as(
            "SELECT fhir_identifier_base, fhir_patient_system FROM clinics WHERE id = $1",
        )
        .bind(clinic.as_str())
        .fetch_optional(&self.write)
        .await?
        .ok_or(StoreError::NotFound)?;
        let server: Option<ServerRow> = sqlx::query_as(SERVER)
            .bind(clinic.as_str())
            .fetch_optional(&self.write)
            .await?;
        let alerts: Vec<(i64, String)> = sqlx::query_as(ALERTS)
            .bind(clinic.as_str())
            .bind(format!("{FHIR_PUSH_ALERT}%"))
            .fetch_all(&self.write)
            .await?;
        Ok(FhirSettings {
            identifier_base: row.fhir_identifier_base,
            patient_system: row.fhir_patient_system,
            server: server.map(FhirServerView::try_from).transpose()?,
            alerts: alerts
                .into_iter()
                .map(|(at, detail)| Ok((timestamp(at)?, detail)))
                .collect::<Result<_, StoreError>>()?,
        })
    }

    /// Replaces the clinic's FHIR settings. A server set (or set again) takes what waits for it
    /// now: an admin who changed it wants to know at once whether it works.
    pub async fn set_fhir_settings(
        &self,
        clinic: &ClinicId,
        change: &FhirSettingsChange,
        now: Timestamp,
    ) -> Result<FhirSettings, StoreError> {
        let mut tx = self.write.begin().await?;
        let updated = sqlx::query(
            "UPDATE clinics SET fhir_identifier_base = $2, fhir_patient_system = $3 WHERE id = $1",
        )
        .bind(clinic.as_str())
        .bind(change.identifier_base.as_deref())
        .bind(change.patient_system.as_deref())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        match &change.server {
            Some(server) => set_server(&mut tx, clinic, server, now).await?,
            None => {
                remove_server(&mut tx, clinic).await?;
            }
        }
        tx.commit().await?;
        self.fhir_settings(clinic).await
    }

    /// Removes the clinic's server and what waited for it; the deliveries log stays.
    pub async fn delete_fhir_server(&self, clinic: &ClinicId) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        if !remove_server(&mut tx, clinic).await? {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn set_server(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    clinic: &ClinicId,
    server: &FhirServerChange,
    now: Timestamp,
) -> Result<(), StoreError> {
    let enabled = i64::from(server.enabled);
    let set = match &server.auth {
        Some(auth) => {
            let (username, secret) = auth.stored();
            sqlx::query(UPSERT_SERVER)
                .bind(clinic.as_str())
                .bind(&server.base_url)
                .bind(auth.kind())
                .bind(username)
                .bind(secret)
                .bind(enabled)
                .bind(millis(now))
                .execute(&mut **tx)
                .await?
        }
        None => {
            sqlx::query(CHANGE_SERVER)
                .bind(clinic.as_str())
                .bind(&server.base_url)
                .bind(enabled)
                .bind(millis(now))
                .execute(&mut **tx)
                .await?
        }
    };
    if set.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    sqlx::query(
        "UPDATE fhir_outbox SET next_attempt_at = $2 \
         WHERE clinic_id = $1 AND lease_token IS NULL AND next_attempt_at > $2",
    )
    .bind(clinic.as_str())
    .bind(millis(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether there was a server to remove.
async fn remove_server(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    clinic: &ClinicId,
) -> Result<bool, StoreError> {
    sqlx::query("DELETE FROM fhir_outbox WHERE clinic_id = $1")
        .bind(clinic.as_str())
        .execute(&mut **tx)
        .await?;
    let deleted = sqlx::query("DELETE FROM fhir_servers WHERE clinic_id = $1")
        .bind(clinic.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(deleted.rows_affected() > 0)
}
