//! An appointment's reminder series kept in line with the appointment: pending reminders move or
//! are cancelled, missing ones are created, and what a provider already has is left alone.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::appointments::{
    AppointmentChange, REMINDER_SELECT, ReminderRow, SeriesChange, Stored, corrupt,
};
use super::events::EventBatch;
use super::notification_feed::with_feed_position;
use super::notifications::{NOT_HANDED_OVER, insert_rows, status};
use super::{Backend, StoreError, lock_notifications, millis, opt_timestamp, timestamp};
use crate::domain::{
    AppointmentId, Cancellation, Event, Metadata, NotificationId, NotificationStatus, Origin,
    Priority, ReminderOffset, ReminderTiming, ScheduleChange,
};
use crate::policy::{
    MessagingHours, PlannedReminder, ReminderTime, plan_reminders, reminder_params,
};
use crate::store::{AppointmentLink, NewNotification, SkippedReminder};

/// A linked reminder as the series sees it.
#[derive(Debug, Clone)]
pub(super) struct Existing {
    pub(super) id: NotificationId,
    pub(super) status: NotificationStatus,
    send_at: Timestamp,
    expires_at: Option<Timestamp>,
}

impl Existing {
    /// Cancelled and expired reminders are gone: the series may make a new one.
    pub(super) fn is_gone(&self) -> bool {
        matches!(
            self.status,
            NotificationStatus::Cancelled | NotificationStatus::Expired
        )
    }

    pub(super) fn is_pending(&self) -> bool {
        matches!(
            self.status,
            NotificationStatus::Scheduled | NotificationStatus::Queued
        )
    }
}

/// The latest reminder for each offset of the appointment.
pub(super) async fn latest_reminders(
    tx: &mut Transaction<'_, Any>,
    appointment: &AppointmentId,
) -> Result<HashMap<i64, Existing>, StoreError> {
    let rows: Vec<ReminderRow> = sqlx::query_as(REMINDER_SELECT)
        .bind(appointment.as_str())
        .fetch_all(&mut **tx)
        .await?;
    let mut latest = HashMap::new();
    for row in rows {
        latest.insert(
            row.reminder_minutes_before
                .ok_or_else(|| corrupt("reminder minutes"))?,
            Existing {
                id: NotificationId::from_stored(row.id),
                status: status(&row.status)?,
                send_at: timestamp(row.send_at)?,
                expires_at: opt_timestamp(row.expires_at)?,
            },
        );
    }
    Ok(latest)
}

/// Cancels a reminder if no provider has it yet; whether it did.
pub(super) async fn cancel_reminder(
    tx: &mut Transaction<'_, Any>,
    events: &mut EventBatch,
    id: &NotificationId,
    change: &AppointmentChange<'_>,
    because: Cancellation,
) -> Result<bool, StoreError> {
    let at = change.at;
    let cancelled = sqlx::query(&with_feed_position(
        tx,
        &format!(
            "UPDATE notification_states SET status = 'cancelled', due_at = NULL, updated_at = $2, \
             {{feed_position}} WHERE id = $1 AND {NOT_HANDED_OVER} RETURNING id"
        ),
    ))
    .bind(id.as_str())
    .bind(millis(at))
    .fetch_optional(&mut **tx)
    .await?
    .is_some();
    if cancelled {
        events.add(
            id.as_str(),
            None,
            at,
            change.by,
            &Event::Cancelled { because },
        )?;
    }
    Ok(cancelled)
}

/// What every reminder of one change of the series shares.
struct SeriesUpdate<'a> {
    appointment: &'a Stored,
    change: AppointmentChange<'a>,
    /// The reminders' template parameters, as stored (JSON).
    params: String,
    happened: ScheduleChange,
}

/// What a change of the series writes once every reminder is seen: the new reminders, the
/// events, and the reminders left out, noted on the appointment.
#[derive(Default)]
struct SeriesWrites {
    events: EventBatch,
    new_reminders: Vec<NewNotification>,
    skipped: Vec<SkippedReminder>,
}

impl SeriesUpdate<'_> {
    /// Moves a pending reminder to `send_at`, with a `moved` event, unless it is already there
    /// or a provider took it meanwhile.
    async fn move_reminder(
        &self,
        tx: &mut Transaction<'_, Any>,
        events: &mut EventBatch,
        reminder: &Existing,
        send_at: Timestamp,
        (before, timing): (String, ReminderTiming),
    ) -> Result<(), StoreError> {
        let (now, starts_at) = (self.change.at, self.appointment.starts_at);
        if reminder.send_at == send_at && reminder.expires_at == Some(starts_at) {
            return Ok(());
        }
        let status = if send_at > now {
            NotificationStatus::Scheduled
        } else {
            NotificationStatus::Queued
        };
        let moved = sqlx::query(&with_feed_position(
            tx,
            &format!(
                "UPDATE notification_states SET status = $2, due_at = $3, updated_at = $4, \
                 {{feed_position}} WHERE id = $1 AND {NOT_HANDED_OVER} RETURNING id"
            ),
        ))
        .bind(reminder.id.as_str())
        .bind(status.as_str())
        .bind(millis(send_at.max(now)))
        .bind(millis(now))
        .fetch_optional(&mut **tx)
        .await?;
        if moved.is_some() {
            sqlx::query(
                "UPDATE notification_requests SET send_at = $2, expires_at = $3, params = $4 \
                 WHERE id = $1",
            )
            .bind(reminder.id.as_str())
            .bind(millis(send_at))
            .bind(millis(starts_at))
            .bind(self.params.as_str())
            .execute(&mut **tx)
            .await?;
            let event = Event::ReminderMoved {
                change: self.happened.clone(),
                reminder: before,
                timing,
                was: reminder.send_at,
                expires_at: starts_at,
            };
            events.add(reminder.id.as_str(), None, now, self.change.by, &event)?;
        }
        Ok(())
    }

    /// Brings the reminder `planned` for one offset in line with the plan: a pending one moves,
    /// or is cancelled when its time has passed; a missing one is created.
    async fn follow_plan(
        &self,
        tx: &mut Transaction<'_, Any>,
        writes: &mut SeriesWrites,
        existing: Option<&Existing>,
        planned: PlannedReminder,
    ) -> Result<(), StoreError> {
        let now = self.change.at;
        let (offset, send_at) = (planned.offset, planned.time.send_at(now));
        let (before, when) = (
            offset.to_string(),
            timing(planned, self.appointment.starts_at),
        );
        match (existing, send_at) {
            (Some(reminder), Some(send_at)) if reminder.is_pending() => {
                let told = (before, when);
                self.move_reminder(tx, &mut writes.events, reminder, send_at, told)
                    .await?;
            }
            (Some(reminder), None) if reminder.is_pending() => {
                let because = Cancellation::ReminderLeftOut {
                    change: self.happened.clone(),
                    reminder: before.clone(),
                    timing: when.clone(),
                };
                cancel_reminder(tx, &mut writes.events, &reminder.id, &self.change, because)
                    .await?;
                let reason = when.to_string();
                writes.skipped.push(SkippedReminder { before, reason });
            }
            // A provider has it (or had it): what was sent stays sent.
            (Some(_), _) => {}
            (None, Some(send_at)) => {
                let reminder = self.new_reminder(offset, send_at, when);
                writes.new_reminders.push(reminder);
            }
            (None, None) => {
                let reason = when.to_string();
                writes.skipped.push(SkippedReminder { before, reason });
            }
        }
        Ok(())
    }

    /// Writes the new reminders, every event of the change, and the reminders left out.
    async fn write(
        &self,
        tx: &mut Transaction<'_, Any>,
        writes: SeriesWrites,
    ) -> Result<(), StoreError> {
        let SeriesWrites {
            mut events,
            new_reminders,
            skipped,
        } = writes;
        let batch: Vec<&NewNotification> = new_reminders.iter().collect();
        insert_rows(tx, &batch).await?;
        for reminder in &new_reminders {
            events.add(
                reminder.id.as_str(),
                None,
                self.change.at,
                &reminder.received_by,
                &reminder.received,
            )?;
        }
        events.write(tx).await?;
        sqlx::query(
            "UPDATE appointments SET skipped_reminders = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(self.appointment.id.as_str())
        .bind(serde_json::to_string(&skipped).map_err(|_| corrupt("skipped reminders"))?)
        .bind(millis(self.change.at))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A new reminder of the series, `offset` before the appointment, going at `send_at`.
    fn new_reminder(
        &self,
        offset: ReminderOffset,
        send_at: Timestamp,
        timing: ReminderTiming,
    ) -> NewNotification {
        let appointment = self.appointment;
        NewNotification {
            id: NotificationId::generate(),
            clinic_id: appointment.clinic_id.clone(),
            patient_id: appointment.patient_id.clone(),
            topic: appointment.topic.clone(),
            body: None,
            template: Some(appointment.template.clone()),
            params: Some(self.params.clone()),
            channel: None,
            priority: Priority::Normal,
            send_at,
            expires_at: Some(appointment.starts_at),
            idempotency_key: None,
            request_hash: String::new(),
            received_at: self.change.at,
            received: Event::ReminderCreated {
                change: self.happened.clone(),
                reminder: offset.to_string(),
                timing,
            },
            received_by: self.change.by.clone(),
            // Messaging hours are checked before the hand-over, as for any notification.
            hours_note: None,
            appointment: Some(AppointmentLink {
                appointment: appointment.id.clone(),
                offset: Some(offset),
            }),
            origin: Origin::Api,
            in_reply_to: None,
            // The appointment carries the booking system's reference and metadata.
            reference: None,
            metadata: Metadata::default(),
            audit: None,
        }
    }
}

/// The change to the appointment, as its reminders' events tell it.
fn schedule_change(appointment: &Stored, what: SeriesChange) -> ScheduleChange {
    let (id, starts_at) = (appointment.id.clone(), appointment.starts_at);
    match what {
        SeriesChange::Booked => ScheduleChange::Booked {
            appointment: id,
            starts_at,
        },
        SeriesChange::BookedAgain => ScheduleChange::BookedAgain {
            appointment: id,
            starts_at,
        },
        SeriesChange::Moved { from } => ScheduleChange::Moved {
            appointment: id,
            from,
            to: starts_at,
        },
    }
}

/// When a planned reminder goes, as its events tell it.
fn timing(planned: PlannedReminder, starts_at: Timestamp) -> ReminderTiming {
    match planned.time {
        ReminderTime::At(at) => ReminderTiming::ScheduledFor { at },
        ReminderTime::Now => ReminderTiming::DueNow {
            was: planned.offset.before(starts_at),
        },
        ReminderTime::Moved {
            at,
            planned,
            held_by,
        } => ReminderTiming::MovedForHours {
            at,
            planned,
            held_by,
        },
        ReminderTime::Skip(why) => ReminderTiming::LeftOut { why },
    }
}

/// Brings the appointment's reminders in line with its series at `change.at`: pending reminders
/// move (or are cancelled when their time has passed), missing ones are created, and reminders
/// a provider already has are left alone; the reminders left out are noted on the appointment.
pub(super) async fn apply_series(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    appointment: &Stored,
    change: AppointmentChange<'_>,
    hours: &MessagingHours,
    what: SeriesChange,
) -> Result<(), StoreError> {
    let now = change.at;
    let starts_at = appointment.starts_at;
    let latest = match what {
        // The reminders it had belong to the cancelled booking.
        SeriesChange::BookedAgain => HashMap::new(),
        SeriesChange::Booked | SeriesChange::Moved { .. } => {
            latest_reminders(tx, &appointment.id).await?
        }
    };
    let ids: Vec<&str> = latest.values().map(|r| r.id.as_str()).collect();
    lock_notifications(backend, tx, "{ids}", &ids).await?;
    let params = reminder_params(&appointment.params, starts_at, change.clinic_zone);
    let update = SeriesUpdate {
        appointment,
        change,
        params: serde_json::to_string(&params).map_err(|_| corrupt("reminder params"))?,
        happened: schedule_change(appointment, what),
    };

    let mut writes = SeriesWrites::default();
    for planned in plan_reminders(starts_at, &appointment.offsets, now, hours) {
        let existing = latest
            .get(&planned.offset.minutes())
            .filter(|r| !r.is_gone());
        update
            .follow_plan(tx, &mut writes, existing, planned)
            .await?;
    }
    update.write(tx, writes).await
}
