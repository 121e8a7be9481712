//! Messaging hours: a normal notification goes out only while the clinic sends (its weekly hours in
//! its own time zone, not on a holiday) and the patient is not in their quiet hours (in the
//! patient's time zone). An urgent one goes at once.
//!
//! Wall-clock times become instants one day at a time, with that day's rules of the zone, so a
//! daylight-saving switch moves no window: 09:00 on the switch day is 09:00 on the clinic's clock.

use std::sync::Arc;
use std::time::Duration;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

use crate::clock::later;
mod working_time;

pub use working_time::after_open_minutes;

use crate::domain::{
    Clinic, ClinicHours, DAY_NAMES, HoursRule, Patient, Priority, QuietHours, Reason, TimeOfDay,
};

/// How far ahead an allowed moment is looked for; past it the hours are taken to allow none.
pub const HORIZON_DAYS: i64 = 60;

/// How long before the hours close a notification moved to the end of an allowed stretch goes:
/// room for the dispatcher to hand it over and, if WhatsApp gives no receipt in its 10 minutes,
/// to fall back to SMS while the hours still allow it.
pub const CLOSING_MARGIN: SignedDuration = SignedDuration::from_mins(30);

/// Everything the hours rules need for one notification.
#[derive(Debug, Clone)]
pub struct MessagingHours {
    pub clinic: Arc<ClinicHours>,
    pub clinic_zone: TimeZone,
    /// The patient's own quiet hours, else the clinic's default for patients; none: no limit.
    pub quiet_hours: Option<QuietHours>,
    pub patient_zone: TimeZone,
}

/// When a notification that is due may go, by the hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendTime {
    /// Now; with a note for the audit trail when that is only because it is urgent.
    Now { note: Option<Reason> },
    /// Not before `until`, for the reason given.
    Defer { until: Timestamp, reason: Reason },
    /// The next allowed moment, `until`, is past its expiry.
    Expire { until: Timestamp, reason: Reason },
    /// No allowed moment within [`HORIZON_DAYS`].
    Fail { reason: Reason },
}

impl MessagingHours {
    /// The hours for `patient` of `clinic`: the patient's own quiet hours, else the clinic's
    /// default for its patients.
    pub fn for_patient(hours: Arc<ClinicHours>, clinic: &Clinic, patient: &Patient) -> Self {
        Self {
            quiet_hours: patient.quiet_hours.or(hours.patient_quiet_hours()),
            clinic: hours,
            clinic_zone: clinic.timezone.zone(),
            patient_zone: patient.timezone.zone(),
        }
    }

    /// The clinic's own hours, without any patient's quiet hours: when staff work, which is what
    /// a response target counts and what tells a receipt from an away message.
    pub fn for_clinic(hours: Arc<ClinicHours>, clinic: &Clinic) -> Self {
        Self {
            clinic: hours,
            clinic_zone: clinic.timezone.zone(),
            quiet_hours: None,
            patient_zone: clinic.timezone.zone(),
        }
    }

    /// The earliest moment at or after `due` that both the clinic's hours and the patient's quiet
    /// hours allow; `None` if there is none within [`HORIZON_DAYS`].
    pub fn next_allowed(&self, due: Timestamp) -> Option<Timestamp> {
        self.walk(due).0
    }

    /// What the hours mean for a notification of `priority`, due at `due`, expiring at
    /// `expires_at`.
    pub fn send_time(
        &self,
        priority: Priority,
        due: Timestamp,
        expires_at: Option<Timestamp>,
    ) -> SendTime {
        let (allowed, held_by) = self.walk(due);
        if allowed == Some(due) {
            return SendTime::Now { note: None };
        }
        if priority == Priority::Urgent {
            return SendTime::Now {
                note: Some(Reason::UrgentNotDeferred { held_by }),
            };
        }
        let Some(until) = allowed else {
            return SendTime::Fail {
                reason: Reason::NoAllowedTime {
                    days: HORIZON_DAYS,
                    held_by,
                },
            };
        };
        match expires_at {
            Some(expires_at) if expires_at <= until => SendTime::Expire {
                until,
                reason: Reason::ExpiresBeforeAllowed {
                    earliest: self.on_clinic_clock(until),
                    expires_at: self.on_clinic_clock(expires_at),
                    held_by,
                },
            },
            _ => SendTime::Defer {
                until,
                reason: Reason::Deferred {
                    until: self.on_clinic_clock(until),
                    held_by,
                },
            },
        }
    }

    /// The latest moment from `from` up to `until` that the hours allow: `until` itself when it
    /// is allowed, else a moment inside the last allowed stretch before it, [`CLOSING_MARGIN`]
    /// before the stretch closes (or its opening, for a shorter stretch). The end of a stretch is
    /// itself not allowed, and a moment just before it would leave no time to claim the
    /// notification, retry it or fall back before the hours close again.
    pub fn latest_allowed_between(&self, from: Timestamp, until: Timestamp) -> Option<Timestamp> {
        let mut last_stretch = None;
        let mut at = from;
        while let Some(open) = self.next_allowed(at).filter(|open| *open <= until) {
            let closes = self.allowed_until(open);
            if until < closes {
                return Some(until);
            }
            last_stretch = Some((open, closes));
            at = closes;
        }
        last_stretch.map(|(open, closes)| open.max(closes - CLOSING_MARGIN))
    }

    /// The rules that keep `at` from being allowed; none when it is.
    pub fn rules_holding(&self, at: Timestamp) -> Vec<HoursRule> {
        match self.walk(at) {
            (Some(allowed), _) if allowed == at => Vec::new(),
            (_, rules) => rules,
        }
    }

    /// Where the allowed stretch that holds `open` ends (not allowed itself): the clinic's window
    /// closes or the patient's quiet hours begin, whichever is first.
    fn allowed_until(&self, open: Timestamp) -> Timestamp {
        let zone = &self.clinic_zone;
        let date = open.to_zoned(zone.clone()).date();
        let window_end = self
            .clinic
            .on(date.weekday())
            .iter()
            .filter_map(|w| Some((local(date, w.start, zone)?, local(date, w.end, zone)?)))
            .find(|(start, end)| *start <= open && open < *end)
            .map(|(_, end)| end);
        let sleeps = self.quiet_hours.and_then(|quiet| {
            let today = open.to_zoned(self.patient_zone.clone()).date();
            [Some(today), today.tomorrow().ok()]
                .into_iter()
                .flatten()
                .filter_map(|day| local(day, quiet.start, &self.patient_zone))
                .find(|start| *start > open)
        });
        // `open` is allowed, so a window holds it; should none be found, a minute on, never a loop.
        [window_end, sleeps]
            .into_iter()
            .flatten()
            .min()
            .filter(|closes| *closes > open)
            .unwrap_or_else(|| later(open, Duration::from_secs(60)))
    }

    /// `at` as the clinic's clock shows it.
    pub fn on_clinic_clock(&self, at: Timestamp) -> Zoned {
        at.to_zoned(self.clinic_zone.clone())
    }

    /// From `due`, alternately waits for the clinic to open and for the patient to wake until
    /// both allow the same moment. Every rule that stands in the way is noted once: those that
    /// hold at `due`, and those met on the way.
    fn walk(&self, due: Timestamp) -> (Option<Timestamp>, Vec<HoursRule>) {
        let horizon = later(
            due,
            Duration::from_secs(86_400 * HORIZON_DAYS.unsigned_abs()),
        );
        let mut why: Vec<HoursRule> = Vec::new();
        let mut note = |reason: HoursRule| {
            if !why.contains(&reason) {
                why.push(reason);
            }
        };
        let quiet = self.quiet_hours.map(|quiet| HoursRule::QuietHours {
            hours: quiet.to_string(),
            zone: self.patient_zone.iana_name().unwrap_or("UTC").to_owned(),
        });
        let mut at = due;
        let allowed = loop {
            let Some(open) = self.clinic_open_from(at, horizon) else {
                note(self.clinic_closed(at));
                break None;
            };
            if open > at {
                note(self.clinic_closed(at));
                self.holidays_between(at, open)
                    .into_iter()
                    .for_each(&mut note);
            }
            let awake = self.patient_awake_from(open);
            if awake == open {
                break Some(open);
            }
            quiet.iter().cloned().for_each(&mut note);
            if awake > horizon {
                break None;
            }
            at = awake;
        };
        if self.patient_awake_from(due) > due {
            quiet.into_iter().for_each(&mut note);
        }
        (allowed.filter(|a| *a <= horizon), why)
    }

    /// The earliest moment at or after `at` within the clinic's hours, looking up to `horizon`.
    fn clinic_open_from(&self, at: Timestamp, horizon: Timestamp) -> Option<Timestamp> {
        let zone = &self.clinic_zone;
        let mut date = at.to_zoned(zone.clone()).date();
        // A window never reaches past its own day, so none from an earlier day can hold `at`.
        while local(date, TimeOfDay::MIDNIGHT, zone)? <= horizon {
            if !self.clinic.is_holiday(date) {
                for window in self.clinic.on(date.weekday()) {
                    if local(date, window.end, zone)? > at {
                        return Some(local(date, window.start, zone)?.max(at));
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The earliest moment at or after `at` outside the patient's quiet hours.
    fn patient_awake_from(&self, at: Timestamp) -> Timestamp {
        let Some(quiet) = self.quiet_hours else {
            return at;
        };
        let zone = &self.patient_zone;
        let today = at.to_zoned(zone.clone()).date();
        // The night that began yesterday may still be going on, or tonight's may have begun.
        for night in [today.yesterday().ok(), Some(today)].into_iter().flatten() {
            let morning = if quiet.crosses_midnight() {
                night.tomorrow().ok()
            } else {
                Some(night)
            };
            let start = local(night, quiet.start, zone);
            let end = morning.and_then(|m| local(m, quiet.end, zone));
            if let (Some(start), Some(end)) = (start, end)
                && start <= at
                && at < end
            {
                return end;
            }
        }
        at
    }

    /// Why the clinic does not send at `at`.
    fn clinic_closed(&self, at: Timestamp) -> HoursRule {
        let date = at.to_zoned(self.clinic_zone.clone()).date();
        if self.clinic.is_holiday(date) {
            return HoursRule::Holiday { date };
        }
        let day = DAY_NAMES[date.weekday().to_sunday_zero_offset() as usize].to_owned();
        match self.clinic.on(date.weekday()) {
            [] => HoursRule::ClinicClosed { day },
            windows => HoursRule::OutsideClinicHours {
                day,
                windows: windows.iter().map(ToString::to_string).collect(),
            },
        }
    }

    /// Holidays after `from`'s day, up to `until`'s, that closed a day the clinic would have
    /// sent on: they explain why a deferral skips them.
    fn holidays_between(&self, from: Timestamp, until: Timestamp) -> Vec<HoursRule> {
        let zone = &self.clinic_zone;
        let last = until.to_zoned(zone.clone()).date();
        let mut date = from.to_zoned(zone.clone()).date();
        let mut closed = Vec::new();
        while date < last {
            date = match date.tomorrow() {
                Ok(next) => next,
                Err(_) => break,
            };
            if self.clinic.is_holiday(date) && !self.clinic.on(date.weekday()).is_empty() {
                closed.push(HoursRule::Holiday { date });
            }
        }
        closed
    }
}

/// `time` on `date` by the clock of `zone`. A time the clock skips (the hour lost when summer
/// time starts) means the moment the clock reaches after it; a time it shows twice, the first.
fn local(date: Date, time: TimeOfDay, zone: &TimeZone) -> Option<Timestamp> {
    let (date, time) = if time.is_end_of_day() {
        (date.tomorrow().ok()?, Time::midnight())
    } else {
        (date, Time::new(time.hour(), time.minute(), 0, 0).ok()?)
    };
    date.to_datetime(time)
        .to_zoned(zone.clone())
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests;
