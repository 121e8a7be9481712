//! What intake reads about a clinic for every notification (its messaging hours, topics and own
//! template copies), kept for a moment: read per request, they cost intake about a third of its
//! throughput. A change made through this instance's API is seen at once; other instances see it
//! within [`FRESH_FOR`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::domain::{ClinicHours, ClinicId, Sensitivity};
use crate::policy::templates::{OwnTemplate, TemplateCopy};
use crate::store::{Store, StoreError, TopicView};

/// How long settings read from the database are used before being read again.
const FRESH_FOR: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct ClinicSettings {
    pub hours: Arc<ClinicHours>,
    /// Built-in and the clinic's own, with their sensitivity for this clinic.
    pub topics: Vec<TopicView>,
    /// Every template copy of the clinic's own.
    pub templates: Vec<OwnTemplate<TemplateCopy>>,
}

impl ClinicSettings {
    /// The sensitivity of the clinic's topic `name`, if the clinic has it.
    pub fn sensitivity_of(&self, name: &str) -> Option<Sensitivity> {
        self.topics
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.sensitivity)
    }
}

#[derive(Debug, Default)]
pub struct ClinicSettingsCache {
    entries: RwLock<HashMap<ClinicId, (Instant, Arc<ClinicSettings>)>>,
}

impl ClinicSettingsCache {
    pub async fn get(
        &self,
        store: &Store,
        clinic: &ClinicId,
    ) -> Result<Arc<ClinicSettings>, StoreError> {
        let cached = self
            .entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(clinic)
            .filter(|(read_at, _)| read_at.elapsed() < FRESH_FOR)
            .map(|(_, settings)| Arc::clone(settings));
        if let Some(settings) = cached {
            return Ok(settings);
        }
        let read_at = Instant::now();
        let settings = Arc::new(ClinicSettings {
            hours: Arc::new(store.clinic_hours(clinic).await?),
            topics: store.topics(clinic).await?,
            templates: store.clinic_texts::<TemplateCopy>(clinic, None).await?,
        });
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(clinic.clone(), (read_at, Arc::clone(&settings)));
        Ok(settings)
    }

    /// Drops what is kept for `clinic`: its settings just changed.
    pub fn forget(&self, clinic: &ClinicId) {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(clinic);
    }
}
