//! The clinic's words as types: ids, contacts, patients, notifications, attempts and their states,
//! and the events of the audit trail.
//! Values here are already valid; raw input becomes these types at the API edge.

/// An enum stored and shown as snake_case text, with its list of names for error messages.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            pub fn names() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
    };
}

mod booking;
mod booking_webhook;
mod callback;
mod channel_choice;
mod clinic_profile;
mod contact;
mod content;
mod event;
mod fhir_push;
mod field;
mod hours;
mod ids;
mod inbound;
mod notification;
mod patient;
mod phone;
mod reason;
mod reminder_offset;
mod retention;
mod secure_link;
mod staff;
mod text;
mod topic;

pub use booking::{Metadata, Reference};
pub use booking_webhook::{WebhookEventType, WebhookFacts, attempt_channel, webhook_facts};
pub use callback::{CallbackOutcome, CallbackStatus};
pub use channel_choice::{ChannelChange, apply as apply_channel_change, order_in_effect};
pub use clinic_profile::{ClinicProfile, ClinicProfileText, DIALABLE_RULE, channel_list};
pub use contact::{EmailAddress, Language, TimeZoneName};
pub use content::{AttemptContent, ContentKind, SentTemplate};
pub use event::{
    Actor, Cancellation, Event, FHIR_PUSH_ALERT, ProviderError, ReminderTiming, ScheduleChange,
};
pub use fhir_push::{FhirAuth, FhirSubject, IDENTIFIER_SYSTEM_RULE, identifier_system, token_hint};
pub use field::FieldError;
pub use hours::{
    ClinicHours, ClinicHoursText, DAY_NAMES, OpenWindow, QuietHours, TimeOfDay, WeekText,
    WindowText,
};
pub use ids::{
    ApiKeyId, AppointmentId, AttemptId, AuditEntryId, CallbackTaskId, ClinicId, InboundMessageId,
    NotificationId, PatientId, SecureLinkId, StaffId, WebhookEndpointId, WebhookEventId,
};
pub use inbound::{
    AutoReply, BUILT_IN_LABELS, ConversationStatus, InboundMedia, InboundMessage, Intent, Origin,
    OriginFamily,
};
pub use notification::{AppointmentStatus, AttemptStatus, NotificationStatus, Priority};
pub use patient::{Clinic, Patient};
pub use phone::{LineType, Phone, PhoneError, PhoneRegion, is_dialable};
pub use reason::{
    HoursRule, Reason, ReminderSkip, RouteSource, SkipReason, UsedUp, clinic_time, no_channel_left,
};
pub use reminder_offset::ReminderOffset;
pub use retention::{Removal, RetentionCounts, RetentionPeriods};
pub use secure_link::{LinkEvent, Proof};
pub use staff::{StaffMember, UiLanguage};
pub use text::{ONE_LINE_RULE, is_one_line};
pub use topic::{Sensitivity, Topic, TopicSetting};
