//! The audit trail's facts as values: what happened, to which notification, and who did it.
//! Each event is stored twice: as JSON of the value (for webhooks, the console, FHIR) and as
//! its English sentence (`detail`), which is one rendering of it.

use std::fmt;

use jiff::{Timestamp, Zoned};
use medrelay_channels::ChannelKind;
use serde::Serialize;

use super::reason::joined;
use super::{
    ApiKeyId, AppointmentId, AttemptStatus, AutoReply, CallbackOutcome, CallbackTaskId, HoursRule,
    Intent, LinkEvent, NotificationId, NotificationStatus, Priority, Reason, ReminderSkip, Removal,
    RetentionCounts, WebhookEndpointId, clinic_time,
};

/// How the sentences of the FHIR push alerts begin, so the clinic's settings can list them.
pub const FHIR_PUSH_ALERT: &str = "FHIR push";

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A caller with an API key; `role` is the key's role, for the sentence.
    Key { id: ApiKeyId, role: &'static str },
    /// A person at the clinic, as named by the staff caller (there are no staff accounts yet).
    Staff(String),
    /// medrelay itself: the dispatcher, a provider's report, the passing of time.
    System,
    /// Whoever holds a notification's secure link, on its page: the patient, once proven.
    LinkHolder,
}

impl Actor {
    /// The stored form: `key:key_01…`, `staff:<name>`, `system` or `link_holder`.
    pub fn stored(&self) -> String {
        match self {
            Self::Key { id, .. } => format!("key:{id}"),
            Self::Staff(name) => format!("staff:{name}"),
            Self::System => "system".to_owned(),
            Self::LinkHolder => "link_holder".to_owned(),
        }
    }

    /// The actor [`Actor::stored`] wrote; a key's role (not stored beside it) from `role_of`.
    /// `None` for text no actor is stored as.
    pub fn from_stored(
        stored: &str,
        role_of: impl FnOnce(&ApiKeyId) -> &'static str,
    ) -> Option<Self> {
        match stored {
            "system" => Some(Self::System),
            "link_holder" => Some(Self::LinkHolder),
            _ => {
                if let Some(name) = stored.strip_prefix("staff:") {
                    return Some(Self::Staff(name.to_owned()));
                }
                let id = ApiKeyId::parse(stored.strip_prefix("key:")?)?;
                let role = role_of(&id);
                Some(Self::Key { id, role })
            }
        }
    }
}

/// How the actor is named in sentences ("cancelled by booking key key_01…").
impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key { id, role } => write!(f, "{role} key {id}"),
            Self::Staff(name) => f.write_str(name),
            Self::System => f.write_str("medrelay"),
            Self::LinkHolder => f.write_str("the secure link's holder"),
        }
    }
}

/// What happened to an appointment, as told on its reminders' events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScheduleChange {
    Booked {
        appointment: AppointmentId,
        starts_at: Timestamp,
    },
    Moved {
        appointment: AppointmentId,
        from: Timestamp,
        to: Timestamp,
    },
    /// A cancelled appointment booked again under its appointment id.
    BookedAgain {
        appointment: AppointmentId,
        starts_at: Timestamp,
    },
    Cancelled {
        appointment: AppointmentId,
        starts_at: Timestamp,
    },
}

impl ScheduleChange {
    fn sentence(&self, actor: &Actor) -> String {
        match self {
            Self::Booked {
                appointment,
                starts_at,
            } => format!("appointment {appointment} at {starts_at} booked by {actor}"),
            Self::Moved {
                appointment,
                from,
                to,
            } => format!("appointment {appointment} moved from {from} to {to} by {actor}"),
            Self::BookedAgain {
                appointment,
                starts_at,
            } => format!(
                "appointment {appointment} booked again after its cancellation, at {starts_at}, \
                 by {actor}"
            ),
            Self::Cancelled {
                appointment,
                starts_at,
            } => format!("appointment {appointment} at {starts_at} cancelled by {actor}"),
        }
    }
}

/// When one reminder of a series goes, as decided when the series changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReminderTiming {
    ScheduledFor {
        at: Timestamp,
    },
    /// Its own time (`was`) had passed and no later reminder is left before the appointment.
    DueNow {
        was: Timestamp,
    },
    /// Its own time `planned` is outside the hours: it goes at `at`, the latest moment they
    /// allow before it, or else the first after it that is still before the appointment.
    MovedForHours {
        at: Zoned,
        planned: Timestamp,
        held_by: Vec<HoursRule>,
    },
    LeftOut {
        why: ReminderSkip,
    },
}

impl fmt::Display for ReminderTiming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ScheduledFor { at } => write!(f, "scheduled for {at}"),
            Self::DueNow { was } => write!(
                f,
                "due now: its time ({was}) had passed and no later reminder is left before the appointment"
            ),
            Self::MovedForHours {
                at,
                planned,
                held_by,
            } => {
                let which = if at.timestamp() < *planned {
                    "the latest moment the hours allow before"
                } else {
                    "the first moment the hours allow after"
                };
                write!(
                    f,
                    "scheduled for {}, {which} its time {planned} ({})",
                    clinic_time(at),
                    joined(held_by, "; ")
                )
            }
            Self::LeftOut { why } => write!(f, "{why}"),
        }
    }
}

/// Why a notification was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Cancellation {
    /// The caller asked for it.
    Requested,
    /// Its appointment changed and this reminder of the series is left out.
    ReminderLeftOut {
        change: ScheduleChange,
        reminder: String,
        timing: ReminderTiming,
    },
    AppointmentCancelled {
        appointment: AppointmentId,
        starts_at: Timestamp,
    },
    /// The clinic erased the patient's personal data: nothing more goes to them.
    PatientErased,
}

/// A provider's error code and text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderError {
    pub code: String,
    pub text: String,
}

/// One fact of a notification's audit trail. Reasons never hold message text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Taken in through the API. `content` names the template copy or quick reply chosen.
    Received {
        priority: Priority,
        /// `None` when it was due at once.
        scheduled_for: Option<Timestamp>,
        content: Option<String>,
    },
    /// Created as one reminder of an appointment's series.
    ReminderCreated {
        change: ScheduleChange,
        reminder: String,
        timing: ReminderTiming,
    },
    /// Taken in as the notice to the patient that their appointment changed, which they need
    /// before `deadline` (the appointment they would otherwise come to).
    AppointmentNotice {
        change: ScheduleChange,
        priority: Priority,
        deadline: Timestamp,
        content: Option<String>,
    },
    /// A pending reminder moved with its appointment.
    ReminderMoved {
        change: ScheduleChange,
        reminder: String,
        timing: ReminderTiming,
        was: Timestamp,
        expires_at: Timestamp,
    },
    StatusChanged {
        from: NotificationStatus,
        to: NotificationStatus,
    },
    /// An attempt begins: the hand-over to `channel`'s provider.
    AttemptSending {
        channel: ChannelKind,
        /// The address with most of it hidden.
        to: String,
        sandbox: bool,
    },
    /// The rules settled an earlier attempt because time passed.
    AttemptVerdict {
        status: AttemptStatus,
        reason: Reason,
    },
    AttemptAccepted {
        channel: ChannelKind,
        provider_message_id: String,
    },
    AttemptErrored {
        channel: ChannelKind,
        error: ProviderError,
        retry_at: Timestamp,
    },
    AttemptRateLimited {
        channel: ChannelKind,
        retry_at: Timestamp,
    },
    /// No answer to the hand-over: the provider may or may not have it.
    AttemptAmbiguous {
        channel: ChannelKind,
        cause: String,
    },
    AttemptFailed {
        channel: ChannelKind,
        error: ProviderError,
    },
    /// A provider's status report on an attempt.
    DeliveryStatus {
        channel: ChannelKind,
        status: AttemptStatus,
        error: Option<ProviderError>,
        after_timeout: bool,
    },
    /// The clinic's provider account cannot serve `channel` until `until`.
    ChannelSuspended {
        channel: ChannelKind,
        until: Timestamp,
        cause: String,
    },
    CallbackOpened {
        task: CallbackTaskId,
    },
    CallbackClaimed {
        task: CallbackTaskId,
    },
    CallbackClosed {
        task: CallbackTaskId,
        outcome: CallbackOutcome,
    },
    Cancelled {
        because: Cancellation,
    },
    /// The clinic erased the patient's personal data (name, contacts, message texts), keeping
    /// counts, statuses and ids; `cancelled` notifications still waiting were cancelled first.
    PatientErased {
        cancelled: u32,
    },
    /// The record's message texts were removed; ids, statuses and times stay.
    TextRemoved {
        because: Removal,
    },
    /// The media reference of a patient's message was removed; its kind and type stay.
    MediaRemoved {
        because: Removal,
    },
    /// A retention run of the clinic finished, removing what was past its periods.
    RetentionRun {
        message_text_days: u32,
        media_days: u32,
        removed: RetentionCounts,
    },
    /// The key the patient pressed during a call.
    PatientPressed {
        digits: String,
    },
    /// A step on the notification's secure message link.
    SecureLink(LinkEvent),
    /// A staff member answered the patient in their conversation with `notification`, which
    /// answers the `answered` messages that were waiting.
    ConversationReplied {
        notification: NotificationId,
        answered: u32,
    },
    /// A staff member marked the conversation handled, and with it the `messages` waiting.
    ConversationHandled {
        messages: u32,
    },
    /// A staff member changed the conversation's labels.
    ConversationLabelled {
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// The patient's message waiting since `waiting_since` was neither answered nor handled by
    /// `overdue_at`, the clinic's response target counted in its open hours.
    ConversationOverdue {
        waiting_since: Timestamp,
        overdue_at: Timestamp,
    },
    /// A patient's message arrived on `channel` (its text is never in an event).
    MessageReceived {
        channel: ChannelKind,
        /// The provider's message type: `text`, `button`, `image`, ….
        kind: String,
        intent: Intent,
    },
    /// The patient closed `channel` to the clinic with a stop keyword.
    OptedOutByMessage {
        channel: ChannelKind,
    },
    /// The patient opened `channel` again with a start keyword.
    OptedInByMessage {
        channel: ChannelKind,
    },
    /// The patient confirmed the appointment by answering its reminder.
    AppointmentConfirmed {
        appointment: AppointmentId,
    },
    /// The patient asked to cancel the appointment by answering its reminder.
    CancellationRequested {
        appointment: AppointmentId,
    },
    /// The message holds one of the clinic's urgent phrases.
    UrgentMessage,
    /// medrelay answers the patient on its own with notification `notification`.
    AutoReplyQueued {
        reply: AutoReply,
        notification: NotificationId,
    },
    /// An auto reply the rules held back, and why.
    AutoReplyHeldBack {
        reply: AutoReply,
        reason: String,
    },
    /// The clinic's webhook endpoint `endpoint` was switched off: every delivery to it failed
    /// since `failing_since`.
    WebhookEndpointDisabled {
        endpoint: WebhookEndpointId,
        failing_since: Timestamp,
    },
    /// Pushes to the clinic's FHIR server have failed for longer than `fhir.alert_after_ms`:
    /// the oldest waiting record's since `failing_since`, with `waiting` records waiting.
    FhirPushFailing {
        failing_since: Timestamp,
        waiting: u64,
    },
    /// No push to the clinic's FHIR server has been failing that long any more.
    FhirPushRecovered,
    /// One reason of a routing decision; its JSON is the reason's own, tagged by its type.
    #[serde(untagged)]
    Routing(Reason),
}

impl Event {
    /// The event's group, stored as `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Received { .. }
            | Self::ReminderCreated { .. }
            | Self::AppointmentNotice { .. } => "received",
            Self::ReminderMoved { .. } => "moved",
            Self::Routing(_) => "routing",
            Self::StatusChanged { .. } => "status",
            Self::AttemptSending { .. }
            | Self::AttemptVerdict { .. }
            | Self::AttemptAccepted { .. }
            | Self::AttemptErrored { .. }
            | Self::AttemptRateLimited { .. }
            | Self::AttemptAmbiguous { .. }
            | Self::AttemptFailed { .. }
            | Self::DeliveryStatus { .. } => "attempt",
            Self::ChannelSuspended { .. }
            | Self::WebhookEndpointDisabled { .. }
            | Self::FhirPushFailing { .. }
            | Self::FhirPushRecovered => "alert",
            Self::CallbackOpened { .. }
            | Self::CallbackClaimed { .. }
            | Self::CallbackClosed { .. } => "callback",
            Self::Cancelled { .. } => "cancelled",
            Self::PatientErased { .. } => "erasure",
            Self::TextRemoved { .. } | Self::MediaRemoved { .. } | Self::RetentionRun { .. } => {
                "redaction"
            }
            Self::PatientPressed { .. } => "patient_reply",
            Self::SecureLink(_) => "secure_link",
            Self::ConversationReplied { .. }
            | Self::ConversationHandled { .. }
            | Self::ConversationLabelled { .. }
            | Self::ConversationOverdue { .. } => "conversation",
            Self::MessageReceived { .. }
            | Self::OptedOutByMessage { .. }
            | Self::OptedInByMessage { .. }
            | Self::AppointmentConfirmed { .. }
            | Self::CancellationRequested { .. }
            | Self::UrgentMessage => "patient_message",
            Self::AutoReplyQueued { .. } | Self::AutoReplyHeldBack { .. } => "auto_reply",
        }
    }

    /// The English sentence for the audit trail, stored as `detail`.
    pub fn detail(&self, actor: &Actor) -> String {
        match self {
            Self::Received {
                priority,
                scheduled_for,
                content,
            } => {
                let due =
                    scheduled_for.map_or("due now".to_owned(), |at| format!("scheduled for {at}"));
                let content = content.as_ref().map_or(String::new(), |c| format!("; {c}"));
                format!(
                    "received from {actor}; priority {}; {due}{content}",
                    priority.as_str()
                )
            }
            Self::ReminderCreated {
                change,
                reminder,
                timing,
            } => format!(
                "{}: the {reminder} reminder, {timing}",
                change.sentence(actor)
            ),
            Self::AppointmentNotice {
                change,
                priority,
                deadline,
                content,
            } => {
                let when = match priority {
                    Priority::Normal => "it keeps to the hours, which let it arrive an hour before",
                    Priority::Urgent => {
                        "urgent: it goes at once, as the hours would not let it arrive an hour before"
                    }
                };
                let content = content.as_ref().map_or(String::new(), |c| format!("; {c}"));
                format!(
                    "{}: the patient is told; {when} {deadline}{content}",
                    change.sentence(actor)
                )
            }
            Self::ReminderMoved {
                change,
                reminder,
                timing,
                was,
                expires_at,
            } => format!(
                "{}: the {reminder} reminder is now {timing} (was {was}); it expires at {expires_at}",
                change.sentence(actor)
            ),
            Self::Routing(reason) | Self::AttemptVerdict { reason, .. } => reason.to_string(),
            Self::StatusChanged { from, to } => format!("{} → {}", from.as_str(), to.as_str()),
            Self::AttemptSending {
                channel,
                to,
                sandbox,
            } => {
                let through = if *sandbox {
                    " through the sandbox (it reaches no patient)"
                } else {
                    ""
                };
                format!("sending on {channel} to {to}{through}")
            }
            Self::AttemptAccepted {
                channel,
                provider_message_id,
            } => format!("{channel} accepted by the provider as {provider_message_id}"),
            Self::AttemptErrored {
                channel,
                error,
                retry_at,
            } => format!(
                "{channel} provider error ({}: {}); retrying at {retry_at}",
                error.code, error.text
            ),
            Self::AttemptRateLimited { channel, retry_at } => {
                format!("{channel} provider asked to slow down; retrying at {retry_at}")
            }
            Self::AttemptAmbiguous { channel, cause } => format!(
                "{channel} hand-over got no answer ({cause}); not resending, waiting for a status"
            ),
            Self::AttemptFailed { channel, error } => {
                format!("{channel} failed ({}: {})", error.code, error.text)
            }
            Self::DeliveryStatus {
                channel,
                status,
                error,
                after_timeout,
            } => {
                let late = if *after_timeout {
                    " (after its delivery timeout)"
                } else {
                    ""
                };
                match error {
                    Some(e) => format!(
                        "{channel} {} ({}: {}){late}",
                        status.as_str(),
                        e.code,
                        e.text
                    ),
                    None => format!("{channel} {}{late}", status.as_str()),
                }
            }
            Self::ChannelSuspended {
                channel,
                until,
                cause,
            } => format!(
                "{channel} suspended for this clinic until {until}: {cause}; an operator must fix the provider account"
            ),
            Self::WebhookEndpointDisabled {
                endpoint,
                failing_since,
            } => format!(
                "webhook endpoint {endpoint} disabled: every delivery to it has failed since \
                 {failing_since}; re-enable it once the booking system answers again"
            ),
            Self::FhirPushFailing {
                failing_since,
                waiting,
            } => format!(
                "{FHIR_PUSH_ALERT} failing: pushes to the clinic's FHIR server have failed since \
                 {failing_since}; {waiting} record(s) waiting (see GET /v1/clinic/fhir/pushes)"
            ),
            Self::FhirPushRecovered => format!(
                "{FHIR_PUSH_ALERT} recovered: no push to the clinic's FHIR server is failing any more"
            ),
            Self::CallbackOpened { task } => {
                format!("handed to staff: callback task {task} opened")
            }
            Self::CallbackClaimed { task } => format!("callback task {task} claimed by {actor}"),
            Self::CallbackClosed { task, outcome } => format!(
                "callback task {task} closed by {actor}: {}",
                outcome.as_str()
            ),
            Self::Cancelled { because } => match because {
                Cancellation::Requested => format!("cancelled by {actor}"),
                Cancellation::ReminderLeftOut {
                    change,
                    reminder,
                    timing,
                } => format!(
                    "cancelled: {}; the {reminder} reminder is left out: {timing}",
                    change.sentence(actor)
                ),
                Cancellation::AppointmentCancelled {
                    appointment,
                    starts_at,
                } => format!(
                    "cancelled: appointment {appointment} at {starts_at} was cancelled by {actor}"
                ),
                Cancellation::PatientErased => {
                    format!("cancelled: the patient's personal data was erased by {actor}")
                }
            },
            Self::PatientErased { cancelled } => format!(
                "personal data erased by {actor}; {cancelled} waiting notification(s) cancelled"
            ),
            Self::TextRemoved { because } => because.sentence("message text", actor),
            Self::MediaRemoved { because } => {
                because.sentence("media reference (its kind and type stay)", actor)
            }
            Self::RetentionRun {
                message_text_days,
                media_days,
                removed,
            } => format!(
                "retention run: removed the {removed} (texts are kept {message_text_days} days, \
                 media {media_days})"
            ),
            Self::PatientPressed { digits } if digits == "1" => {
                "the patient pressed 1 on the call: confirmed".to_owned()
            }
            Self::PatientPressed { digits } => format!("the patient pressed {digits} on the call"),
            Self::SecureLink(step) => step.to_string(),
            Self::ConversationReplied {
                notification,
                answered,
            } => format!(
                "{actor} answered the patient with notification {notification}; {answered} \
                 waiting message(s) answered"
            ),
            Self::ConversationHandled { messages } => format!(
                "conversation marked handled by {actor}, with {messages} waiting message(s)"
            ),
            Self::ConversationLabelled { added, removed } => {
                let list = |names: &[String]| {
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                };
                format!(
                    "labels changed by {actor}: added {}; removed {}",
                    list(added),
                    list(removed)
                )
            }
            Self::ConversationOverdue {
                waiting_since,
                overdue_at,
            } => format!(
                "overdue: the patient's message waiting since {waiting_since} was not answered by \
                 {overdue_at}, the clinic's response target"
            ),
            Self::MessageReceived { .. }
            | Self::OptedOutByMessage { .. }
            | Self::OptedInByMessage { .. }
            | Self::AppointmentConfirmed { .. }
            | Self::CancellationRequested { .. }
            | Self::UrgentMessage
            | Self::AutoReplyQueued { .. }
            | Self::AutoReplyHeldBack { .. } => self.conversation_sentence(),
        }
    }

    /// The sentences of the events a patient's message causes.
    fn conversation_sentence(&self) -> String {
        match self {
            Self::MessageReceived {
                channel,
                kind,
                intent,
            } => match intent {
                Intent::None => format!("the patient wrote on {channel} ({kind})"),
                _ => format!(
                    "the patient wrote on {channel} ({kind}), read as {}",
                    intent.as_str()
                ),
            },
            Self::OptedOutByMessage { channel } => {
                format!("the patient opted out of {channel} by a message")
            }
            Self::OptedInByMessage { channel } => {
                format!("the patient opted in to {channel} again by a message")
            }
            Self::AppointmentConfirmed { appointment } => {
                format!("appointment {appointment} confirmed by the patient's reply")
            }
            Self::CancellationRequested { appointment } => format!(
                "the patient asked to cancel appointment {appointment}; the booking system decides"
            ),
            Self::UrgentMessage => {
                "urgent: the message holds one of the clinic's urgent phrases".to_owned()
            }
            Self::AutoReplyQueued {
                reply,
                notification,
            } => format!(
                "auto reply `{}` queued as notification {notification}",
                reply.as_str()
            ),
            Self::AutoReplyHeldBack { reply, reason } => {
                format!("auto reply `{}` held back: {reason}", reply.as_str())
            }
            // `detail` sends only the events above here.
            _ => self.kind().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Actor {
        Actor::Key {
            id: ApiKeyId::from_stored("key_01".into()),
            role: "booking",
        }
    }

    #[test]
    fn the_actor_is_stored_by_kind_and_named_in_sentences() {
        assert_eq!(key().stored(), "key:key_01");
        assert_eq!(Actor::Staff("Dana".into()).stored(), "staff:Dana");
        assert_eq!(Actor::System.stored(), "system");
        let cancelled = Event::Cancelled {
            because: Cancellation::Requested,
        };
        assert_eq!(cancelled.detail(&key()), "cancelled by booking key key_01");
    }

    #[test]
    fn an_event_is_json_tagged_with_its_type() {
        let event = Event::StatusChanged {
            from: NotificationStatus::Sending,
            to: NotificationStatus::Sent,
        };
        assert_eq!(
            serde_json::to_value(&event).expect("json"),
            serde_json::json!({"type": "status_changed", "from": "sending", "to": "sent"})
        );
        assert_eq!(event.kind(), "status");
        assert_eq!(event.detail(&Actor::System), "sending → sent");
    }

    #[test]
    fn a_secure_link_step_is_tagged_as_one_and_by_its_step() {
        let event = Event::SecureLink(LinkEvent::Read);
        assert_eq!(
            serde_json::to_value(&event).expect("json"),
            serde_json::json!({"type": "secure_link", "step": "read"})
        );
        assert_eq!(event.kind(), "secure_link");
    }

    #[test]
    fn every_stored_actor_reads_back_as_itself() {
        let actors = [
            Actor::Key {
                id: ApiKeyId::from_stored("key_01".to_owned()),
                role: "staff",
            },
            Actor::Staff("Dr. Cohen".to_owned()),
            Actor::System,
            Actor::LinkHolder,
        ];
        for actor in actors {
            assert_eq!(
                Actor::from_stored(&actor.stored(), |_| "staff"),
                Some(actor)
            );
        }
        assert_eq!(Actor::from_stored("someone", |_| "staff"), None);
    }
}
