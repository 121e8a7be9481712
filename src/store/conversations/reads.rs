//! Reading the inbox: a page of conversations, one conversation's timeline, and what a staff
//! reply answers.

use std::sync::LazyLock;

use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    ConversationCursor, ConversationFilter, ConversationPage, ConversationPatient,
    ConversationRecord, ConversationTimeline, InboundRecord, OutboundRecord, ReplyTarget,
    TIMELINE_LIMIT, parse_labels,
};
use crate::domain::{
    BUILT_IN_LABELS, ClinicId, ConversationStatus, InboundMessageId, Intent, NotificationId,
    Origin, Patient, PatientId,
};
use crate::store::notification_reads::event_record;
use crate::store::notifications::status;
use crate::store::{Store, StoreError, millis, opt_timestamp, parse_stored, timestamp};

/// 1 for an urgent conversation, 0 otherwise: the first sort key of a list.
const URGENT: &str = "(CASE WHEN c.urgent_since IS NULL THEN 0 ELSE 1 END)";

/// The columns of `inbound_messages` an [`InboundRecord`] is read from (by [`inbound`]).
pub(in crate::store) const INBOUND_COLUMNS: &str = "id, channel, kind, text, media, intent, sent_at, \
     received_at, answered_at, answered_by, handled_at, handled_by";

/// A timeline's latest patient messages and events (its notifications: [`OUTBOUND_TIMELINE`]):
/// `$1` the clinic, `$2` the patient, `$3` how many.
static INBOUND_TIMELINE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {INBOUND_COLUMNS} FROM inbound_messages \
         WHERE clinic_id = $1 AND patient_id = $2 ORDER BY received_at DESC, id DESC LIMIT $3"
    )
});
const EVENTS_TIMELINE: &str = "SELECT at, kind, attempt_id, detail, data, actor FROM events \
     WHERE clinic_id = $1 AND patient_id = $2 ORDER BY id DESC LIMIT $3";

const CONVERSATION_COLUMNS: &str = "c.patient_id, p.external_id, p.name, p.unknown_contact, \
    c.status, c.labels, c.urgent_since, c.last_message_at, c.last_inbound_at, c.awaiting_since, \
    c.overdue_at, c.last_staff_reply_at";

/// The list's filters as SQL after `WHERE c.clinic_id = $1`, and the values they bind in order.
fn filter_sql(filter: &ConversationFilter) -> (String, Vec<FilterValue>) {
    let mut sql = FilterSql::default();
    if let Some(status) = filter.status {
        sql.status(status);
    }
    if let Some(label) = &filter.label {
        sql.label(label);
    }
    match filter.unanswered {
        Some(true) => sql.sql.push_str(" AND c.awaiting_since IS NOT NULL"),
        Some(false) => sql.sql.push_str(" AND c.awaiting_since IS NULL"),
        None => {}
    }
    if let Some(overdue) = filter.overdue {
        sql.overdue(overdue, filter.now);
    }
    if let Some(after) = &filter.after {
        sql.after(after);
    }
    (sql.sql, sql.values)
}

/// The list's conditions as they are added, with the values they bind.
#[derive(Default)]
struct FilterSql {
    sql: String,
    values: Vec<FilterValue>,
}

impl FilterSql {
    /// The placeholder of the next value bound: `$1` is the clinic.
    fn next_placeholder(&self) -> usize {
        self.values.len() + 2
    }

    fn status(&mut self, status: ConversationStatus) {
        let n = self.next_placeholder();
        self.sql.push_str(&format!(" AND c.status = ${n}"));
        self.values
            .push(FilterValue::Text(status.as_str().to_owned()));
    }

    fn label(&mut self, label: &str) {
        // Labels are a sorted JSON array of names; `\` escapes LIKE's wildcards in a name.
        let escaped = label
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let n = self.next_placeholder();
        self.sql
            .push_str(&format!(" AND c.labels LIKE ${n} ESCAPE '\\'"));
        self.values
            .push(FilterValue::Text(format!("%\"{escaped}\"%")));
    }

    /// Conversations past (or not past) their response target at `now`.
    fn overdue(&mut self, overdue: bool, now: Timestamp) {
        let n = self.next_placeholder();
        self.sql.push_str(&if overdue {
            format!(" AND c.overdue_at <= ${n}")
        } else {
            format!(" AND (c.overdue_at IS NULL OR c.overdue_at > ${n})")
        });
        self.values.push(FilterValue::Int(millis(now)));
    }

    /// Conversations sorted after the cursor: the next page.
    fn after(&mut self, after: &ConversationCursor) {
        let u = self.next_placeholder();
        let (t, id) = (u + 1, u + 2);
        self.sql.push_str(&format!(
            " AND ({URGENT} < ${u} OR ({URGENT} = ${u} AND (c.last_message_at < ${t} \
             OR (c.last_message_at = ${t} AND c.patient_id < ${id}))))"
        ));
        self.values.push(FilterValue::Int(i64::from(after.urgent)));
        self.values.push(FilterValue::Int(after.last_message_at));
        self.values
            .push(FilterValue::Text(after.patient_id.clone()));
    }
}

enum FilterValue {
    Text(String),
    Int(i64),
}

fn conversation(row: &AnyRow) -> Result<ConversationRecord, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(ConversationRecord {
        patient: patient_of_row(row, "patient_id")?,
        status: ConversationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("conversation status {status}")))?,
        labels: parse_labels(&row.try_get::<String, _>("labels")?)?,
        urgent_since: opt_timestamp(row.try_get("urgent_since")?)?,
        last_message_at: Some(timestamp(row.try_get("last_message_at")?)?),
        last_inbound_at: opt_timestamp(row.try_get("last_inbound_at")?)?,
        awaiting_since: opt_timestamp(row.try_get("awaiting_since")?)?,
        overdue_at: opt_timestamp(row.try_get("overdue_at")?)?,
        last_staff_reply_at: opt_timestamp(row.try_get("last_staff_reply_at")?)?,
        last_inbound_text: None,
    })
}

/// The patient of a conversation, their id read from `id_column`.
fn patient_of_row(row: &AnyRow, id_column: &str) -> Result<ConversationPatient, StoreError> {
    let unknown: i64 = row.try_get("unknown_contact")?;
    Ok(ConversationPatient {
        id: PatientId::from_stored(row.try_get(id_column)?),
        external_id: row.try_get("external_id")?,
        name: row.try_get("name")?,
        unknown_contact: unknown != 0,
    })
}

/// A conversation never written to: handled, without labels, its last message the patient's
/// latest notification (`last_sent`).
fn quiet_conversation(row: &AnyRow) -> Result<ConversationRecord, StoreError> {
    Ok(ConversationRecord {
        patient: patient_of_row(row, "id")?,
        status: ConversationStatus::Handled,
        labels: Vec::new(),
        urgent_since: None,
        last_message_at: opt_timestamp(row.try_get("last_sent")?)?,
        last_inbound_at: None,
        awaiting_since: None,
        overdue_at: None,
        last_staff_reply_at: None,
        last_inbound_text: None,
    })
}

/// Rows read newest first, turned oldest first as a timeline reads.
fn oldest_first<T>(
    rows: Vec<AnyRow>,
    read: fn(&AnyRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().rev().map(read).collect()
}

/// The page after its rows: at most `limit` items (one more row was read to know whether a
/// next page exists) and the cursor of that next page.
fn conversation_page(rows: &[AnyRow], limit: u32) -> Result<ConversationPage, StoreError> {
    let mut items = Vec::with_capacity(rows.len());
    for row in rows.iter().take(limit as usize) {
        let mut record = conversation(row)?;
        record.last_inbound_text = row.try_get("last_text")?;
        items.push(record);
    }
    let next = (rows.len() > limit as usize)
        .then(|| items.last())
        .flatten()
        .map(|last| ConversationCursor {
            urgent: last.urgent_since.is_some(),
            last_message_at: last.last_message_at.map_or(0, millis),
            patient_id: last.patient.id.as_str().to_owned(),
        });
    Ok(ConversationPage { items, next })
}

pub(in crate::store) fn inbound(row: &AnyRow) -> Result<InboundRecord, StoreError> {
    let intent: String = row.try_get("intent")?;
    let media: Option<String> = row.try_get("media")?;
    Ok(InboundRecord {
        id: InboundMessageId::from_stored(row.try_get("id")?),
        channel: parse_stored(&row.try_get::<String, _>("channel")?, "channel")?,
        kind: row.try_get("kind")?,
        text: row.try_get("text")?,
        media: media
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|_| StoreError::Corrupt("inbound media".into()))?,
        intent: Intent::parse(&intent)
            .ok_or_else(|| StoreError::Corrupt(format!("intent {intent}")))?,
        sent_at: timestamp(row.try_get("sent_at")?)?,
        received_at: timestamp(row.try_get("received_at")?)?,
        answered_at: opt_timestamp(row.try_get("answered_at")?)?,
        answered_by: row.try_get("answered_by")?,
        handled_at: opt_timestamp(row.try_get("handled_at")?)?,
        handled_by: row.try_get("handled_by")?,
    })
}

fn outbound(row: &AnyRow) -> Result<OutboundRecord, StoreError> {
    let origin: String = row.try_get("origin")?;
    let channel: Option<String> = row.try_get("channel")?;
    let in_reply_to: Option<String> = row.try_get("in_reply_to")?;
    Ok(OutboundRecord {
        id: NotificationId::from_stored(row.try_get("id")?),
        origin: Origin::parse(&origin)
            .ok_or_else(|| StoreError::Corrupt(format!("origin {origin}")))?,
        in_reply_to: in_reply_to.map(InboundMessageId::from_stored),
        topic: row.try_get("topic")?,
        channel: channel.map(|c| parse_stored(&c, "channel")).transpose()?,
        status: status(&row.try_get::<String, _>("status")?)?,
        body: row.try_get("body")?,
        template: row.try_get("template")?,
        went_at: timestamp(row.try_get("went_at")?)?,
    })
}

/// A patient's latest notifications as their conversation shows them: with the text the patient
/// was shown (a template's, as rendered when it went), at the moment it went to them (its first
/// hand-over, else when it is due): a reminder booked days ahead belongs where it was sent.
const OUTBOUND_TIMELINE: &str = "SELECT n.id, n.origin, n.in_reply_to, n.topic, \
     COALESCE(n.delivered_channel, n.channel) AS channel, n.status, \
     COALESCE(n.body, (SELECT c.text FROM attempt_contents c \
         WHERE c.clinic_id = n.clinic_id AND c.notification_id = n.id \
         ORDER BY c.recorded_at DESC LIMIT 1)) AS body, \
     n.template, \
     COALESCE((SELECT MIN(a.created_at) FROM attempts a WHERE a.notification_id = n.id), n.send_at) AS went_at \
     FROM notifications n \
     WHERE n.clinic_id = $1 AND n.patient_id = $2 ORDER BY n.created_at DESC, n.id DESC LIMIT $3";

impl Store {
    /// A page of the clinic's conversations: urgent ones first, then the newest message first.
    pub async fn conversations(
        &self,
        clinic: &ClinicId,
        filter: &ConversationFilter,
    ) -> Result<ConversationPage, StoreError> {
        let (where_sql, values) = filter_sql(filter);
        let limit_at = values.len() + 2;
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS}, {URGENT} AS urgent, \
             (SELECT m.text FROM inbound_messages m WHERE m.patient_id = c.patient_id \
              ORDER BY m.received_at DESC LIMIT 1) AS last_text \
             FROM conversations c JOIN patients p ON p.id = c.patient_id \
             WHERE c.clinic_id = $1{where_sql} \
             ORDER BY urgent DESC, c.last_message_at DESC, c.patient_id DESC LIMIT ${limit_at}"
        );
        let mut query = sqlx::query(&sql).bind(clinic.as_str());
        for value in values {
            query = match value {
                FilterValue::Text(v) => query.bind(v),
                FilterValue::Int(v) => query.bind(v),
            };
        }
        let rows = query
            .bind(i64::from(filter.limit) + 1)
            .fetch_all(&self.read)
            .await?;
        conversation_page(&rows, filter.limit)
    }

    /// The clinic's patient a conversation URL names: by our id (`pat_…`), else by the id the
    /// rest of the API knows them by (the booking system's, or `unknown:<E.164>` for an unknown
    /// contact). `NotFound` when the clinic has neither.
    pub async fn conversation_patient(
        &self,
        clinic: &ClinicId,
        named: &str,
    ) -> Result<PatientId, StoreError> {
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM patients WHERE clinic_id = $1 AND (id = $2 OR external_id = $2) \
             ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1",
        )
        .bind(clinic.as_str())
        .bind(named)
        .fetch_optional(&self.read)
        .await?;
        found
            .map(|(id,)| PatientId::from_stored(id))
            .ok_or(StoreError::NotFound)
    }

    /// The labels the clinic's conversations may carry: the built-in ones, then the clinic's
    /// own from its two-way settings.
    pub async fn conversation_labels(&self, clinic: &ClinicId) -> Result<Vec<String>, StoreError> {
        let own = self.inbound_settings(clinic).await?.labels;
        Ok(BUILT_IN_LABELS
            .iter()
            .map(|l| (*l).to_owned())
            .chain(own)
            .collect())
    }

    /// The clinic's patient `id`, whole: what a reply is planned for.
    pub async fn clinic_patient(
        &self,
        clinic: &ClinicId,
        id: &PatientId,
    ) -> Result<Patient, StoreError> {
        self.patients_by_ids(&[id.as_str()])
            .await?
            .remove(id.as_str())
            .filter(|p| &p.clinic_id == clinic)
            .ok_or(StoreError::NotFound)
    }

    /// One conversation with its latest messages and events; `NotFound` when the clinic has no
    /// such patient.
    pub async fn conversation_timeline(
        &self,
        clinic: &ClinicId,
        patient: &PatientId,
    ) -> Result<ConversationTimeline, StoreError> {
        let conversation = self.conversation(clinic, patient).await?;
        let bind = |sql: &'static str| {
            sqlx::query(sql)
                .bind(clinic.as_str())
                .bind(patient.as_str())
                .bind(i64::from(TIMELINE_LIMIT))
        };
        let (inbound_rows, outbound_rows, event_rows) = tokio::try_join!(
            bind(INBOUND_TIMELINE.as_str()).fetch_all(&self.read),
            bind(OUTBOUND_TIMELINE).fetch_all(&self.read),
            bind(EVENTS_TIMELINE).fetch_all(&self.read),
        )?;
        Ok(ConversationTimeline {
            conversation,
            inbound: oldest_first(inbound_rows, inbound)?,
            outbound: oldest_first(outbound_rows, outbound)?,
            events: oldest_first(event_rows, event_record)?,
        })
    }

    /// The conversation's row, or for a patient without one a handled conversation without
    /// labels whose last message is their latest notification.
    async fn conversation(
        &self,
        clinic: &ClinicId,
        patient: &PatientId,
    ) -> Result<ConversationRecord, StoreError> {
        let stored = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN patients p ON p.id = c.patient_id \
             WHERE c.clinic_id = $1 AND c.patient_id = $2"
        ))
        .bind(clinic.as_str())
        .bind(patient.as_str())
        .fetch_optional(&self.read)
        .await?;
        if let Some(row) = stored {
            return conversation(&row);
        }
        let row = sqlx::query(
            "SELECT p.id, p.external_id, p.name, p.unknown_contact, \
             (SELECT MAX(n.created_at) FROM notifications n \
              WHERE n.clinic_id = p.clinic_id AND n.patient_id = p.id) AS last_sent \
             FROM patients p WHERE p.clinic_id = $1 AND p.id = $2",
        )
        .bind(clinic.as_str())
        .bind(patient.as_str())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        quiet_conversation(&row)
    }

    /// What a staff reply to `patient` answers and where it goes by default.
    pub async fn reply_target(
        &self,
        clinic: &ClinicId,
        patient: &PatientId,
    ) -> Result<ReplyTarget, StoreError> {
        let latest = |waiting: &str| {
            format!(
                "SELECT id, channel FROM inbound_messages WHERE clinic_id = $1 AND patient_id = $2{waiting} \
                 ORDER BY received_at DESC, id DESC LIMIT 1"
            )
        };
        let read = |sql: String| async move {
            sqlx::query_as::<_, (String, String)>(&sql)
                .bind(clinic.as_str())
                .bind(patient.as_str())
                .fetch_optional(&self.read)
                .await
        };
        let (waiting, last) = tokio::try_join!(
            read(latest(" AND answered_at IS NULL AND handled_at IS NULL")),
            read(latest("")),
        )?;
        Ok(ReplyTarget {
            waiting: waiting.map(|(id, _)| InboundMessageId::from_stored(id)),
            last_channel: last
                .map(|(_, channel)| parse_stored(&channel, "channel"))
                .transpose()?,
        })
    }
}
