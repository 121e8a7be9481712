//! The FHIR records (`crate::fhir::records`): one notification with every attempt that reached a
//! provider, or one patient's message, each read from one snapshot; and pages of them for the
//! `/fhir/r4` searches, in the order of their last change. A notification's record changes with
//! `notifications.updated_at`, an attempt's with `attempts.updated_at`, a patient's message with
//! its arrival, answer or handling.

mod messages;
mod notifications;

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{Any, Transaction};

use super::notification_feed::bound;
use super::rows::Param;
use super::{Store, StoreError, millis, placeholders, timestamp};
use crate::domain::{AttemptId, ClinicId, InboundMessageId, NotificationId};
use crate::fhir::records::{
    CommunicationId, CommunicationRecord, Identifiers, InboundRecord, NotificationRecord,
    PatientRef, RecordCursor, RecordPage, RecordSearch, UpdatedBound,
};
use messages::inbound_records;
use notifications::notification_records;

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
                return Ok(CommunicationRecord::Received(Box::new(
                    self.inbound_record(clinic, message).await?,
                )));
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
        let items =
            keys.into_iter()
                .filter_map(|key| match key.notification_id {
                    Some(notification) => Some(CommunicationRecord::Sent {
                        notification: Arc::clone(notifications.get(&notification)?),
                        attempt: AttemptId::from_stored(key.id),
                    }),
                    None => (messages.remove(&key.id))
                        .map(|m| CommunicationRecord::Received(Box::new(m))),
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
pub(super) fn patient_ref(external_id: String, name: String, erased_at: Option<i64>) -> PatientRef {
    PatientRef {
        external_id,
        name: Some(name).filter(|n| !n.trim().is_empty()),
        erased: erased_at.is_some(),
    }
}

/// `query` with the clinic as `$1` and `ids` after it.
pub(super) fn bind_ids<'q, O>(
    query: sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments<'q>>,
    clinic: &'q ClinicId,
    ids: &'q [String],
) -> sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments<'q>> {
    let mut params = vec![Param::from(clinic.as_str())];
    params.extend(ids.iter().map(|id| Param::from(id.as_str())));
    bound(query, &params)
}
