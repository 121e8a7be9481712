//! Time counted only while the clinic is open: a response target of "4 working hours" runs
//! during the clinic's weekly hours and stops at night, on closed days and on holidays.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{HORIZON_DAYS, local};
use crate::clock::later;
use crate::domain::ClinicHours;

/// The moment `minutes` of the clinic's open time have passed since `from`, by its weekly hours
/// in `zone`, skipping holidays. From a closed moment the count starts at the next opening, so 0
/// minutes is the next moment the clinic is open. A clinic with too little open time within
/// [`HORIZON_DAYS`] counts plain time instead: a wait still ends, it is never put off for ever.
pub fn after_open_minutes(
    hours: &ClinicHours,
    zone: &TimeZone,
    from: Timestamp,
    minutes: u32,
) -> Timestamp {
    let mut left = SignedDuration::from_mins(i64::from(minutes));
    let mut date = from.to_zoned(zone.clone()).date();
    for _ in 0..=HORIZON_DAYS {
        let windows = if hours.is_holiday(date) {
            &[][..]
        } else {
            hours.on(date.weekday())
        };
        for window in windows {
            let (Some(start), Some(end)) = (
                local(date, window.start, zone),
                local(date, window.end, zone),
            ) else {
                continue;
            };
            let start = start.max(from);
            if end <= start {
                continue;
            }
            let open = start.duration_until(end);
            if open >= left {
                return start.checked_add(left).unwrap_or(end);
            }
            left -= open;
        }
        date = match date.tomorrow() {
            Ok(next) => next,
            Err(_) => break,
        };
    }
    later(from, Duration::from_secs(u64::from(minutes) * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClinicHoursText, WeekText, WindowText};

    fn jerusalem() -> TimeZone {
        TimeZone::get("Asia/Jerusalem").expect("zone")
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp with offset")
    }

    /// Sunday to Thursday 08:00–19:00, closed on Friday and Saturday.
    fn sunday_to_thursday_8_to_19() -> ClinicHours {
        let day = vec![WindowText {
            start: "08:00".into(),
            end: "19:00".into(),
        }];
        ClinicHours::parse(&ClinicHoursText {
            week: WeekText {
                sunday: day.clone(),
                monday: day.clone(),
                tuesday: day.clone(),
                wednesday: day.clone(),
                thursday: day,
                ..WeekText::default()
            },
            holidays: Vec::new(),
            patient_quiet_hours: None,
        })
        .expect("hours")
    }

    fn israeli_with_holidays(dates: &[&str]) -> ClinicHours {
        let mut text = ClinicHours::israeli_default().to_text();
        text.holidays = dates.iter().map(|d| (*d).to_owned()).collect();
        ClinicHours::parse(&text).expect("hours")
    }

    #[test]
    fn four_working_hours_by_case() {
        // (case, hours, from, minutes, answer), on the clinic's clock; 2026-12-03 is a Thursday.
        let israeli = ClinicHours::israeli_default();
        let cases: Vec<(&str, ClinicHours, &str, u32, &str)> = vec![
            (
                "Thursday 17:00 with Sunday–Thursday 08:00–19:00 is Sunday 10:00",
                sunday_to_thursday_8_to_19(),
                "2026-12-03T17:00+02:00",
                240,
                "2026-12-06T10:00+02:00",
            ),
            (
                "inside the day: plain time",
                israeli.clone(),
                "2026-11-29T10:00+02:00",
                240,
                "2026-11-29T14:00+02:00",
            ),
            (
                "Thursday 17:00 by the Israeli default: one hour on Thursday, three on Friday",
                israeli.clone(),
                "2026-12-03T17:00+02:00",
                240,
                "2026-12-04T12:00+02:00",
            ),
            (
                "Friday after closing counts from Sunday 09:00",
                israeli.clone(),
                "2026-12-04T15:00+02:00",
                240,
                "2026-12-06T13:00+02:00",
            ),
            (
                "Saturday night counts from Sunday 09:00",
                israeli.clone(),
                "2026-12-05T22:00+02:00",
                240,
                "2026-12-06T13:00+02:00",
            ),
            (
                "a holiday on Friday moves the rest to Sunday",
                israeli_with_holidays(&["2026-12-04"]),
                "2026-12-03T17:00+02:00",
                240,
                "2026-12-06T12:00+02:00",
            ),
            (
                "holidays on Sunday and Monday move it to Tuesday",
                israeli_with_holidays(&["2026-12-06", "2026-12-07"]),
                "2026-12-05T12:00+02:00",
                240,
                "2026-12-08T13:00+02:00",
            ),
            (
                "ending exactly at closing",
                israeli.clone(),
                "2026-11-29T14:00+02:00",
                240,
                "2026-11-29T18:00+02:00",
            ),
            (
                "no minutes from a closed moment: the next opening",
                israeli,
                "2026-11-28T12:00+02:00",
                0,
                "2026-11-29T09:00+02:00",
            ),
        ];
        for (case, hours, from, minutes, expected) in cases {
            assert_eq!(
                after_open_minutes(&hours, &jerusalem(), at(from), minutes),
                at(expected),
                "{case}"
            );
        }
    }

    #[test]
    fn a_clinic_that_never_opens_counts_plain_time() {
        let mut text = ClinicHours::israeli_default().to_text();
        text.week = WeekText::default();
        let never = ClinicHours::parse(&text).expect("hours");

        let answer = after_open_minutes(&never, &jerusalem(), at("2026-12-03T17:00+02:00"), 240);

        assert_eq!(answer, at("2026-12-03T21:00+02:00"));
    }
}
