//! The console's routing preview: what the dispatcher would decide for a notification not yet
//! handed in, from the same reads of a round ([`Round::read`]) and the same decision ([`plan`]).
//! Nothing is written.

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use super::plan::{plan, routing};
use super::round::Round;
use crate::config::{Config, DeliveryTimeouts, DispatchConfig};
use crate::domain::{
    Clinic, NotificationId, NotificationStatus, Origin, Patient, Priority, Sensitivity,
};
use crate::policy::{ChannelPlan, Decision, DeliveryRules};
use crate::providers::Providers;
use crate::store::{ClaimedNotification, Store, StoreError};

/// A notification as staff are about to send it.
#[derive(Debug, Clone)]
pub struct PreviewDraft<'a> {
    pub clinic: &'a Clinic,
    pub patient: &'a Patient,
    pub topic: &'a str,
    /// Staff's text (or a quick reply's, filled in); none for a template.
    pub body: Option<String>,
    pub template: Option<String>,
    pub channel: Option<ChannelKind>,
    pub priority: Priority,
}

/// The channels in order with those left out, and the decision the dispatcher would take now.
#[derive(Debug, Clone)]
pub struct Preview {
    pub routing: ChannelPlan,
    pub decision: Decision,
    pub sensitivity: Sensitivity,
}

/// The rules the dispatcher decides with, from its configuration.
pub fn delivery_rules(config: &DispatchConfig, timeouts: DeliveryTimeouts) -> DeliveryRules {
    DeliveryRules {
        max_tries_per_channel: config.max_tries_per_channel,
        unanswered_call_retry_after: std::time::Duration::from_millis(
            config.unanswered_call_retry_ms,
        ),
        timeouts,
    }
}

/// What the dispatcher would do with `draft` were it due now; `None` when the patient is gone.
pub async fn preview(
    store: &Store,
    providers: &Providers,
    config: &Config,
    draft: PreviewDraft<'_>,
    now: Timestamp,
) -> Result<Option<Preview>, StoreError> {
    let notification = ClaimedNotification {
        id: NotificationId::generate(),
        clinic_id: draft.clinic.id.clone(),
        patient_id: draft.patient.id.clone(),
        topic: draft.topic.to_owned(),
        body: draft.body,
        template: draft.template,
        params: None,
        channel: draft.channel,
        priority: draft.priority,
        send_at: now,
        expires_at: None,
        status: NotificationStatus::Queued,
        origin: Origin::Api,
        attempts: Vec::new(),
    };
    let claimed = std::slice::from_ref(&notification);
    let round = Round::read(store, claimed, now).await?;
    let Some(patient) = round.patient(&notification) else {
        return Ok(None);
    };
    let inputs = round.inputs(&notification, patient, draft.clinic, providers);
    Ok(Some(Preview {
        routing: routing(&inputs),
        decision: plan(
            &inputs,
            &delivery_rules(&config.dispatch, config.delivery_timeout.clone()),
            now,
        ),
        sensitivity: inputs.sensitivity,
    }))
}
