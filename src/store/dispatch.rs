use std::collections::HashMap;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use sqlx::{Any, Row, Transaction};

use super::notifications::{EventBatch, NOTIFICATION_COLUMNS, status};
use super::{
    Backend, Store, StoreError, lock_notifications, millis, opt_timestamp, parse_stored,
    placeholders, timestamp,
};
use crate::domain::{
    AttemptId, AttemptStatus, ClinicId, NotificationId, NotificationStatus, PatientId, Priority,
};
use crate::policy::{AttemptFacts, AttemptVerdict};

/// A notification the dispatcher holds the lease on, with everything tried so far.
#[derive(Debug, Clone)]
pub struct ClaimedNotification {
    pub id: NotificationId,
    pub clinic_id: ClinicId,
    pub patient_id: PatientId,
    pub topic: String,
    pub body: Option<String>,
    pub template: Option<String>,
    pub params: Option<String>,
    pub channel: Option<ChannelKind>,
    pub priority: Priority,
    pub send_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub status: NotificationStatus,
    pub attempts: Vec<AttemptFacts>,
}

/// What the dispatcher decided for one claimed notification.
#[derive(Debug, Clone)]
pub struct DispatchWrite {
    pub notification: NotificationId,
    pub previous_status: NotificationStatus,
    pub verdicts: Vec<AttemptVerdict>,
    pub reasons: Vec<String>,
    pub next: NextState,
}

#[derive(Debug, Clone)]
pub enum NextState {
    /// Record a new attempt in `sending` and keep the lease while the provider is called.
    Send {
        attempt: AttemptId,
        channel: ChannelKind,
        sender: String,
        to_masked: String,
    },
    /// Release the lease until `until`.
    Wait {
        until: Timestamp,
        status: NotificationStatus,
    },
    Finish {
        status: NotificationStatus,
        channel: Option<ChannelKind>,
    },
}

/// How the provider answered one hand-over.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Accepted {
        provider_message_id: String,
        deliver_by: Option<Timestamp>,
    },
    Errored {
        code: String,
        text: String,
        retry_at: Timestamp,
    },
    RateLimited {
        retry_at: Timestamp,
    },
    Failed {
        code: String,
        text: String,
    },
    /// No answer from the provider: it may or may not have the message.
    Ambiguous {
        reason: String,
        deliver_by: Option<Timestamp>,
    },
}

#[derive(Debug, Clone)]
pub struct OutcomeWrite {
    pub notification: NotificationId,
    pub attempt: AttemptId,
    pub channel: ChannelKind,
    pub outcome: AttemptOutcome,
}

const CLAIM_POSTGRES: &str = "UPDATE notifications n SET lease_token = $1, due_at = $2, recheck = 0 \
    WHERE n.id IN (SELECT id FROM notifications WHERE due_at <= $3 ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
    RETURNING ";
const CLAIM_SQLITE: &str = "UPDATE notifications AS n SET lease_token = $1, due_at = $2, recheck = 0 \
    WHERE n.id IN (SELECT id FROM notifications WHERE due_at <= $3 ORDER BY due_at LIMIT $4) \
    RETURNING ";

/// Releasing the lease: an update that arrived while we held it means "look again now".
const RELEASE: &str = "UPDATE notifications SET status = $3, due_at = CASE WHEN recheck = 1 THEN $4 ELSE $5 END, \
    delivered_channel = COALESCE($6, delivered_channel), lease_token = NULL, recheck = 0, updated_at = $4 \
    WHERE id = $1 AND lease_token = $2";

impl Store {
    /// Claims up to `limit` due notifications for `lease_until`, under `token`.
    pub async fn claim_due(
        &self,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedNotification>, StoreError> {
        let claim = match self.backend {
            Backend::Postgres => CLAIM_POSTGRES,
            Backend::Sqlite => CLAIM_SQLITE,
        };
        let sql = format!("{claim}{}", NOTIFICATION_COLUMNS.replace("n.", ""));
        let rows = sqlx::query(&sql)
            .bind(token)
            .bind(millis(lease_until))
            .bind(millis(now))
            .bind(i64::from(limit))
            .fetch_all(&self.write)
            .await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let priority: String = row.try_get("priority")?;
                let channel: Option<String> = row.try_get("channel")?;
                Ok(ClaimedNotification {
                    id: NotificationId::from_stored(row.try_get("id")?),
                    clinic_id: ClinicId::from_stored(row.try_get("clinic_id")?),
                    patient_id: PatientId::from_stored(row.try_get("patient_id")?),
                    topic: row.try_get("topic")?,
                    body: row.try_get("body")?,
                    template: row.try_get("template")?,
                    params: row.try_get("params")?,
                    channel: channel.map(|c| parse_stored(&c, "channel")).transpose()?,
                    priority: Priority::parse(&priority).unwrap_or(Priority::Normal),
                    send_at: timestamp(row.try_get("send_at")?)?,
                    expires_at: opt_timestamp(row.try_get("expires_at")?)?,
                    status: status(&row.try_get::<String, _>("status")?)?,
                    attempts: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if claimed.is_empty() {
            return Ok(claimed);
        }

        let ids: Vec<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
        let sql = format!(
            "SELECT id, notification_id, channel, status, created_at, retry_at, deliver_by, error_code, error_text \
             FROM attempts WHERE notification_id IN ({}) ORDER BY created_at, id",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in &ids {
            query = query.bind(*id);
        }
        let mut by_notification: HashMap<String, Vec<AttemptFacts>> = HashMap::new();
        for row in query.fetch_all(&self.read).await? {
            let status_text: String = row.try_get("status")?;
            by_notification
                .entry(row.try_get("notification_id")?)
                .or_default()
                .push(AttemptFacts {
                    id: AttemptId::from_stored(row.try_get("id")?),
                    channel: parse_stored(&row.try_get::<String, _>("channel")?, "channel")?,
                    status: AttemptStatus::parse(&status_text).ok_or_else(|| {
                        StoreError::Corrupt(format!("attempt status {status_text}"))
                    })?,
                    created_at: timestamp(row.try_get("created_at")?)?,
                    retry_at: opt_timestamp(row.try_get("retry_at")?)?,
                    deliver_by: opt_timestamp(row.try_get("deliver_by")?)?,
                    error_code: row.try_get("error_code")?,
                    error_text: row.try_get("error_text")?,
                });
        }
        for notification in &mut claimed {
            notification.attempts = by_notification
                .remove(notification.id.as_str())
                .unwrap_or_default();
        }
        Ok(claimed)
    }

    /// Keeps the notifications claimed under `token` until `lease_until`, for hand-overs that
    /// take longer than one lease (a slow provider, a sender's rate limit).
    pub async fn extend_lease(
        &self,
        token: &str,
        lease_until: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE notifications SET due_at = $2 WHERE lease_token = $1")
            .bind(token)
            .bind(millis(lease_until))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Records the dispatcher's decisions in one transaction. Returns the attempts that may now
    /// be handed to their provider: those whose notification we still hold the lease on.
    pub async fn record_decisions(
        &self,
        token: &str,
        writes: &[DispatchWrite],
        now: Timestamp,
    ) -> Result<Vec<AttemptId>, StoreError> {
        let mut tx = self.write.begin().await?;
        let ids: Vec<&str> = writes.iter().map(|w| w.notification.as_str()).collect();
        lock_notifications(self.backend, &mut tx, "{ids}", &ids).await?;
        let mut events = EventBatch::default();
        let mut cleared = Vec::new();
        for write in writes {
            let id = write.notification.as_str();
            let (new_status, updated) = match &write.next {
                NextState::Send { .. } => {
                    let held = sqlx::query(
                        "UPDATE notifications SET status = 'sending', updated_at = $3 \
                         WHERE id = $1 AND lease_token = $2 RETURNING id",
                    )
                    .bind(id)
                    .bind(token)
                    .bind(millis(now))
                    .fetch_optional(&mut *tx)
                    .await?;
                    (NotificationStatus::Sending, held.is_some())
                }
                NextState::Wait { until, status } => {
                    let done =
                        release(&mut tx, id, token, *status, now, Some(*until), None).await?;
                    (*status, done)
                }
                NextState::Finish { status, channel } => {
                    let done = release(&mut tx, id, token, *status, now, None, *channel).await?;
                    (*status, done)
                }
            };
            if !updated {
                continue;
            }
            for verdict in &write.verdicts {
                sqlx::query("UPDATE attempts SET status = $2, updated_at = $3 WHERE id = $1 AND status IN ('sending', 'ambiguous', 'accepted', 'sent')")
                    .bind(verdict.attempt.as_str())
                    .bind(verdict.status.as_str())
                    .bind(millis(now))
                    .execute(&mut *tx)
                    .await?;
                events.add(
                    id,
                    Some(verdict.attempt.as_str()),
                    now,
                    "attempt",
                    &verdict.reason,
                );
            }
            for reason in &write.reasons {
                events.add(id, None, now, "routing", reason);
            }
            if let NextState::Send {
                attempt,
                channel,
                sender,
                to_masked,
            } = &write.next
            {
                sqlx::query(
                    "INSERT INTO attempts (id, notification_id, channel, sender, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 'sending', $5, $5)",
                )
                .bind(attempt.as_str())
                .bind(id)
                .bind(channel.as_str())
                .bind(sender.as_str())
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
                events.add(
                    id,
                    Some(attempt.as_str()),
                    now,
                    "attempt",
                    &format!("sending on {channel} to {to_masked}"),
                );
                cleared.push(attempt.clone());
            }
            if new_status != write.previous_status {
                let detail = format!(
                    "{} → {}",
                    write.previous_status.as_str(),
                    new_status.as_str()
                );
                events.add(id, None, now, "status", &detail);
            }
        }
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(cleared)
    }

    /// Records what providers answered, releasing each notification's lease.
    pub async fn record_outcomes(
        &self,
        token: &str,
        outcomes: &[OutcomeWrite],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let ids: Vec<&str> = outcomes.iter().map(|o| o.notification.as_str()).collect();
        lock_notifications(self.backend, &mut tx, "{ids}", &ids).await?;
        let mut events = EventBatch::default();
        for write in outcomes {
            let id = write.notification.as_str();
            let attempt = write.attempt.as_str();
            let channel = write.channel;
            let (attempt_status, notification_status, due, detail) = match &write.outcome {
                AttemptOutcome::Accepted {
                    provider_message_id,
                    deliver_by,
                } => {
                    sqlx::query(
                        "UPDATE attempts SET provider_message_id = $2, accepted_at = $3, deliver_by = $4, updated_at = $3, \
                         status = CASE WHEN status = 'sending' THEN 'accepted' ELSE status END WHERE id = $1",
                    )
                    .bind(attempt)
                    .bind(provider_message_id.as_str())
                    .bind(millis(now))
                    .bind(deliver_by.map(millis))
                    .execute(&mut *tx)
                    .await?;
                    let detail =
                        format!("{channel} accepted by the provider as {provider_message_id}");
                    (
                        None,
                        NotificationStatus::Sent,
                        deliver_by.unwrap_or(now),
                        detail,
                    )
                }
                AttemptOutcome::Errored {
                    code,
                    text,
                    retry_at,
                } => (
                    Some((
                        AttemptStatus::Errored,
                        Some(code),
                        Some(text),
                        Some(*retry_at),
                    )),
                    NotificationStatus::Queued,
                    *retry_at,
                    format!("{channel} provider error ({code}: {text}); retrying at {retry_at}"),
                ),
                AttemptOutcome::RateLimited { retry_at } => (
                    Some((AttemptStatus::RateLimited, None, None, Some(*retry_at))),
                    NotificationStatus::Queued,
                    *retry_at,
                    format!("{channel} provider asked to slow down; retrying at {retry_at}"),
                ),
                AttemptOutcome::Ambiguous { reason, deliver_by } => {
                    sqlx::query(
                        "UPDATE attempts SET status = 'ambiguous', error_text = $2, deliver_by = $3, updated_at = $4 \
                         WHERE id = $1 AND status = 'sending'",
                    )
                    .bind(attempt)
                    .bind(reason.as_str())
                    .bind(deliver_by.map(millis))
                    .bind(millis(now))
                    .execute(&mut *tx)
                    .await?;
                    let detail = format!(
                        "{channel} hand-over got no answer ({reason}); not resending, waiting for a status"
                    );
                    (
                        None,
                        NotificationStatus::Sending,
                        deliver_by.unwrap_or(now),
                        detail,
                    )
                }
                AttemptOutcome::Failed { code, text } => (
                    Some((AttemptStatus::Failed, Some(code), Some(text), None)),
                    NotificationStatus::Queued,
                    now,
                    format!("{channel} failed ({code}: {text})"),
                ),
            };
            if let Some((status, code, text, retry_at)) = attempt_status {
                let failed_at = (status == AttemptStatus::Failed).then(|| millis(now));
                sqlx::query(
                    "UPDATE attempts SET status = $2, error_code = $3, error_text = $4, retry_at = $5, failed_at = $6, \
                     updated_at = $7 WHERE id = $1 AND status = 'sending'",
                )
                .bind(attempt)
                .bind(status.as_str())
                .bind(code.map(String::as_str))
                .bind(text.map(String::as_str))
                .bind(retry_at.map(millis))
                .bind(failed_at)
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
            }
            events.add(id, Some(attempt), now, "attempt", &detail);
            if release(
                &mut tx,
                id,
                token,
                notification_status,
                now,
                Some(due),
                None,
            )
            .await?
            {
                let detail = format!("sending → {}", notification_status.as_str());
                events.add(id, None, now, "status", &detail);
            }
        }
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn release(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    token: &str,
    status: NotificationStatus,
    now: Timestamp,
    due: Option<Timestamp>,
    delivered_channel: Option<ChannelKind>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(RELEASE)
        .bind(id)
        .bind(token)
        .bind(status.as_str())
        .bind(millis(now))
        .bind(due.map(millis))
        .bind(delivered_channel.map(|c| c.as_str()))
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}
