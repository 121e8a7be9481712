//! One round's reads: what the claimed batch needs, read side by side once per round rather than
//! once per notification.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use super::plan::PlanInputs;
use crate::domain::{Clinic, ClinicHours, ClinicId, Patient, Sensitivity, Topic};
use crate::policy::templates::{OwnTemplate, TemplateCopy};
use crate::policy::{self, ChannelSuspension, KnownFact};
use crate::providers::Providers;
use crate::store::{ClaimedNotification, Store, StoreError};

pub(super) struct Round {
    patients: HashMap<String, Patient>,
    hours: HashMap<ClinicId, Arc<ClinicHours>>,
    known: HashMap<(ClinicId, String), Vec<KnownFact>>,
    suspended: HashMap<ClinicId, Vec<ChannelSuspension>>,
    topics: HashMap<(String, String), Sensitivity>,
    own_templates: HashMap<(ClinicId, String), Vec<OwnTemplate<TemplateCopy>>>,
    /// (clinic's WhatsApp number, patient's phone) pairs with an open conversation window.
    windows: HashSet<(String, String)>,
}

impl Round {
    pub(super) async fn read(
        store: &Store,
        claimed: &[ClaimedNotification],
        now: Timestamp,
    ) -> Result<Self, StoreError> {
        let patient_ids: Vec<&str> = claimed.iter().map(|n| n.patient_id.as_str()).collect();
        let patients = store.patients_by_ids(&patient_ids).await?;
        let addresses: Vec<&str> = patients.values().flat_map(Patient::addresses).collect();
        let mut clinic_ids: Vec<&str> = claimed.iter().map(|n| n.clinic_id.as_str()).collect();
        clinic_ids.sort_unstable();
        clinic_ids.dedup();
        let mut wanted: Vec<_> = claimed
            .iter()
            .filter_map(|n| Some((n.clinic_id.clone(), n.template.clone()?)))
            .collect();
        wanted.sort();
        wanted.dedup();
        // Only free text needs the patient's WhatsApp window; templates go any time.
        let free_text = claimed.iter().any(|n| n.template.is_none());
        let since = now.checked_sub(policy::WHATSAPP_WINDOW).unwrap_or(now);
        // Independent reads, side by side. Hours and topics are read each round, not cached: an
        // admin's change applies to the next hand-over.
        let (hours, known, suspended, topics, own_templates, windows) = tokio::try_join!(
            store.clinic_hours_by_ids(&clinic_ids),
            store.recipient_facts(&addresses, now),
            store.channel_suspensions(now),
            store.topic_settings(&clinic_ids),
            store.clinic_texts_for::<TemplateCopy>(&wanted),
            async {
                if free_text {
                    store.open_whatsapp_windows(&addresses, since).await
                } else {
                    Ok(HashSet::new())
                }
            },
        )?;
        Ok(Self {
            patients,
            hours,
            known,
            suspended,
            topics,
            own_templates,
            windows,
        })
    }

    /// The notification's patient; `None` when the patient was deleted since intake.
    pub(super) fn patient(&self, notification: &ClaimedNotification) -> Option<&Patient> {
        self.patients.get(notification.patient_id.as_str())
    }

    /// What `plan` decides the notification's next step from.
    pub(super) fn inputs<'a>(
        &'a self,
        notification: &'a ClaimedNotification,
        patient: &'a Patient,
        clinic: &'a Clinic,
        providers: &Providers,
    ) -> PlanInputs<'a> {
        let known_facts = patient
            .addresses()
            .filter_map(|address| self.known.get(&(clinic.id.clone(), address.to_owned())))
            .flatten()
            .cloned()
            .collect();
        let whatsapp_window_open = providers
            .channel(&clinic.slug, ChannelKind::Whatsapp)
            .map(|c| c.sender_id().to_owned())
            .zip(patient.phone.as_ref().map(|p| p.as_str().to_owned()))
            .is_some_and(|pair| self.windows.contains(&pair));
        PlanInputs {
            notification,
            patient,
            clinic,
            // Every claimed notification's clinic is in `hours` (its row references it); the
            // defaults only make the lookup total.
            hours: self
                .hours
                .get(&clinic.id)
                .cloned()
                .unwrap_or_else(|| Arc::new(ClinicHours::israeli_default())),
            known_facts,
            suspended: self
                .suspended
                .get(&clinic.id)
                .map_or(&[][..], Vec::as_slice),
            sensitivity: self.sensitivity(notification),
            whatsapp_window_open,
        }
    }

    /// Read at each round, so a topic the clinic marks restricted protects what is still
    /// waiting. A topic with no setting and no built-in default cannot have passed intake; were
    /// it to, it is treated as the most private.
    fn sensitivity(&self, notification: &ClaimedNotification) -> Sensitivity {
        self.topics
            .get(&(
                notification.clinic_id.as_str().to_owned(),
                notification.topic.clone(),
            ))
            .copied()
            .or_else(|| Topic::parse(&notification.topic).map(Topic::default_sensitivity))
            .unwrap_or(Sensitivity::Restricted)
    }

    /// The clinic's own copies of the notification's template, if it has any.
    pub(super) fn own_templates(
        &self,
        notification: &ClaimedNotification,
    ) -> Vec<OwnTemplate<TemplateCopy>> {
        notification
            .template
            .as_ref()
            .and_then(|t| {
                self.own_templates
                    .get(&(notification.clinic_id.clone(), t.clone()))
            })
            .cloned()
            .unwrap_or_default()
    }
}
