//! The webhook sender's side: claiming due messages under a lease (one at a time per endpoint and
//! notification, so they arrive in order), recording each try in the deliveries log, and
//! switching off an endpoint that has failed for too long.

use jiff::{SignedDuration, Timestamp};

use crate::domain::{ClinicId, Event, WebhookEndpointId, WebhookEventId};
use crate::store::events::EventBatch;
use crate::store::outbox::{ClaimSql, Lease, TRY_COLUMNS, Tried, TryRecord, TryRow, bind_try};
use crate::store::{Store, StoreError, millis, opt_timestamp, timestamp};

/// A message the sender holds the lease on, with where and how to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedWebhook {
    pub seq: i64,
    pub clinic_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<i64>,
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: i64,
    pub data: String,
    pub patient_external_id: Option<String>,
    pub appointment_id: Option<String>,
    pub notification_reference: Option<String>,
    pub notification_metadata: Option<String>,
    pub appointment_reference: Option<String>,
    pub appointment_metadata: Option<String>,
    pub tries: i64,
    pub first_tried_at: Option<i64>,
}

/// What became of one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookResult {
    Delivered,
    Retry {
        at: Timestamp,
    },
    /// Failed past the retry period: the next message in its order may go.
    GaveUp,
}

impl WebhookResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry { .. } => "retrying",
            Self::GaveUp => "failed",
        }
    }

    /// The message's state after it.
    fn state(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry { .. } => "pending",
            Self::GaveUp => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebhookOutcome {
    pub message: ClaimedWebhook,
    pub tried: Tried,
    pub result: WebhookResult,
}

/// One try as the deliveries log shows it.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub event_id: WebhookEventId,
    pub event_type: String,
    pub tried: TryRecord,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    event_id: String,
    event_type: String,
    #[sqlx(flatten)]
    tried: TryRow,
}

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Self {
            event_id: WebhookEventId::from_stored(r.event_id),
            event_type: r.event_type,
            tried: r.tried.try_into()?,
        })
    }
}

const CLAIM: ClaimSql = ClaimSql {
    claim: "UPDATE webhook_messages SET lease_token = $1, next_attempt_at = $2 \
    WHERE seq IN (SELECT m.seq FROM webhook_messages m \
        JOIN webhook_endpoints e ON e.id = m.endpoint_id \
        WHERE m.state = 'pending' AND m.next_attempt_at <= $3 AND e.enabled = 1 \
        AND NOT EXISTS (SELECT 1 FROM webhook_messages o WHERE o.endpoint_id = m.endpoint_id \
            AND o.order_key = m.order_key AND o.state = 'pending' AND o.seq < m.seq) \
        ORDER BY m.next_attempt_at, m.seq LIMIT $4{lock}) RETURNING seq",
    claimed: "SELECT m.seq, m.clinic_id, m.endpoint_id, e.url, e.secret, \
    e.previous_secret, e.previous_secret_until, m.event_id, m.event_type, m.occurred_at, m.data, \
    m.patient_external_id, m.appointment_id, m.notification_reference, m.notification_metadata, \
    m.appointment_reference, m.appointment_metadata, m.tries, m.first_tried_at \
    FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id \
    WHERE m.seq IN ({seqs}) AND m.lease_token = $1 ORDER BY m.seq",
};

impl ClaimedWebhook {
    /// The secrets that sign it now: the endpoint's, and the one before the last rotation
    /// while it is still valid.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_secret_until)
            && millis(now) < until
        {
            secrets.push(previous);
        }
        secrets
    }

    pub fn first_tried_at(&self) -> Result<Option<Timestamp>, StoreError> {
        opt_timestamp(self.first_tried_at)
    }

    pub fn occurred_at(&self) -> Result<Timestamp, StoreError> {
        timestamp(self.occurred_at)
    }
}

impl Store {
    /// Claims due messages as `lease` says.
    pub async fn claim_webhooks(
        &self,
        lease: &Lease<'_>,
    ) -> Result<Vec<ClaimedWebhook>, StoreError> {
        self.claim_outbox(&CLAIM, lease).await
    }

    /// Records the tries of one round in one transaction: the messages' new state (if the
    /// lease is still held), the deliveries log, and each endpoint's failing clock. An endpoint
    /// failing for `disable_after` is switched off, with an event; returns those switched off.
    pub async fn record_webhook_outcomes(
        &self,
        token: &str,
        outcomes: &[WebhookOutcome],
        disable_after: SignedDuration,
        now: Timestamp,
    ) -> Result<Vec<WebhookEndpointId>, StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        for outcome in outcomes {
            record_outcome(&mut tx, token, outcome).await?;
        }
        let disabled = disable_failing(&mut tx, disable_after, now).await?;
        tx.commit().await?;
        Ok(disabled)
    }

    /// The endpoint's latest tries, newest first.
    pub async fn webhook_deliveries(
        &self,
        clinic: &ClinicId,
        endpoint: &WebhookEndpointId,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.webhook_endpoint(clinic, endpoint).await?;
        sqlx::query_as::<_, DeliveryRow>(&format!(
            "SELECT event_id, event_type, {TRY_COLUMNS} FROM webhook_attempts \
             WHERE clinic_id = $1 AND endpoint_id = $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(clinic.as_str())
        .bind(endpoint.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?
        .into_iter()
        .map(DeliveryRecord::try_from)
        .collect()
    }

    /// Messages still to deliver, over every clinic.
    pub async fn webhook_backlog(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_messages WHERE state = 'pending'")
                .fetch_one(&self.read)
                .await?,
        )
    }
}

async fn record_outcome(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    token: &str,
    outcome: &WebhookOutcome,
) -> Result<(), StoreError> {
    let next = match outcome.result {
        WebhookResult::Retry { at } => Some(millis(at)),
        WebhookResult::Delivered | WebhookResult::GaveUp => None,
    };
    if !update_message(tx, token, outcome, next).await? {
        // The lease ran out and another sender has it now: its try counts, not this one.
        return Ok(());
    }
    log_try(tx, outcome, next).await?;
    let failing_since = match outcome.result {
        WebhookResult::Delivered => "NULL",
        WebhookResult::Retry { .. } | WebhookResult::GaveUp => "COALESCE(failing_since, $2)",
    };
    sqlx::query(&format!(
        "UPDATE webhook_endpoints SET failing_since = {failing_since} WHERE id = $1"
    ))
    .bind(&outcome.message.endpoint_id)
    .bind(millis(outcome.tried.at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The message's new state, if it is still held under `token`.
async fn update_message(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    token: &str,
    outcome: &WebhookOutcome,
    next: Option<i64>,
) -> Result<bool, StoreError> {
    let held = sqlx::query(
        "UPDATE webhook_messages SET state = $3, tries = tries + 1, lease_token = NULL, \
         next_attempt_at = COALESCE($4, next_attempt_at), \
         first_tried_at = COALESCE(first_tried_at, $5), \
         delivered_at = CASE WHEN $3 = 'delivered' THEN $5 ELSE delivered_at END \
         WHERE seq = $1 AND lease_token = $2",
    )
    .bind(outcome.message.seq)
    .bind(token)
    .bind(outcome.result.state())
    .bind(next)
    .bind(millis(outcome.tried.at))
    .execute(&mut **tx)
    .await?;
    Ok(held.rows_affected() > 0)
}

/// The try's line in the deliveries log.
async fn log_try(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    outcome: &WebhookOutcome,
    next: Option<i64>,
) -> Result<(), StoreError> {
    let m = &outcome.message;
    let sql = format!(
        "INSERT INTO webhook_attempts (clinic_id, endpoint_id, event_id, event_type, \
         {TRY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    let query = sqlx::query(&sql)
        .bind(&m.clinic_id)
        .bind(&m.endpoint_id)
        .bind(&m.event_id)
        .bind(&m.event_type);
    let result = outcome.result.as_str();
    bind_try(query, m.tries + 1, &outcome.tried, result, next)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct DisabledRow {
    id: String,
    clinic_id: String,
    failing_since: i64,
}

async fn disable_failing(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    disable_after: SignedDuration,
    now: Timestamp,
) -> Result<Vec<WebhookEndpointId>, StoreError> {
    let rows: Vec<DisabledRow> = sqlx::query_as(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_at = $2, \
         disabled_reason = 'every delivery failed for longer than webhooks.disable_after_ms', \
         updated_at = $2 \
         WHERE enabled = 1 AND failing_since IS NOT NULL AND failing_since <= $1 \
         RETURNING id, clinic_id, failing_since",
    )
    .bind(millis(now) - disable_after.as_millis() as i64)
    .bind(millis(now))
    .fetch_all(&mut **tx)
    .await?;
    let mut events = EventBatch::default();
    let mut disabled = Vec::new();
    for row in rows {
        let endpoint = WebhookEndpointId::from_stored(row.id);
        let event = Event::WebhookEndpointDisabled {
            endpoint: endpoint.clone(),
            failing_since: timestamp(row.failing_since)?,
        };
        events.add_for_clinic(&ClinicId::from_stored(row.clinic_id), now, &event)?;
        disabled.push(endpoint);
    }
    events.write(tx).await?;
    Ok(disabled)
}
