//! A clinic's messaging hours and a patient's quiet hours, as clinics write them ("09:00", day
//! names, holiday dates). The rules that use them are in `policy::hours`.

use std::collections::BTreeSet;
use std::fmt;

use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A time of day, minutes after midnight, written `HH:MM`; `24:00` closes a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub const RULE: &'static str = "must be a time HH:MM from 00:00 to 23:59, e.g. 09:00";
    pub const END_RULE: &'static str = "must be a time HH:MM from 00:01 to 24:00, e.g. 18:00";
    pub const MIDNIGHT: Self = Self(0);
    const END_OF_DAY: Self = Self(24 * 60);

    /// `HH:MM` from 00:00 to 23:59: a moment that exists on every day.
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_up_to_end_of_day(s).filter(|t| *t < Self::END_OF_DAY)
    }

    /// Like [`TimeOfDay::parse`], with `24:00` too: where a day's hours may close.
    pub fn parse_up_to_end_of_day(s: &str) -> Option<Self> {
        let (hours, minutes) = s.split_once(':')?;
        let two_digits = |part: &str| {
            (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u16>().ok())
                .flatten()
        };
        let (hours, minutes) = (two_digits(hours)?, two_digits(minutes)?);
        let minute_of_day = hours * 60 + minutes;
        (minutes < 60 && minute_of_day <= Self::END_OF_DAY.0).then_some(Self(minute_of_day))
    }

    pub fn is_end_of_day(self) -> bool {
        self == Self::END_OF_DAY
    }

    pub fn hour(self) -> i8 {
        (self.0 / 60) as i8
    }

    pub fn minute(self) -> i8 {
        (self.0 % 60) as i8
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

/// `start` up to, not including, `end`, as written in requests and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowText {
    pub start: String,
    pub end: String,
}

/// Hours of one day during which the clinic sends: from `start` up to, not including, `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenWindow {
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

impl fmt::Display for OpenWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.start, self.end)
    }
}

/// When a patient is not to be disturbed, in the patient's time zone. A start after the end is
/// a night: 21:00–08:00 runs from 21:00 to 08:00 the next morning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

impl QuietHours {
    /// Ten at night is late for a reminder; eight in the morning is not early.
    pub const DEFAULT: Self = Self {
        start: TimeOfDay(21 * 60),
        end: TimeOfDay(8 * 60),
    };

    /// Checks both ends; errors name `<field>.start` or `<field>.end` with the rule broken.
    pub fn parse(text: &WindowText, field: &str) -> Result<Self, Vec<(String, String)>> {
        let start = TimeOfDay::parse(&text.start);
        let end = TimeOfDay::parse(&text.end);
        let mut errors = Vec::new();
        if start.is_none() {
            errors.push((format!("{field}.start"), TimeOfDay::RULE.to_owned()));
        }
        if end.is_none() {
            errors.push((format!("{field}.end"), TimeOfDay::RULE.to_owned()));
        }
        match (start, end) {
            (Some(start), Some(end)) if start == end => Err(vec![(
                format!("{field}.end"),
                "must differ from start (a start after the end runs overnight)".to_owned(),
            )]),
            (Some(start), Some(end)) => Ok(Self { start, end }),
            _ => Err(errors),
        }
    }

    pub fn crosses_midnight(self) -> bool {
        self.start > self.end
    }

    pub fn to_text(self) -> WindowText {
        WindowText {
            start: self.start.to_string(),
            end: self.end.to_string(),
        }
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.start, self.end)
    }
}

/// The week as written: each day by name, a missing day is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeekText {
    #[serde(default)]
    pub sunday: Vec<WindowText>,
    #[serde(default)]
    pub monday: Vec<WindowText>,
    #[serde(default)]
    pub tuesday: Vec<WindowText>,
    #[serde(default)]
    pub wednesday: Vec<WindowText>,
    #[serde(default)]
    pub thursday: Vec<WindowText>,
    #[serde(default)]
    pub friday: Vec<WindowText>,
    #[serde(default)]
    pub saturday: Vec<WindowText>,
}

impl WeekText {
    fn days(&self) -> [&[WindowText]; 7] {
        [
            &self.sunday,
            &self.monday,
            &self.tuesday,
            &self.wednesday,
            &self.thursday,
            &self.friday,
            &self.saturday,
        ]
    }

    fn from_days(mut days: [Vec<WindowText>; 7]) -> Self {
        let mut take = |i: usize| std::mem::take(&mut days[i]);
        Self {
            sunday: take(0),
            monday: take(1),
            tuesday: take(2),
            wednesday: take(3),
            thursday: take(4),
            friday: take(5),
            saturday: take(6),
        }
    }
}

/// A clinic's hours as written in `PUT /v1/clinic/hours` and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClinicHoursText {
    pub week: WeekText,
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Quiet hours for patients who have none of their own; null: none.
    #[serde(default)]
    pub patient_quiet_hours: Option<WindowText>,
}

/// Day names, Sunday first as the week starts in Israel; the index is
/// [`Weekday::to_sunday_zero_offset`].
pub const DAY_NAMES: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// The most holiday dates a clinic may list: years of closures, and a bound on what is stored.
pub const MAX_HOLIDAYS: usize = 1000;

/// When a clinic sends messages, in its own time zone, and how long its patients sleep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicHours {
    /// Open windows per day, Sunday first; each day's sorted and apart.
    week: [Vec<OpenWindow>; 7],
    holidays: BTreeSet<Date>,
    patient_quiet_hours: Option<QuietHours>,
}

impl ClinicHours {
    /// Sunday to Thursday 09:00–18:00, Friday 09:00–13:00, closed on Saturday; patients are
    /// quiet 21:00–08:00.
    pub fn israeli_default() -> Self {
        let day = |from: u16, to: u16| {
            vec![OpenWindow {
                start: TimeOfDay(from * 60),
                end: TimeOfDay(to * 60),
            }]
        };
        Self {
            week: [
                day(9, 18),
                day(9, 18),
                day(9, 18),
                day(9, 18),
                day(9, 18),
                day(9, 13),
                Vec::new(),
            ],
            holidays: BTreeSet::new(),
            patient_quiet_hours: Some(QuietHours::DEFAULT),
        }
    }

    /// Every hour of every day, nobody quiet: for clinics whose tests or benchmarks must not
    /// depend on the time of day.
    pub fn always_open() -> Self {
        let all_day = vec![OpenWindow {
            start: TimeOfDay::MIDNIGHT,
            end: TimeOfDay::END_OF_DAY,
        }];
        Self {
            week: std::array::from_fn(|_| all_day.clone()),
            holidays: BTreeSet::new(),
            patient_quiet_hours: None,
        }
    }

    /// Checks every field; errors name the field by its path (`week.friday[0].end`,
    /// `holidays[2]`) with the rule it breaks.
    pub fn parse(text: &ClinicHoursText) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut week: [Vec<OpenWindow>; 7] = Default::default();
        for (day, (name, windows)) in DAY_NAMES.iter().zip(text.week.days()).enumerate() {
            for (i, window) in windows.iter().enumerate() {
                let path = format!("week.{name}[{i}]");
                let start = TimeOfDay::parse(&window.start);
                let end = TimeOfDay::parse_up_to_end_of_day(&window.end)
                    .filter(|end| *end > TimeOfDay::MIDNIGHT);
                if start.is_none() {
                    errors.push((format!("{path}.start"), TimeOfDay::RULE.to_owned()));
                }
                if end.is_none() {
                    errors.push((format!("{path}.end"), TimeOfDay::END_RULE.to_owned()));
                }
                if let (Some(start), Some(end)) = (start, end) {
                    if start >= end {
                        errors.push((
                            format!("{path}.end"),
                            "must be after start (hours run within one day)".to_owned(),
                        ));
                    } else {
                        week[day].push(OpenWindow { start, end });
                    }
                }
            }
            week[day].sort_by_key(|w| w.start);
            if week[day].windows(2).any(|pair| pair[0].end > pair[1].start) {
                errors.push((
                    format!("week.{name}"),
                    "hours of one day must not overlap".to_owned(),
                ));
            }
        }
        let mut holidays = BTreeSet::new();
        if text.holidays.len() > MAX_HOLIDAYS {
            errors.push((
                "holidays".to_owned(),
                format!("must list at most {MAX_HOLIDAYS} dates"),
            ));
        }
        for (i, holiday) in text.holidays.iter().enumerate() {
            match parse_date(holiday) {
                Some(date) if !holidays.insert(date) => {
                    errors.push((format!("holidays[{i}]"), "is listed twice".to_owned()));
                }
                Some(_) => {}
                None => errors.push((
                    format!("holidays[{i}]"),
                    "must be a date YYYY-MM-DD, e.g. 2026-09-21".to_owned(),
                )),
            }
        }
        let patient_quiet_hours = text
            .patient_quiet_hours
            .as_ref()
            .map(|quiet| QuietHours::parse(quiet, "patient_quiet_hours"))
            .transpose()
            .unwrap_or_else(|broken| {
                errors.extend(broken);
                None
            });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            week,
            holidays,
            patient_quiet_hours,
        })
    }

    pub fn to_text(&self) -> ClinicHoursText {
        let day = |windows: &Vec<OpenWindow>| {
            windows
                .iter()
                .map(|w| WindowText {
                    start: w.start.to_string(),
                    end: w.end.to_string(),
                })
                .collect()
        };
        ClinicHoursText {
            week: WeekText::from_days(std::array::from_fn(|i| day(&self.week[i]))),
            holidays: self.holidays.iter().map(Date::to_string).collect(),
            patient_quiet_hours: self.patient_quiet_hours.map(QuietHours::to_text),
        }
    }

    /// The day's open windows, earliest first; none when the clinic is closed that weekday.
    pub fn on(&self, day: Weekday) -> &[OpenWindow] {
        &self.week[day.to_sunday_zero_offset() as usize]
    }

    pub fn is_holiday(&self, date: Date) -> bool {
        self.holidays.contains(&date)
    }

    pub fn patient_quiet_hours(&self) -> Option<QuietHours> {
        self.patient_quiet_hours
    }
}

/// Exactly `YYYY-MM-DD`: jiff alone would also take a date with a time after it.
fn parse_date(s: &str) -> Option<Date> {
    let shaped = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shaped.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: &str, end: &str) -> WindowText {
        WindowText {
            start: start.into(),
            end: end.into(),
        }
    }

    #[test]
    fn times_are_hh_mm_and_only_an_end_may_be_24_00() {
        assert_eq!(
            TimeOfDay::parse("09:05").map(|t| t.to_string()),
            Some("09:05".into())
        );
        assert!(TimeOfDay::parse("24:00").is_none());
        assert!(TimeOfDay::parse_up_to_end_of_day("24:00").is_some_and(TimeOfDay::is_end_of_day));
        for bad in [
            "9:00", "09:60", "24:01", "25:00", "0900", "09:00:00", "+9:00", "ab:cd",
        ] {
            assert!(
                TimeOfDay::parse_up_to_end_of_day(bad).is_none(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn the_israeli_default_reads_back_as_written() {
        let hours = ClinicHours::israeli_default();
        let text = hours.to_text();
        assert_eq!(text.week.friday, [window("09:00", "13:00")]);
        assert!(text.week.saturday.is_empty());
        assert_eq!(text.patient_quiet_hours, Some(window("21:00", "08:00")));
        assert_eq!(ClinicHours::parse(&text), Ok(hours));
    }

    #[test]
    fn broken_hours_are_named_by_their_path() {
        let text = ClinicHoursText {
            week: WeekText {
                sunday: vec![window("18:00", "09:00")],
                monday: vec![window("9", "24:00")],
                tuesday: vec![window("08:00", "12:00"), window("11:00", "14:00")],
                ..WeekText::default()
            },
            holidays: vec![
                "2026-09-21".into(),
                "21.09.2026".into(),
                "2026-09-21".into(),
            ],
            patient_quiet_hours: Some(window("21:00", "21:00")),
        };
        let errors = ClinicHours::parse(&text).expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "week.sunday[0].end",
                "week.monday[0].start",
                "week.tuesday",
                "holidays[1]",
                "holidays[2]",
                "patient_quiet_hours.end",
            ]
        );
    }
}
