//! The audit trail's writer: every event of a transaction goes through one [`EventBatch`].

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::rows::{columns, write_rows};
use super::{StoreError, millis};
use crate::domain::{Actor, ClinicId, Event, InboundMessageId, PatientId};

/// The audit events of one transaction, written together in a few multi-row statements. The
/// only writer of events: each row holds the typed event as JSON, its sentence and its actor.
#[derive(Debug, Default)]
pub(crate) struct EventBatch {
    rows: Vec<StoredEvent>,
}

/// Where a conversation event belongs: the patient's conversation in their clinic, and the
/// inbound message that caused it, if one did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConversationRef<'a> {
    pub(crate) clinic: &'a ClinicId,
    pub(crate) patient: &'a PatientId,
    pub(crate) message: Option<&'a InboundMessageId>,
}

/// One event as its row stores it.
#[derive(Debug)]
struct StoredEvent {
    notification_id: Option<String>,
    attempt_id: Option<String>,
    clinic_id: Option<String>,
    patient_id: Option<String>,
    inbound_message_id: Option<String>,
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
        let mut row = stored(at, actor, event)?;
        row.notification_id = Some(notification.to_owned());
        row.attempt_id = attempt.map(str::to_owned);
        self.rows.push(row);
        Ok(())
    }

    /// An event of a patient's conversation; `notification` when it is about one of theirs too
    /// (an auto reply queued, a reminder answered).
    pub(crate) fn add_to_conversation(
        &mut self,
        conversation: ConversationRef<'_>,
        notification: Option<&str>,
        at: Timestamp,
        actor: &Actor,
        event: &Event,
    ) -> Result<(), StoreError> {
        let mut row = stored(at, actor, event)?;
        row.notification_id = notification.map(str::to_owned);
        row.clinic_id = Some(conversation.clinic.as_str().to_owned());
        row.patient_id = Some(conversation.patient.as_str().to_owned());
        row.inbound_message_id = conversation.message.map(|m| m.as_str().to_owned());
        self.rows.push(row);
        Ok(())
    }

    pub(crate) async fn write(self, tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows: Vec<EventRow> = self
            .rows
            .iter()
            .map(|e| EventRow {
                notification_id: e.notification_id.as_deref(),
                attempt_id: e.attempt_id.as_deref(),
                clinic_id: e.clinic_id.as_deref(),
                patient_id: e.patient_id.as_deref(),
                inbound_message_id: e.inbound_message_id.as_deref(),
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

fn stored(at: Timestamp, actor: &Actor, event: &Event) -> Result<StoredEvent, StoreError> {
    let data = serde_json::to_string(event)
        .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", event.kind())))?;
    Ok(StoredEvent {
        notification_id: None,
        attempt_id: None,
        clinic_id: None,
        patient_id: None,
        inbound_message_id: None,
        at: millis(at),
        kind: event.kind(),
        detail: event.detail(actor),
        data,
        actor: actor.stored(),
    })
}

columns! {
    struct EventRow<'a> {
        notification_id: Option<&'a str>,
        attempt_id: Option<&'a str>,
        clinic_id: Option<&'a str>,
        patient_id: Option<&'a str>,
        inbound_message_id: Option<&'a str>,
        at: i64,
        kind: &'a str,
        detail: &'a str,
        data: &'a str,
        actor: &'a str,
    }
}
