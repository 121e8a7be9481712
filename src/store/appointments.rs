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
use crate::domain::{
    Actor, AppointmentId, AppointmentStatus, Cancellation, ClinicId, NotificationId,
    NotificationStatus, PatientId,
};
use crate::domain::{Metadata, Reference, ReminderOffset};
use crate::policy::MessagingHours;

/// Who changes an appointment, when, and the zone the clinic's calendar is in.
#[derive(Debug, Clone, Copy)]
pub struct AppointmentChange<'a> {
    pub by: &'a Actor,
    pub at: Timestamp,
    pub clinic_zone: &'a TimeZone,
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
    /// The booking system's id for the booking and its own fields, set when it was booked.
    pub reference: Option<Reference>,
    pub metadata: Metadata,
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

/// An appointment after `DELETE`.
#[derive(Debug, Clone)]
pub struct CancelledAppointment {
    pub view: AppointmentView,
    /// Whether this call cancelled it (it was booked), not an earlier one.
    pub cancelled_now: bool,
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
    /// A cancelled appointment booked again: the reminders it had belong to the cancelled booking.
    BookedAgain,
    Moved {
        from: Timestamp,
    },
}

const STORED_COLUMNS: &str =
    "id, clinic_id, patient_id, starts_at, topic, template, params, reminder_minutes, status";

pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

pub(super) fn appointment_status(stored: &str) -> Result<AppointmentStatus, StoreError> {
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

/// Its notices of changes (no offset) are not reminders.
macro_rules! reminder_columns {
    () => {
        "id, reminder_minutes_before, status, send_at, expires_at"
    };
}

/// The columns of a [`ReminderRow`].
pub(super) const REMINDER_COLUMNS: &str = reminder_columns!();

pub(super) const REMINDER_SELECT: &str = concat!(
    "SELECT ",
    reminder_columns!(),
    " FROM notifications WHERE appointment_id = $1 AND reminder_minutes_before IS NOT NULL \
     ORDER BY created_at, id"
);

impl ReminderRow {
    fn offset(&self) -> Result<ReminderOffset, StoreError> {
        self.reminder_minutes_before
            .and_then(ReminderOffset::from_minutes)
            .ok_or_else(|| corrupt("reminder minutes"))
    }

    pub(super) fn view(self) -> Result<ReminderView, StoreError> {
        Ok(ReminderView {
            before: self.offset()?.to_string(),
            notification_id: NotificationId::from_stored(self.id),
            send_at: timestamp(self.send_at)?,
            expires_at: opt_timestamp(self.expires_at)?,
            status: status(&self.status)?,
        })
    }
}

/// An appointment as the API shows it, without its reminders.
#[derive(sqlx::FromRow)]
pub(super) struct ViewRow {
    pub(super) id: String,
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
    reference: Option<String>,
    /// JSON object.
    metadata: Option<String>,
}

/// Selects [`ViewRow`]s: appointments `a` with their patients `p`.
pub(super) const VIEW_SELECT: &str = "SELECT a.id, a.external_id, p.external_id AS patient, \
    a.starts_at, a.status, a.topic, a.template, a.params, a.skipped_reminders, a.created_at, \
    a.updated_at, a.reference, a.metadata FROM appointments a JOIN patients p ON p.id = a.patient_id";

impl ViewRow {
    pub(super) fn view(self, reminders: Vec<ReminderView>) -> Result<AppointmentView, StoreError> {
        Ok(AppointmentView {
            id: AppointmentId::from_stored(self.id),
            appointment_id: self.external_id,
            patient_id: self.patient,
            starts_at: timestamp(self.starts_at)?,
            status: appointment_status(&self.status)?,
            topic: self.topic,
            template: self.template,
            params: params(&self.params)?,
            reference: self.reference.map(Reference::from_stored),
            metadata: Metadata::from_stored(self.metadata.as_deref()),
            reminders,
            skipped_reminders: serde_json::from_str(&self.skipped_reminders)
                .map_err(|_| corrupt("skipped reminders"))?,
            created_at: timestamp(self.created_at)?,
            updated_at: timestamp(self.updated_at)?,
        })
    }
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
    /// Moves an appointment to `starts_at`; its reminders no provider has yet move with it.
    /// `Err(Conflict)` for a cancelled appointment.
    pub async fn move_appointment(
        &self,
        clinic: &ClinicId,
        id: &str,
        starts_at: Timestamp,
        change: AppointmentChange<'_>,
        hours: &MessagingHours,
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
            hours,
            SeriesChange::Moved { from },
        )
        .await?;
        tx.commit().await?;
        self.appointment(clinic, appointment.id.as_str()).await
    }

    /// Cancels an appointment and every reminder of it no provider has yet. Cancelling a
    /// cancelled appointment changes nothing, and says so.
    pub async fn cancel_appointment(
        &self,
        clinic: &ClinicId,
        id: &str,
        change: AppointmentChange<'_>,
    ) -> Result<CancelledAppointment, StoreError> {
        let mut tx = self.write.begin().await?;
        let appointment = stored(self.backend, &mut tx, clinic, id).await?;
        let cancelled_now = appointment.status.is_on();
        if cancelled_now {
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
        Ok(CancelledAppointment {
            view: self.appointment(clinic, appointment.id.as_str()).await?,
            cancelled_now,
        })
    }

    /// The appointment `id` (ours, `apt_…`, or the booking system's) with its reminders.
    pub async fn appointment(
        &self,
        clinic: &ClinicId,
        id: &str,
    ) -> Result<AppointmentView, StoreError> {
        let row = sqlx::query_as::<_, ViewRow>(&format!(
            "{VIEW_SELECT} WHERE a.clinic_id = $1 AND (a.id = $2 OR a.external_id = $2)"
        ))
        .bind(clinic.as_str())
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound)?;
        let reminders = sqlx::query_as::<_, ReminderRow>(REMINDER_SELECT)
            .bind(row.id.as_str())
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(ReminderRow::view)
            .collect::<Result<_, StoreError>>()?;
        row.view(reminders)
    }
}
