//! An appointment's reminder series: when each configured reminder goes, and what it says about
//! the appointment's date and time.
//!
//! Each reminder goes its offset before the appointment and expires when the appointment starts.
//! A reminder whose time has already passed (a late booking, or an appointment moved closer) is
//! left out, because a later reminder of the series still reaches the patient in time; only when
//! none would be left is the closest one sent at once, so a patient booked at short notice still
//! gets one reminder before the appointment.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::domain::{ReminderOffset, ReminderSkip};

/// When one reminder of the series goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReminderTime {
    /// At its offset before the appointment.
    At(Timestamp),
    /// Its time has passed, but it is the last chance to remind the patient: now.
    Now,
    /// Left out, for this reason.
    Skip(ReminderSkip),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReminder {
    pub offset: ReminderOffset,
    pub time: ReminderTime,
}

/// The series for an appointment at `starts_at`, planned at `now`, longest offset first.
pub fn plan_reminders(
    starts_at: Timestamp,
    offsets: &[ReminderOffset],
    now: Timestamp,
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
    offsets
        .into_iter()
        .map(|offset| {
            let at = offset.before(starts_at);
            let time = if at > now {
                ReminderTime::At(at)
            } else if Some(offset) == last_chance {
                ReminderTime::Now
            } else if starts_at <= now {
                ReminderTime::Skip(ReminderSkip::AppointmentBegun { starts_at })
            } else {
                ReminderTime::Skip(ReminderSkip::TimePassed {
                    at,
                    reminder: offset.to_string(),
                    instead: next_in_time.or(last_chance).map(|o| o.to_string()),
                })
            };
            PlannedReminder { offset, time }
        })
        .collect()
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
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn offsets(list: &[&str]) -> Vec<ReminderOffset> {
        list.iter()
            .map(|s| ReminderOffset::parse(s).expect("offset"))
            .collect()
    }

    #[test]
    fn offsets_read_as_days_hours_or_minutes_and_print_the_same() {
        for (text, minutes) in [("2d", 2880), ("2h", 120), ("90m", 90), ("48h", 2880)] {
            let offset = ReminderOffset::parse(text).expect(text);
            assert_eq!(offset.minutes(), minutes, "{text}");
        }
        assert_eq!(
            ReminderOffset::parse("48h")
                .map(|o| o.to_string())
                .as_deref(),
            Some("2d")
        );
        assert_eq!(
            ReminderOffset::parse("90m")
                .map(|o| o.to_string())
                .as_deref(),
            Some("90m")
        );
        for bad in [
            "",
            "d",
            "2",
            "2w",
            "-2h",
            "0h",
            "1.5h",
            "366d",
            "99999999999999999999d",
        ] {
            assert_eq!(ReminderOffset::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_series_follows_the_rule_for_passed_times() {
        let starts = at("2026-12-01T09:30:00Z");
        let two_days = "2026-11-29T09:30:00Z";
        let two_hours = "2026-12-01T07:30:00Z";
        // (case, now, [(offset, when it goes; None: left out)])
        type Series = Vec<(&'static str, Option<&'static str>)>;
        let cases: [(&str, &str, Series); 5] = [
            (
                "booked well ahead: both at their time",
                "2026-11-20T10:00:00Z",
                vec![("2d", Some(two_days)), ("2h", Some(two_hours))],
            ),
            (
                "booked the day before: the 2d reminder is left out for the 2h one",
                "2026-11-30T10:00:00Z",
                vec![("2d", None), ("2h", Some(two_hours))],
            ),
            (
                "booked an hour ahead: the 2h reminder goes now, the 2d one is left out",
                "2026-12-01T08:30:00Z",
                vec![("2d", None), ("2h", Some("now"))],
            ),
            (
                "exactly at the 2h mark: its time has come, so it goes now",
                two_hours,
                vec![("2d", None), ("2h", Some("now"))],
            ),
            (
                "already begun: nothing goes",
                "2026-12-01T09:30:00Z",
                vec![("2d", None), ("2h", None)],
            ),
        ];
        for (case, now, expected) in cases {
            let plan = plan_reminders(starts, &offsets(&["2h", "2d"]), at(now));
            let got: Vec<(String, Option<String>)> = plan
                .iter()
                .map(|r| {
                    let time = match &r.time {
                        ReminderTime::At(t) => Some(t.to_string()),
                        ReminderTime::Now => Some("now".to_owned()),
                        ReminderTime::Skip(_) => None,
                    };
                    (r.offset.to_string(), time)
                })
                .collect();
            let expected: Vec<(String, Option<String>)> = expected
                .into_iter()
                .map(|(o, t)| {
                    let time = t.map(|t| {
                        if t == "now" {
                            t.to_owned()
                        } else {
                            at(t).to_string()
                        }
                    });
                    (o.to_owned(), time)
                })
                .collect();
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn a_left_out_reminder_says_why_and_which_one_goes_instead() {
        let plan = plan_reminders(
            at("2026-12-01T09:30:00Z"),
            &offsets(&["2d", "2h"]),
            at("2026-11-30T10:00:00Z"),
        );
        let ReminderTime::Skip(why) = &plan[0].time else {
            panic!("left out: {plan:?}");
        };
        assert_eq!(
            why.to_string(),
            "its time (2026-11-29T09:30:00Z, 2d before the appointment) had already passed; \
             the 2h reminder reaches the patient instead"
        );
    }

    #[test]
    fn date_and_time_are_the_clinics_local_ones_across_a_dst_change() {
        let jerusalem = TimeZone::get("Asia/Jerusalem").expect("zone");
        let extra = BTreeMap::from([("room".to_owned(), "12".to_owned())]);
        let winter = reminder_params(&extra, at("2026-12-01T07:30:00Z"), &jerusalem);
        assert_eq!(winter["date"], "01.12.2026");
        assert_eq!(winter["time"], "09:30");
        assert_eq!(winter["room"], "12");
        let summer = reminder_params(&extra, at("2026-07-01T06:30:00Z"), &jerusalem);
        assert_eq!(summer["time"], "09:30");
    }
}
