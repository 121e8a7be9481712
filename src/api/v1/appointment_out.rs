//! An appointment as `/v1` shows it: its reminders, those left out, and what became of the
//! notice to the patient of a move or cancellation.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{
    AppointmentId, AppointmentStatus, Metadata, NotificationId, NotificationStatus, Reference,
};
use crate::store::{AppointmentView, Receipt, ReminderView, SkippedReminder};

/// An appointment and its reminder series.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AppointmentOut {
    id: AppointmentId,
    /// The booking system's id, if it gave one.
    appointment_id: Option<String>,
    patient_id: String,
    starts_at: Timestamp,
    status: AppointmentStatus,
    topic: String,
    template: String,
    params: BTreeMap<String, String>,
    /// The booking system's id for the booking, as given when it was booked.
    reference: Option<Reference>,
    /// The booking system's own fields, as given when it was booked; `{}` when none.
    metadata: Metadata,
    /// Every reminder this appointment has had, oldest first, cancelled ones included.
    reminders: Vec<ReminderOut>,
    skipped_reminders: Vec<SkippedReminderOut>,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// What became of the notice to the patient, when a move or cancellation asked for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    patient_notice: Option<NoticeOut>,
}

/// The notice of a move or cancellation: the notification taken in, or why there is none.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum NoticeOut {
    Sent {
        notification_id: NotificationId,
        status: NotificationStatus,
        send_at: Timestamp,
    },
    NotSent {
        not_sent: String,
    },
}

impl From<Receipt> for NoticeOut {
    fn from(receipt: Receipt) -> Self {
        Self::Sent {
            notification_id: receipt.id,
            status: receipt.status,
            send_at: receipt.send_at,
        }
    }
}

impl NoticeOut {
    pub(super) fn not_sent(why: impl Into<String>) -> Self {
        Self::NotSent {
            not_sent: why.into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ReminderOut {
    notification_id: NotificationId,
    /// How long before the appointment it goes: `2d`, `2h`, `30m`.
    before: String,
    send_at: Timestamp,
    expires_at: Option<Timestamp>,
    status: NotificationStatus,
}

/// A reminder of the series that was left out, and why.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SkippedReminderOut {
    before: String,
    reason: String,
}

impl From<AppointmentView> for AppointmentOut {
    fn from(view: AppointmentView) -> Self {
        Self {
            id: view.id,
            appointment_id: view.appointment_id,
            patient_id: view.patient_id,
            starts_at: view.starts_at,
            status: view.status,
            topic: view.topic,
            template: view.template,
            params: view.params,
            reference: view.reference,
            metadata: view.metadata,
            reminders: view.reminders.into_iter().map(ReminderOut::from).collect(),
            skipped_reminders: view
                .skipped_reminders
                .into_iter()
                .map(SkippedReminderOut::from)
                .collect(),
            created_at: view.created_at,
            updated_at: view.updated_at,
            patient_notice: None,
        }
    }
}

impl AppointmentOut {
    /// The appointment after a move or cancellation, with what became of the patient's notice.
    pub(super) fn with_notice(view: AppointmentView, notice: Option<NoticeOut>) -> Self {
        Self {
            patient_notice: notice,
            ..view.into()
        }
    }
}

impl From<ReminderView> for ReminderOut {
    fn from(reminder: ReminderView) -> Self {
        Self {
            notification_id: reminder.notification_id,
            before: reminder.before,
            send_at: reminder.send_at,
            expires_at: reminder.expires_at,
            status: reminder.status,
        }
    }
}

impl From<SkippedReminder> for SkippedReminderOut {
    fn from(skipped: SkippedReminder) -> Self {
        Self {
            before: skipped.before,
            reason: skipped.reason,
        }
    }
}
