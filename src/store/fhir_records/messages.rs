//! A page's patient messages, read at once, each with the attempt it replied to.

use sqlx::{Any, Transaction};

use super::super::{StoreError, opt_timestamp, parse_stored, placeholders, timestamp};
use super::{bind_ids, patient_ref};
use crate::domain::{AttemptId, ClinicId, InboundMedia, InboundMessageId, NotificationId};
use crate::fhir::records::{Handling, InboundRecord, RepliedAttempt};

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: String,
    clinic_name: String,
    external_id: String,
    name: String,
    erased_at: Option<i64>,
    channel: String,
    kind: String,
    text: Option<String>,
    /// JSON: [`InboundMedia`].
    media: Option<String>,
    sent_at: i64,
    received_at: i64,
    answered_at: Option<i64>,
    answered_by: Option<String>,
    handled_at: Option<i64>,
    handled_by: Option<String>,
    replied_attempt: Option<String>,
    replied_notification: Option<String>,
}

/// The clinic's patient messages among `ids`, in no particular order.
pub(super) async fn inbound_records(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    ids: &[String],
) -> Result<Vec<InboundRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The reply context names our provider message id; the attempt that had it, if the
    // clinic's, is the Communication the message answers. Looked up by that id for each
    // message: SQLite does not flatten a join on the right of a LEFT JOIN, and as a subquery
    // joining the clinic's attempts to its notifications it read every one of them each time.
    let rows: Vec<MessageRow> = bind_ids(
        sqlx::query_as(&format!(
            "SELECT m.id, c.name AS clinic_name, p.external_id, p.name, p.erased_at, m.channel, \
             m.kind, m.text, m.media, m.sent_at, m.received_at, m.answered_at, m.answered_by, \
             m.handled_at, m.handled_by, r.id AS replied_attempt, \
             r.notification_id AS replied_notification \
             FROM inbound_messages m JOIN clinics c ON c.id = m.clinic_id \
             JOIN patients p ON p.id = m.patient_id \
             LEFT JOIN attempts r ON r.provider_message_id = m.in_reply_to AND r.channel = m.channel \
               AND EXISTS (SELECT 1 FROM notifications rn WHERE rn.id = r.notification_id AND rn.clinic_id = $1) \
             WHERE m.clinic_id = $1 AND m.id IN ({})",
            placeholders(2, ids.len())
        )),
        clinic,
        ids,
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut records: Vec<InboundRecord> = Vec::with_capacity(rows.len());
    for row in rows {
        if !records.iter().any(|r| r.id.as_str() == row.id) {
            records.push(inbound_record(row)?);
        }
    }
    Ok(records)
}

fn inbound_record(row: MessageRow) -> Result<InboundRecord, StoreError> {
    let handling = |at: Option<i64>, by: Option<String>| -> Result<Option<Handling>, StoreError> {
        Ok(opt_timestamp(at)?.map(|at| Handling { at, by }))
    };
    Ok(InboundRecord {
        id: InboundMessageId::from_stored(row.id),
        clinic_name: row.clinic_name,
        patient: patient_ref(row.external_id, row.name, row.erased_at),
        channel: parse_stored(&row.channel, "channel")?,
        kind: row.kind,
        text: row.text,
        media: row
            .media
            .map(|m| serde_json::from_str::<InboundMedia>(&m))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("inbound_messages.media: {e}")))?,
        sent_at: timestamp(row.sent_at)?,
        received_at: timestamp(row.received_at)?,
        answered: handling(row.answered_at, row.answered_by)?,
        handled: handling(row.handled_at, row.handled_by)?,
        replies_to: row.replied_attempt.zip(row.replied_notification).map(
            |(attempt, notification)| RepliedAttempt {
                attempt: AttemptId::from_stored(attempt),
                notification: NotificationId::from_stored(notification),
            },
        ),
    })
}
