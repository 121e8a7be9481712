//! Reading the inbox: a page of conversations, one conversation's timeline, and what a staff
//! reply answers.

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

const CONVERSATION_COLUMNS: &str = "c.patient_id, p.external_id, p.name, p.unknown_contact, \
    c.status, c.labels, c.urgent_since, c.last_message_at, c.last_inbound_at, c.awaiting_since, \
    c.overdue_at, c.last_staff_reply_at";

/// The list's filters as SQL after `WHERE c.clinic_id = $1`, and the values they bind in order.
fn filter_sql(filter: &ConversationFilter) -> (String, Vec<FilterValue>) {
    let mut sql = String::new();
    let mut values = Vec::new();
    if let Some(status) = filter.status {
        sql.push_str(&format!(" AND c.status = ${}", values.len() + 2));
        values.push(FilterValue::Text(status.as_str().to_owned()));
    }
    if let Some(label) = &filter.label {
        // Labels are a sorted JSON array of names; `\` escapes LIKE's wildcards in a name.
        let escaped = label
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        sql.push_str(&format!(
            " AND c.labels LIKE ${} ESCAPE '\\'",
            values.len() + 2
        ));
        values.push(FilterValue::Text(format!("%\"{escaped}\"%")));
    }
    match filter.unanswered {
        Some(true) => sql.push_str(" AND c.awaiting_since IS NOT NULL"),
        Some(false) => sql.push_str(" AND c.awaiting_since IS NULL"),
        None => {}
    }
    if let Some(overdue) = filter.overdue {
        let n = values.len() + 2;
        sql.push_str(&if overdue {
            format!(" AND c.overdue_at <= ${n}")
        } else {
            format!(" AND (c.overdue_at IS NULL OR c.overdue_at > ${n})")
        });
        values.push(FilterValue::Int(millis(filter.now)));
    }
    if let Some(after) = &filter.after {
        let u = values.len() + 2;
        let (t, id) = (u + 1, u + 2);
        sql.push_str(&format!(
            " AND ({URGENT} < ${u} OR ({URGENT} = ${u} AND (c.last_message_at < ${t} \
             OR (c.last_message_at = ${t} AND c.patient_id < ${id}))))"
        ));
        values.push(FilterValue::Int(i64::from(after.urgent)));
        values.push(FilterValue::Int(after.last_message_at));
        values.push(FilterValue::Text(after.patient_id.clone()));
    }
    (sql, values)
}

enum FilterValue {
    Text(String),
    Int(i64),
}

fn conversation(row: &AnyRow) -> Result<ConversationRecord, StoreError> {
    let status: String = row.try_get("status")?;
    let unknown: i64 = row.try_get("unknown_contact")?;
    Ok(ConversationRecord {
        patient: ConversationPatient {
            id: PatientId::from_stored(row.try_get("patient_id")?),
            external_id: row.try_get("external_id")?,
            name: row.try_get("name")?,
            unknown_contact: unknown != 0,
        },
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

fn inbound(row: &AnyRow) -> Result<InboundRecord, StoreError> {
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
        let mut items = Vec::with_capacity(rows.len());
        for row in rows.iter().take(filter.limit as usize) {
            let mut record = conversation(row)?;
            record.last_inbound_text = row.try_get("last_text")?;
            items.push(record);
        }
        let next = (rows.len() > filter.limit as usize)
            .then(|| items.last())
            .flatten()
            .map(|last| ConversationCursor {
                urgent: last.urgent_since.is_some(),
                last_message_at: last.last_message_at.map_or(0, millis),
                patient_id: last.patient.id.as_str().to_owned(),
            });
        Ok(ConversationPage { items, next })
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
            bind(
                "SELECT id, channel, kind, text, media, intent, sent_at, received_at, answered_at, \
                 answered_by, handled_at, handled_by FROM inbound_messages \
                 WHERE clinic_id = $1 AND patient_id = $2 ORDER BY received_at DESC, id DESC LIMIT $3"
            )
            .fetch_all(&self.read),
            bind(
                OUTBOUND_TIMELINE
            )
            .fetch_all(&self.read),
            bind(
                "SELECT at, kind, attempt_id, detail, data, actor FROM events \
                 WHERE clinic_id = $1 AND patient_id = $2 ORDER BY id DESC LIMIT $3"
            )
            .fetch_all(&self.read),
        )?;
        let oldest_first = |rows: Vec<AnyRow>| rows.into_iter().rev();
        Ok(ConversationTimeline {
            conversation,
            inbound: oldest_first(inbound_rows)
                .map(|r| inbound(&r))
                .collect::<Result<_, _>>()?,
            outbound: oldest_first(outbound_rows)
                .map(|r| outbound(&r))
                .collect::<Result<_, _>>()?,
            events: oldest_first(event_rows)
                .map(|r| event_record(&r))
                .collect::<Result<_, _>>()?,
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
        let unknown: i64 = row.try_get("unknown_contact")?;
        Ok(ConversationRecord {
            patient: ConversationPatient {
                id: PatientId::from_stored(row.try_get("id")?),
                external_id: row.try_get("external_id")?,
                name: row.try_get("name")?,
                unknown_contact: unknown != 0,
            },
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
