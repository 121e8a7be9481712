//! An appointment's reminder series: when each configured reminder goes, and what it says about
//! the appointment's date and time.
//!
//! Each reminder goes its offset before the appointment and expires when the appointment starts.
//! A reminder whose time has already passed (a late booking, or an appointment moved closer) is
//! left out, because a later reminder of the series still reaches the patient in time; only when
//! none would be left is the closest one sent at once, so a patient booked at short notice still
//! gets one reminder before the appointment.
//!
//! A reminder whose time the messaging hours do not allow goes at the latest moment they allow
//! before it (the evening before, not after the appointment), else at the first moment after it
//! that is still before the appointment, else not at all. The time decided here is the one the
//! dispatcher finds allowed, so the booking system is told the truth.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

use super::MessagingHours;
use crate::domain::{HoursRule, ReminderOffset, ReminderSkip};

/// How far before its own time a reminder may move for the hours: a week holds every opening of
/// the clinic's week, and a reminder sent earlier than that no longer reminds.
pub const REMINDER_LOOK_BACK: SignedDuration = SignedDuration::from_hours(7 * 24);

/// When one reminder of the series goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReminderTime {
    /// At its offset before the appointment.
    At(Timestamp),
    /// Its time has passed, but it is the last chance to remind the patient: now.
    Now,
    /// Its own time, `planned`, is outside the hours: at `at` instead.
    Moved {
        at: Zoned,
        planned: Timestamp,
        held_by: Vec<HoursRule>,
    },
    /// Left out, for this reason.
    Skip(ReminderSkip),
}

impl ReminderTime {
    /// When it is sent, if it is.
    pub fn send_at(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Self::At(at) => Some(*at),
            Self::Now => Some(now),
            Self::Moved { at, .. } => Some(at.timestamp()),
            Self::Skip(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReminder {
    pub offset: ReminderOffset,
    pub time: ReminderTime,
}

/// The series for an appointment at `starts_at`, planned at `now` within the patient's `hours`,
/// longest offset first.
pub fn plan_reminders(
    starts_at: Timestamp,
    offsets: &[ReminderOffset],
    now: Timestamp,
    hours: &MessagingHours,
) -> Vec<PlannedReminder> {
    let mut offsets = offsets.to_vec();
    offsets.sort_unstable_by(|a, b| b.cmp(a));
    offsets.dedup();
    let next_in_time = offsets
        .iter()
        .copied()
        .filter(|o| o.before(starts_at) > now)
        .min();
    // The closest passed reminder goes now when nothing later is left before the appointment.
    let last_chance = offsets
        .iter()
        .copied()
        .filter(|o| o.before(starts_at) <= now)
        .min()
        .filter(|_| next_in_time.is_none() && starts_at > now);
    let mut previous: Option<(Timestamp, ReminderOffset)> = None;
    let mut series: Vec<PlannedReminder> = offsets
        .into_iter()
        .map(|offset| {
            let at = offset.before(starts_at);
            let time = if at > now || Some(offset) == last_chance {
                within_hours(hours, at, now, starts_at, previous)
            } else if starts_at <= now {
                ReminderTime::Skip(ReminderSkip::AppointmentBegun { starts_at })
            } else {
                ReminderTime::Skip(ReminderSkip::TimePassed {
                    at,
                    reminder: offset.to_string(),
                    instead: None,
                })
            };
            if let Some(send_at) = time.send_at(now) {
                previous = Some((send_at, offset));
            }
            PlannedReminder { offset, time }
        })
        .collect();
    // A passed reminder names the one going instead only once the hours have let it go.
    let going = series
        .iter()
        .find(|r| r.time.send_at(now).is_some())
        .map(|r| r.offset.to_string());
    for reminder in &mut series {
        if let ReminderTime::Skip(ReminderSkip::TimePassed { instead, .. }) = &mut reminder.time {
            instead.clone_from(&going);
        }
    }
    series
}

/// When a reminder due at `planned` goes by the `hours`, planned at `now`: its own time if
/// allowed (now, if that has passed), else the latest allowed moment before it, else the first
/// allowed one after it that is still before the appointment. Either must come after the
/// `previous` (longer) reminder of the series, or the patient would get the two together.
fn within_hours(
    hours: &MessagingHours,
    planned: Timestamp,
    now: Timestamp,
    starts_at: Timestamp,
    previous: Option<(Timestamp, ReminderOffset)>,
) -> ReminderTime {
    let after_previous = |at: &Timestamp| previous.is_none_or(|(earlier, _)| *at > earlier);
    let before = (planned > now)
        .then(|| hours.latest_allowed_between(now.max(planned - REMINDER_LOOK_BACK), planned))
        .flatten();
    let after = hours
        .next_allowed(planned.max(now))
        .filter(|at| *at < starts_at);
    let held_by = || hours.rules_holding(planned.max(now));
    let Some(at) = before
        .filter(after_previous)
        .or(after.filter(after_previous))
    else {
        return ReminderTime::Skip(match (before.or(after), previous) {
            (Some(at), Some((_, other))) => ReminderSkip::NoLaterThan {
                at: hours.on_clinic_clock(at),
                other: other.to_string(),
            },
            _ => ReminderSkip::NoAllowedMoment {
                planned,
                held_by: held_by(),
            },
        });
    };
    if planned <= now && at == now {
        ReminderTime::Now
    } else if at == planned {
        ReminderTime::At(planned)
    } else {
        ReminderTime::Moved {
            at: hours.on_clinic_clock(at),
            planned,
            held_by: held_by(),
        }
    }
}

/// The reminder's template parameters: the caller's, with `date` and `time` of the appointment
/// as the clinic's calendar shows them.
pub fn reminder_params(
    extra: &BTreeMap<String, String>,
    starts_at: Timestamp,
    clinic_zone: &TimeZone,
) -> BTreeMap<String, String> {
    let local = starts_at.to_zoned(clinic_zone.clone());
    let mut params = extra.clone();
    params.insert("date".to_owned(), local.strftime("%d.%m.%Y").to_string());
    params.insert("time".to_owned(), local.strftime("%H:%M").to_string());
    params
}

/// Parameters `reminder_params` fills in; a caller may not give them.
pub const FILLED_FROM_STARTS_AT: [&str; 2] = ["date", "time"];

#[cfg(test)]
mod tests;
