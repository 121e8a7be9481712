//! What the rules read about a message being stored: its clinic, patient, conversation and the
//! appointment it may answer.

use std::sync::Arc;

use jiff::SignedDuration;
use sqlx::{Any, Transaction};

use super::super::patients::locked_patient;
use super::super::{Store, StoreError, millis, opt_timestamp, timestamp};
use super::matching::Match;
use super::{Arrival, ConversationState, InboundSituation};
use crate::domain::{AppointmentId, AppointmentStatus, InboundMessageId, PatientId};
use crate::policy::inbound::AnsweredReminder;
use crate::policy::templates::TemplateCopy;

/// How far back a reminder may be that a reply answers.
const REMINDER_ANSWERED_WITHIN: SignedDuration = SignedDuration::from_hours(7 * 24);

impl Store {
    /// The situation of message `id`, stored in `tx` for `found`.
    pub(super) async fn situation(
        &self,
        tx: &mut Transaction<'_, Any>,
        found: &Match,
        id: InboundMessageId,
        arrival: &Arrival<'_>,
    ) -> Result<InboundSituation, StoreError> {
        let patient = locked_patient(self.backend, tx, &found.patient).await?;
        let clinic = self.clinic_by_id(&found.clinic).await?;
        let settings: Option<String> =
            sqlx::query_scalar("SELECT inbound_settings FROM clinics WHERE id = $1")
                .bind(found.clinic.as_str())
                .fetch_one(&mut **tx)
                .await?;
        Ok(InboundSituation {
            message_id: id,
            hours: Arc::new(self.clinic_hours(&found.clinic).await?),
            templates: self
                .clinic_texts::<TemplateCopy>(&found.clinic, None)
                .await?,
            conversation: conversation_state(tx, &found.patient).await?,
            reminder: answered_appointment(tx, &found.patient, arrival).await?,
            clinic,
            patient,
            settings,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ConversationRow {
    labels: String,
    urgent_since: Option<i64>,
    awaiting_since: Option<i64>,
    overdue_at: Option<i64>,
    last_message_at: i64,
    last_staff_reply_at: Option<i64>,
    last_receipt_at: Option<i64>,
    last_away_at: Option<i64>,
    created_at: i64,
}

/// The patient's conversation as it stands; the default when they never wrote before.
async fn conversation_state(
    tx: &mut Transaction<'_, Any>,
    patient: &PatientId,
) -> Result<ConversationState, StoreError> {
    let row = sqlx::query_as::<_, ConversationRow>(
        "SELECT labels, urgent_since, awaiting_since, overdue_at, last_message_at, \
         last_staff_reply_at, last_receipt_at, last_away_at, created_at \
         FROM conversations WHERE patient_id = $1",
    )
    .bind(patient.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(ConversationState::default());
    };
    Ok(ConversationState {
        labels: serde_json::from_str(&row.labels)
            .map_err(|e| StoreError::Corrupt(format!("conversation labels: {e}")))?,
        urgent_since: opt_timestamp(row.urgent_since)?,
        awaiting_since: opt_timestamp(row.awaiting_since)?,
        overdue_at: opt_timestamp(row.overdue_at)?,
        last_message_at: Some(timestamp(row.last_message_at)?),
        last_staff_reply_at: opt_timestamp(row.last_staff_reply_at)?,
        last_receipt_at: opt_timestamp(row.last_receipt_at)?,
        last_away_at: opt_timestamp(row.last_away_at)?,
        created_at: Some(timestamp(row.created_at)?),
    })
}

/// The appointment the message may answer: one of the patient's appointments still on and in
/// the future whose reminder a provider took in the last 7 days (and has not failed). A WhatsApp reply to that reminder
/// (its context) or a button naming the appointment picks it; else the latest reminder's.
async fn answered_appointment(
    tx: &mut Transaction<'_, Any>,
    patient: &PatientId,
    arrival: &Arrival<'_>,
) -> Result<Option<AnsweredReminder>, StoreError> {
    let now = arrival.received_at;
    let since = now - REMINDER_ANSWERED_WITHIN;
    let rows: Vec<(String, i64, String, Option<String>)> = sqlx::query_as(
        "SELECT ap.id, ap.starts_at, ap.status, a.provider_message_id FROM notifications n \
         JOIN appointments ap ON ap.id = n.appointment_id \
         JOIN attempts a ON a.notification_id = n.id \
         WHERE n.clinic_id = ap.clinic_id AND n.patient_id = $1 AND n.reminder_minutes_before IS NOT NULL \
         AND a.status IN ('accepted', 'sent', 'delivered', 'read') AND a.accepted_at > $2 \
         AND ap.status IN ('booked', 'confirmed') AND ap.starts_at > $3 \
         ORDER BY a.accepted_at DESC",
    )
    .bind(patient.as_str())
    .bind(millis(since))
    .bind(millis(now))
    .fetch_all(&mut **tx)
    .await?;
    let message = arrival.message;
    let named = |(id, _, _, provider_id): &&(String, i64, String, Option<String>)| {
        message.in_reply_to.is_some() && *provider_id == message.in_reply_to
            || message
                .reply_payload
                .as_deref()
                .is_some_and(|payload| payload.contains(id.as_str()))
    };
    let Some((id, starts_at, status, _)) = rows.iter().find(named).or(rows.first()) else {
        return Ok(None);
    };
    Ok(Some(AnsweredReminder {
        appointment: AppointmentId::from_stored(id.clone()),
        starts_at: timestamp(*starts_at)?,
        status: AppointmentStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("appointment status {status}")))?,
    }))
}
