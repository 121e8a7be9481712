//! Why the rules decided what they did, as values. The English sentence (`Display`) is one
//! rendering, stored as the event's `detail`; the console renders the same value in Hebrew.

use std::fmt;

use jiff::civil::Date;
use jiff::{Timestamp, Zoned};
use medrelay_channels::ChannelKind;
use serde::Serialize;

use super::ContentKind;

/// Where a notification's channel order came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RouteSource {
    StaffChose { channel: ChannelKind },
    PatientPreference { channels: Vec<ChannelKind> },
    ClinicDefault { channels: Vec<ChannelKind> },
}

/// Why a channel is left out of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SkipReason {
    /// The clinic's provider account cannot serve the channel; `cause` is the provider's error.
    Suspended {
        until: Timestamp,
        cause: String,
    },
    /// Free text on WhatsApp outside the patient's 24-hour window.
    OutsideWhatsAppWindow,
    /// What a provider told us about the patient's address, at `learned_at`.
    NotOnWhatsAppSaysProvider {
        learned_at: Timestamp,
    },
    UnsubscribedAtProvider {
        learned_at: Timestamp,
    },
    LandlineSaysProvider {
        learned_at: Timestamp,
    },
    /// The numbering plan says the patient's number is a landline.
    Landline,
    NotConfigured,
    OptedOut,
    NotOnWhatsApp,
    NoPhone,
    NoEmail,
    /// The text is longer than one SMS may be (Twilio refuses it with 21617); `length` in the
    /// units Twilio counts.
    TooLongForSms {
        length: usize,
        max: usize,
    },
}

/// A rule of the messaging hours that held a notification back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HoursRule {
    Holiday { date: Date },
    ClinicClosed { day: String },
    OutsideClinicHours { day: String, windows: Vec<String> },
    QuietHours { hours: String, zone: String },
}

/// Why a channel can carry no more tries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UsedUp {
    NotAnswered {
        times: usize,
    },
    Failed {
        code: Option<String>,
        text: Option<String>,
    },
    TimedOut,
    Errored {
        times: usize,
    },
}

/// One reason of a routing decision or of a verdict on an attempt. Never holds message text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reason {
    Route {
        source: RouteSource,
    },
    Skipped {
        channel: ChannelKind,
        reason: SkipReason,
    },
    UsedUp {
        channel: ChannelKind,
        how: UsedUp,
    },
    FallingBack {
        to: ChannelKind,
        after: Vec<Reason>,
    },
    /// Urgent, so sent although these rules would have held it.
    UrgentNotDeferred {
        held_by: Vec<HoursRule>,
    },
    Deferred {
        until: Zoned,
        held_by: Vec<HoursRule>,
    },
    /// The hours allow it no earlier than `earliest`, after it expires.
    ExpiresBeforeAllowed {
        earliest: Zoned,
        expires_at: Zoned,
        held_by: Vec<HoursRule>,
    },
    NoAllowedTime {
        days: i64,
        held_by: Vec<HoursRule>,
    },
    Expired {
        at: Timestamp,
    },
    WaitingForSuspendedChannel {
        until: Timestamp,
    },
    /// The patient was deleted while the notification waited.
    PatientGone,
    /// Every channel is used up or skipped; `story` says how each was.
    NoChannelLeft {
        story: Vec<Reason>,
    },
    /// What a message on a sensitive or restricted topic carries on the channel it goes on.
    TopicContent {
        sensitivity: String,
        topic: String,
        channel: ChannelKind,
        content: bool,
    },
    CallThePatient {
        topic: String,
    },
    /// A sensitive notification's content was handed to `channel`; its notice may say so.
    ContentHandedOver {
        channel: ChannelKind,
    },
    /// One part of a sensitive notification reached the patient on no channel; `story` says
    /// how each was.
    PartUndelivered {
        part: ContentKind,
        story: Vec<Reason>,
    },
    /// No channel carried a sensitive notification's content: staff are to tell the patient.
    CallWithTheContent {
        topic: String,
    },
    NoNumberToCall {
        topic: String,
    },
    /// The hand-over never started its request: the provider never had it.
    HandOverNotStarted {
        channel: ChannelKind,
    },
    /// An unsettled hand-over on a channel that never reports delivery.
    UnsettledWithoutReceipt {
        channel: ChannelKind,
    },
    NoReceiptInTime {
        channel: ChannelKind,
        secs: u64,
    },
    /// An interrupted hand-over that may have reached the provider: waited for, not resent.
    HandOverInterrupted {
        channel: ChannelKind,
        waiting_until: Timestamp,
    },
}

/// Why a reminder of an appointment's series is left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReminderSkip {
    AppointmentBegun {
        starts_at: Timestamp,
    },
    /// Its time `at` had passed; `instead` is the reminder of the series that still goes.
    TimePassed {
        at: Timestamp,
        reminder: String,
        instead: Option<String>,
    },
    /// The hours allow no moment near its time `planned` (within a week before it) that is
    /// still ahead, nor one after it before the appointment.
    NoAllowedMoment {
        planned: Timestamp,
        held_by: Vec<HoursRule>,
    },
    /// The hours would send it no later than the longer `other` reminder, which already reaches
    /// the patient then.
    NoLaterThan {
        at: Zoned,
        other: String,
    },
}

impl fmt::Display for ReminderSkip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AppointmentBegun { starts_at } => {
                write!(f, "the appointment at {starts_at} has already begun")
            }
            Self::TimePassed {
                at,
                reminder,
                instead,
            } => {
                write!(
                    f,
                    "its time ({at}, {reminder} before the appointment) had already passed"
                )?;
                match instead {
                    Some(other) => write!(f, "; the {other} reminder reaches the patient instead"),
                    None => Ok(()),
                }
            }
            Self::NoAllowedMoment { planned, held_by } => write!(
                f,
                "no moment the hours allow near its time ({planned}) before the appointment: {}",
                joined(held_by, "; ")
            ),
            Self::NoLaterThan { at, other } => write!(
                f,
                "the hours would move it to {}, no later than the {other} reminder, which reaches \
                 the patient then",
                clinic_time(at)
            ),
        }
    }
}

impl fmt::Display for RouteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StaffChose { channel } => write!(f, "staff chose {channel}"),
            Self::PatientPreference { channels } => {
                write!(f, "patient preference: {}", joined(channels, ", "))
            }
            Self::ClinicDefault { channels } => {
                write!(f, "clinic default order: {}", joined(channels, ", "))
            }
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Suspended { until, cause } => {
                write!(f, "suspended for this clinic until {until} ({cause})")
            }
            Self::OutsideWhatsAppWindow => f.write_str(
                "free text goes on WhatsApp only within 24 hours of the patient's last WhatsApp \
                 message; use a template to start a conversation",
            ),
            Self::NotOnWhatsAppSaysProvider { learned_at } => write!(
                f,
                "the number is not on WhatsApp (provider, {})",
                learned_at.strftime("%Y-%m-%d")
            ),
            Self::UnsubscribedAtProvider { learned_at } => write!(
                f,
                "the patient unsubscribed at the provider ({})",
                learned_at.strftime("%Y-%m-%d")
            ),
            Self::LandlineSaysProvider { learned_at } => write!(
                f,
                "the number is a landline (provider, {}); calling instead",
                learned_at.strftime("%Y-%m-%d")
            ),
            Self::Landline => f.write_str("the number is a landline (its number range says so)"),
            Self::NotConfigured => f.write_str("not configured for this clinic"),
            Self::OptedOut => f.write_str("patient opted out"),
            Self::NotOnWhatsApp => f.write_str("patient is not on WhatsApp"),
            Self::NoPhone => f.write_str("no phone number on record"),
            Self::NoEmail => f.write_str("no email address on record"),
            Self::TooLongForSms { length, max } => write!(
                f,
                "the text is {length} characters, longer than the {max} an SMS may carry"
            ),
        }
    }
}

impl fmt::Display for HoursRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Holiday { date } => write!(f, "clinic closed on {date} (holiday)"),
            Self::ClinicClosed { day } => write!(f, "clinic closed on {}", capitalized(day)),
            Self::OutsideClinicHours { day, windows } => write!(
                f,
                "outside clinic hours ({} {})",
                capitalized(day),
                windows.join(", ")
            ),
            Self::QuietHours { hours, zone } => {
                write!(f, "patient's quiet hours {hours} ({zone})")
            }
        }
    }
}

impl fmt::Display for UsedUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnswered { times } => write!(f, "not answered {times} times"),
            Self::Failed { code, text } => match (code, text) {
                (Some(code), Some(text)) => write!(f, "failed ({code}: {text})"),
                (None, Some(text)) => write!(f, "failed ({text})"),
                (Some(code), None) => write!(f, "failed ({code})"),
                (None, None) => f.write_str("failed"),
            },
            Self::TimedOut => f.write_str("timed out"),
            Self::Errored { times } => write!(f, "failed {times} times"),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Route { source } => write!(f, "route: {source}"),
            Self::Skipped { channel, reason } => write!(f, "{channel} skipped: {reason}"),
            Self::UsedUp { channel, how } => write!(f, "{channel} {how}"),
            Self::FallingBack { to, after } => {
                write!(f, "falling back to {to} after {}", joined(after, "; "))
            }
            Self::UrgentNotDeferred { held_by } => write!(
                f,
                "urgent: sent now, not deferred for {}",
                joined(held_by, "; ")
            ),
            Self::Deferred { until, held_by } => write!(
                f,
                "deferred to {}: {}",
                clinic_time(until),
                joined(held_by, "; ")
            ),
            Self::ExpiresBeforeAllowed {
                earliest,
                expires_at,
                held_by,
            } => write!(
                f,
                "expired: it could go no earlier than {} ({}), after it expires at {}",
                clinic_time(earliest),
                joined(held_by, "; "),
                clinic_time(expires_at)
            ),
            Self::NoAllowedTime { days, held_by } => write!(
                f,
                "failed: no time in the next {days} days is allowed by the hours ({})",
                joined(held_by, "; ")
            ),
            Self::Expired { at } => write!(f, "expired at {at} before it could be delivered"),
            Self::WaitingForSuspendedChannel { until } => {
                write!(f, "waiting until {until} for a suspended channel")
            }
            Self::PatientGone => f.write_str("failed: the patient no longer exists"),
            Self::NoChannelLeft { story } => write!(f, "failed: {}", no_channel_left(story)),
            Self::TopicContent {
                sensitivity,
                topic,
                channel,
                content,
            } => {
                let what = if *content {
                    "the content"
                } else {
                    "a notice without content"
                };
                write!(f, "{sensitivity} topic {topic}: {channel} carries {what}")
            }
            Self::CallThePatient { topic } => {
                write!(f, "restricted topic {topic}: call the patient")
            }
            Self::ContentHandedOver { channel } => write!(f, "content: {channel} handed over"),
            Self::PartUndelivered { part, story } => write!(
                f,
                "{}: not delivered, {}",
                part.as_str(),
                no_channel_left(story)
            ),
            Self::CallWithTheContent { topic } => write!(
                f,
                "sensitive topic {topic}: no channel carried the content; call the patient"
            ),
            Self::NoNumberToCall { topic } => write!(
                f,
                "restricted topic {topic}: no phone number to call the patient back"
            ),
            Self::HandOverNotStarted { channel } => write!(
                f,
                "{channel} hand-over was interrupted before its request started; the provider never had it, sending again"
            ),
            Self::UnsettledWithoutReceipt { channel } => write!(
                f,
                "{channel} hand-over is unsettled and {channel} has no delivery receipt; not resending on it"
            ),
            Self::NoReceiptInTime { channel, secs } => {
                write!(f, "{channel} timed out: no delivery receipt within {secs}s")
            }
            Self::HandOverInterrupted {
                channel,
                waiting_until,
            } => write!(
                f,
                "{channel} hand-over was interrupted; not resending, waiting for the provider's status until {waiting_until}"
            ),
        }
    }
}

/// Why nothing is left to try, as staff read it on a callback task.
pub fn no_channel_left(story: &[Reason]) -> String {
    if story.is_empty() {
        "no channel to try".to_owned()
    } else {
        format!("no channel left to try ({})", joined(story, "; "))
    }
}

/// An instant on the clinic's clock, e.g. `2026-11-29T09:00+02:00[Asia/Jerusalem]`.
pub fn clinic_time(at: &Zoned) -> String {
    at.strftime("%Y-%m-%dT%H:%M%:z[%:Q]").to_string()
}

pub(super) fn joined<T: fmt::Display>(items: &[T], separator: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
