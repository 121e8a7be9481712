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

#[test]
fn the_latest_allowed_moment_before_is_inside_the_last_stretch_before_it_closes() {
    // (case, hours, from, until, latest allowed), times as the clinic's clock shows them.
    let cases: Vec<(&str, MessagingHours, &str, &str, Option<&str>)> = vec![
        (
            "allowed itself",
            israeli("Asia/Jerusalem"),
            "2026-11-23T10:00+02:00",
            "2026-11-24T11:00+02:00",
            Some("2026-11-24T11:00+02:00"),
        ),
        (
            "Sunday 06:30 goes back over Saturday to Friday, half an hour before 13:00",
            israeli("Asia/Jerusalem"),
            "2026-11-23T10:00+02:00",
            "2026-11-29T06:30+02:00",
            Some("2026-11-27T12:30+02:00"),
        ),
        (
            "a window's end is not allowed: 18:00 goes back to 17:30",
            israeli("Asia/Jerusalem"),
            "2026-11-23T10:00+02:00",
            "2026-11-24T18:00+02:00",
            Some("2026-11-24T17:30+02:00"),
        ),
        (
            "quiet hours close the evening: 22:00 goes back to 20:30",
            always_open_with_quiet(quiet("21:00", "08:00")),
            "2026-11-23T10:00+02:00",
            "2026-11-24T22:00+02:00",
            Some("2026-11-24T20:30+02:00"),
        ),
        (
            "a stretch shorter than the margin: its opening",
            always_open_with_quiet(quiet("08:20", "08:00")),
            "2026-11-23T10:00+02:00",
            "2026-11-24T09:00+02:00",
            Some("2026-11-24T08:00+02:00"),
        ),
        (
            "nothing allowed since `from`",
            israeli("Asia/Jerusalem"),
            "2026-11-28T10:00+02:00",
            "2026-11-29T06:30+02:00",
            None,
        ),
        (
            "summer time began that Friday: 12:30 is +03:00",
            israeli("Asia/Jerusalem"),
            "2026-03-23T10:00+02:00",
            "2026-03-29T06:30+03:00",
            Some("2026-03-27T12:30+03:00"),
        ),
    ];
    for (case, hours, from, until, expected) in cases {
        assert_eq!(
            hours.latest_allowed_between(at(from), at(until)),
            expected.map(at),
            "{case}"
        );
    }
}
