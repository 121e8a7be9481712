//! The webhook sender's side: claiming due messages under a lease (one at a time per endpoint and
//! notification, so they arrive in order), recording each try in the deliveries log, and
//! switching off an endpoint that has failed for too long.

use std::collections::{BTreeMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;

use super::lines::{Line, lock_order_keys, mark_heads};
use crate::domain::{ClinicId, Event, WebhookEndpointId, WebhookEventId};
use crate::store::events::EventBatch;
use crate::store::outbox::{ClaimSql, Lease, TRY_COLUMNS, Tried, TryRecord, TryRow};
use crate::store::rows::{columns, write_rows};
use crate::store::{Store, StoreError, millis, opt_timestamp, timestamp};

/// A message the sender holds the lease on, with where and how to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedWebhook {
    pub seq: i64,
    pub clinic_id: String,
    pub endpoint_id: String,
    /// Its line: the notification's id, else the patient's.
    pub order_key: String,
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

    /// Whether the message is done with, leaving its line to the next one.
    fn frees_its_line(self) -> bool {
        !matches!(self, Self::Retry { .. })
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

/// The heads of their lines that are due, oldest first: one walk of `webhook_messages_due`.
const CLAIM: ClaimSql = ClaimSql {
    claim: "UPDATE webhook_messages SET lease_token = $1, next_attempt_at = $2 \
    WHERE seq IN (SELECT m.seq FROM webhook_messages m \
        JOIN webhook_endpoints e ON e.id = m.endpoint_id \
        WHERE m.state = 'pending' AND m.ready = 1 AND m.next_attempt_at <= $3 AND e.enabled = 1 \
        ORDER BY m.next_attempt_at, m.seq LIMIT $4{lock}) RETURNING seq",
    claimed: "SELECT m.seq, m.clinic_id, m.endpoint_id, m.order_key, e.url, e.secret, \
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
        record_outcomes(&mut tx, token, outcomes).await?;
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

columns! {
    /// A held message's new state after its try.
    struct MessageAfterTry<'a> {
        message_seq: i64,
        state: &'a str,
        retry_at: Option<i64>,
        tried_at: i64,
    }
}

columns! {
    /// A line of the deliveries log.
    struct TryLine<'a> {
        clinic_id: &'a str,
        endpoint_id: &'a str,
        event_id: &'a str,
        event_type: &'a str,
        try_number: i64,
        at: i64,
        status_code: Option<i64>,
        latency_ms: i64,
        error: Option<&'a str>,
        outcome: &'a str,
        next_retry_at: Option<i64>,
    }
}

/// When the next try of an outcome is due: none once it is delivered or given up.
fn retry_at(outcome: &WebhookOutcome) -> Option<i64> {
    match outcome.result {
        WebhookResult::Retry { at } => Some(millis(at)),
        WebhookResult::Delivered | WebhookResult::GaveUp => None,
    }
}

/// Records a round's tries in a few statements whatever its size: the messages' new state,
/// where the lease is still held (a message whose lease ran out is another sender's now, and
/// its try counts, not this one); a log line for each of those; the next heads of the lines
/// whose head ended; each endpoint's failing clock.
async fn record_outcomes(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    token: &str,
    outcomes: &[WebhookOutcome],
) -> Result<(), StoreError> {
    let frees_line = |o: &&WebhookOutcome| o.result.frees_its_line();
    let freeing = outcomes.iter().filter(frees_line);
    lock_order_keys(tx, freeing.map(|o| o.message.order_key.as_str())).await?;
    let held = write_states(tx, token, outcomes).await?;
    log_tries(tx, &held).await?;
    let freed: Vec<Line> = held
        .iter()
        .copied()
        .filter(frees_line)
        .map(line_of)
        .collect();
    mark_heads(tx, &freed).await?;
    let tries = held.iter().map(|o| {
        let endpoint = o.message.endpoint_id.as_str();
        (endpoint, o.result, millis(o.tried.at))
    });
    for (endpoint, clock) in failing_clocks(tries) {
        let (failing_since, at) = match clock {
            FailingClock::Stopped => ("NULL", None),
            FailingClock::StartedAt(at) => ("$2", Some(at)),
            FailingClock::RunningSince(at) => ("COALESCE(failing_since, $2)", Some(at)),
        };
        sqlx::query(&format!(
            "UPDATE webhook_endpoints SET failing_since = {failing_since} WHERE id = $1"
        ))
        .bind(endpoint)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The messages' new state after their tries, in one statement; returns the outcomes whose
/// message was still held under `token`.
async fn write_states<'o>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    token: &str,
    outcomes: &'o [WebhookOutcome],
) -> Result<Vec<&'o WebhookOutcome>, StoreError> {
    let messages: Vec<MessageAfterTry> = outcomes
        .iter()
        .map(|o| MessageAfterTry {
            message_seq: o.message.seq,
            state: o.result.state(),
            retry_at: retry_at(o),
            tried_at: millis(o.tried.at),
        })
        .collect();
    let held: HashSet<i64> = write_rows(
        tx,
        "WITH v ({columns}) AS ({rows}) UPDATE webhook_messages SET state = v.state, \
         tries = webhook_messages.tries + 1, lease_token = NULL, \
         ready = CASE WHEN v.state = 'pending' THEN webhook_messages.ready ELSE 0 END, \
         next_attempt_at = COALESCE(v.retry_at, webhook_messages.next_attempt_at), \
         first_tried_at = COALESCE(webhook_messages.first_tried_at, v.tried_at), \
         delivered_at = CASE WHEN v.state = 'delivered' THEN v.tried_at \
                        ELSE webhook_messages.delivered_at END \
         FROM v WHERE webhook_messages.seq = v.message_seq AND webhook_messages.lease_token = $1 \
         RETURNING seq",
        &[token.into()],
        &messages,
    )
    .await?
    .iter()
    .map(|row| row.try_get::<i64, _>(0))
    .collect::<Result<_, _>>()?;
    Ok(outcomes
        .iter()
        .filter(|o| held.contains(&o.message.seq))
        .collect())
}

/// The tries' lines in the deliveries log, in one statement.
async fn log_tries(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    held: &[&WebhookOutcome],
) -> Result<(), StoreError> {
    let lines: Vec<TryLine> = held
        .iter()
        .map(|o| TryLine {
            clinic_id: &o.message.clinic_id,
            endpoint_id: &o.message.endpoint_id,
            event_id: &o.message.event_id,
            event_type: &o.message.event_type,
            try_number: o.message.tries + 1,
            at: millis(o.tried.at),
            status_code: o.tried.status_code.map(i64::from),
            latency_ms: o.tried.latency_ms,
            error: o.tried.error.as_deref(),
            outcome: o.result.as_str(),
            next_retry_at: retry_at(o),
        })
        .collect();
    write_rows(
        tx,
        "INSERT INTO webhook_attempts ({columns}) {rows}",
        &[],
        &lines,
    )
    .await?;
    Ok(())
}

fn line_of(outcome: &WebhookOutcome) -> Line<'_> {
    Line {
        endpoint_id: &outcome.message.endpoint_id,
        order_key: &outcome.message.order_key,
    }
}

/// What a round's tries, in the order they ended, leave of an endpoint's failing clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailingClock {
    /// A delivery after the last failure: every delivery is no longer failing.
    Stopped,
    /// Failing since this try, after a delivery earlier in the round.
    StartedAt(i64),
    /// Failing since the stored moment, or since this try when none is stored.
    RunningSince(i64),
}

/// Each endpoint's failing clock after a round's tries (endpoint, result, when it ended), in the
/// order they ended: a delivery stops it, a failure starts it unless it runs already.
fn failing_clocks<'a>(
    tries: impl IntoIterator<Item = (&'a str, WebhookResult, i64)>,
) -> BTreeMap<&'a str, FailingClock> {
    let mut clocks = BTreeMap::new();
    for (endpoint, result, at) in tries {
        let next = match (result, clocks.get(endpoint)) {
            (WebhookResult::Delivered, _) => FailingClock::Stopped,
            (_, Some(FailingClock::Stopped)) => FailingClock::StartedAt(at),
            (_, Some(running)) => *running,
            (_, None) => FailingClock::RunningSince(at),
        };
        clocks.insert(endpoint, next);
    }
    clocks
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_stops_an_endpoint_s_failing_clock_and_a_later_failure_starts_it_again() {
        let retry = WebhookResult::Retry {
            at: Timestamp::UNIX_EPOCH,
        };
        let clocks = failing_clocks([
            ("whe_a", retry, 10),
            ("whe_a", WebhookResult::GaveUp, 20),
            ("whe_b", WebhookResult::Delivered, 10),
            ("whe_b", retry, 30),
            ("whe_b", retry, 40),
            ("whe_c", retry, 10),
            ("whe_c", WebhookResult::Delivered, 50),
        ]);

        assert_eq!(
            clocks.into_iter().collect::<Vec<_>>(),
            vec![
                // Failing since what is stored, or since its first failure of the round.
                ("whe_a", FailingClock::RunningSince(10)),
                ("whe_b", FailingClock::StartedAt(30)),
                ("whe_c", FailingClock::Stopped),
            ]
        );
    }
}
