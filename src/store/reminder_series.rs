//! An appointment's reminder series kept in line with the appointment: pending reminders move or
//! are cancelled, missing ones are created, and what a provider already has is left alone.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::appointments::{
    AppointmentChange, REMINDER_SELECT, ReminderRow, SeriesChange, Stored, corrupt,
};
use super::events::EventBatch;
use super::notifications::{NOT_HANDED_OVER, insert_rows, status};
use super::{Backend, StoreError, lock_notifications, millis, opt_timestamp, timestamp};
use crate::domain::{
    AppointmentId, Cancellation, Event, NotificationId, NotificationStatus, Priority,
    ReminderTiming, ScheduleChange,
};
use crate::policy::{MessagingHours, ReminderTime, plan_reminders, reminder_params};
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
    let cancelled = sqlx::query(&format!(
        "UPDATE notifications SET status = 'cancelled', due_at = NULL, updated_at = $2 \
         WHERE id = $1 AND {NOT_HANDED_OVER} RETURNING id"
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
        SeriesChange::BookedAgain => HashMap::new(),
        SeriesChange::Booked | SeriesChange::Moved { .. } => {
            latest_reminders(tx, &appointment.id).await?
        }
    };
    let ids: Vec<&str> = latest.values().map(|r| r.id.as_str()).collect();
    lock_notifications(backend, tx, "{ids}", &ids).await?;
    let params = serde_json::to_string(&reminder_params(
        &appointment.params,
        starts_at,
        change.clinic_zone,
    ))
    .map_err(|_| corrupt("reminder params"))?;
    let happened = match what {
        SeriesChange::Booked => ScheduleChange::Booked {
            appointment: appointment.id.clone(),
            starts_at,
        },
        SeriesChange::BookedAgain => ScheduleChange::BookedAgain {
            appointment: appointment.id.clone(),
            starts_at,
        },
        SeriesChange::Moved { from } => ScheduleChange::Moved {
            appointment: appointment.id.clone(),
            from,
            to: starts_at,
        },
    };

    let mut events = EventBatch::default();
    let mut new_reminders = Vec::new();
    let mut skipped = Vec::new();
    for planned in plan_reminders(starts_at, &appointment.offsets, now, hours) {
        let before = planned.offset.to_string();
        let send_at = planned.time.send_at(now);
        let when = match planned.time {
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
        };
        let existing = latest
            .get(&planned.offset.minutes())
            .filter(|r| !r.is_gone());
        match (existing, send_at) {
            (Some(reminder), Some(send_at)) if reminder.is_pending() => {
                if reminder.send_at == send_at && reminder.expires_at == Some(starts_at) {
                    continue;
                }
                let status = if send_at > now {
                    NotificationStatus::Scheduled
                } else {
                    NotificationStatus::Queued
                };
                let moved = sqlx::query(&format!(
                    "UPDATE notifications SET send_at = $2, expires_at = $3, params = $4, status = $5, \
                     due_at = $6, updated_at = $7 WHERE id = $1 AND {NOT_HANDED_OVER} RETURNING id"
                ))
                .bind(reminder.id.as_str())
                .bind(millis(send_at))
                .bind(millis(starts_at))
                .bind(params.as_str())
                .bind(status.as_str())
                .bind(millis(send_at.max(now)))
                .bind(millis(now))
                .fetch_optional(&mut **tx)
                .await?;
                if moved.is_some() {
                    let event = Event::ReminderMoved {
                        change: happened.clone(),
                        reminder: before,
                        timing: when,
                        was: reminder.send_at,
                        expires_at: starts_at,
                    };
                    events.add(reminder.id.as_str(), None, now, change.by, &event)?;
                }
            }
            (Some(reminder), None) if reminder.is_pending() => {
                let because = Cancellation::ReminderLeftOut {
                    change: happened.clone(),
                    reminder: before.clone(),
                    timing: when.clone(),
                };
                cancel_reminder(tx, &mut events, &reminder.id, &change, because).await?;
                skipped.push(SkippedReminder {
                    before,
                    reason: when.to_string(),
                });
            }
            // A provider has it (or had it): what was sent stays sent.
            (Some(_), _) => {}
            (None, Some(send_at)) => new_reminders.push(NewNotification {
                id: NotificationId::generate(),
                clinic_id: appointment.clinic_id.clone(),
                patient_id: appointment.patient_id.clone(),
                topic: appointment.topic.clone(),
                body: None,
                template: Some(appointment.template.clone()),
                params: Some(params.clone()),
                channel: None,
                priority: Priority::Normal,
                send_at,
                expires_at: Some(starts_at),
                idempotency_key: None,
                request_hash: String::new(),
                received_at: now,
                received: Event::ReminderCreated {
                    change: happened.clone(),
                    reminder: before,
                    timing: when,
                },
                received_by: change.by.clone(),
                // Messaging hours are checked before the hand-over, as for any notification.
                hours_note: None,
                appointment: Some(AppointmentLink {
                    appointment: appointment.id.clone(),
                    offset: Some(planned.offset),
                }),
            }),
            (None, None) => skipped.push(SkippedReminder {
                before,
                reason: when.to_string(),
            }),
        }
    }
    let batch: Vec<&NewNotification> = new_reminders.iter().collect();
    insert_rows(tx, &batch).await?;
    for reminder in &new_reminders {
        events.add(
            reminder.id.as_str(),
            None,
            now,
            &reminder.received_by,
            &reminder.received,
        )?;
    }
    events.write(tx).await?;
    sqlx::query("UPDATE appointments SET skipped_reminders = $2, updated_at = $3 WHERE id = $1")
        .bind(appointment.id.as_str())
        .bind(serde_json::to_string(&skipped).map_err(|_| corrupt("skipped reminders"))?)
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
