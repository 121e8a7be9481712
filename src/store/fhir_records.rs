//! The FHIR records (`crate::fhir::records`): one notification with every attempt that reached a
//! provider, or one patient's message, each read from one snapshot; and pages of them for the
//! `/fhir/r4` searches, in the order of their last change. A notification's record changes with
//! `notifications.updated_at`, an attempt's with `attempts.updated_at`, a patient's message with
//! its arrival, answer or handling.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{Any, Transaction};

use super::contents::StoredContent;
use super::notification_feed::bound;
use super::notifications::status;
use super::rows::Param;
use super::{Store, StoreError, millis, opt_timestamp, parse_stored, placeholders, timestamp};
use crate::domain::{
    AppointmentId, AttemptId, AttemptStatus, ClinicId, InboundMedia, InboundMessageId,
    NotificationId, Origin, Priority, Sensitivity, Topic,
};
use crate::fhir::records::{
    AppointmentRef, CommunicationId, CommunicationRecord, Handling, Identifiers, InboundRecord,
    NotificationRecord, PatientRef, RecordCursor, RecordPage, RecordSearch, RepliedAttempt,
    Requester, SentAttempt, UpdatedBound,
};

/// When a patient's message last changed: the latest of its arrival, answer and handling.
const MESSAGE_UPDATED: &str = "CASE WHEN m.handled_at >= m.received_at \
    AND m.handled_at >= COALESCE(m.answered_at, m.handled_at) THEN m.handled_at \
    WHEN m.answered_at >= m.received_at THEN m.answered_at ELSE m.received_at END";

impl Store {
    /// The clinic's identifier systems.
    pub async fn fhir_identifiers(&self, clinic: &ClinicId) -> Result<Identifiers, StoreError> {
        let (slug, base, patient_system): (String, Option<String>, Option<String>) =
            sqlx::query_as(
                "SELECT slug, fhir_identifier_base, fhir_patient_system FROM clinics WHERE id = $1",
            )
            .bind(clinic.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(Identifiers::new(
            &slug,
            base.as_deref(),
            patient_system.as_deref(),
        ))
    }

    /// The clinic's notification `id` as its FHIR records tell it.
    pub async fn notification_record(
        &self,
        clinic: &ClinicId,
        id: &NotificationId,
    ) -> Result<NotificationRecord, StoreError> {
        let mut tx = self.read_snapshot().await?;
        let record = notification_records(&mut tx, clinic, &[id.as_str().to_owned()])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(record)
    }

    /// The clinic's patient message `id` as its Communication tells it.
    pub async fn inbound_record(
        &self,
        clinic: &ClinicId,
        id: &InboundMessageId,
    ) -> Result<InboundRecord, StoreError> {
        let mut tx = self.read_snapshot().await?;
        let record = inbound_records(&mut tx, clinic, &[id.as_str().to_owned()])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(record)
    }

    /// The clinic's Communication `id`: an attempt that reached a provider (with its
    /// notification's record), or a patient's message.
    pub async fn communication_record(
        &self,
        clinic: &ClinicId,
        id: &CommunicationId,
    ) -> Result<CommunicationRecord, StoreError> {
        let attempt = match id {
            CommunicationId::Message(message) => {
                return Ok(CommunicationRecord::Received(
                    self.inbound_record(clinic, message).await?,
                ));
            }
            CommunicationId::Attempt(attempt) => attempt,
        };
        let mut tx = self.read_snapshot().await?;
        let notification: String = sqlx::query_scalar(
            "SELECT a.notification_id FROM attempts a JOIN notifications n ON n.id = a.notification_id \
             WHERE a.id = $1 AND n.clinic_id = $2 AND a.started_at IS NOT NULL",
        )
        .bind(attempt.as_str())
        .bind(clinic.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let record = notification_records(&mut tx, clinic, &[notification])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(CommunicationRecord::Sent {
            notification: Arc::new(record),
            attempt: attempt.clone(),
        })
    }

    /// A page of the clinic's notifications that pass `search`, oldest change first.
    pub async fn notification_record_page(
        &self,
        clinic: &ClinicId,
        search: &RecordSearch,
    ) -> Result<RecordPage<NotificationRecord>, StoreError> {
        let source = "SELECT n.id AS id, n.updated_at AS last_updated, \
            p.external_id AS patient, n.id AS notification_id \
            FROM notifications n JOIN patients p ON p.id = n.patient_id WHERE n.clinic_id = $1";
        let mut tx = self.read_snapshot().await?;
        let (keys, next) = page_keys(&mut tx, clinic, source, search).await?;
        let ids: Vec<String> = keys.into_iter().map(|key| key.id).collect();
        let mut records: HashMap<String, NotificationRecord> =
            notification_records(&mut tx, clinic, &ids)
                .await?
                .into_iter()
                .map(|r| (r.id.as_str().to_owned(), r))
                .collect();
        tx.commit().await?;
        let items = ids.iter().filter_map(|id| records.remove(id)).collect();
        Ok(RecordPage { items, next })
    }

    /// A page of the clinic's Communications that pass `search`, oldest change first: the
    /// attempts that reached a provider, and the patients' messages.
    pub async fn communication_record_page(
        &self,
        clinic: &ClinicId,
        search: &RecordSearch,
    ) -> Result<RecordPage<CommunicationRecord>, StoreError> {
        let source = format!(
            "SELECT a.id AS id, a.updated_at AS last_updated, p.external_id AS patient, \
             a.notification_id AS notification_id \
             FROM attempts a JOIN notifications n ON n.id = a.notification_id \
             JOIN patients p ON p.id = n.patient_id \
             WHERE n.clinic_id = $1 AND a.started_at IS NOT NULL \
             UNION ALL \
             SELECT m.id, {MESSAGE_UPDATED}, p.external_id, NULL \
             FROM inbound_messages m JOIN patients p ON p.id = m.patient_id WHERE m.clinic_id = $1"
        );
        let mut tx = self.read_snapshot().await?;
        let (keys, next) = page_keys(&mut tx, clinic, &source, search).await?;
        let mut notification_ids: Vec<String> = Vec::new();
        let mut message_ids = Vec::new();
        for key in &keys {
            match &key.notification_id {
                Some(id) if !notification_ids.contains(id) => notification_ids.push(id.clone()),
                Some(_) => {}
                None => message_ids.push(key.id.clone()),
            }
        }
        let notifications: HashMap<String, Arc<NotificationRecord>> =
            notification_records(&mut tx, clinic, &notification_ids)
                .await?
                .into_iter()
                .map(|r| (r.id.as_str().to_owned(), Arc::new(r)))
                .collect();
        let mut messages: HashMap<String, InboundRecord> =
            inbound_records(&mut tx, clinic, &message_ids)
                .await?
                .into_iter()
                .map(|r| (r.id.as_str().to_owned(), r))
                .collect();
        tx.commit().await?;
        let items = keys
            .into_iter()
            .filter_map(|key| match key.notification_id {
                Some(notification) => Some(CommunicationRecord::Sent {
                    notification: Arc::clone(notifications.get(&notification)?),
                    attempt: AttemptId::from_stored(key.id),
                }),
                None => messages.remove(&key.id).map(CommunicationRecord::Received),
            })
            .collect();
        Ok(RecordPage { items, next })
    }
}

/// One record a search found, before it is read.
#[derive(sqlx::FromRow)]
struct PageKey {
    id: String,
    last_updated: i64,
    /// The notification an attempt belongs to (itself for a notification); none for a message.
    notification_id: Option<String>,
}

/// The ids of one page of `source` (a query of `id`, `last_updated`, `patient` and
/// `notification_id` with the clinic as `$1`) that pass `search`, and where the next page
/// starts.
async fn page_keys(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    source: &str,
    search: &RecordSearch,
) -> Result<(Vec<PageKey>, Option<RecordCursor>), StoreError> {
    let mut params = vec![Param::from(clinic.as_str())];
    let mut sql = format!("SELECT id, last_updated, notification_id FROM ({source}) r WHERE 1 = 1");
    for choice in &search.patients {
        any_of(
            &mut sql,
            &mut params,
            "r.patient",
            choice.iter().map(String::as_str),
        );
    }
    for choice in &search.based_on {
        any_of(
            &mut sql,
            &mut params,
            "r.notification_id",
            choice.iter().map(|n| n.as_str()),
        );
    }
    for bound in &search.updated {
        let (operator, at) = match bound {
            UpdatedBound::Since(at) => (">=", at),
            UpdatedBound::Before(at) => ("<", at),
        };
        params.push(Param::from(millis(*at)));
        sql.push_str(&format!(" AND r.last_updated {operator} ${}", params.len()));
    }
    if let Some(after) = &search.after {
        let (at, id) = (params.len() + 1, params.len() + 2);
        sql.push_str(&format!(
            " AND (r.last_updated > ${at} OR (r.last_updated = ${at} AND r.id > ${id}))"
        ));
        params.extend([
            Param::from(millis(after.last_updated)),
            Param::from(after.id.as_str()),
        ]);
    }
    sql.push_str(&format!(
        " ORDER BY r.last_updated, r.id LIMIT ${}",
        params.len() + 1
    ));
    params.push(Param::from(i64::from(search.limit) + 1));
    let mut keys = bound(sqlx::query_as::<_, PageKey>(&sql), &params)
        .fetch_all(&mut **tx)
        .await?;
    let next = if keys.len() > search.limit as usize {
        keys.truncate(search.limit as usize);
        match keys.last() {
            Some(last) => Some(RecordCursor {
                last_updated: timestamp(last.last_updated)?,
                id: last.id.clone(),
            }),
            None => None,
        }
    } else {
        None
    };
    Ok((keys, next))
}

/// Adds `AND column IN (values)` to `sql`; with no values, a condition nothing passes.
fn any_of<'a>(
    sql: &mut String,
    params: &mut Vec<Param<'a>>,
    column: &str,
    values: impl Iterator<Item = &'a str>,
) {
    let first = params.len() + 1;
    params.extend(values.map(Param::from));
    let count = params.len() + 1 - first;
    if count == 0 {
        sql.push_str(" AND 1 = 0");
    } else {
        sql.push_str(&format!(
            " AND {column} IN ({})",
            placeholders(first, count)
        ));
    }
}

/// The patient as every record names them.
fn patient_ref(external_id: String, name: String, erased_at: Option<i64>) -> PatientRef {
    PatientRef {
        external_id,
        name: Some(name).filter(|n| !n.trim().is_empty()),
        erased: erased_at.is_some(),
    }
}

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: String,
    clinic_name: String,
    external_id: String,
    name: String,
    erased_at: Option<i64>,
    topic: String,
    sensitivity: Option<String>,
    priority: String,
    status: String,
    origin: String,
    appointment_id: Option<String>,
    appointment_external_id: Option<String>,
    channel: Option<String>,
    delivered_channel: Option<String>,
    body: Option<String>,
    template: Option<String>,
    params: Option<String>,
    send_at: i64,
    expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    in_reply_to: Option<String>,
}

/// The clinic's notifications among `ids` with their sent attempts and requesters, in no
/// particular order.
async fn notification_records(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    ids: &[String],
) -> Result<Vec<NotificationRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let listed = placeholders(2, ids.len());
    let rows: Vec<NotificationRow> = bind_ids(
        sqlx::query_as(&format!(
            "SELECT n.id, c.name AS clinic_name, p.external_id, p.name, p.erased_at, n.topic, \
             t.sensitivity, n.priority, n.status, n.origin, n.appointment_id, \
             ap.external_id AS appointment_external_id, n.channel, n.delivered_channel, n.body, \
             n.template, n.params, n.send_at, n.expires_at, n.created_at, n.updated_at, n.in_reply_to \
             FROM notifications n JOIN clinics c ON c.id = n.clinic_id \
             JOIN patients p ON p.id = n.patient_id \
             LEFT JOIN appointments ap ON ap.id = n.appointment_id AND ap.clinic_id = n.clinic_id \
             LEFT JOIN clinic_topics t ON t.clinic_id = n.clinic_id AND t.name = n.topic \
             WHERE n.clinic_id = $1 AND n.id IN ({listed})"
        )),
        clinic,
        ids,
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut attempts = sent_attempts(tx, clinic, &listed, ids).await?;
    let mut requesters = requesters(tx, clinic, &listed, ids).await?;
    rows.into_iter()
        .map(|row| {
            let sent = attempts.remove(&row.id).unwrap_or_default();
            let requester = requesters.remove(&row.id).unwrap_or(Requester::Clinic);
            notification_record(row, sent, requester)
        })
        .collect()
}

/// `query` with the clinic as `$1` and `ids` after it.
fn bind_ids<'q, O>(
    query: sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments<'q>>,
    clinic: &'q ClinicId,
    ids: &'q [String],
) -> sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments<'q>> {
    let mut params = vec![Param::from(clinic.as_str())];
    params.extend(ids.iter().map(|id| Param::from(id.as_str())));
    bound(query, &params)
}

fn notification_record(
    row: NotificationRow,
    sent: Vec<SentAttempt>,
    requester: Requester,
) -> Result<NotificationRecord, StoreError> {
    let sensitivity = match &row.sensitivity {
        Some(stored) => parse_sensitivity(stored)?,
        None => Topic::parse(&row.topic).map_or(Sensitivity::Normal, Topic::default_sensitivity),
    };
    let channel = |c: Option<String>| c.map(|c| parse_stored(&c, "channel")).transpose();
    Ok(NotificationRecord {
        id: NotificationId::from_stored(row.id),
        clinic_name: row.clinic_name,
        patient: patient_ref(row.external_id, row.name, row.erased_at),
        topic: row.topic,
        sensitivity,
        priority: Priority::parse(&row.priority)
            .ok_or_else(|| StoreError::Corrupt(format!("priority {}", row.priority)))?,
        status: status(&row.status)?,
        origin: Origin::parse(&row.origin)
            .ok_or_else(|| StoreError::Corrupt(format!("origin {}", row.origin)))?,
        requester,
        appointment: row.appointment_id.map(|id| AppointmentRef {
            id: AppointmentId::from_stored(id),
            external_id: row.appointment_external_id,
        }),
        requested_channel: channel(row.channel)?,
        delivered_channel: channel(row.delivered_channel)?,
        body: row.body,
        template: row.template,
        params: row
            .params
            .map(|p| serde_json::from_str(&p))
            .transpose()
            .map_err(|_| StoreError::Corrupt("notification params".into()))?,
        send_at: timestamp(row.send_at)?,
        expires_at: opt_timestamp(row.expires_at)?,
        created_at: timestamp(row.created_at)?,
        updated_at: timestamp(row.updated_at)?,
        in_reply_to: row.in_reply_to.map(InboundMessageId::from_stored),
        sent,
    })
}

fn parse_sensitivity(stored: &str) -> Result<Sensitivity, StoreError> {
    Sensitivity::parse(stored).ok_or_else(|| StoreError::Corrupt(format!("sensitivity {stored}")))
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    notification_id: String,
    id: String,
    channel: String,
    status: String,
    started_at: i64,
    updated_at: i64,
    accepted_at: Option<i64>,
    delivered_at: Option<i64>,
    read_at: Option<i64>,
    failed_at: Option<i64>,
    error_code: Option<String>,
    error_text: Option<String>,
    /// 0 or 1.
    sandbox: i64,
    content_kind: Option<String>,
    content_language: Option<String>,
    subject: Option<String>,
    text: Option<String>,
    template_name: Option<String>,
    template_params: Option<String>,
}

/// The attempts of the notifications `listed` (`$2…`) whose hand-over started, by notification,
/// oldest first, each with what it carried.
async fn sent_attempts(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    listed: &str,
    ids: &[String],
) -> Result<HashMap<String, Vec<SentAttempt>>, StoreError> {
    let rows: Vec<AttemptRow> = bind_ids(
        sqlx::query_as(&format!(
            "SELECT a.notification_id, a.id, a.channel, a.status, a.started_at, a.updated_at, \
             a.accepted_at, a.delivered_at, a.read_at, a.failed_at, a.error_code, a.error_text, \
             a.sandbox, ac.kind AS content_kind, ac.language AS content_language, ac.subject, \
             ac.text, ac.template_name, ac.template_params \
             FROM attempts a JOIN notifications n ON n.id = a.notification_id \
             LEFT JOIN attempt_contents ac ON ac.attempt_id = a.id AND ac.clinic_id = n.clinic_id \
             WHERE n.clinic_id = $1 AND a.notification_id IN ({listed}) AND a.started_at IS NOT NULL \
             ORDER BY a.created_at, a.id"
        )),
        clinic,
        ids,
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut sent: HashMap<String, Vec<SentAttempt>> = HashMap::new();
    for row in rows {
        let notification = row.notification_id.clone();
        sent.entry(notification)
            .or_default()
            .push(sent_attempt(row)?);
    }
    Ok(sent)
}

fn sent_attempt(row: AttemptRow) -> Result<SentAttempt, StoreError> {
    let content = match (row.content_kind, row.content_language) {
        (Some(kind), Some(language)) => Some(
            StoredContent {
                kind,
                language,
                subject: row.subject,
                text: row.text,
                template_name: row.template_name,
                template_params: row.template_params,
            }
            .into_content()?,
        ),
        _ => None,
    };
    Ok(SentAttempt {
        id: AttemptId::from_stored(row.id),
        channel: parse_stored(&row.channel, "channel")?,
        status: AttemptStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Corrupt(format!("attempt status {}", row.status)))?,
        started_at: timestamp(row.started_at)?,
        updated_at: timestamp(row.updated_at)?,
        accepted_at: opt_timestamp(row.accepted_at)?,
        delivered_at: opt_timestamp(row.delivered_at)?,
        read_at: opt_timestamp(row.read_at)?,
        failed_at: opt_timestamp(row.failed_at)?,
        error_code: row.error_code,
        error_text: row.error_text,
        sandbox: row.sandbox != 0,
        content,
    })
}

/// Who asked for each of the notifications `listed` (`$2…`): the actor of its first event.
async fn requesters(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    listed: &str,
    ids: &[String],
) -> Result<HashMap<String, Requester>, StoreError> {
    let rows: Vec<(String, Option<String>, Option<String>)> = bind_ids(
        sqlx::query_as(&format!(
            "SELECT e.notification_id, e.actor, k.role FROM events e \
             JOIN notifications n ON n.id = e.notification_id \
             LEFT JOIN api_keys k ON k.clinic_id = n.clinic_id AND e.actor = 'key:' || k.id \
             WHERE n.clinic_id = $1 AND e.notification_id IN ({listed}) AND e.kind = 'received' \
             ORDER BY e.id"
        )),
        clinic,
        ids,
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut requesters = HashMap::new();
    for (notification, actor, role) in rows {
        requesters
            .entry(notification)
            .or_insert_with(|| requester(actor.as_deref(), role));
    }
    Ok(requesters)
}

/// A requester from an event's stored actor (`key:<id>`, `staff:<name>`, `system`).
fn requester(actor: Option<&str>, role: Option<String>) -> Requester {
    match actor.and_then(|a| a.split_once(':')) {
        Some(("key", id)) => Requester::ApiKey {
            id: id.to_owned(),
            role,
        },
        Some(("staff", name)) => Requester::Staff(name.to_owned()),
        _ => Requester::Clinic,
    }
}

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
async fn inbound_records(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    ids: &[String],
) -> Result<Vec<InboundRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The reply context names our provider message id; the attempt that had it is the
    // Communication the message answers.
    let rows: Vec<MessageRow> = bind_ids(
        sqlx::query_as(&format!(
            "SELECT m.id, c.name AS clinic_name, p.external_id, p.name, p.erased_at, m.channel, \
             m.kind, m.text, m.media, m.sent_at, m.received_at, m.answered_at, m.answered_by, \
             m.handled_at, m.handled_by, r.id AS replied_attempt, \
             r.notification_id AS replied_notification \
             FROM inbound_messages m JOIN clinics c ON c.id = m.clinic_id \
             JOIN patients p ON p.id = m.patient_id \
             LEFT JOIN (SELECT a.id, a.notification_id, a.channel, a.provider_message_id \
                 FROM attempts a JOIN notifications rn ON rn.id = a.notification_id \
                 WHERE rn.clinic_id = $1) r \
               ON r.provider_message_id = m.in_reply_to AND r.channel = m.channel \
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
