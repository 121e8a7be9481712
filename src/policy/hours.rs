//! Messaging hours: a normal notification goes out only while the clinic sends (its weekly hours in
//! its own time zone, not on a holiday) and the patient is not in their quiet hours (in the
//! patient's time zone). An urgent one goes at once.
//!
//! Wall-clock times become instants one day at a time, with that day's rules of the zone, so a
//! daylight-saving switch moves no window: 09:00 on the switch day is 09:00 on the clinic's clock.

use std::sync::Arc;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

use crate::domain::{
    Clinic, ClinicHours, DAY_NAMES, HoursRule, Patient, Priority, QuietHours, Reason, TimeOfDay,
};

/// How far ahead an allowed moment is looked for; past it the hours are taken to allow none.
pub const HORIZON_DAYS: i64 = 60;

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

    fn on_clinic_clock(&self, at: Timestamp) -> Zoned {
        at.to_zoned(self.clinic_zone.clone())
    }

    /// From `due`, alternately waits for the clinic to open and for the patient to wake until
    /// both allow the same moment. Every rule that stands in the way is noted once: those that
    /// hold at `due`, and those met on the way.
    fn walk(&self, due: Timestamp) -> (Option<Timestamp>, Vec<HoursRule>) {
        let horizon = due
            .checked_add(SignedDuration::from_hours(24 * HORIZON_DAYS))
            .unwrap_or(Timestamp::MAX);
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
mod tests {
    use super::*;
    use crate::domain::{ClinicHoursText, WeekText, WindowText};

    /// The send time as its kind, its time and its reason's sentence.
    fn told(time: SendTime) -> (&'static str, Option<Timestamp>, Option<String>) {
        match time {
            SendTime::Now { note } => ("now", None, note.map(|n| n.to_string())),
            SendTime::Defer { until, reason } => ("defer", Some(until), Some(reason.to_string())),
            SendTime::Expire { until, reason } => ("expire", Some(until), Some(reason.to_string())),
            SendTime::Fail { reason } => ("fail", None, Some(reason.to_string())),
        }
    }

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).expect("zone")
    }

    fn window(start: &str, end: &str) -> WindowText {
        WindowText {
            start: start.into(),
            end: end.into(),
        }
    }

    fn quiet(start: &str, end: &str) -> Option<QuietHours> {
        Some(QuietHours::parse(&window(start, end), "quiet_hours").expect("quiet hours"))
    }

    /// The Israeli default week in Jerusalem, a patient in `patient_zone` with the default quiet
    /// hours.
    fn israeli(patient_zone: &str) -> MessagingHours {
        MessagingHours {
            clinic: Arc::new(ClinicHours::israeli_default()),
            clinic_zone: zone("Asia/Jerusalem"),
            quiet_hours: Some(QuietHours::DEFAULT),
            patient_zone: zone(patient_zone),
        }
    }

    /// A London clinic open Monday to Friday 09:00–17:00; patients in London, quiet 21:00–08:00.
    fn london() -> MessagingHours {
        let weekday = vec![window("09:00", "17:00")];
        let text = ClinicHoursText {
            week: WeekText {
                monday: weekday.clone(),
                tuesday: weekday.clone(),
                wednesday: weekday.clone(),
                thursday: weekday.clone(),
                friday: weekday,
                ..WeekText::default()
            },
            holidays: Vec::new(),
            patient_quiet_hours: None,
        };
        MessagingHours {
            clinic: Arc::new(ClinicHours::parse(&text).expect("hours")),
            clinic_zone: zone("Europe/London"),
            quiet_hours: Some(QuietHours::DEFAULT),
            patient_zone: zone("Europe/London"),
        }
    }

    fn always_open_with_quiet(quiet_hours: Option<QuietHours>) -> MessagingHours {
        MessagingHours {
            clinic: Arc::new(ClinicHours::always_open()),
            clinic_zone: zone("Asia/Jerusalem"),
            quiet_hours,
            patient_zone: zone("Asia/Jerusalem"),
        }
    }

    fn with_holidays(mut hours: MessagingHours, dates: &[&str]) -> MessagingHours {
        let mut text = hours.clinic.to_text();
        text.holidays = dates.iter().map(|d| (*d).to_owned()).collect();
        hours.clinic = Arc::new(ClinicHours::parse(&text).expect("hours"));
        hours
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp with offset")
    }

    #[test]
    fn the_next_allowed_moment_by_case() {
        // (case, hours, due, next allowed), times as the clinic's clock shows them.
        let cases: Vec<(&str, MessagingHours, &str, Option<&str>)> = vec![
            (
                "Sunday morning, open",
                israeli("Asia/Jerusalem"),
                "2026-11-29T10:00+02:00",
                Some("2026-11-29T10:00+02:00"),
            ),
            (
                "Thursday 23:30 waits for Friday 09:00",
                israeli("Asia/Jerusalem"),
                "2026-11-26T23:30+02:00",
                Some("2026-11-27T09:00+02:00"),
            ),
            (
                "Thursday 18:00 sharp is closed",
                israeli("Asia/Jerusalem"),
                "2026-11-26T18:00+02:00",
                Some("2026-11-27T09:00+02:00"),
            ),
            (
                "Friday 12:59 is still open",
                israeli("Asia/Jerusalem"),
                "2026-11-27T12:59+02:00",
                Some("2026-11-27T12:59+02:00"),
            ),
            (
                "Friday after 13:00 waits for Sunday",
                israeli("Asia/Jerusalem"),
                "2026-11-27T13:30+02:00",
                Some("2026-11-29T09:00+02:00"),
            ),
            (
                "Saturday waits for Sunday",
                israeli("Asia/Jerusalem"),
                "2026-11-28T12:00+02:00",
                Some("2026-11-29T09:00+02:00"),
            ),
            (
                "a holiday on Sunday moves Saturday's message to Monday",
                with_holidays(israeli("Asia/Jerusalem"), &["2026-11-29"]),
                "2026-11-28T12:00+02:00",
                Some("2026-11-30T09:00+02:00"),
            ),
            (
                "on the holiday itself",
                with_holidays(israeli("Asia/Jerusalem"), &["2026-11-29", "2026-11-30"]),
                "2026-11-29T10:00+02:00",
                Some("2026-12-01T09:00+02:00"),
            ),
            (
                "a patient in London sleeps until 08:00 London, 10:00 in Jerusalem",
                israeli("Europe/London"),
                "2026-11-29T09:00+02:00",
                Some("2026-11-29T10:00+02:00"),
            ),
            (
                "a patient in New York waits until 08:00 New York, 15:00 in Jerusalem",
                israeli("America/New_York"),
                "2026-11-29T10:00+02:00",
                Some("2026-11-29T15:00+02:00"),
            ),
            (
                "a patient in New York at 17:00 Jerusalem is awake at 10:00",
                israeli("America/New_York"),
                "2026-11-29T17:00+02:00",
                Some("2026-11-29T17:00+02:00"),
            ),
            (
                "Jerusalem summer time starts Friday 27 March: 09:00 is 09:00 +03:00",
                israeli("Asia/Jerusalem"),
                "2026-03-26T20:00+02:00",
                Some("2026-03-27T09:00+03:00"),
            ),
            (
                "Jerusalem summer time ends Sunday 25 October: 09:00 is 09:00 +02:00",
                israeli("Asia/Jerusalem"),
                "2026-10-24T12:00+03:00",
                Some("2026-10-25T09:00+02:00"),
            ),
            (
                "London summer time starts Sunday 29 March: Monday 09:00 is 09:00 +01:00",
                london(),
                "2026-03-27T18:00+00:00",
                Some("2026-03-30T09:00+01:00"),
            ),
            (
                "London summer time ends Sunday 25 October: Monday 09:00 is 09:00 +00:00",
                london(),
                "2026-10-23T17:30+01:00",
                Some("2026-10-26T09:00+00:00"),
            ),
            (
                "a Jerusalem clinic, a London patient on the London switch day",
                israeli("Europe/London"),
                "2026-03-29T09:00+03:00",
                Some("2026-03-29T10:00+03:00"),
            ),
            (
                "quiet hours crossing midnight: late evening waits for the morning",
                always_open_with_quiet(quiet("21:00", "08:00")),
                "2026-11-29T22:00+02:00",
                Some("2026-11-30T08:00+02:00"),
            ),
            (
                "quiet hours crossing midnight: small hours wait for the same morning",
                always_open_with_quiet(quiet("21:00", "08:00")),
                "2026-11-30T02:00+02:00",
                Some("2026-11-30T08:00+02:00"),
            ),
            (
                "quiet hours start at 21:00 sharp",
                always_open_with_quiet(quiet("21:00", "08:00")),
                "2026-11-29T21:00+02:00",
                Some("2026-11-30T08:00+02:00"),
            ),
            (
                "quiet hours end at 08:00 sharp",
                always_open_with_quiet(quiet("21:00", "08:00")),
                "2026-11-30T08:00+02:00",
                Some("2026-11-30T08:00+02:00"),
            ),
            (
                "quiet hours within a day",
                always_open_with_quiet(quiet("13:00", "15:00")),
                "2026-11-30T14:00+02:00",
                Some("2026-11-30T15:00+02:00"),
            ),
            (
                "open all week with no quiet hours: any time",
                always_open_with_quiet(None),
                "2026-11-28T03:17+02:00",
                Some("2026-11-28T03:17+02:00"),
            ),
        ];
        for (case, hours, due, expected) in cases {
            assert_eq!(
                hours.next_allowed(at(due)),
                expected.map(at),
                "{case}: next allowed after {due}"
            );
        }
    }

    #[test]
    fn a_clinic_that_never_opens_allows_nothing_within_the_horizon() {
        let text = ClinicHoursText {
            week: WeekText::default(),
            holidays: Vec::new(),
            patient_quiet_hours: None,
        };
        let mut hours = israeli("Asia/Jerusalem");
        hours.clinic = Arc::new(ClinicHours::parse(&text).expect("hours"));
        assert_eq!(hours.next_allowed(at("2026-11-29T10:00+02:00")), None);
        assert!(matches!(
            hours.send_time(Priority::Normal, at("2026-11-29T10:00+02:00"), None),
            SendTime::Fail { .. }
        ));
    }

    #[test]
    fn a_deferral_names_the_time_on_the_clinics_clock_and_every_rule_in_the_way() {
        let hours = israeli("Asia/Jerusalem");
        let cases = [
            (
                "2026-11-28T12:00+02:00",
                "deferred to 2026-11-29T09:00+02:00[Asia/Jerusalem]: clinic closed on Saturday",
            ),
            (
                "2026-11-26T23:30+02:00",
                "deferred to 2026-11-27T09:00+02:00[Asia/Jerusalem]: outside clinic hours \
                 (Thursday 09:00–18:00); patient's quiet hours 21:00–08:00 (Asia/Jerusalem)",
            ),
        ];
        for (due, reason) in cases {
            assert_eq!(
                told(hours.send_time(Priority::Normal, at(due), None)),
                (
                    "defer",
                    hours.next_allowed(at(due)),
                    Some(reason.to_owned())
                )
            );
        }
        let london = israeli("Europe/London");
        assert_eq!(
            told(london.send_time(Priority::Normal, at("2026-11-26T23:30+02:00"), None)),
            (
                "defer",
                Some(at("2026-11-27T10:00+02:00")),
                Some(
                    "deferred to 2026-11-27T10:00+02:00[Asia/Jerusalem]: outside clinic hours \
                     (Thursday 09:00–18:00); patient's quiet hours 21:00–08:00 (Europe/London)"
                        .to_owned()
                )
            )
        );
        let holiday = with_holidays(israeli("Asia/Jerusalem"), &["2026-11-29"]);
        assert_eq!(
            told(holiday.send_time(Priority::Normal, at("2026-11-28T12:00+02:00"), None)),
            (
                "defer",
                Some(at("2026-11-30T09:00+02:00")),
                Some(
                    "deferred to 2026-11-30T09:00+02:00[Asia/Jerusalem]: clinic closed on \
                     Saturday; clinic closed on 2026-11-29 (holiday)"
                        .to_owned()
                )
            )
        );
    }

    #[test]
    fn urgent_goes_now_saying_so_and_normal_expires_when_the_opening_is_too_late() {
        let hours = israeli("Asia/Jerusalem");
        let saturday = at("2026-11-28T12:00+02:00");
        assert_eq!(
            told(hours.send_time(Priority::Urgent, saturday, None)),
            (
                "now",
                None,
                Some("urgent: sent now, not deferred for clinic closed on Saturday".into())
            )
        );
        assert_eq!(
            told(hours.send_time(
                Priority::Normal,
                saturday,
                Some(at("2026-11-29T08:00+02:00"))
            )),
            (
                "expire",
                Some(at("2026-11-29T09:00+02:00")),
                Some(
                    "expired: it could go no earlier than 2026-11-29T09:00+02:00[Asia/Jerusalem] \
                     (clinic closed on Saturday), after it expires at \
                     2026-11-29T08:00+02:00[Asia/Jerusalem]"
                        .into()
                )
            )
        );
        assert!(matches!(
            hours.send_time(
                Priority::Normal,
                saturday,
                Some(at("2026-11-29T09:30+02:00"))
            ),
            SendTime::Defer { .. }
        ));
        assert_eq!(
            hours.send_time(Priority::Normal, at("2026-11-29T10:00+02:00"), None),
            SendTime::Now { note: None }
        );
    }
}
