//! Erasing a patient's personal data on the clinic's request (`DELETE /v1/patients/{id}`): the
//! name, contacts and date of birth, and every message text the store keeps for them
//! (notification bodies and parameters, what each attempt rendered, the sandbox's copies, their
//! inbound texts and media references, staff notes on their callbacks, appointment parameters:
//! the list retention removes by age, in `redaction`). Ids, statuses, counts and the audit trail
//! stay; each record whose texts went gets an event, so the outboxes hear of the change.
//! Notifications still waiting are cancelled first. One transaction: nothing is ever
//! half-erased.

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::events::EventBatch;
use super::fhir_push::enqueue_patient_fhir_pushes;
use super::notification_feed::with_feed_position;
use super::redaction::{Redaction, Scope};
use super::{Store, StoreError, for_update, millis};
use crate::domain::{Actor, Cancellation, ClinicId, Event, PatientId};

/// What `DELETE /v1/patients/{id}` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erasure {
    /// Erased now, after cancelling this many waiting notifications.
    Erased { cancelled: u32 },
    /// Erased by an earlier request: nothing changed.
    AlreadyErased,
}

#[derive(sqlx::FromRow)]
struct ErasedRow {
    id: String,
    phone: Option<String>,
    email: Option<String>,
    erased_at: Option<i64>,
}

/// What an erasure removes beyond the texts retention removes too: the patient's number on
/// their messages. `$1` clinic, `$2` patient.
const FORGET_MESSAGE_SENDER: &str =
    "UPDATE inbound_messages SET from_address = '' WHERE clinic_id = $1 AND patient_id = $2";

impl Store {
    /// Erases the personal data of the clinic's patient `external_id`, recording who did it.
    pub async fn erase_patient(
        &self,
        clinic: &ClinicId,
        external_id: &str,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Erasure, StoreError> {
        let lock = for_update(self.backend);
        let mut tx = self.write.begin().await?;
        let patient = sqlx::query_as::<_, ErasedRow>(&format!(
            "SELECT id, phone, email, erased_at FROM patients \
             WHERE clinic_id = $1 AND external_id = $2{lock}"
        ))
        .bind(clinic.as_str())
        .bind(external_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        if patient.erased_at.is_some() {
            return Ok(Erasure::AlreadyErased);
        }
        let id = PatientId::from_stored(patient.id.clone());
        let mut events = EventBatch::default();
        let cancelled = cancel_waiting(&mut tx, clinic, &id, by, now, &mut events).await?;
        let redaction = Redaction { clinic, by, now };
        redaction
            .remove(&mut tx, Scope::Patient(&id), &mut events)
            .await?;
        sqlx::query(FORGET_MESSAGE_SENDER)
            .bind(clinic.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        forget_addresses(&mut tx, clinic, &patient).await?;
        erase_patient_row(&mut tx, &id, now).await?;
        // Their records on the clinic's FHIR server name them, the ones emptied earlier too.
        enqueue_patient_fhir_pushes(&mut tx, clinic, &id, millis(now)).await?;
        let event = Event::PatientErased { cancelled };
        events.add_to_conversation(clinic, &id, None, now, by, &event)?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(Erasure::Erased { cancelled })
    }
}

/// Cancels the patient's notifications that no provider has yet, each with its event.
async fn cancel_waiting(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    patient: &PatientId,
    by: &Actor,
    now: Timestamp,
    events: &mut EventBatch,
) -> Result<u32, StoreError> {
    let cancel = with_feed_position(
        tx,
        "UPDATE notification_states SET status = 'cancelled', due_at = NULL, updated_at = $3, \
         {feed_position} WHERE clinic_id = $1 AND id IN (SELECT r.id FROM notification_requests r \
             WHERE r.clinic_id = $1 AND r.patient_id = $2) AND status IN ('scheduled', 'queued') \
         AND lease_token IS NULL AND NOT EXISTS (SELECT 1 FROM attempts a \
             WHERE a.notification_id = notification_states.id \
             AND a.status NOT IN ('failed', 'errored', 'rate_limited')) \
         RETURNING id",
    );
    let cancelled: Vec<String> = sqlx::query_scalar(&cancel)
        .bind(clinic.as_str())
        .bind(patient.as_str())
        .bind(millis(now))
        .fetch_all(&mut **tx)
        .await?;
    let event = Event::Cancelled {
        because: Cancellation::PatientErased,
    };
    for id in &cancelled {
        events.add(id, None, now, by, &event)?;
    }
    Ok(u32::try_from(cancelled.len()).unwrap_or(u32::MAX))
}

/// Drops what providers told us about the patient's addresses, and the WhatsApp service
/// window their number opened with the clinic's numbers.
async fn forget_addresses(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    patient: &ErasedRow,
) -> Result<(), StoreError> {
    for address in [&patient.phone, &patient.email].into_iter().flatten() {
        sqlx::query("DELETE FROM recipient_facts WHERE clinic_id = $1 AND address = $2")
            .bind(clinic.as_str())
            .bind(address)
            .execute(&mut **tx)
            .await?;
    }
    if let Some(phone) = &patient.phone {
        sqlx::query(
            "DELETE FROM whatsapp_conversations WHERE address = $2 AND phone_number_id IN \
             (SELECT sender FROM inbound_messages WHERE clinic_id = $1 AND patient_id = $3)",
        )
        .bind(clinic.as_str())
        .bind(phone)
        .bind(patient.id.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Empties the patient's row. An unknown contact's id holds its number, so it gets one that
/// does not: a later message from that number is an unknown contact again.
async fn erase_patient_row(
    tx: &mut Transaction<'_, Any>,
    patient: &PatientId,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE patients SET name = '', name_key = '', phone = NULL, phone_type = NULL, email = NULL, \
         birth_date = NULL, whatsapp = 0, erased_at = $2, updated_at = $2, \
         external_id = CASE WHEN unknown_contact = 1 THEN 'erased:' || id ELSE external_id END \
         WHERE id = $1",
    )
    .bind(patient.as_str())
    .bind(millis(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
