//! Appointments and their reminder series. Booking, moving and cancelling an appointment each
//! bring its reminders in line with the series in the same transaction, with an event on every
//! reminder that changes.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use super::events::EventBatch;
use super::notifications::status;
use super::reminder_series::{apply_series, cancel_reminder, latest_reminders};
use super::{
    Backend, Store, StoreError, for_update, lock_notifications, millis, opt_timestamp, timestamp,
};
use crate::domain::ReminderOffset;
use crate::domain::{
    Actor, AppointmentId, AppointmentStatus, Cancellation, ClinicId, NotificationId,
    NotificationStatus, PatientId,
};

/// A validated appointment, ready to be booked.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    pub id: AppointmentId,
    pub clinic_id: ClinicId,
    pub patient_id: PatientId,
    /// The booking system's own id, unique within the clinic.
    pub external_id: Option<String>,
    pub starts_at: Timestamp,
    pub topic: String,
    pub template: String,
    /// The caller's template parameters; `date` and `time` are filled from `starts_at`.
    pub params: BTreeMap<String, String>,
    pub offsets: Vec<ReminderOffset>,
    pub idempotency_key: Option<String>,
    /// Fingerprint of the request, to tell a replay from a different booking.
    pub request_hash: String,
}

/// Who changes an appointment, when, and the zone the clinic's calendar is in.
#[derive(Debug, Clone, Copy)]
pub struct AppointmentChange<'a> {
    pub by: &'a Actor,
    pub at: Timestamp,
    pub clinic_zone: &'a TimeZone,
}

#[derive(Debug, Clone)]
pub enum Booking {
    Created(AppointmentView),
    /// The same request again (same idempotency key or appointment id, same body).
    Replayed(AppointmentView),
    /// The idempotency key was used for a different request.
    KeyReused,
    /// The appointment id is already booked with other details.
    AppointmentIdTaken,
}

#[derive(Debug, Clone)]
pub struct AppointmentView {
    pub id: AppointmentId,
    /// The booking system's id, if it gave one.
    pub appointment_id: Option<String>,
    pub patient_id: String,
    pub starts_at: Timestamp,
    pub status: AppointmentStatus,
    pub topic: String,
    pub template: String,
    pub params: BTreeMap<String, String>,
    /// Every reminder this appointment has had, oldest first, cancelled ones included.
    pub reminders: Vec<ReminderView>,
    pub skipped_reminders: Vec<SkippedReminder>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ReminderView {
    pub notification_id: NotificationId,
    /// How long before the appointment it goes: `2d`, `2h`, `30m`.
    pub before: String,
    pub send_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub status: NotificationStatus,
}

/// A reminder of the series that was left out, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkippedReminder {
    pub before: String,
    pub reason: String,
}

/// An appointment as its reminders need it.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub(super) id: AppointmentId,
    pub(super) clinic_id: ClinicId,
    pub(super) patient_id: PatientId,
    pub(super) starts_at: Timestamp,
    pub(super) topic: String,
    pub(super) template: String,
    pub(super) params: BTreeMap<String, String>,
    pub(super) offsets: Vec<ReminderOffset>,
    pub(super) status: AppointmentStatus,
}

/// What happened to the appointment, in the words of its reminders' events.
#[derive(Debug, Clone, Copy)]
pub(super) enum SeriesChange {
    Booked,
    Moved { from: Timestamp },
}

const STORED_COLUMNS: &str =
    "id, clinic_id, patient_id, starts_at, topic, template, params, reminder_minutes, status";

pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn appointment_status(stored: &str) -> Result<AppointmentStatus, StoreError> {
    AppointmentStatus::parse(stored).ok_or_else(|| corrupt("appointment status"))
}

fn params(stored: &str) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(stored).map_err(|_| corrupt("appointment params"))
}

#[derive(sqlx::FromRow)]
struct StoredRow {
    id: String,
    clinic_id: String,
    patient_id: String,
    starts_at: i64,
    topic: String,
    template: String,
    /// JSON object.
    params: String,
    /// Comma-separated minutes.
    reminder_minutes: String,
    status: String,
}

impl TryFrom<StoredRow> for Stored {
    type Error = StoreError;

    fn try_from(row: StoredRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: AppointmentId::from_stored(row.id),
            clinic_id: ClinicId::from_stored(row.clinic_id),
            patient_id: PatientId::from_stored(row.patient_id),
            starts_at: timestamp(row.starts_at)?,
            topic: row.topic,
            template: row.template,
            params: params(&row.params)?,
            offsets: row
                .reminder_minutes
                .split(',')
                .filter(|m| !m.is_empty())
                .map(|m| {
                    m.parse()
                        .ok()
                        .and_then(ReminderOffset::from_minutes)
                        .ok_or_else(|| corrupt("reminder minutes"))
                })
                .collect::<Result<_, _>>()?,
            status: appointment_status(&row.status)?,
        })
    }
}

/// One of an appointment's reminders, as its notification row stores it.
#[derive(sqlx::FromRow)]
pub(super) struct ReminderRow {
    pub(super) id: String,
    pub(super) reminder_minutes_before: Option<i64>,
    pub(super) status: String,
    pub(super) send_at: i64,
    pub(super) expires_at: Option<i64>,
}

pub(super) const REMINDER_SELECT: &str = "SELECT id, reminder_minutes_before, status, send_at, expires_at \
    FROM notifications WHERE appointment_id = $1 ORDER BY created_at, id";

impl ReminderRow {
    fn offset(&self) -> Result<ReminderOffset, StoreError> {
        self.reminder_minutes_before
            .and_then(ReminderOffset::from_minutes)
            .ok_or_else(|| corrupt("reminder minutes"))
    }
}

#[derive(sqlx::FromRow)]
struct ViewRow {
    id: String,
    external_id: Option<String>,
    patient: String,
    starts_at: i64,
    status: String,
    topic: String,
    template: String,
    params: String,
    /// JSON list of [`SkippedReminder`].
    skipped_reminders: String,
    created_at: i64,
    updated_at: i64,
}

/// The appointment `id` (ours or the booking system's) of the clinic, read in `tx`.
async fn stored(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    clinic: &ClinicId,
    id: &str,
) -> Result<Stored, StoreError> {
    sqlx::query_as::<_, StoredRow>(&format!(
        "SELECT {STORED_COLUMNS} FROM appointments WHERE clinic_id = $1 AND (id = $2 OR external_id = $2){}",
        for_update(backend)
    ))
    .bind(clinic.as_str())
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

impl Store {
    /// Books an appointment and creates its reminders, all in one transaction. A repeated
    /// idempotency key or appointment id with the same request yields the appointment as it is.
    pub async fn book_appointment(
        &self,
        new: &NewAppointment,
        change: AppointmentChange<'_>,
    ) -> Result<Booking, StoreError> {
        let mut tx = self.write.begin().await?;
        let minutes = new
            .offsets
            .iter()
            .map(|o| o.minutes().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let inserted = sqlx::query(
            "INSERT INTO appointments (id, clinic_id, patient_id, external_id, starts_at, topic, template, params, \
             reminder_minutes, skipped_reminders, status, idempotency_key, request_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '[]', $10, $11, $12, $13, $13) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(new.id.as_str())
        .bind(new.clinic_id.as_str())
        .bind(new.patient_id.as_str())
        .bind(new.external_id.as_deref())
        .bind(millis(new.starts_at))
        .bind(new.topic.as_str())
        .bind(new.template.as_str())
        .bind(serde_json::to_string(&new.params).map_err(|_| corrupt("appointment params"))?)
        .bind(minutes)
        .bind(AppointmentStatus::Booked.as_str())
        .bind(new.idempotency_key.as_deref())
        .bind(new.request_hash.as_str())
        .bind(millis(change.at))
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            let (id, hash, key): (String, String, Option<String>) = sqlx::query_as(
                "SELECT id, request_hash, idempotency_key FROM appointments \
                 WHERE clinic_id = $1 AND (idempotency_key = $2 OR external_id = $3)",
            )
            .bind(new.clinic_id.as_str())
            .bind(new.idempotency_key.as_deref())
            .bind(new.external_id.as_deref())
            .fetch_one(&mut *tx)
            .await?;
            tx.rollback().await?;
            return Ok(if hash == new.request_hash {
                Booking::Replayed(self.appointment(&new.clinic_id, &id).await?)
            } else if key.is_some() && key == new.idempotency_key {
                Booking::KeyReused
            } else {
                Booking::AppointmentIdTaken
            });
        }
        let appointment = Stored {
            id: new.id.clone(),
            clinic_id: new.clinic_id.clone(),
            patient_id: new.patient_id.clone(),
            starts_at: new.starts_at,
            topic: new.topic.clone(),
            template: new.template.clone(),
            params: new.params.clone(),
            offsets: new.offsets.clone(),
            status: AppointmentStatus::Booked,
        };
        apply_series(
            self.backend,
            &mut tx,
            &appointment,
            change,
            SeriesChange::Booked,
        )
        .await?;
        tx.commit().await?;
        Ok(Booking::Created(
            self.appointment(&new.clinic_id, new.id.as_str()).await?,
        ))
    }

    /// Moves an appointment to `starts_at`; its reminders no provider has yet move with it.
    /// `Err(Conflict)` for a cancelled appointment.
    pub async fn move_appointment(
        &self,
        clinic: &ClinicId,
        id: &str,
        starts_at: Timestamp,
        change: AppointmentChange<'_>,
    ) -> Result<AppointmentView, StoreError> {
        let mut tx = self.write.begin().await?;
        let mut appointment = stored(self.backend, &mut tx, clinic, id).await?;
        if appointment.status == AppointmentStatus::Cancelled {
            return Err(StoreError::Conflict("cancelled appointment"));
        }
        let from = appointment.starts_at;
        sqlx::query("UPDATE appointments SET starts_at = $2 WHERE id = $1")
            .bind(appointment.id.as_str())
            .bind(millis(starts_at))
            .execute(&mut *tx)
            .await?;
        appointment.starts_at = starts_at;
        apply_series(
            self.backend,
            &mut tx,
            &appointment,
            change,
            SeriesChange::Moved { from },
        )
        .await?;
        tx.commit().await?;
        self.appointment(clinic, appointment.id.as_str()).await
    }

    /// Cancels an appointment and every reminder of it no provider has yet. Cancelling a
    /// cancelled appointment changes nothing.
    pub async fn cancel_appointment(
        &self,
        clinic: &ClinicId,
        id: &str,
        change: AppointmentChange<'_>,
    ) -> Result<AppointmentView, StoreError> {
        let mut tx = self.write.begin().await?;
        let appointment = stored(self.backend, &mut tx, clinic, id).await?;
        if appointment.status == AppointmentStatus::Booked {
            sqlx::query("UPDATE appointments SET status = $2, updated_at = $3 WHERE id = $1")
                .bind(appointment.id.as_str())
                .bind(AppointmentStatus::Cancelled.as_str())
                .bind(millis(change.at))
                .execute(&mut *tx)
                .await?;
            let latest = latest_reminders(&mut tx, &appointment.id).await?;
            let ids: Vec<&str> = latest.values().map(|r| r.id.as_str()).collect();
            lock_notifications(self.backend, &mut tx, "{ids}", &ids).await?;
            let because = Cancellation::AppointmentCancelled {
                appointment: appointment.id.clone(),
                starts_at: appointment.starts_at,
            };
            let mut events = EventBatch::default();
            for reminder in latest.values().filter(|r| r.is_pending()) {
                cancel_reminder(&mut tx, &mut events, &reminder.id, &change, because.clone())
                    .await?;
            }
            events.write(&mut tx).await?;
        }
        tx.commit().await?;
        self.appointment(clinic, appointment.id.as_str()).await
    }

    /// The appointment `id` (ours, `apt_…`, or the booking system's) with its reminders.
    pub async fn appointment(
        &self,
        clinic: &ClinicId,
        id: &str,
    ) -> Result<AppointmentView, StoreError> {
        let row = sqlx::query_as::<_, ViewRow>(
            "SELECT a.id, a.external_id, p.external_id AS patient, a.starts_at, a.status, a.topic, a.template, \
             a.params, a.skipped_reminders, a.created_at, a.updated_at \
             FROM appointments a JOIN patients p ON p.id = a.patient_id \
             WHERE a.clinic_id = $1 AND (a.id = $2 OR a.external_id = $2)",
        )
        .bind(clinic.as_str())
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let id = AppointmentId::from_stored(row.id);
        let reminders = sqlx::query_as::<_, ReminderRow>(REMINDER_SELECT)
            .bind(id.as_str())
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(|r| {
                Ok(ReminderView {
                    before: r.offset()?.to_string(),
                    notification_id: NotificationId::from_stored(r.id),
                    send_at: timestamp(r.send_at)?,
                    expires_at: opt_timestamp(r.expires_at)?,
                    status: status(&r.status)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(AppointmentView {
            id,
            appointment_id: row.external_id,
            patient_id: row.patient,
            starts_at: timestamp(row.starts_at)?,
            status: appointment_status(&row.status)?,
            topic: row.topic,
            template: row.template,
            params: params(&row.params)?,
            reminders,
            skipped_reminders: serde_json::from_str(&row.skipped_reminders)
                .map_err(|_| corrupt("skipped reminders"))?,
            created_at: timestamp(row.created_at)?,
            updated_at: timestamp(row.updated_at)?,
        })
    }
}
