//! The audit trail's writer: every event of a transaction goes through one [`EventBatch`].

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::rows::{Param, write_rows};
use super::{StoreError, millis};
use crate::domain::{Actor, Event};

/// The audit events of one transaction, written together in a few multi-row statements. The
/// only writer of events: each row holds the typed event as JSON, its sentence and its actor.
#[derive(Debug, Default)]
pub(crate) struct EventBatch {
    rows: Vec<Vec<Param>>,
}

impl EventBatch {
    pub(crate) fn add(
        &mut self,
        notification: &str,
        attempt: Option<&str>,
        at: Timestamp,
        actor: &Actor,
        event: &Event,
    ) -> Result<(), StoreError> {
        let data = serde_json::to_string(event)
            .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", event.kind())))?;
        self.rows.push(vec![
            notification.into(),
            attempt.into(),
            millis(at).into(),
            event.kind().into(),
            event.detail(actor).into(),
            data.into(),
            actor.stored().into(),
        ]);
        Ok(())
    }

    pub(crate) async fn write(self, tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
        let sql = "INSERT INTO events (notification_id, attempt_id, at, kind, detail, data, actor) \
                   VALUES {values}";
        write_rows(tx, sql, &[], self.rows).await?;
        Ok(())
    }
}
