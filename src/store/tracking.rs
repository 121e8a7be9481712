use jiff::Timestamp;
use medrelay_channels::DeliveryState;
use sqlx::Row;

use super::notifications::EventBatch;
use super::{Store, StoreError, lock_notifications, millis};
use crate::domain::AttemptStatus;

/// Delivery evidence from a provider about one attempt.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    /// Our attempt id, echoed back by the provider.
    pub attempt_id: String,
    pub provider_message_id: String,
    pub state: DeliveryState,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
}

fn attempt_status(state: DeliveryState) -> AttemptStatus {
    match state {
        DeliveryState::Sent => AttemptStatus::Sent,
        DeliveryState::Delivered => AttemptStatus::Delivered,
        DeliveryState::Read => AttemptStatus::Read,
        DeliveryState::Failed => AttemptStatus::Failed,
    }
}

impl Store {
    /// Applies provider status updates in one transaction. Statuses only move forward: a repeat
    /// or a late, lesser status changes nothing and records nothing. The notification is flagged
    /// for the dispatcher to look at again, which derives its status from its attempts.
    /// Returns how many updates changed something.
    pub async fn apply_statuses(
        &self,
        updates: &[StatusUpdate],
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let mut tx = self.write.begin().await?;
        let attempts: Vec<&str> = updates.iter().map(|u| u.attempt_id.as_str()).collect();
        let owners = "SELECT notification_id FROM attempts WHERE id IN ({ids})";
        lock_notifications(self.backend, &mut tx, owners, &attempts).await?;
        let mut events = EventBatch::default();
        let mut changed = 0;
        for update in updates {
            let Some(row) =
                sqlx::query("SELECT notification_id, channel, status FROM attempts WHERE id = $1")
                    .bind(update.attempt_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
            else {
                continue;
            };
            let notification: String = row.try_get("notification_id")?;
            let channel: String = row.try_get("channel")?;
            let current_text: String = row.try_get("status")?;
            let current = AttemptStatus::parse(&current_text)
                .ok_or_else(|| StoreError::Corrupt(format!("attempt status {current_text}")))?;
            let new = attempt_status(update.state);
            if new.progress() <= current.progress() {
                continue;
            }
            let at = millis(now);
            sqlx::query(
                "UPDATE attempts SET status = $2, provider_message_id = COALESCE(provider_message_id, $3), \
                 delivered_at = CASE WHEN $2 IN ('delivered', 'read') THEN COALESCE(delivered_at, $4) ELSE delivered_at END, \
                 read_at = CASE WHEN $2 = 'read' THEN $4 ELSE read_at END, \
                 failed_at = CASE WHEN $2 = 'failed' THEN $4 ELSE failed_at END, \
                 error_code = COALESCE($5, error_code), error_text = COALESCE($6, error_text), updated_at = $4 \
                 WHERE id = $1",
            )
            .bind(update.attempt_id.as_str())
            .bind(new.as_str())
            .bind(update.provider_message_id.as_str())
            .bind(at)
            .bind(update.error_code.as_deref())
            .bind(update.error_text.as_deref())
            .execute(&mut *tx)
            .await?;
            let late = if current == AttemptStatus::TimedOut {
                " (after its delivery timeout)"
            } else {
                ""
            };
            let detail = match (&update.error_code, &update.error_text) {
                (Some(code), Some(text)) => {
                    format!("{channel} {} ({code}: {text}){late}", new.as_str())
                }
                _ => format!("{channel} {}{late}", new.as_str()),
            };
            events.add(
                &notification,
                Some(&update.attempt_id),
                now,
                "attempt",
                &detail,
            );
            if new != AttemptStatus::Sent {
                sqlx::query(
                    "UPDATE notifications SET recheck = 1, \
                     due_at = CASE WHEN lease_token IS NULL THEN $2 ELSE due_at END WHERE id = $1",
                )
                .bind(notification.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            changed += 1;
        }
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(changed)
    }
}
