//! A page's notifications, read at once: each with its patient, topic, appointment, the
//! attempts whose hand-over started (with what each carried) and who asked for it.

use std::collections::HashMap;

use sqlx::{Any, Transaction};

use super::super::contents::StoredContent;
use super::super::notifications::status;
use super::super::{StoreError, opt_timestamp, parse_stored, placeholders, timestamp};
use super::{bind_ids, patient_ref};
use crate::domain::{
    AppointmentId, AttemptId, AttemptStatus, ClinicId, InboundMessageId, NotificationId, Origin,
    Priority, Sensitivity, Topic,
};
use crate::fhir::records::{AppointmentRef, NotificationRecord, Requester, SentAttempt};

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
pub(super) async fn notification_records(
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
