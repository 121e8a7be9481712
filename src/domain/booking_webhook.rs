//! Webhooks to the booking system: which audit events it hears about, under which Standard
//! Webhooks event type, and with which facts. Pure: the store writes what this says.

use medrelay_channels::ChannelKind;
use serde_json::{Map, Value, json};

use super::{AppointmentId, Cancellation, Event, NotificationStatus};

/// The event types a booking system can subscribe an endpoint to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookEventType {
    NotificationStatusChanged,
    NotificationFailed,
    CallbackOpened,
    CallbackClosed,
    MessageReceived,
    AppointmentConfirmed,
    AppointmentCancellationRequested,
    PatientOptedOut,
}

impl WebhookEventType {
    pub const ALL: &'static [Self] = &[
        Self::NotificationStatusChanged,
        Self::NotificationFailed,
        Self::CallbackOpened,
        Self::CallbackClosed,
        Self::MessageReceived,
        Self::AppointmentConfirmed,
        Self::AppointmentCancellationRequested,
        Self::PatientOptedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotificationStatusChanged => "notification.status_changed",
            Self::NotificationFailed => "notification.failed",
            Self::CallbackOpened => "callback.opened",
            Self::CallbackClosed => "callback.closed",
            Self::MessageReceived => "message.received",
            Self::AppointmentConfirmed => "appointment.confirmed",
            Self::AppointmentCancellationRequested => "appointment.cancellation_requested",
            Self::PatientOptedOut => "patient.opted_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What the booking system hears of one audit event: its types (none for most events) and the
/// payload's `data` as far as the event itself tells it. The store adds the ids and the
/// `reference`/`metadata` of the records it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookFacts {
    pub types: Vec<WebhookEventType>,
    pub data: Map<String, Value>,
    /// The appointment the event names, when it names one.
    pub appointment: Option<AppointmentId>,
    /// The event's own sentence is the reason (a cancellation says why), rather than those of
    /// the other events of its notification in the same write.
    pub reason_is_own: bool,
}

/// The webhook facts of `event`, or `None` when no booking system hears of it.
pub fn webhook_facts(event: &Event) -> Option<WebhookFacts> {
    use WebhookEventType as T;
    let (types, data, appointment) = match event {
        Event::StatusChanged { from, to } => {
            let mut types = vec![T::NotificationStatusChanged];
            if *to == NotificationStatus::Failed {
                types.push(T::NotificationFailed);
            }
            (
                types,
                json!({ "from": from.as_str(), "to": to.as_str() }),
                None,
            )
        }
        // A cancellation changes the status without a `StatusChanged` of its own: it only ever
        // leaves `scheduled` or `queued`, before any hand-over, and the event does not say which.
        Event::Cancelled { because } => {
            let cause = match because {
                Cancellation::Requested => "requested",
                Cancellation::ReminderLeftOut { .. } => "reminder_left_out",
                Cancellation::AppointmentCancelled { .. } => "appointment_cancelled",
                Cancellation::PatientErased => "patient_erased",
            };
            let data = json!({ "from": null, "to": "cancelled", "cause": cause });
            let mut facts = facts(vec![T::NotificationStatusChanged], data, None)?;
            facts.reason_is_own = true;
            return Some(facts);
        }
        Event::CallbackOpened { task } => {
            (vec![T::CallbackOpened], json!({ "task_id": task }), None)
        }
        Event::CallbackClosed { task, outcome } => (
            vec![T::CallbackClosed],
            json!({ "task_id": task, "outcome": outcome.as_str() }),
            None,
        ),
        _ => return patient_facts(event),
    };
    facts(types, data, appointment)
}

/// The facts of what a patient did by a message.
fn patient_facts(event: &Event) -> Option<WebhookFacts> {
    use WebhookEventType as T;
    let (types, data, appointment) = match event {
        Event::MessageReceived {
            channel,
            kind,
            intent,
        } => (
            vec![T::MessageReceived],
            json!({ "channel": channel.as_str(), "kind": kind, "intent": intent.as_str() }),
            None,
        ),
        Event::AppointmentConfirmed { appointment } => {
            (vec![T::AppointmentConfirmed], json!({}), Some(appointment))
        }
        Event::CancellationRequested { appointment } => (
            vec![T::AppointmentCancellationRequested],
            json!({}),
            Some(appointment),
        ),
        Event::OptedOutByMessage { channel } => (
            vec![T::PatientOptedOut],
            json!({ "channel": channel.as_str(), "by": "message" }),
            None,
        ),
        _ => return None,
    };
    facts(types, data, appointment)
}

fn facts(
    types: Vec<WebhookEventType>,
    data: Value,
    appointment: Option<&AppointmentId>,
) -> Option<WebhookFacts> {
    let Value::Object(data) = data else {
        return None;
    };
    Some(WebhookFacts {
        types,
        data,
        appointment: appointment.cloned(),
        reason_is_own: false,
    })
}

/// The channel an attempt event is about: what a status change in the same write went through.
pub fn attempt_channel(event: &Event) -> Option<ChannelKind> {
    match event {
        Event::AttemptSending { channel, .. }
        | Event::AttemptAccepted { channel, .. }
        | Event::AttemptErrored { channel, .. }
        | Event::AttemptRateLimited { channel, .. }
        | Event::AttemptAmbiguous { channel, .. }
        | Event::AttemptFailed { channel, .. }
        | Event::DeliveryStatus { channel, .. } => Some(*channel),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallbackTaskId, Intent};

    #[test]
    fn a_change_to_failed_is_also_a_failure() {
        let failed = Event::StatusChanged {
            from: NotificationStatus::Sending,
            to: NotificationStatus::Failed,
        };
        let facts = webhook_facts(&failed).expect("heard");
        assert_eq!(
            facts.types,
            [
                WebhookEventType::NotificationStatusChanged,
                WebhookEventType::NotificationFailed
            ]
        );
        assert_eq!(
            Value::Object(facts.data),
            json!({"from": "sending", "to": "failed"})
        );
    }

    #[test]
    fn patient_events_map_to_their_types_and_others_to_none() {
        let received = Event::MessageReceived {
            channel: ChannelKind::Sms,
            kind: "text".into(),
            intent: Intent::Confirm,
        };
        let closed = Event::CallbackClosed {
            task: CallbackTaskId::from_stored("cbk_1".into()),
            outcome: crate::domain::CallbackOutcome::Reached,
        };
        let types = |e: &Event| webhook_facts(e).map(|f| f.types);
        assert_eq!(
            types(&received),
            Some(vec![WebhookEventType::MessageReceived])
        );
        assert_eq!(types(&closed), Some(vec![WebhookEventType::CallbackClosed]));
        assert_eq!(types(&Event::UrgentMessage), None);
    }

    #[test]
    fn event_type_names_round_trip() {
        for t in WebhookEventType::ALL {
            assert_eq!(WebhookEventType::parse(t.as_str()), Some(*t));
        }
        assert_eq!(WebhookEventType::parse("notification.sent"), None);
    }
}
