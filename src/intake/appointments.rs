//! What intake gives appointments: the messaging hours their reminders are planned in.

use std::sync::Arc;

use super::Intake;
use crate::domain::{Clinic, Patient};
use crate::policy::MessagingHours;
use crate::store::StoreError;

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
}
