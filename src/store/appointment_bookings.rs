//! Booking an appointment: a new one, the same request again, or a cancelled appointment booked
//! again under its appointment id, each with its reminder series in the same transaction.

use std::collections::BTreeMap;

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::appointments::{
    AppointmentChange, AppointmentView, SeriesChange, Stored, appointment_status, corrupt,
};
use super::reminder_series::apply_series;
use super::{Store, StoreError, millis};
use crate::domain::{
    AppointmentId, AppointmentStatus, ClinicId, Metadata, PatientId, Reference, ReminderOffset,
};
use crate::policy::MessagingHours;

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
    /// The booking system's id for the booking and its own fields, set when it is booked.
    pub reference: Option<Reference>,
    pub metadata: Metadata,
}

#[derive(Debug, Clone)]
pub enum Booking {
    Created(AppointmentView),
    /// The same request again (same idempotency key or appointment id, same body).
    Replayed(AppointmentView),
    /// The appointment id of a cancelled appointment, booked again with this request's details.
    BookedAgain(AppointmentView),
    /// The idempotency key was used for a different request.
    KeyReused,
    /// The appointment id is already booked with other details.
    AppointmentIdTaken,
}

/// The minutes of each offset, as the appointment row keeps them.
fn offset_minutes(offsets: &[ReminderOffset]) -> String {
    offsets
        .iter()
        .map(|o| o.minutes().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

type Statement<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds what a booking sets, in this order: patient, starts_at, topic, template, params,
/// reminder minutes, status (booked), idempotency key, request hash, reference, metadata.
fn bind_booking<'q>(
    statement: Statement<'q>,
    new: &'q NewAppointment,
) -> Result<Statement<'q>, StoreError> {
    Ok(statement
        .bind(new.patient_id.as_str())
        .bind(millis(new.starts_at))
        .bind(new.topic.as_str())
        .bind(new.template.as_str())
        .bind(serde_json::to_string(&new.params).map_err(|_| corrupt("appointment params"))?)
        .bind(offset_minutes(&new.offsets))
        .bind(AppointmentStatus::Booked.as_str())
        .bind(new.idempotency_key.as_deref())
        .bind(new.request_hash.as_str())
        .bind(new.reference.as_ref().map(|r| r.as_str().to_owned()))
        .bind(new.metadata.to_stored()))
}

/// Inserts the appointment; `false` when its idempotency key or appointment id is taken.
async fn insert_appointment(
    tx: &mut Transaction<'_, Any>,
    new: &NewAppointment,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let statement = sqlx::query(
        "INSERT INTO appointments (id, clinic_id, external_id, patient_id, starts_at, topic, template, params, \
         reminder_minutes, status, idempotency_key, request_hash, reference, metadata, created_at, updated_at, \
         skipped_reminders) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, '[]') \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(new.id.as_str())
    .bind(new.clinic_id.as_str())
    .bind(new.external_id.as_deref());
    let inserted = bind_booking(statement, new)?
        .bind(millis(at))
        .fetch_optional(&mut **tx)
        .await?;
    Ok(inserted.is_some())
}

/// What an earlier booking with the same idempotency key or appointment id means for this one.
enum Earlier {
    /// The same request again.
    Same(AppointmentId),
    /// The idempotency key was used for a different request.
    KeyReused,
    /// The appointment id was cancelled: it may be booked again.
    Cancelled(AppointmentId),
    /// The appointment id is booked with other details.
    IdTaken,
}

/// The earlier booking `new` ran into: by idempotency key first (a replay of a request is a
/// replay even after a cancellation), then by appointment id.
async fn earlier_booking(
    tx: &mut Transaction<'_, Any>,
    new: &NewAppointment,
) -> Result<Earlier, StoreError> {
    let by = |column: &str| {
        format!(
            "SELECT id, request_hash, status FROM appointments WHERE clinic_id = $1 AND {column} = $2"
        )
    };
    if let Some(key) = &new.idempotency_key
        && let Some((id, hash, _)) =
            sqlx::query_as::<_, (String, String, String)>(&by("idempotency_key"))
                .bind(new.clinic_id.as_str())
                .bind(key.as_str())
                .fetch_optional(&mut **tx)
                .await?
    {
        return Ok(if hash == new.request_hash {
            Earlier::Same(AppointmentId::from_stored(id))
        } else {
            Earlier::KeyReused
        });
    }
    let (id, hash, status) = sqlx::query_as::<_, (String, String, String)>(&by("external_id"))
        .bind(new.clinic_id.as_str())
        .bind(new.external_id.as_deref())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::Conflict("appointment"))?;
    Ok(match appointment_status(&status)? {
        AppointmentStatus::Cancelled => Earlier::Cancelled(AppointmentId::from_stored(id)),
        // A patient's answer to a reminder leaves the appointment on.
        AppointmentStatus::Booked
        | AppointmentStatus::Confirmed
        | AppointmentStatus::CancellationRequested
            if hash == new.request_hash =>
        {
            Earlier::Same(AppointmentId::from_stored(id))
        }
        AppointmentStatus::Booked
        | AppointmentStatus::Confirmed
        | AppointmentStatus::CancellationRequested => Earlier::IdTaken,
    })
}

/// The cancelled appointment `id` booked again with the details of `new`; a request without an
/// idempotency key keeps the first one's, so its replay is still a replay.
async fn book_again(
    tx: &mut Transaction<'_, Any>,
    id: &AppointmentId,
    new: &NewAppointment,
    at: Timestamp,
) -> Result<(), StoreError> {
    let statement = sqlx::query(
        "UPDATE appointments SET patient_id = $2, starts_at = $3, topic = $4, template = $5, params = $6, \
         reminder_minutes = $7, status = $8, idempotency_key = COALESCE($9, idempotency_key), \
         request_hash = $10, reference = $11, metadata = $12, updated_at = $13, skipped_reminders = '[]' \
         WHERE id = $1",
    )
    .bind(id.as_str());
    bind_booking(statement, new)?
        .bind(millis(at))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Books an appointment and creates its reminders, all in one transaction. A repeated
    /// idempotency key or appointment id with the same request yields the appointment as it is;
    /// the appointment id of a cancelled appointment books it again, with a new series.
    pub async fn book_appointment(
        &self,
        new: &NewAppointment,
        change: AppointmentChange<'_>,
        hours: &MessagingHours,
    ) -> Result<Booking, StoreError> {
        let mut tx = self.write.begin().await?;
        let (id, what) = if insert_appointment(&mut tx, new, change.at).await? {
            (new.id.clone(), SeriesChange::Booked)
        } else {
            match earlier_booking(&mut tx, new).await? {
                Earlier::Cancelled(id) => {
                    book_again(&mut tx, &id, new, change.at).await?;
                    (id, SeriesChange::BookedAgain)
                }
                Earlier::Same(id) => {
                    tx.rollback().await?;
                    let view = self.appointment(&new.clinic_id, id.as_str()).await?;
                    return Ok(Booking::Replayed(view));
                }
                Earlier::KeyReused => return Ok(Booking::KeyReused),
                Earlier::IdTaken => return Ok(Booking::AppointmentIdTaken),
            }
        };
        let appointment = Stored {
            id: id.clone(),
            clinic_id: new.clinic_id.clone(),
            patient_id: new.patient_id.clone(),
            starts_at: new.starts_at,
            topic: new.topic.clone(),
            template: new.template.clone(),
            params: new.params.clone(),
            offsets: new.offsets.clone(),
            status: AppointmentStatus::Booked,
        };
        apply_series(self.backend, &mut tx, &appointment, change, hours, what).await?;
        tx.commit().await?;
        let view = self.appointment(&new.clinic_id, id.as_str()).await?;
        Ok(match what {
            SeriesChange::BookedAgain => Booking::BookedAgain(view),
            _ => Booking::Created(view),
        })
    }
}
