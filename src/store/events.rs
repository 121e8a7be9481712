//! The audit trail's writer: every event of a transaction goes through one [`EventBatch`].

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::booking_webhooks::{OutboxEvent, write_outbox};
use super::fhir_push::enqueue_fhir_pushes;
use super::rows::{columns, write_rows};
use super::{StoreError, millis};
use crate::domain::{
    Actor, ClinicId, Event, FhirSubject, InboundMessageId, NotificationId, PatientId, WebhookFacts,
    attempt_channel, webhook_facts,
};

/// The audit events of one transaction, written together in a few multi-row statements. The
/// only writer of events: each row holds the typed event as JSON, its sentence and its actor.
#[derive(Debug, Default)]
pub(crate) struct EventBatch {
    rows: Vec<StoredEvent>,
    /// Set for changes that stay in medrelay (see [`EventBatch::kept_from_the_medical_record`]).
    not_pushed: bool,
}

/// One event as its row stores it.
#[derive(Debug)]
struct StoredEvent {
    notification_id: Option<String>,
    attempt_id: Option<String>,
    /// Set for a conversation's events: the patient's conversation and its clinic.
    conversation: Option<(String, String)>,
    /// Set for a clinic's own events (about no patient).
    clinic: Option<String>,
    /// Set for the events a patient's message caused.
    inbound_message_id: Option<String>,
    at: i64,
    kind: &'static str,
    detail: String,
    data: String,
    actor: String,
    /// What the booking system's webhooks carry of it, if anything.
    hook: Option<WebhookFacts>,
    /// The channel of an attempt event, for a status change written beside it.
    channel: Option<medrelay_channels::ChannelKind>,
}

impl EventBatch {
    /// A batch whose changes are not pushed to the clinic's FHIR server: retention's removals.
    /// The medical record keeps its own periods; medrelay removing its copy of a text after two
    /// years must not empty the record's.
    pub(crate) fn kept_from_the_medical_record() -> Self {
        Self {
            rows: Vec::new(),
            not_pushed: true,
        }
    }

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

    /// An event of `patient`'s conversation (a staff action, an overdue message); `notification`
    /// when it is also about one of theirs.
    pub(crate) fn add_to_conversation(
        &mut self,
        clinic: &ClinicId,
        patient: &PatientId,
        notification: Option<&str>,
        at: Timestamp,
        actor: &Actor,
        event: &Event,
    ) -> Result<(), StoreError> {
        let mut row = stored(at, actor, event)?;
        row.notification_id = notification.map(str::to_owned);
        row.conversation = Some((clinic.as_str().to_owned(), patient.as_str().to_owned()));
        self.rows.push(row);
        Ok(())
    }

    /// An event of the clinic itself, about none of its patients (its webhook endpoints).
    pub(crate) fn add_for_clinic(
        &mut self,
        clinic: &ClinicId,
        at: Timestamp,
        event: &Event,
    ) -> Result<(), StoreError> {
        let mut row = stored(at, &Actor::System, event)?;
        row.clinic = Some(clinic.as_str().to_owned());
        self.rows.push(row);
        Ok(())
    }

    /// An event of a patient's conversation caused by their message `message`.
    pub(crate) fn add_for_message(
        &mut self,
        message: &InboundMessageId,
        conversation: (&ClinicId, &PatientId),
        notification: Option<&str>,
        at: Timestamp,
        event: &Event,
    ) -> Result<(), StoreError> {
        self.add_about_message(
            message,
            conversation,
            notification,
            at,
            &Actor::System,
            event,
        )
    }

    /// An event of a patient's conversation about their message `message`, caused by `actor`.
    pub(crate) fn add_for_message_by(
        &mut self,
        message: &InboundMessageId,
        conversation: (&ClinicId, &PatientId),
        at: Timestamp,
        actor: &Actor,
        event: &Event,
    ) -> Result<(), StoreError> {
        self.add_about_message(message, conversation, None, at, actor, event)
    }

    fn add_about_message(
        &mut self,
        message: &InboundMessageId,
        conversation: (&ClinicId, &PatientId),
        notification: Option<&str>,
        at: Timestamp,
        actor: &Actor,
        event: &Event,
    ) -> Result<(), StoreError> {
        let (clinic, patient) = conversation;
        self.add_to_conversation(clinic, patient, notification, at, actor, event)?;
        if let Some(row) = self.rows.last_mut() {
            row.inbound_message_id = Some(message.as_str().to_owned());
        }
        Ok(())
    }

    /// Writes the events, the booking system's webhook messages for those it hears of, and
    /// (unless kept from it) the pushes to the clinic's FHIR server of the notifications and
    /// messages they are about, in the caller's transaction.
    pub(crate) async fn write(self, tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
        self.write_events(tx).await?;
        let outbox = self.outbox_events();
        if outbox.is_empty() && self.not_pushed {
            return Ok(());
        }
        let listeners = Listeners::read(tx).await?;
        if listeners.webhook_endpoints {
            write_outbox(tx, &outbox).await?;
        }
        if listeners.fhir_servers && !self.not_pushed {
            enqueue_fhir_pushes(tx, self.fhir_subjects()).await?;
        }
        Ok(())
    }

    /// The records the events change: their notifications and patients' messages.
    fn fhir_subjects(&self) -> impl Iterator<Item = (FhirSubject, i64)> + '_ {
        self.rows.iter().flat_map(|row| {
            let notification = row
                .notification_id
                .as_ref()
                .map(|id| FhirSubject::Notification(NotificationId::from_stored(id.clone())));
            let message = row
                .inbound_message_id
                .as_ref()
                .map(|id| FhirSubject::InboundMessage(InboundMessageId::from_stored(id.clone())));
            notification
                .into_iter()
                .chain(message)
                .map(|subject| (subject, row.at))
        })
    }

    /// The webhook events of the batch; a status change carries the channel and the sentences
    /// of the other events of its notification in this batch (the reason). An event recorded on
    /// several trails (a patient's answer to an appointment: on the conversation and on each
    /// reminder) is heard once, as its last copy, the latest reminder's.
    fn outbox_events(&self) -> Vec<OutboxEvent<'_>> {
        self.rows
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.is_copied_later(*i))
            .filter_map(|(_, row)| Some(self.outbox_event(row, row.hook.as_ref()?)))
            .collect()
    }

    fn is_copied_later(&self, i: usize) -> bool {
        let Some(hook) = &self.rows[i].hook else {
            return false;
        };
        hook.appointment.is_some()
            && self.rows[i + 1..].iter().any(|later| {
                later.at == self.rows[i].at
                    && later
                        .hook
                        .as_ref()
                        .is_some_and(|h| h.appointment == hook.appointment && h.types == hook.types)
            })
    }

    fn outbox_event<'a>(&'a self, row: &'a StoredEvent, hook: &'a WebhookFacts) -> OutboxEvent<'a> {
        let siblings: Vec<&StoredEvent> = self
            .rows
            .iter()
            .filter(|o| o.hook.is_none() && row.notification_id.is_some())
            .filter(|o| o.notification_id == row.notification_id)
            .collect();
        let reason: Vec<&str> = siblings.iter().map(|o| o.detail.as_str()).collect();
        OutboxEvent {
            notification_id: row.notification_id.as_deref(),
            attempt_id: row
                .attempt_id
                .as_deref()
                .or_else(|| siblings.iter().rev().find_map(|o| o.attempt_id.as_deref())),
            clinic_id: row.conversation.as_ref().map(|(c, _)| c.as_str()),
            patient_id: row.conversation.as_ref().map(|(_, p)| p.as_str()),
            inbound_message_id: row.inbound_message_id.as_deref(),
            at: row.at,
            facts: hook,
            channel: siblings.iter().rev().find_map(|o| o.channel),
            reason: if hook.reason_is_own {
                Some(row.detail.clone())
            } else {
                (!reason.is_empty()).then(|| reason.join("; "))
            },
        }
    }

    async fn write_events(&self, tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
        let rows: Vec<EventRow> = self
            .rows
            .iter()
            .map(|e| EventRow {
                notification_id: e.notification_id.as_deref(),
                attempt_id: e.attempt_id.as_deref(),
                clinic_id: e
                    .conversation
                    .as_ref()
                    .map(|(c, _)| c.as_str())
                    .or(e.clinic.as_deref()),
                patient_id: e.conversation.as_ref().map(|(_, p)| p.as_str()),
                inbound_message_id: e.inbound_message_id.as_deref(),
                at: e.at,
                kind: e.kind,
                detail: &e.detail,
                data: &e.data,
                actor: &e.actor,
            })
            .collect();
        let sql = "INSERT INTO events ({columns}) {rows}";
        write_rows(tx, sql, &[], &rows).await?;
        Ok(())
    }
}

/// Whether anything outside medrelay hears of changes at all: a booking system's webhook endpoint
/// (enabled or not: a switched-off endpoint's messages wait for it) or an enabled FHIR server,
/// of any clinic. Without one, the outbox statements would join every change against nothing
/// and write nothing, which on PostgreSQL was a tenth of the CPU per notification; one look in
/// the change's own transaction answers it, seeing what the outbox statements would have seen.
struct Listeners {
    webhook_endpoints: bool,
    fhir_servers: bool,
}

impl Listeners {
    async fn read(tx: &mut Transaction<'_, Any>) -> Result<Self, StoreError> {
        let (webhook_endpoints, fhir_servers): (i64, i64) = sqlx::query_as(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM webhook_endpoints) THEN 1 ELSE 0 END, \
             CASE WHEN EXISTS (SELECT 1 FROM fhir_servers WHERE enabled = 1) THEN 1 ELSE 0 END",
        )
        .fetch_one(&mut **tx)
        .await?;
        Ok(Self {
            webhook_endpoints: webhook_endpoints == 1,
            fhir_servers: fhir_servers == 1,
        })
    }
}

fn stored(at: Timestamp, actor: &Actor, event: &Event) -> Result<StoredEvent, StoreError> {
    let data = serde_json::to_string(event)
        .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", event.kind())))?;
    Ok(StoredEvent {
        notification_id: None,
        attempt_id: None,
        conversation: None,
        clinic: None,
        inbound_message_id: None,
        at: millis(at),
        kind: event.kind(),
        detail: event.detail(actor),
        data,
        actor: actor.stored(),
        hook: webhook_facts(event),
        channel: attempt_channel(event),
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
