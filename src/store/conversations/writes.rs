//! Staff actions on a conversation (labels, handling, answering) and the overdue sweep. Each is
//! one transaction with its event; the conversation's row is held while it changes, and written
//! first when the patient has none yet.

use std::collections::BTreeSet;

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::parse_labels;
use crate::domain::{Actor, ClinicId, ConversationStatus, Event, PatientId};
use crate::store::events::EventBatch;
use crate::store::{
    Backend, NewNotification, Store, StoreError, for_update, millis, opt_timestamp, skip_locked,
    timestamp,
};

const HANDLED: &str = "handled";
const URGENT: &str = "urgent";
const AWAITING: &str = "awaiting_response";

/// Labels to add to a conversation and labels to take off it, as staff asked. `handled` goes
/// with the status (added: the conversation is marked handled; removed: it is open again) and
/// `urgent` with the urgent mark.
#[derive(Debug, Clone, Default)]
pub struct LabelChange {
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

/// A conversation's row as held for a change.
#[derive(Debug)]
struct Held {
    status: ConversationStatus,
    labels: BTreeSet<String>,
    urgent_since: Option<Timestamp>,
}

impl Held {
    /// Handled by staff: nothing waits and nothing is urgent any more.
    fn mark_handled(&mut self) {
        self.status = ConversationStatus::Handled;
        self.labels.insert(HANDLED.to_owned());
        self.labels.remove(URGENT);
        self.labels.remove(AWAITING);
        self.urgent_since = None;
    }

    /// Applies `change`; returns the labels actually added and removed.
    fn relabel(&mut self, change: &LabelChange, now: Timestamp) -> (Vec<String>, Vec<String>) {
        let before = self.labels.clone();
        for label in &change.add {
            match label.as_str() {
                HANDLED => self.mark_handled(),
                URGENT => {
                    self.urgent_since.get_or_insert(now);
                    self.labels.insert(URGENT.to_owned());
                }
                _ => {
                    self.labels.insert(label.clone());
                }
            }
        }
        for label in &change.remove {
            match label.as_str() {
                HANDLED => self.status = ConversationStatus::Open,
                URGENT => self.urgent_since = None,
                _ => {}
            }
            self.labels.remove(label);
        }
        (
            self.labels.difference(&before).cloned().collect(),
            before.difference(&self.labels).cloned().collect(),
        )
    }
}

/// Holds the conversation of the clinic's `patient`, writing it first when the patient has
/// none: a handled conversation without labels, whose last message is their latest
/// notification. `NotFound` when the clinic has no such patient.
async fn hold(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    clinic: &ClinicId,
    patient: &PatientId,
    now: Timestamp,
) -> Result<Held, StoreError> {
    sqlx::query(
        "INSERT INTO conversations (patient_id, clinic_id, status, labels, last_message_at, created_at, updated_at) \
         SELECT p.id, p.clinic_id, 'handled', '[]', COALESCE((SELECT MAX(n.created_at) FROM notifications n \
         WHERE n.clinic_id = p.clinic_id AND n.patient_id = p.id), $3), $3, $3 \
         FROM patients p WHERE p.clinic_id = $1 AND p.id = $2 \
         ON CONFLICT (patient_id) DO NOTHING",
    )
    .bind(clinic.as_str())
    .bind(patient.as_str())
    .bind(millis(now))
    .execute(&mut **tx)
    .await?;
    let (status, labels, urgent_since): (String, String, Option<i64>) = sqlx::query_as(&format!(
        "SELECT status, labels, urgent_since FROM conversations \
             WHERE clinic_id = $1 AND patient_id = $2{}",
        for_update(backend)
    ))
    .bind(clinic.as_str())
    .bind(patient.as_str())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(Held {
        status: ConversationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("conversation status {status}")))?,
        labels: parse_labels(&labels)?.into_iter().collect(),
        urgent_since: opt_timestamp(urgent_since)?,
    })
}

/// Writes `held` back; `wait_over` clears the waiting message and its overdue clock.
async fn write_held(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    patient: &PatientId,
    held: &Held,
    wait_over: bool,
    now: Timestamp,
) -> Result<(), StoreError> {
    let labels: Vec<&String> = held.labels.iter().collect();
    let labels =
        serde_json::to_string(&labels).map_err(|e| StoreError::Corrupt(format!("labels: {e}")))?;
    let clear_wait = if wait_over {
        ", awaiting_since = NULL, overdue_at = NULL, overdue_raised_at = NULL"
    } else {
        ""
    };
    sqlx::query(&format!(
        "UPDATE conversations SET status = $3, labels = $4, urgent_since = $5, updated_at = $6{clear_wait} \
         WHERE clinic_id = $1 AND patient_id = $2"
    ))
    .bind(clinic.as_str())
    .bind(patient.as_str())
    .bind(held.status.as_str())
    .bind(labels)
    .bind(held.urgent_since.map(millis))
    .bind(millis(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks the patient's waiting messages (neither answered nor handled) as `column` by `by`;
/// returns how many. `column` is `answered` or `handled`, never input.
async fn close_waiting(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    patient: &PatientId,
    column: &'static str,
    by: &str,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let done = sqlx::query(&format!(
        "UPDATE inbound_messages SET {column}_at = $3, {column}_by = $4 \
         WHERE clinic_id = $1 AND patient_id = $2 AND answered_at IS NULL AND handled_at IS NULL"
    ))
    .bind(clinic.as_str())
    .bind(patient.as_str())
    .bind(millis(now))
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(u32::try_from(done.rows_affected()).unwrap_or(u32::MAX))
}

/// Within the intake transaction that stores them: each staff reply answers every message its
/// patient left waiting, takes `awaiting_response` off the conversation and stops its overdue
/// clock, with an event naming the person.
pub(crate) async fn record_staff_replies(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    replies: &[&NewNotification],
    events: &mut EventBatch,
) -> Result<(), StoreError> {
    for reply in replies {
        let (clinic, patient, now) = (&reply.clinic_id, &reply.patient_id, reply.received_at);
        let by = &reply.received_by;
        let mut held = hold(tx, backend, clinic, patient, now).await?;
        let answered = close_waiting(tx, clinic, patient, "answered", &person(by), now).await?;
        held.labels.remove(AWAITING);
        write_held(tx, clinic, patient, &held, true, now).await?;
        sqlx::query(
            "UPDATE conversations SET last_staff_reply_at = $3, \
             last_message_at = CASE WHEN last_message_at > $3 THEN last_message_at ELSE $3 END \
             WHERE clinic_id = $1 AND patient_id = $2",
        )
        .bind(clinic.as_str())
        .bind(patient.as_str())
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
        let event = Event::ConversationReplied {
            notification: reply.id.clone(),
            answered,
        };
        events.add_to_conversation(clinic, patient, Some(reply.id.as_str()), now, by, &event)?;
    }
    Ok(())
}

/// A conversation that just became overdue.
#[derive(Debug, Clone)]
struct Overdue {
    clinic: ClinicId,
    patient: PatientId,
    waiting_since: Timestamp,
    overdue_at: Timestamp,
}

/// Conversations whose overdue event is raised per sweep, at most.
pub const OVERDUE_BATCH: usize = 100;

impl Store {
    /// Marks the conversation handled by `by`: every waiting message with it, `urgent` and
    /// `awaiting_response` off. Returns how many messages were waiting.
    pub async fn handle_conversation(
        &self,
        clinic: &ClinicId,
        patient: &PatientId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        let mut tx = self.write.begin().await?;
        let mut held = hold(&mut tx, self.backend, clinic, patient, now).await?;
        let messages = handle_waiting(&mut tx, clinic, patient, &mut held, by, now).await?;
        write_held(&mut tx, clinic, patient, &held, true, now).await?;
        let mut events = EventBatch::default();
        let event = Event::ConversationHandled { messages };
        events.add_to_conversation(clinic, patient, None, now, by, &event)?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(messages)
    }

    /// Adds and removes labels (see [`LabelChange`]); an event records what changed, if
    /// anything did.
    pub async fn label_conversation(
        &self,
        clinic: &ClinicId,
        patient: &PatientId,
        by: &Actor,
        change: &LabelChange,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let mut held = hold(&mut tx, self.backend, clinic, patient, now).await?;
        let was_handled = held.status == ConversationStatus::Handled;
        let (added, removed) = held.relabel(change, now);
        let handled_now = !was_handled && held.status == ConversationStatus::Handled;
        if handled_now {
            handle_waiting(&mut tx, clinic, patient, &mut held, by, now).await?;
        }
        write_held(&mut tx, clinic, patient, &held, handled_now, now).await?;
        if !added.is_empty() || !removed.is_empty() {
            let mut events = EventBatch::default();
            let event = Event::ConversationLabelled { added, removed };
            events.add_to_conversation(clinic, patient, None, now, by, &event)?;
            events.write(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Raises the overdue event of conversations whose waiting message passed the response
    /// target, each once: the row is claimed by a conditional update, so of several instances
    /// sweeping at once exactly one raises it. Returns how many were raised.
    pub async fn raise_overdue(&self, now: Timestamp) -> Result<usize, StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        let raised = claim_overdue(&mut tx, self.backend, now).await?;
        let mut events = EventBatch::default();
        for o in &raised {
            let event = Event::ConversationOverdue {
                waiting_since: o.waiting_since,
                overdue_at: o.overdue_at,
            };
            events.add_to_conversation(&o.clinic, &o.patient, None, now, &Actor::System, &event)?;
        }
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(raised.len())
    }
}

/// Claims a batch of conversations past their response target whose overdue event is not
/// raised yet, marking it raised at `now`; on PostgreSQL rows another sweeper holds are skipped.
async fn claim_overdue(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    now: Timestamp,
) -> Result<Vec<Overdue>, StoreError> {
    let skip_locked = skip_locked(backend);
    let rows: Vec<(String, String, Option<i64>, i64)> = sqlx::query_as(&format!(
        "UPDATE conversations SET overdue_raised_at = $1, updated_at = $1 \
         WHERE patient_id IN (SELECT patient_id FROM conversations \
           WHERE overdue_at IS NOT NULL AND overdue_raised_at IS NULL AND overdue_at <= $1 \
           ORDER BY overdue_at LIMIT $2{skip_locked}) \
         AND overdue_raised_at IS NULL AND overdue_at <= $1 \
         RETURNING clinic_id, patient_id, awaiting_since, overdue_at"
    ))
    .bind(millis(now))
    .bind(OVERDUE_BATCH as i64)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|(clinic, patient, waiting_since, overdue_at)| {
            let overdue_at = timestamp(overdue_at)?;
            Ok(Overdue {
                clinic: ClinicId::from_stored(clinic),
                patient: PatientId::from_stored(patient),
                waiting_since: opt_timestamp(waiting_since)?.unwrap_or(overdue_at),
                overdue_at,
            })
        })
        .collect()
}

/// Marks `held` handled and its waiting messages handled by `by`; returns how many waited.
async fn handle_waiting(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    patient: &PatientId,
    held: &mut Held,
    by: &Actor,
    now: Timestamp,
) -> Result<u32, StoreError> {
    held.mark_handled();
    close_waiting(tx, clinic, patient, "handled", &person(by), now).await
}

/// Who answered or handled a message, as its row records it: the staff member's name.
fn person(by: &Actor) -> String {
    match by {
        Actor::Staff(name) => name.clone(),
        other => other.stored(),
    }
}
