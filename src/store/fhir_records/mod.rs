//! The FHIR records (`crate::fhir::records`): one notification with every attempt that reached a
//! provider, or one patient's message, each read from one snapshot; and pages of them for the
//! `/fhir/r4` searches, in the order of their last change. A notification's record changes with
//! `notification_states.updated_at`, an attempt's with `attempts.updated_at`, a patient's message with
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
        let mut tx = self.read_snapshot().await?;
        let (keys, next) = page_keys(&mut tx, clinic, &[NOTIFICATIONS], search).await?;
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
        let mut tx = self.read_snapshot().await?;
        let (keys, next) = page_keys(&mut tx, clinic, &[ATTEMPTS, MESSAGES], search).await?;
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

/// One kind of record a search reads: its rows of the clinic (`$1`), and the expressions of
/// its id, last change, patient and notification. Each kind is read in the order of an index
/// on (clinic, last change, id), so a page costs its own rows, not the clinic's history.
struct Kind {
    from: &'static str,
    id: &'static str,
    updated: &'static str,
    patient: &'static str,
    /// `None`: the kind belongs to no notification (a search by `based-on` finds none of it).
    notification: Option<&'static str>,
}

const NOTIFICATIONS: Kind = Kind {
    from: "notification_states s JOIN notification_requests n ON n.id = s.id \
        JOIN patients p ON p.id = n.patient_id WHERE s.clinic_id = $1",
    id: "s.id",
    updated: "s.updated_at",
    patient: "p.external_id",
    notification: Some("n.id"),
};

/// The attempts that reached a provider. `attempts` has no clinic column: its index on the last
/// change is read in order, each row kept when its notification is the clinic's. `CROSS JOIN`
/// makes SQLite (one clinic per box) read attempts first, in that order; PostgreSQL, where
/// clinics share a database, plans the join as any other from its statistics.
const ATTEMPTS: Kind = Kind {
    from: "attempts a CROSS JOIN notification_requests n JOIN patients p ON p.id = n.patient_id \
        WHERE n.id = a.notification_id AND n.clinic_id = $1 AND a.started_at IS NOT NULL",
    id: "a.id",
    updated: "a.updated_at",
    patient: "p.external_id",
    notification: Some("a.notification_id"),
};

const MESSAGES: Kind = Kind {
    from: "inbound_messages m JOIN patients p ON p.id = m.patient_id WHERE m.clinic_id = $1",
    id: "m.id",
    updated: MESSAGE_UPDATED,
    patient: "p.external_id",
    notification: None,
};

/// The ids of one page of the records of `kinds` that pass `search`, in the order of their last
/// change, and where the next page starts. Each kind gives its first page on its own; the
/// page is the first of them all.
async fn page_keys(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    kinds: &[Kind],
    search: &RecordSearch,
) -> Result<(Vec<PageKey>, Option<RecordCursor>), StoreError> {
    let mut keys = Vec::new();
    for kind in kinds {
        if kind.notification.is_none() && !search.based_on.is_empty() {
            continue;
        }
        let mut params = vec![Param::from(clinic.as_str())];
        let sql = kind_page(kind, search, &mut params);
        keys.extend(
            bound(sqlx::query_as::<_, PageKey>(&sql), &params)
                .fetch_all(&mut **tx)
                .await?,
        );
    }
    keys.sort_by(|a, b| (a.last_updated, &a.id).cmp(&(b.last_updated, &b.id)));
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

/// The query of one page (and one row more) of `kind`'s records that pass `search`; the values
/// it binds after the clinic are appended to `params`.
fn kind_page<'a>(kind: &Kind, search: &'a RecordSearch, params: &mut Vec<Param<'a>>) -> String {
    let (id, updated) = (kind.id, kind.updated);
    let mut sql = format!(
        "SELECT {id} AS id, {updated} AS last_updated, {} AS notification_id FROM {}",
        kind.notification.unwrap_or("NULL"),
        kind.from
    );
    for choice in &search.patients {
        any_of(
            &mut sql,
            params,
            kind.patient,
            choice.iter().map(String::as_str),
        );
    }
    for choice in &search.based_on {
        let column = kind.notification.unwrap_or("NULL");
        any_of(&mut sql, params, column, choice.iter().map(|n| n.as_str()));
    }
    for bound in &search.updated {
        let (operator, at) = match bound {
            UpdatedBound::Since(at) => (">=", at),
            UpdatedBound::Before(at) => ("<", at),
        };
        params.push(Param::from(millis(*at)));
        sql.push_str(&format!(" AND {updated} {operator} ${}", params.len()));
    }
    if let Some(after) = &search.after {
        let (at, after_id) = (params.len() + 1, params.len() + 2);
        // The range first, so the index is entered at the cursor, not read up to it.
        sql.push_str(&format!(
            " AND {updated} >= ${at} AND ({updated} > ${at} OR {id} > ${after_id})"
        ));
        params.extend([
            Param::from(millis(after.last_updated)),
            Param::from(after.id.as_str()),
        ]);
    }
    sql.push_str(&format!(
        " ORDER BY {updated}, {id} LIMIT ${}",
        params.len() + 1
    ));
    params.push(Param::from(i64::from(search.limit) + 1));
    sql
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
