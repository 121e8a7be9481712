use jiff::Timestamp;

use super::events::EventBatch;
use super::{Store, StoreError, millis, opt_timestamp, timestamp};
use crate::domain::{Actor, CallbackOutcome, CallbackStatus, CallbackTaskId, ClinicId, Event};

/// A staff callback task as the queue shows it: who to call, on what number, and why.
#[derive(Debug, Clone)]
pub struct CallbackView {
    pub id: CallbackTaskId,
    pub notification_id: String,
    pub patient_id: String,
    pub patient_name: String,
    pub phone: Option<String>,
    pub language: String,
    pub reason: String,
    pub status: CallbackStatus,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<Timestamp>,
    pub outcome: Option<CallbackOutcome>,
    pub note: Option<String>,
    pub created_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

pub(super) const VIEW: &str = "SELECT c.id, c.notification_id, p.external_id, p.name, p.phone, p.language, c.reason, c.status, \
    c.claimed_by, c.claimed_at, c.outcome, c.note, c.created_at, c.closed_at \
    FROM callback_tasks c JOIN patients p ON p.id = c.patient_id";

#[derive(sqlx::FromRow)]
pub(super) struct CallbackRow {
    id: String,
    notification_id: String,
    #[sqlx(rename = "external_id")]
    patient_id: String,
    #[sqlx(rename = "name")]
    patient_name: String,
    phone: Option<String>,
    language: String,
    reason: String,
    status: String,
    claimed_by: Option<String>,
    claimed_at: Option<i64>,
    outcome: Option<String>,
    note: Option<String>,
    created_at: i64,
    closed_at: Option<i64>,
}

impl TryFrom<CallbackRow> for CallbackView {
    type Error = StoreError;

    fn try_from(row: CallbackRow) -> Result<Self, StoreError> {
        let status = CallbackStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Corrupt(format!("callback status {}", row.status)))?;
        let outcome = row
            .outcome
            .map(|o| {
                CallbackOutcome::parse(&o)
                    .ok_or_else(|| StoreError::Corrupt(format!("callback outcome {o}")))
            })
            .transpose()?;
        Ok(Self {
            id: CallbackTaskId::from_stored(row.id),
            notification_id: row.notification_id,
            patient_id: row.patient_id,
            patient_name: row.patient_name,
            phone: row.phone,
            language: row.language,
            reason: row.reason,
            status,
            claimed_by: row.claimed_by,
            claimed_at: opt_timestamp(row.claimed_at)?,
            outcome,
            note: row.note,
            created_at: timestamp(row.created_at)?,
            closed_at: opt_timestamp(row.closed_at)?,
        })
    }
}

impl Store {
    /// The clinic's callback tasks, oldest first (the order staff should work them).
    pub async fn callbacks(
        &self,
        clinic: &ClinicId,
        status: Option<CallbackStatus>,
        limit: u32,
    ) -> Result<Vec<CallbackView>, StoreError> {
        let filter = if status.is_some() {
            " AND c.status = $3"
        } else {
            ""
        };
        let sql =
            format!("{VIEW} WHERE c.clinic_id = $1{filter} ORDER BY c.created_at, c.id LIMIT $2");
        let mut query = sqlx::query_as::<_, CallbackRow>(&sql)
            .bind(clinic.as_str())
            .bind(i64::from(limit));
        if let Some(status) = status {
            query = query.bind(status.as_str());
        }
        query
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(CallbackView::try_from)
            .collect()
    }

    pub async fn callback(
        &self,
        clinic: &ClinicId,
        id: &CallbackTaskId,
    ) -> Result<CallbackView, StoreError> {
        sqlx::query_as::<_, CallbackRow>(&format!("{VIEW} WHERE c.clinic_id = $1 AND c.id = $2"))
            .bind(clinic.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    /// Takes an open task for one member of staff. `Err(Conflict)` when someone already has it
    /// or it is closed.
    pub async fn claim_callback(
        &self,
        clinic: &ClinicId,
        id: &CallbackTaskId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let claimed: Option<String> = sqlx::query_scalar(
            "UPDATE callback_tasks SET status = 'claimed', claimed_by = $3, claimed_at = $4, updated_at = $4 \
             WHERE clinic_id = $1 AND id = $2 AND status = 'open' RETURNING notification_id",
        )
        .bind(clinic.as_str())
        .bind(id.as_str())
        .bind(by.to_string())
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(notification) = claimed else {
            return Err(self.callback_conflict(clinic, id).await);
        };
        let mut events = EventBatch::default();
        let event = Event::CallbackClaimed { task: id.clone() };
        events.add(&notification, None, now, by, &event)?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes a task with how the call went; the notification's audit trail records it.
    pub async fn close_callback(
        &self,
        clinic: &ClinicId,
        id: &CallbackTaskId,
        outcome: CallbackOutcome,
        note: Option<&str>,
        by: &Actor,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let closed: Option<String> = sqlx::query_scalar(
            "UPDATE callback_tasks SET status = 'closed', outcome = $3, note = $4, closed_at = $5, updated_at = $5, \
             claimed_by = COALESCE(claimed_by, $6) \
             WHERE clinic_id = $1 AND id = $2 AND status IN ('open', 'claimed') RETURNING notification_id",
        )
        .bind(clinic.as_str())
        .bind(id.as_str())
        .bind(outcome.as_str())
        .bind(note)
        .bind(millis(now))
        .bind(by.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(notification) = closed else {
            return Err(self.callback_conflict(clinic, id).await);
        };
        let mut events = EventBatch::default();
        let event = Event::CallbackClosed {
            task: id.clone(),
            outcome,
        };
        events.add(&notification, None, now, by, &event)?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn callback_conflict(&self, clinic: &ClinicId, id: &CallbackTaskId) -> StoreError {
        match self.callback(clinic, id).await {
            Ok(_) => StoreError::Conflict("callback task state"),
            Err(error) => error,
        }
    }
}
