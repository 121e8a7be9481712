//! The decision for one notification, as a pure function of what the round read: which channels
//! may carry it, what happens next and why. No I/O, no store, no clock of its own, so the
//! console's routing preview can call it with the same inputs the dispatcher uses.

use std::sync::Arc;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use crate::domain::{Clinic, ClinicHours, Patient, Sensitivity};
use crate::policy::{
    self, ChannelPlan, ChannelSuspension, Decision, DeliveryRules, KnownFact, MessagingHours,
    NotificationFacts, WhatsAppContent, privacy,
};
use crate::store::ClaimedNotification;

/// Everything the decision depends on.
#[derive(Debug)]
pub struct PlanInputs<'a> {
    pub notification: &'a ClaimedNotification,
    pub patient: &'a Patient,
    pub clinic: &'a Clinic,
    pub hours: Arc<ClinicHours>,
    /// What providers said about the patient's addresses, still trusted.
    pub known_facts: Vec<KnownFact>,
    /// The clinic's channels paused because their provider account is unusable.
    pub suspended: &'a [ChannelSuspension],
    pub sensitivity: Sensitivity,
    /// The patient wrote to the clinic's WhatsApp number recently enough for free text.
    pub whatsapp_window_open: bool,
}

/// The channels that may carry the notification, in order, with each one left out and why: the
/// first half of [`plan`], which the console's routing preview shows as it is.
pub fn routing(inputs: &PlanInputs<'_>) -> ChannelPlan {
    let notification = inputs.notification;
    // A content-free notice goes on WhatsApp as an approved template.
    let whatsapp = if notification.template.is_some()
        || privacy::carries(inputs.sensitivity, ChannelKind::Whatsapp) == privacy::Carries::Notice
    {
        WhatsAppContent::Template
    } else if inputs.whatsapp_window_open {
        WhatsAppContent::FreeTextInWindow
    } else {
        WhatsAppContent::FreeTextOutsideWindow
    };
    let patient =
        policy::patient_for_plan(notification.origin, notification.channel, inputs.patient);
    let mut plan = policy::channel_plan(
        notification.channel,
        &patient,
        inputs.clinic,
        &inputs.known_facts,
        inputs.suspended,
        whatsapp,
    );
    plan.callback_possible &= policy::callback_when_unreached(notification.origin);
    if let Some(body) = &notification.body
        && privacy::carries(inputs.sensitivity, ChannelKind::Sms) == privacy::Carries::Content
    {
        policy::skip_sms_for_overlong_text(&mut plan, body);
    }
    plan
}

/// What happens next to the notification, with the reasons for the audit trail.
pub fn plan(inputs: &PlanInputs<'_>, rules: &DeliveryRules, now: Timestamp) -> Decision {
    let notification = inputs.notification;
    let plan = routing(inputs);
    let facts = NotificationFacts {
        status: notification.status,
        priority: notification.priority,
        send_at: notification.send_at,
        expires_at: notification.expires_at,
        hours: MessagingHours::for_patient(inputs.hours.clone(), inputs.clinic, inputs.patient),
    };
    let attempts = &notification.attempts;
    let mut decision = match inputs.sensitivity {
        Sensitivity::Sensitive => {
            policy::decide_in_parts(&facts, &plan, attempts, rules, now, &notification.topic)
        }
        Sensitivity::Normal | Sensitivity::Restricted => {
            policy::decide(&facts, &plan, attempts, rules, now)
        }
    };
    privacy::apply(
        &mut decision,
        &notification.topic,
        inputs.sensitivity,
        notification.attempts.is_empty(),
        plan.callback_possible,
    );
    decision
}
