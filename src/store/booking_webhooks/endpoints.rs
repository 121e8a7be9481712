//! A clinic's webhook endpoints: made, changed, switched on and off, rotated and deleted by its
//! admins; switched off by the sender when they keep failing.

use jiff::Timestamp;

use super::lines::{Line, lock_order_keys, mark_heads_anew};
use crate::domain::{ClinicId, WebhookEndpointId, WebhookEventType};
use crate::store::{Store, StoreError, millis, opt_timestamp, timestamp};

/// An endpoint as its clinic's admins see it: never its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub url: String,
    pub event_types: Vec<WebhookEventType>,
    pub enabled: bool,
    /// Since when every delivery has failed.
    pub failing_since: Option<Timestamp>,
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
    /// Until when the secret before the last rotation still signs.
    pub previous_secret_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    pub url: String,
    pub event_types: Vec<WebhookEventType>,
    pub secret: String,
    pub enabled: bool,
}

/// What an admin changes; `None` keeps it.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub event_types: Option<Vec<WebhookEventType>>,
    pub enabled: Option<bool>,
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: String,
    url: String,
    event_types: String,
    enabled: i64,
    failing_since: Option<i64>,
    disabled_at: Option<i64>,
    disabled_reason: Option<String>,
    previous_secret_until: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const ENDPOINT_COLUMNS: &str = "id, url, event_types, enabled, failing_since, disabled_at, \
    disabled_reason, previous_secret_until, created_at, updated_at";

impl TryFrom<EndpointRow> for WebhookEndpoint {
    type Error = StoreError;

    fn try_from(row: EndpointRow) -> Result<Self, StoreError> {
        let event_types = row
            .event_types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| {
                WebhookEventType::parse(t)
                    .ok_or_else(|| StoreError::Corrupt(format!("webhook event type {t}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            id: WebhookEndpointId::from_stored(row.id),
            url: row.url,
            event_types,
            enabled: row.enabled != 0,
            failing_since: opt_timestamp(row.failing_since)?,
            disabled_at: opt_timestamp(row.disabled_at)?,
            disabled_reason: row.disabled_reason,
            previous_secret_until: opt_timestamp(row.previous_secret_until)?,
            created_at: timestamp(row.created_at)?,
            updated_at: timestamp(row.updated_at)?,
        })
    }
}

/// The stored list, `,a,b,`, which the outbox writer matches with `LIKE '%,type,%'`.
fn stored_types(types: &[WebhookEventType]) -> String {
    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    format!(",{},", names.join(","))
}

impl Store {
    pub async fn create_webhook_endpoint(
        &self,
        clinic: &ClinicId,
        new: NewWebhookEndpoint,
        now: Timestamp,
    ) -> Result<WebhookEndpoint, StoreError> {
        let id = WebhookEndpointId::generate();
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, clinic_id, url, event_types, secret, enabled, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(id.as_str())
        .bind(clinic.as_str())
        .bind(&new.url)
        .bind(stored_types(&new.event_types))
        .bind(&new.secret)
        .bind(i64::from(new.enabled))
        .bind(millis(now))
        .execute(&self.write)
        .await?;
        self.webhook_endpoint(clinic, &id).await
    }

    pub async fn webhook_endpoints(
        &self,
        clinic: &ClinicId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE clinic_id = $1 \
             ORDER BY created_at, id"
        );
        sqlx::query_as::<_, EndpointRow>(&sql)
            .bind(clinic.as_str())
            .fetch_all(&self.write)
            .await?
            .into_iter()
            .map(WebhookEndpoint::try_from)
            .collect()
    }

    pub async fn webhook_endpoint(
        &self,
        clinic: &ClinicId,
        id: &WebhookEndpointId,
    ) -> Result<WebhookEndpoint, StoreError> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE clinic_id = $1 AND id = $2"
        );
        sqlx::query_as::<_, EndpointRow>(&sql)
            .bind(clinic.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.write)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    /// Applies `change`. Switching an endpoint on forgets its failures and makes what waited
    /// for it due now, in its order.
    pub async fn change_webhook_endpoint(
        &self,
        clinic: &ClinicId,
        id: &WebhookEndpointId,
        change: EndpointChange,
        now: Timestamp,
    ) -> Result<WebhookEndpoint, StoreError> {
        let mut tx = self.write.begin().await?;
        let changed = sqlx::query(
            "UPDATE webhook_endpoints SET url = COALESCE($3, url), \
             event_types = COALESCE($4, event_types), enabled = COALESCE($5, enabled), \
             failing_since = CASE WHEN $5 = 1 THEN NULL ELSE failing_since END, \
             disabled_at = CASE WHEN $5 IS NULL THEN disabled_at WHEN $5 = 1 THEN NULL \
                 WHEN enabled = 1 THEN $6 ELSE disabled_at END, \
             disabled_reason = CASE WHEN $5 IS NULL THEN disabled_reason WHEN $5 = 1 THEN NULL \
                 WHEN enabled = 1 THEN 'switched off by an admin' ELSE disabled_reason END, \
             updated_at = $6 WHERE clinic_id = $1 AND id = $2",
        )
        .bind(clinic.as_str())
        .bind(id.as_str())
        .bind(change.url.as_deref())
        .bind(change.event_types.as_deref().map(stored_types))
        .bind(change.enabled.map(i64::from))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if change.enabled == Some(true) {
            due_now(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        self.webhook_endpoint(clinic, id).await
    }

    /// Deletes the endpoint with its messages and deliveries log.
    pub async fn delete_webhook_endpoint(
        &self,
        clinic: &ClinicId,
        id: &WebhookEndpointId,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        for table in ["webhook_attempts", "webhook_messages"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE clinic_id = $1 AND endpoint_id = $2"
            ))
            .bind(clinic.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE clinic_id = $1 AND id = $2")
            .bind(clinic.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Makes `secret` the endpoint's signing secret; the one it replaces still signs beside it
    /// until `previous_until`.
    pub async fn rotate_webhook_secret(
        &self,
        clinic: &ClinicId,
        id: &WebhookEndpointId,
        secret: &str,
        previous_until: Timestamp,
        now: Timestamp,
    ) -> Result<WebhookEndpoint, StoreError> {
        let rotated = sqlx::query(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $4, \
             secret = $3, updated_at = $5 WHERE clinic_id = $1 AND id = $2",
        )
        .bind(clinic.as_str())
        .bind(id.as_str())
        .bind(secret)
        .bind(millis(previous_until))
        .bind(millis(now))
        .execute(&self.write)
        .await?;
        if rotated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.webhook_endpoint(clinic, id).await
    }

    /// Sends again, in their order, every message for the endpoint whose event happened at or
    /// after `since` and that was delivered or given up on (the others are on their way);
    /// returns how many.
    pub async fn replay_webhooks(
        &self,
        clinic: &ClinicId,
        id: &WebhookEndpointId,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        self.webhook_endpoint(clinic, id).await?;
        let mut tx = self.write.begin().await?;
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT order_key FROM webhook_messages \
             WHERE clinic_id = $1 AND endpoint_id = $2 AND occurred_at >= $3 \
             AND state <> 'pending'",
        )
        .bind(clinic.as_str())
        .bind(id.as_str())
        .bind(millis(since))
        .fetch_all(&mut *tx)
        .await?;
        let lines: Vec<Line> = keys
            .iter()
            .map(|order_key| Line {
                endpoint_id: id.as_str(),
                order_key,
            })
            .collect();
        lock_order_keys(&mut tx, keys.iter().map(String::as_str)).await?;
        let replayed = sqlx::query(
            "UPDATE webhook_messages SET state = 'pending', tries = 0, first_tried_at = NULL, \
             delivered_at = NULL, next_attempt_at = $4, lease_token = NULL, ready = 0 \
             WHERE clinic_id = $1 AND endpoint_id = $2 AND occurred_at >= $3 \
             AND state <> 'pending'",
        )
        .bind(clinic.as_str())
        .bind(id.as_str())
        .bind(millis(since))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        // A replayed message may come before a line's head: the heads are found again.
        mark_heads_anew(&mut tx, &lines).await?;
        tx.commit().await?;
        Ok(replayed.rows_affected())
    }
}

/// Makes what waits for the endpoint due now (it was switched on again).
async fn due_now(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &WebhookEndpointId,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_messages SET next_attempt_at = $2, lease_token = NULL \
         WHERE endpoint_id = $1 AND state = 'pending' AND next_attempt_at > $2",
    )
    .bind(id.as_str())
    .bind(millis(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
