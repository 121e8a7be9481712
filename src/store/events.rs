//! The audit trail's writer: every event of a transaction goes through one [`EventBatch`].

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::rows::{columns, write_rows};
use super::{StoreError, millis};
use crate::domain::{Actor, Event};

/// The audit events of one transaction, written together in a few multi-row statements. The
/// only writer of events: each row holds the typed event as JSON, its sentence and its actor.
#[derive(Debug, Default)]
pub(crate) struct EventBatch {
    rows: Vec<StoredEvent>,
}

/// One event as its row stores it.
#[derive(Debug)]
struct StoredEvent {
    notification_id: String,
    attempt_id: Option<String>,
    at: i64,
    kind: &'static str,
    detail: String,
    data: String,
    actor: String,
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
        self.rows.push(StoredEvent {
            notification_id: notification.to_owned(),
            attempt_id: attempt.map(str::to_owned),
            at: millis(at),
            kind: event.kind(),
            detail: event.detail(actor),
            data,
            actor: actor.stored(),
        });
        Ok(())
    }

    pub(crate) async fn write(self, tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
        let rows: Vec<EventRow> = self
            .rows
            .iter()
            .map(|e| EventRow {
                notification_id: &e.notification_id,
                attempt_id: e.attempt_id.as_deref(),
                at: e.at,
                kind: e.kind,
                detail: &e.detail,
                data: &e.data,
                actor: &e.actor,
            })
            .collect();
        let sql = "INSERT INTO events ({columns}) VALUES {values}";
        write_rows(tx, sql, &[], &rows).await?;
        Ok(())
    }
}

columns! {
    struct EventRow<'a> {
        notification_id: &'a str,
        attempt_id: Option<&'a str>,
        at: i64,
        kind: &'a str,
        detail: &'a str,
        data: &'a str,
        actor: &'a str,
    }
}
