//! What a patient's transcript shows, read in one snapshot: every message that went to the
//! patient (each hand-over a provider took or may have taken, with what it carried), every
//! message the patient sent, and the staff callbacks opened for them, over a period.

use std::collections::HashMap;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

use super::callbacks::{CallbackRow, VIEW as CALLBACK_VIEW};
use super::contents::ContentRow;
use super::conversations::{INBOUND_COLUMNS, inbound};
use super::{
    ApiKeyRole, CallbackView, InboundRecord, Store, StoreError, millis, opt_timestamp,
    parse_stored, timestamp,
};
use crate::domain::{
    Actor, AttemptContent, AttemptStatus, ClinicId, NotificationId, Origin, PatientId,
};

/// Which part of a patient's history a transcript covers: `[from, to)`, at most `limit` items
/// of each kind.
#[derive(Debug, Clone, Copy)]
pub struct TranscriptPeriod {
    /// `None`: from the first message.
    pub from: Option<Timestamp>,
    pub to: Timestamp,
    pub limit: u32,
}

/// The patient a transcript is about.
#[derive(Debug, Clone)]
pub struct TranscriptPatient {
    pub external_id: String,
    pub name: String,
    pub language: String,
    /// Erased on request: their texts are gone, the record of what was sent stays.
    pub erased: bool,
}

/// One hand-over of a notification to a provider, as the patient got it.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub notification_id: NotificationId,
    pub topic: String,
    pub origin: Origin,
    pub channel: ChannelKind,
    pub status: AttemptStatus,
    /// When the request to the provider started.
    pub handed_over_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    /// Handed to the sandbox, not to a provider: no patient received it.
    pub sandbox: bool,
    /// Who asked for the notification; `None` for one stored before events named their actor.
    pub requested_by: Option<Actor>,
    /// What the hand-over carried; `None` for one from before contents were recorded.
    pub content: Option<AttemptContent>,
}

/// Everything a transcript shows, each kind oldest first.
#[derive(Debug, Clone)]
pub struct TranscriptRecords {
    pub patient: TranscriptPatient,
    pub sent: Vec<SentMessage>,
    pub received: Vec<InboundRecord>,
    pub callbacks: Vec<CallbackView>,
    /// Some kind had more than `limit` items in the period: what is here is its first part.
    pub truncated: bool,
}

/// Hand-overs a provider took or may have: those refused outright (`errored`, `rate_limited`,
/// retried on the same channel) or never started (`unsent`) reached nobody.
const SENT: &str = "SELECT a.notification_id, n.topic, n.origin, a.channel, a.status, a.started_at, \
    a.delivered_at, a.read_at, a.failed_at, a.sandbox, \
    (SELECT e.actor FROM events e WHERE e.notification_id = n.id AND e.kind = 'received' \
     ORDER BY e.id LIMIT 1) AS requested_by, \
    c.attempt_id, c.kind, c.language, c.subject, c.text, c.template_name, c.template_params \
    FROM attempts a JOIN notifications n ON n.id = a.notification_id \
    LEFT JOIN attempt_contents c ON c.attempt_id = a.id AND c.clinic_id = n.clinic_id \
    WHERE n.clinic_id = $1 AND n.patient_id = $2 AND a.started_at IS NOT NULL \
    AND a.status NOT IN ('unsent', 'errored', 'rate_limited') \
    AND a.started_at >= $3 AND a.started_at < $4 \
    ORDER BY a.started_at, a.id LIMIT $5";

#[derive(sqlx::FromRow)]
struct PatientRow {
    id: String,
    external_id: String,
    name: String,
    language: String,
    erased_at: Option<i64>,
}

impl Store {
    /// The transcript of the clinic's patient `external_id` over `period`; `NotFound` when the
    /// clinic has no such patient.
    pub async fn transcript(
        &self,
        clinic: &ClinicId,
        external_id: &str,
        period: TranscriptPeriod,
    ) -> Result<TranscriptRecords, StoreError> {
        // One snapshot: a receipt committed between the reads would show a message read in one
        // part and not yet delivered in another.
        let mut tx = self.read_snapshot().await?;
        let patient = sqlx::query_as::<_, PatientRow>(
            "SELECT id, external_id, name, language, erased_at FROM patients \
             WHERE clinic_id = $1 AND external_id = $2",
        )
        .bind(clinic.as_str())
        .bind(external_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let scope = Scope {
            clinic,
            patient: PatientId::from_stored(patient.id),
            from: period.from.map_or(i64::MIN, millis),
            to: millis(period.to),
            limit: i64::from(period.limit) + 1,
        };
        let roles = key_roles(&mut tx, clinic).await?;
        let sent = sent_messages(&mut tx, &scope, &roles).await?;
        let received = received_messages(&mut tx, &scope).await?;
        let callbacks = callbacks(&mut tx, &scope).await?;
        tx.commit().await?;
        let mut records = TranscriptRecords {
            patient: TranscriptPatient {
                external_id: patient.external_id,
                name: patient.name,
                language: patient.language,
                erased: patient.erased_at.is_some(),
            },
            sent,
            received,
            callbacks,
            truncated: false,
        };
        records.truncated = records.keep_first(period.limit as usize);
        Ok(records)
    }
}

impl TranscriptRecords {
    /// Keeps the first `limit` items of each kind; whether any kind had more.
    fn keep_first(&mut self, limit: usize) -> bool {
        let over =
            self.sent.len() > limit || self.received.len() > limit || self.callbacks.len() > limit;
        self.sent.truncate(limit);
        self.received.truncate(limit);
        self.callbacks.truncate(limit);
        over
    }
}

/// One patient's records over the period: `$1` clinic, `$2` patient, `$3`..`$4` the instants,
/// `$5` one more than the limit.
struct Scope<'a> {
    clinic: &'a ClinicId,
    patient: PatientId,
    from: i64,
    to: i64,
    limit: i64,
}

impl Scope<'_> {
    fn bind<'q>(
        &'q self,
        sql: &'q str,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        sqlx::query(sql)
            .bind(self.clinic.as_str())
            .bind(self.patient.as_str())
            .bind(self.from)
            .bind(self.to)
            .bind(self.limit)
    }
}

/// The role of each of the clinic's keys, by id: the actor of an event names only the key.
async fn key_roles(
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
) -> Result<HashMap<String, &'static str>, StoreError> {
    let keys: Vec<(String, String)> =
        sqlx::query_as("SELECT id, role FROM api_keys WHERE clinic_id = $1")
            .bind(clinic.as_str())
            .fetch_all(&mut **tx)
            .await?;
    keys.into_iter()
        .map(|(id, role)| {
            let role = ApiKeyRole::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("key role {role}")))?;
            Ok((id, role.as_str()))
        })
        .collect()
}

async fn sent_messages(
    tx: &mut Transaction<'_, Any>,
    scope: &Scope<'_>,
    roles: &HashMap<String, &'static str>,
) -> Result<Vec<SentMessage>, StoreError> {
    let rows = scope.bind(SENT).fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get("status")?;
            let origin: String = row.try_get("origin")?;
            let requested_by: Option<String> = row.try_get("requested_by")?;
            Ok(SentMessage {
                notification_id: NotificationId::from_stored(row.try_get("notification_id")?),
                topic: row.try_get("topic")?,
                origin: Origin::parse(&origin)
                    .ok_or_else(|| StoreError::Corrupt(format!("origin {origin}")))?,
                channel: parse_stored(&row.try_get::<String, _>("channel")?, "channel")?,
                status: AttemptStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("attempt status {status}")))?,
                handed_over_at: timestamp(row.try_get("started_at")?)?,
                delivered_at: opt_timestamp(row.try_get("delivered_at")?)?,
                read_at: opt_timestamp(row.try_get("read_at")?)?,
                failed_at: opt_timestamp(row.try_get("failed_at")?)?,
                sandbox: row.try_get::<i64, _>("sandbox")? != 0,
                requested_by: requested_by.and_then(|actor| {
                    Actor::from_stored(&actor, |key| {
                        roles.get(key.as_str()).copied().unwrap_or("API")
                    })
                }),
                content: content(row)?,
            })
        })
        .collect()
}

/// The hand-over's recorded content, when there is one.
fn content(row: &AnyRow) -> Result<Option<AttemptContent>, StoreError> {
    if row.try_get::<Option<String>, _>("kind")?.is_none() {
        return Ok(None);
    }
    let (_, content) = ContentRow::from_row(row)?.into_entry()?;
    Ok(Some(content))
}

async fn received_messages(
    tx: &mut Transaction<'_, Any>,
    scope: &Scope<'_>,
) -> Result<Vec<InboundRecord>, StoreError> {
    let sql = format!(
        "SELECT {INBOUND_COLUMNS} FROM inbound_messages WHERE clinic_id = $1 AND patient_id = $2 \
         AND received_at >= $3 AND received_at < $4 ORDER BY received_at, id LIMIT $5"
    );
    let rows = scope.bind(&sql).fetch_all(&mut **tx).await?;
    rows.iter().map(inbound).collect()
}

async fn callbacks(
    tx: &mut Transaction<'_, Any>,
    scope: &Scope<'_>,
) -> Result<Vec<CallbackView>, StoreError> {
    let sql = format!(
        "{CALLBACK_VIEW} WHERE c.clinic_id = $1 AND c.patient_id = $2 \
         AND c.created_at >= $3 AND c.created_at < $4 ORDER BY c.created_at, c.id LIMIT $5"
    );
    let rows = scope.bind(&sql).fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|row| CallbackView::try_from(CallbackRow::from_row(row)?))
        .collect()
}
