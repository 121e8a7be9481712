//! The outbox writer: the webhook messages of an event batch, one per event type and subscribed
//! endpoint, in one `INSERT … SELECT` in the events' transaction, each marked the head of its
//! line when nothing before it is pending. A clinic without endpoints costs that statement,
//! which finds none through `webhook_endpoints_clinic`, and on PostgreSQL the order keys' locks;
//! a batch without webhook events costs nothing.

use serde_json::{Map, Value};
use sqlx::{Any, Transaction};

use super::lines::lock_order_keys;
use crate::domain::{WebhookEventId, WebhookFacts};
use crate::store::StoreError;
use crate::store::rows::{columns, write_rows};

/// One event of the batch the booking system may hear of, with what the batch tells about it.
#[derive(Debug)]
pub(crate) struct OutboxEvent<'a> {
    pub(crate) notification_id: Option<&'a str>,
    pub(crate) attempt_id: Option<&'a str>,
    /// Set for conversation events; a notification's come from the notification.
    pub(crate) clinic_id: Option<&'a str>,
    pub(crate) patient_id: Option<&'a str>,
    pub(crate) inbound_message_id: Option<&'a str>,
    pub(crate) at: i64,
    pub(crate) facts: &'a WebhookFacts,
    pub(crate) channel: Option<medrelay_channels::ChannelKind>,
    pub(crate) reason: Option<String>,
}

/// Fans the events out to the clinic's endpoints subscribed to their type, copying the ids,
/// references and metadata of the records they are about (which never change). A message heads
/// its line when it is the batch's first of the line and none of the line is pending: one index
/// probe of `webhook_messages_order` each. The notification is read from
/// `notification_requests`, which holds all of it used here: SQLite cannot fold a view that is a
/// join into the right side of a `LEFT JOIN`, so `notifications` there was built whole for every
/// statement, a scan of every notification each time.
const WRITE_OUTBOX: &str = "WITH v ({columns}) AS ({rows}) \
    INSERT INTO webhook_messages (clinic_id, endpoint_id, event_id, event_type, order_key, \
        occurred_at, data, patient_external_id, appointment_id, notification_reference, \
        notification_metadata, appointment_reference, appointment_metadata, state, tries, \
        next_attempt_at, created_at, ready) \
    SELECT e.clinic_id, e.id, v.event_id, v.event_type, v.order_key, \
        v.occurred_at, v.data, p.external_id, a.id, n.reference, n.metadata, a.reference, \
        a.metadata, 'pending', 0, v.occurred_at, v.occurred_at, \
        CASE WHEN ROW_NUMBER() OVER (PARTITION BY e.id, v.order_key ORDER BY v.ord) = 1 \
            AND (SELECT o.seq FROM webhook_messages o WHERE o.endpoint_id = e.id \
                AND o.order_key = v.order_key AND o.state = 'pending' LIMIT 1) IS NULL \
        THEN 1 ELSE 0 END \
    FROM v \
    LEFT JOIN notification_requests n ON n.id = v.notification_id \
    JOIN webhook_endpoints e ON e.clinic_id = COALESCE(v.clinic_id, n.clinic_id) \
        AND e.event_types LIKE '%,' || v.event_type || ',%' \
    LEFT JOIN patients p ON p.id = COALESCE(v.patient_id, n.patient_id) \
    LEFT JOIN appointments a ON a.id = COALESCE(v.appointment_id, n.appointment_id) \
    ORDER BY v.ord, e.id";

columns! {
    struct OutboxRow<'a> {
        ord: i64,
        event_id: &'a str,
        event_type: &'a str,
        notification_id: Option<&'a str>,
        /// The line: the notification's id, else the patient's.
        order_key: &'a str,
        clinic_id: Option<&'a str>,
        patient_id: Option<&'a str>,
        appointment_id: Option<&'a str>,
        occurred_at: i64,
        data: &'a str,
    }
}

pub(crate) async fn write_outbox(
    tx: &mut Transaction<'_, Any>,
    events: &[OutboxEvent<'_>],
) -> Result<(), StoreError> {
    let mut owned = Vec::new();
    for event in events {
        let data = serde_json::to_string(&Value::Object(payload_data(event)))
            .map_err(|e| StoreError::Corrupt(format!("webhook data: {e}")))?;
        for kind in &event.facts.types {
            owned.push((event, *kind, WebhookEventId::generate(), data.clone()));
        }
    }
    let rows: Vec<OutboxRow> = owned
        .iter()
        .enumerate()
        .map(|(ord, (event, kind, id, data))| OutboxRow {
            ord: i64::try_from(ord).unwrap_or(i64::MAX),
            event_id: id.as_str(),
            event_type: kind.as_str(),
            notification_id: event.notification_id,
            order_key: order_key(event),
            clinic_id: event.clinic_id,
            patient_id: event.patient_id,
            appointment_id: event.facts.appointment.as_ref().map(|a| a.as_str()),
            occurred_at: event.at,
            data,
        })
        .collect();
    lock_order_keys(tx, rows.iter().map(|row| row.order_key)).await?;
    write_rows(tx, WRITE_OUTBOX, &[], &rows).await?;
    Ok(())
}

/// The line of an event's messages: its notification, else its patient.
fn order_key<'a>(event: &OutboxEvent<'a>) -> &'a str {
    event.notification_id.or(event.patient_id).unwrap_or("")
}

/// The payload's `data` as far as the batch knows it: the event's own facts, the notification
/// and attempt, the channel, the reason and the patient's message.
fn payload_data(event: &OutboxEvent<'_>) -> Map<String, Value> {
    let mut data = event.facts.data.clone();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(value) = value {
            data.entry(key).or_insert_with(|| value.into());
        }
    };
    put("notification_id", event.notification_id);
    put("attempt_id", event.attempt_id);
    put("channel", event.channel.map(|c| c.as_str()));
    put("reason", event.reason.as_deref());
    put("message_id", event.inbound_message_id);
    data
}
