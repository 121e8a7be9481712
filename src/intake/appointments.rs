//! What intake does for appointments: the messaging hours their reminders are planned in, and
//! the notices that tell a patient their appointment was cancelled or moved. A notice is taken
//! in as any notification (template in the patient's language, hours, events), belongs to its
//! appointment, and, like the reminders, is neither refused nor counted by the patient cap: it
//! follows from the clinic's own change, one per change, and the change must not fail half-way.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::{Actor, Content, Draft, Intake, IntakeError};
use crate::domain::{AppointmentId, Clinic, Metadata, Patient, ScheduleChange};
use crate::policy::{MessagingHours, notice_priority, reminder_params};
use crate::store::{AppointmentLink, Receipt, StoreError};

/// A notice to the patient that their appointment changed.
#[derive(Debug)]
pub struct AppointmentNotice {
    pub clinic: Clinic,
    pub appointment: AppointmentId,
    /// The patient's id in the booking system.
    pub patient_id: String,
    pub change: AppointmentChanged,
}

/// What intake records of a notice besides the notification itself.
#[derive(Debug)]
pub(super) struct NoticeIntake {
    pub(super) link: AppointmentLink,
    pub(super) change: ScheduleChange,
    pub(super) deadline: Timestamp,
}

#[derive(Debug, Clone, Copy)]
pub enum AppointmentChanged {
    Cancelled { starts_at: Timestamp },
    Moved { from: Timestamp, to: Timestamp },
}

impl AppointmentChanged {
    /// The built-in template (and topic) that says it.
    fn template(self) -> &'static str {
        match self {
            Self::Cancelled { .. } => "appointment_cancellation",
            Self::Moved { .. } => "appointment_confirmation",
        }
    }

    /// The appointment time the notice names; after it the notice is no use.
    fn names(self) -> Timestamp {
        match self {
            Self::Cancelled { starts_at } => starts_at,
            Self::Moved { to, .. } => to,
        }
    }

    /// The change as the notice's events tell it.
    fn told(self, appointment: AppointmentId) -> ScheduleChange {
        match self {
            Self::Cancelled { starts_at } => ScheduleChange::Cancelled {
                appointment,
                starts_at,
            },
            Self::Moved { from, to } => ScheduleChange::Moved {
                appointment,
                from,
                to,
            },
        }
    }

    /// When the patient must have the notice: before the first appointment time still ahead
    /// that they might come to (the old one, if a move takes it later).
    fn deadline(self, now: Timestamp) -> Timestamp {
        match self {
            Self::Cancelled { starts_at } => starts_at,
            Self::Moved { from, to } if from > now => from.min(to),
            Self::Moved { to, .. } => to,
        }
    }
}

impl Intake {
    /// The hours `patient` of `clinic` may get a normal notification in, as the dispatcher will
    /// check them.
    pub async fn messaging_hours(
        &self,
        clinic: &Clinic,
        patient: &Patient,
    ) -> Result<MessagingHours, StoreError> {
        let settings = self.settings.get(&self.store, &clinic.id).await?;
        Ok(MessagingHours::for_patient(
            Arc::clone(&settings.hours),
            clinic,
            patient,
        ))
    }

    /// Takes in the notice, normal or urgent as [`notice_priority`] decides, expiring when the
    /// appointment it names begins.
    pub async fn accept_appointment_notice(
        &self,
        notice: AppointmentNotice,
        actor: &Actor,
    ) -> Result<Receipt, IntakeError> {
        let now = self.clock.now();
        let patient = self
            .store
            .patient_by_external_id(&notice.clinic.id, &notice.patient_id)
            .await?;
        let hours = self.messaging_hours(&notice.clinic, &patient).await?;
        let change = notice.change;
        let deadline = change.deadline(now);
        let params = reminder_params(
            &BTreeMap::new(),
            change.names(),
            &notice.clinic.timezone.zone(),
        );
        let draft = Draft {
            patient_id: notice.patient_id,
            topic: change.template().to_owned(),
            content: Content::Template {
                name: change.template().to_owned(),
                params: Some(params),
            },
            channel: None,
            priority: notice_priority(&hours, now, deadline),
            send_at: None,
            expires_at: Some(change.names()),
            idempotency_key: None,
            request_hash: String::new(),
            clinic: notice.clinic,
            reference: None,
            metadata: Metadata::default(),
            audit: None,
        };
        let intake = NoticeIntake {
            link: AppointmentLink {
                appointment: notice.appointment.clone(),
                offset: None,
            },
            change: change.told(notice.appointment),
            deadline,
        };
        let accepted = self.accept_for(draft, actor, Some(intake), None).await?;
        Ok(accepted.receipt)
    }
}
