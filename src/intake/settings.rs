//! What intake reads about a clinic for every notification (its messaging hours, topics and own
//! template copies), kept for a moment: read per request, they cost intake about a third of its
//! throughput. A change made through this instance's API is seen at once; other instances see it
//! within [`FRESH_FOR`].

use std::sync::Arc;
use std::time::Duration;

use crate::cache::ExpiringCache;
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

#[derive(Debug)]
pub struct ClinicSettingsCache {
    entries: ExpiringCache<ClinicId, Arc<ClinicSettings>>,
}

impl Default for ClinicSettingsCache {
    fn default() -> Self {
        Self {
            entries: ExpiringCache::new(FRESH_FOR),
        }
    }
}

impl ClinicSettingsCache {
    pub async fn get(
        &self,
        store: &Store,
        clinic: &ClinicId,
    ) -> Result<Arc<ClinicSettings>, StoreError> {
        self.entries
            .get_or_read(clinic, async {
                Ok(Arc::new(ClinicSettings {
                    hours: Arc::new(store.clinic_hours(clinic).await?),
                    topics: store.topics(clinic).await?,
                    templates: store.clinic_texts::<TemplateCopy>(clinic, None).await?,
                }))
            })
            .await
    }

    /// Drops what is kept for `clinic`: its settings just changed.
    pub fn forget(&self, clinic: &ClinicId) {
        self.entries.remove(clinic);
    }
}
