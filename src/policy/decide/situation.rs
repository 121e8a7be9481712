//! What the decision reads: the notification, its earlier attempts and the delivery limits, as
//! stored facts, with the small questions asked of them.

use std::time::Duration;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use crate::config::DeliveryTimeouts;
use crate::domain::{AttemptId, AttemptStatus, NotificationStatus, Priority, UsedUp};
use crate::policy::MessagingHours;

/// What the rules need to know about the notification itself.
#[derive(Debug, Clone)]
pub struct NotificationFacts {
    pub status: NotificationStatus,
    pub priority: Priority,
    pub send_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    /// When the clinic and the patient allow it to go.
    pub hours: MessagingHours,
}

/// One earlier try, as stored.
#[derive(Debug, Clone)]
pub struct AttemptFacts {
    pub id: AttemptId,
    pub channel: ChannelKind,
    pub status: AttemptStatus,
    pub created_at: Timestamp,
    /// When its request to the provider began; `None` for a hand-over that never started.
    pub started_at: Option<Timestamp>,
    pub retry_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub deliver_by: Option<Timestamp>,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
}

/// Limits that shape retries and fallback.
#[derive(Debug, Clone)]
pub struct DeliveryRules {
    pub max_tries_per_channel: u32,
    pub timeouts: DeliveryTimeouts,
    /// A call that was busy or not answered is made once more after this long.
    pub unanswered_call_retry_after: Duration,
}

/// A call that rang out or was busy: worth one more try later, unlike a failed one.
pub(super) fn is_unanswered_call(attempt: &AttemptFacts, status: AttemptStatus) -> bool {
    attempt.channel == ChannelKind::Voice
        && status == AttemptStatus::Failed
        && matches!(attempt.error_code.as_deref(), Some("busy" | "no-answer"))
}

pub(super) fn is_final(status: NotificationStatus) -> bool {
    matches!(
        status,
        NotificationStatus::Failed | NotificationStatus::Cancelled | NotificationStatus::Expired
    )
}

pub(super) fn describe_failure(attempt: &AttemptFacts, status: AttemptStatus) -> UsedUp {
    match status {
        AttemptStatus::TimedOut => UsedUp::TimedOut,
        _ => UsedUp::Failed {
            code: attempt.error_code.clone(),
            text: attempt.error_text.clone(),
        },
    }
}
