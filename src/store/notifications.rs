use std::collections::HashSet;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use sqlx::{Any, FromRow, Transaction};

use super::audit::AuditEntry;
use super::events::EventBatch;
use super::notification_feed::{next_feed_position, with_feed_position};
use super::patient_caps::refused_by_caps;
use super::rows::{columns, write_rows};
use super::{Store, StoreError, WriterTurn, millis, opt_timestamp, timestamp};
use crate::domain::ReminderOffset;
use crate::domain::{
    Actor, AppointmentId, Cancellation, ClinicId, Event, InboundMessageId, Metadata,
    NotificationId, NotificationStatus, Origin, PatientId, Priority, Reason, Reference,
};
use crate::policy::PatientCaps;

/// A validated notification, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: NotificationId,
    pub clinic_id: ClinicId,
    pub patient_id: PatientId,
    pub topic: String,
    pub body: Option<String>,
    pub template: Option<String>,
    /// Template parameters as a JSON object.
    pub params: Option<String>,
    pub channel: Option<ChannelKind>,
    pub priority: Priority,
    pub send_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub idempotency_key: Option<String>,
    /// Fingerprint of the request, to tell a replay from a reused key.
    pub request_hash: String,
    pub received_at: Timestamp,
    /// How it came in, for the audit trail.
    pub received: Event,
    /// Who sent it.
    pub received_by: Actor,
    /// Why the messaging hours moved `send_at`, when they did.
    pub hours_note: Option<Reason>,
    /// Set when it is a reminder of an appointment's series, or a notice of a change to one.
    pub appointment: Option<AppointmentLink>,
    /// Where it came from: only [`Origin::Api`] counts toward the patient's daily caps.
    pub origin: Origin,
    /// The inbound message an auto or staff reply answers.
    pub in_reply_to: Option<InboundMessageId>,
    /// The booking system's id for it, and its own fields: set now, never changed.
    pub reference: Option<Reference>,
    pub metadata: Metadata,
    /// The audit entry of the request that hands it in, written in the transaction that stores
    /// it (naming the notification when the route's path names no resource); a replay stores
    /// neither.
    pub audit: Option<AuditEntry>,
}

/// Which appointment a notification belongs to, and, for a reminder of its series, how long
/// before it it goes (none: a notice to the patient that the appointment changed).
#[derive(Debug, Clone)]
pub struct AppointmentLink {
    pub appointment: AppointmentId,
    pub offset: Option<ReminderOffset>,
}

impl NewNotification {
    fn initial_status(&self) -> NotificationStatus {
        initial_status(self.send_at, self.expires_at, self.received_at)
    }

    /// When the dispatcher first looks at it; never, when it expired on arrival.
    fn due_at(&self) -> Option<Timestamp> {
        (self.initial_status() != NotificationStatus::Expired)
            .then(|| self.send_at.max(self.received_at))
    }
}

/// A notification whose send time is past its expiry (the messaging hours moved it there: the
/// API refuses such a request) expired on arrival.
fn initial_status(
    send_at: Timestamp,
    expires_at: Option<Timestamp>,
    received_at: Timestamp,
) -> NotificationStatus {
    if expires_at.is_some_and(|expires_at| expires_at <= send_at) {
        NotificationStatus::Expired
    } else if send_at > received_at {
        NotificationStatus::Scheduled
    } else {
        NotificationStatus::Queued
    }
}

/// What intake answers, the same for the first request and its replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub id: NotificationId,
    pub status: NotificationStatus,
    pub send_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeResult {
    Created(Receipt),
    /// The idempotency key was seen before with the same request.
    Replayed(Receipt),
    /// The idempotency key was seen before with a different request.
    KeyReused,
    /// Refused: the patient has had their cap of notifications of this `priority`; one more may
    /// come at `frees_at`. Nothing was stored.
    PatientLimit {
        priority: Priority,
        frees_at: Timestamp,
    },
}

pub(crate) const NOTIFICATION_COLUMNS: &str = "n.id, n.clinic_id, n.patient_id, n.topic, n.body, n.template, n.params, \
    n.channel, n.priority, n.send_at, n.expires_at, n.status, n.created_at";

/// A notification no provider has taken and the dispatcher is not handing over right now: it
/// may still be cancelled or moved. `$1` is its id.
pub(crate) const NOT_HANDED_OVER: &str = "status IN ('scheduled', 'queued') AND lease_token IS NULL \
    AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.notification_id = $1 \
                    AND a.status NOT IN ('failed', 'errored', 'rate_limited'))";

pub(crate) fn status(value: &str) -> Result<NotificationStatus, StoreError> {
    NotificationStatus::parse(value).ok_or_else(|| StoreError::Corrupt(format!("status {value}")))
}

/// The answer for a notification whose idempotency key is already taken.
async fn replay(
    tx: &mut Transaction<'_, Any>,
    n: &NewNotification,
) -> Result<IntakeResult, StoreError> {
    let (id, hash, send_at, expires_at, created_at): (
        String,
        Option<String>,
        i64,
        Option<i64>,
        i64,
    ) = sqlx::query_as(
        "SELECT id, request_hash, send_at, expires_at, created_at FROM notification_requests \
         WHERE clinic_id = $1 AND idempotency_key = $2",
    )
    .bind(n.clinic_id.as_str())
    .bind(n.idempotency_key.as_deref())
    .fetch_one(&mut **tx)
    .await?;
    if hash.as_deref() != Some(n.request_hash.as_str()) {
        return Ok(IntakeResult::KeyReused);
    }
    let send_at = timestamp(send_at)?;
    let status = initial_status(send_at, opt_timestamp(expires_at)?, timestamp(created_at)?);
    Ok(IntakeResult::Replayed(Receipt {
        id: NotificationId::from_stored(id),
        status,
        send_at,
    }))
}

columns! {
    struct NotificationRow<'a> {
        id: &'a str,
        clinic_id: &'a str,
        patient_id: &'a str,
        topic: &'a str,
        body: Option<&'a str>,
        template: Option<&'a str>,
        params: Option<&'a str>,
        channel: Option<&'a str>,
        priority: &'a str,
        send_at: i64,
        expires_at: Option<i64>,
        idempotency_key: Option<&'a str>,
        request_hash: &'a str,
        created_at: i64,
        appointment_id: Option<&'a str>,
        reminder_minutes_before: Option<i64>,
        origin: &'a str,
        in_reply_to: Option<&'a str>,
        reference: Option<&'a str>,
        metadata: Option<&'a str>,
    }
}

columns! {
    /// A new notification's first state.
    pub(crate) struct FirstState<'a> {
        pub(crate) id: &'a str,
        pub(crate) clinic_id: &'a str,
        pub(crate) created_at: i64,
        pub(crate) status: &'a str,
        pub(crate) due_at: Option<i64>,
        pub(crate) updated_at: i64,
    }
}

/// Writes new notifications' first states, each at the end of its clinic's feed.
pub(crate) async fn insert_states(
    tx: &mut Transaction<'_, Any>,
    states: &[FirstState<'_>],
) -> Result<(), StoreError> {
    let sql = format!(
        "WITH v ({{columns}}) AS ({{rows}}) \
         INSERT INTO notification_states ({{columns}}, feed_position) SELECT {{columns}}, {} FROM v",
        next_feed_position(tx, "v.clinic_id")
    );
    write_rows(tx, &sql, &[], states).await?;
    Ok(())
}

/// Writes the notifications that are new, their request and their first state; returns the ids
/// written (a taken idempotency key leaves its notification out).
pub(crate) async fn insert_rows(
    tx: &mut Transaction<'_, Any>,
    batch: &[&NewNotification],
) -> Result<HashSet<String>, StoreError> {
    let origins: Vec<String> = batch.iter().map(|n| n.origin.stored()).collect();
    let metadata: Vec<Option<String>> = batch.iter().map(|n| n.metadata.to_stored()).collect();
    let rows: Vec<NotificationRow> = batch
        .iter()
        .zip(origins.iter().zip(&metadata))
        .map(|(n, (origin, metadata))| notification_row(n, origin, metadata.as_deref()))
        .collect();
    // `WHERE true` tells SQLite's parser that `ON CONFLICT` is the insert's, not a join's.
    let sql = "WITH v ({columns}) AS ({rows}) \
         INSERT INTO notification_requests ({columns}) SELECT {columns} FROM v WHERE true \
         ON CONFLICT (clinic_id, idempotency_key) DO NOTHING RETURNING id";
    let inserted = write_rows(tx, sql, &[], &rows)
        .await?
        .iter()
        .map(|row| Ok(<(String,)>::from_row(row)?.0))
        .collect::<Result<HashSet<String>, StoreError>>()?;
    let states: Vec<FirstState> = batch
        .iter()
        .filter(|n| inserted.contains(n.id.as_str()))
        .map(|n| FirstState {
            id: n.id.as_str(),
            clinic_id: n.clinic_id.as_str(),
            created_at: millis(n.received_at),
            status: n.initial_status().as_str(),
            due_at: n.due_at().map(millis),
            updated_at: millis(n.received_at),
        })
        .collect();
    insert_states(tx, &states).await?;
    Ok(inserted)
}

/// The stored row of a new notification, created and updated as it was received; `origin` and
/// `metadata` are as stored.
fn notification_row<'a>(
    n: &'a NewNotification,
    origin: &'a str,
    metadata: Option<&'a str>,
) -> NotificationRow<'a> {
    let received = millis(n.received_at);
    NotificationRow {
        id: n.id.as_str(),
        clinic_id: n.clinic_id.as_str(),
        patient_id: n.patient_id.as_str(),
        topic: &n.topic,
        body: n.body.as_deref(),
        template: n.template.as_deref(),
        params: n.params.as_deref(),
        channel: n.channel.map(|c| c.as_str()),
        priority: n.priority.as_str(),
        send_at: millis(n.send_at),
        expires_at: n.expires_at.map(millis),
        idempotency_key: n.idempotency_key.as_deref(),
        request_hash: &n.request_hash,
        created_at: received,
        appointment_id: n.appointment.as_ref().map(|r| r.appointment.as_str()),
        reminder_minutes_before: n
            .appointment
            .as_ref()
            .and_then(|r| r.offset)
            .map(ReminderOffset::minutes),
        origin,
        in_reply_to: n.in_reply_to.as_ref().map(InboundMessageId::as_str),
        reference: n.reference.as_ref().map(Reference::as_str),
        metadata,
    }
}

/// Records a stored notification's receipt (and the hours' note, when they moved it) and
/// answers with its receipt.
fn record_created(
    events: &mut EventBatch,
    n: &NewNotification,
) -> Result<IntakeResult, StoreError> {
    events.add(
        n.id.as_str(),
        None,
        n.received_at,
        &n.received_by,
        &n.received,
    )?;
    if let Some(note) = &n.hours_note {
        let routing = Event::Routing(note.clone());
        events.add(n.id.as_str(), None, n.received_at, &Actor::System, &routing)?;
    }
    Ok(IntakeResult::Created(Receipt {
        id: n.id.clone(),
        status: n.initial_status(),
        send_at: n.send_at,
    }))
}

impl Store {
    /// Stores a batch of notifications in one transaction (group commit): each is durable, with
    /// its first event, when this returns. A repeated idempotency key yields the first receipt;
    /// notifications over a patient's cap for their priority are refused and not stored.
    pub async fn insert_notifications(
        &self,
        batch: &[NewNotification],
        caps: PatientCaps,
    ) -> Result<Vec<IntakeResult>, StoreError> {
        let turn = self.writer_turn().await?;
        self.insert_notifications_on(turn, batch, caps).await
    }

    /// [`Store::insert_notifications`] on a writer connection already taken.
    pub async fn insert_notifications_on(
        &self,
        mut turn: WriterTurn,
        batch: &[NewNotification],
        caps: PatientCaps,
    ) -> Result<Vec<IntakeResult>, StoreError> {
        let mut tx = sqlx::Connection::begin(&mut *turn.0).await?;
        let refused = refused_by_caps(self.backend, &mut tx, batch, caps).await?;
        let admitted: Vec<&NewNotification> = batch
            .iter()
            .filter(|n| !refused.contains_key(n.id.as_str()))
            .collect();
        let inserted = insert_rows(&mut tx, &admitted).await?;

        let mut events = EventBatch::default();
        let mut results = Vec::with_capacity(batch.len());
        for n in batch {
            if let Some(frees_at) = refused.get(n.id.as_str()) {
                results.push(IntakeResult::PatientLimit {
                    priority: n.priority,
                    frees_at: *frees_at,
                });
            } else if inserted.contains(n.id.as_str()) {
                results.push(record_created(&mut events, n)?);
            } else {
                results.push(replay(&mut tx, n).await?);
            }
        }
        let replies: Vec<&NewNotification> = batch
            .iter()
            .filter(|n| n.origin == Origin::StaffReply && inserted.contains(n.id.as_str()))
            .collect();
        super::conversations::record_staff_replies(&mut tx, self.backend, &replies, &mut events)
            .await?;
        events.write(&mut tx).await?;
        let audited: Vec<AuditEntry> = batch
            .iter()
            .filter(|n| inserted.contains(n.id.as_str()))
            .filter_map(|n| {
                // As the middleware names it: the path's ids, else what the request created.
                n.audit.clone().map(|entry| AuditEntry {
                    resource_id: entry.resource_id.or_else(|| Some(n.id.to_string())),
                    ..entry
                })
            })
            .collect();
        super::audit::write_entries(&mut tx, &audited).await?;
        tx.commit().await?;
        Ok(results)
    }

    /// Cancels a notification no provider has taken yet. `Err(Conflict)` when one has, or the
    /// dispatcher is handing it over right now.
    pub async fn cancel_notification(
        &self,
        clinic: &ClinicId,
        id: &NotificationId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        let mut events = EventBatch::default();
        let cancelled = sqlx::query(&with_feed_position(
            &tx,
            &format!(
                "UPDATE notification_states SET status = 'cancelled', due_at = NULL, updated_at = $3, \
                 {{feed_position}} WHERE id = $1 AND clinic_id = $2 AND {NOT_HANDED_OVER} RETURNING id"
            ),
        ))
        .bind(id.as_str())
        .bind(clinic.as_str())
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await?;
        if cancelled.is_none() {
            let exists =
                sqlx::query("SELECT 1 AS one FROM notifications WHERE id = $1 AND clinic_id = $2")
                    .bind(id.as_str())
                    .bind(clinic.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(if exists.is_some() {
                StoreError::Conflict("hand-over")
            } else {
                StoreError::NotFound
            });
        }
        let event = Event::Cancelled {
            because: Cancellation::Requested,
        };
        events.add(id.as_str(), None, now, by, &event)?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
