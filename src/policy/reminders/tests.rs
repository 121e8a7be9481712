use std::sync::Arc;

use super::*;
use crate::domain::{ClinicHours, QuietHours};

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn jerusalem() -> TimeZone {
    TimeZone::get("Asia/Jerusalem").expect("zone")
}

fn around_the_clock() -> MessagingHours {
    MessagingHours {
        clinic: Arc::new(ClinicHours::always_open()),
        clinic_zone: jerusalem(),
        quiet_hours: None,
        patient_zone: jerusalem(),
    }
}

/// A new clinic's hours: Sunday–Thursday 09:00–18:00, Friday 09:00–13:00, closed on
/// Saturday; the patient in Jerusalem, quiet 21:00–08:00.
fn israeli() -> MessagingHours {
    MessagingHours {
        clinic: Arc::new(ClinicHours::israeli_default()),
        clinic_zone: jerusalem(),
        quiet_hours: Some(QuietHours::DEFAULT),
        patient_zone: jerusalem(),
    }
}

/// When each reminder goes on the clinic's clock, or why it does not.
fn series(starts_at: &str, offsets_: &[&str], now: &str) -> Vec<(String, String)> {
    plan_reminders(at(starts_at), &offsets(offsets_), at(now), &israeli())
        .into_iter()
        .map(|r| {
            let when = match r.time.send_at(at(now)) {
                Some(t) => t
                    .to_zoned(jerusalem())
                    .strftime("%a %F %H:%M%:z")
                    .to_string(),
                None => format!(
                    "left out: {}",
                    match r.time {
                        ReminderTime::Skip(why) => why.to_string(),
                        other => format!("{other:?}"),
                    }
                ),
            };
            (r.offset.to_string(), when)
        })
        .collect()
}

fn expect(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(o, w)| ((*o).to_owned(), (*w).to_owned()))
        .collect()
}

#[test]
fn a_reminder_before_the_clinic_opens_goes_the_last_working_afternoon_before() {
    // Sunday 13 December 2026, 08:30: 06:30 Sunday is before opening, Saturday is closed,
    // Friday closes at 13:00, so the 2h reminder goes at 12:30 on Friday, half an hour
    // before closing; the 2d one (Friday 08:30, before opening) goes Thursday 17:30.
    assert_eq!(
        series(
            "2026-12-13T08:30+02:00",
            &["2d", "2h"],
            "2026-12-08T10:00+02:00"
        ),
        expect(&[
            ("2d", "Thu 2026-12-10 17:30+02:00"),
            ("2h", "Fri 2026-12-11 12:30+02:00"),
        ])
    );
}

#[test]
fn a_reminder_inside_the_hours_keeps_its_time() {
    assert_eq!(
        series(
            "2026-12-15T11:30+02:00",
            &["2d", "2h"],
            "2026-12-08T10:00+02:00"
        ),
        expect(&[
            ("2d", "Sun 2026-12-13 11:30+02:00"),
            ("2h", "Tue 2026-12-15 09:30+02:00"),
        ])
    );
}

#[test]
fn a_reminder_that_would_go_with_a_longer_one_goes_after_its_time_if_still_before_the_appointment()
{
    // Sunday 10:00: the 24h reminder (Saturday 10:00) goes Friday 12:30; the 2h one
    // (Sunday 08:00) would go then too, so it goes when the clinic opens at 09:00 Sunday.
    assert_eq!(
        series(
            "2026-12-13T10:00+02:00",
            &["1d", "2h"],
            "2026-12-08T10:00+02:00"
        ),
        expect(&[
            ("1d", "Fri 2026-12-11 12:30+02:00"),
            ("2h", "Sun 2026-12-13 09:00+02:00"),
        ])
    );
    // Sunday 08:30: nothing after 06:30 before the appointment, so it is left out.
    assert_eq!(
        series(
            "2026-12-13T08:30+02:00",
            &["1d", "2h"],
            "2026-12-08T10:00+02:00"
        ),
        expect(&[
            ("1d", "Fri 2026-12-11 12:30+02:00"),
            (
                "2h",
                "left out: the hours would move it to 2026-12-11T12:30+02:00[Asia/Jerusalem], \
                 no later than the 1d reminder, which reaches the patient then"
            ),
        ])
    );
}

#[test]
fn a_reminder_with_no_allowed_moment_ahead_before_the_appointment_is_left_out_saying_why() {
    // Booked on Saturday evening for Sunday 08:30: Friday has passed and the clinic opens
    // at 09:00, after the appointment.
    assert_eq!(
        series("2026-12-13T08:30+02:00", &["2h"], "2026-12-12T20:00+02:00"),
        expect(&[(
            "2h",
            "left out: no moment the hours allow near its time (2026-12-13T04:30:00Z) before \
             the appointment: outside clinic hours (Sunday 09:00–18:00); patient's quiet \
             hours 21:00–08:00 (Asia/Jerusalem)"
        )])
    );
}

#[test]
fn a_passed_reminder_names_no_other_when_the_hours_leave_none_to_go() {
    // Booked on Saturday morning for Sunday 08:30: the 2d reminder's time has passed, and the 2h
    // one has no allowed moment left, so neither goes and neither says the other does.
    assert_eq!(
        series(
            "2026-12-06T08:30+02:00",
            &["2d", "2h"],
            "2026-12-05T08:40+02:00"
        ),
        expect(&[
            (
                "2d",
                "left out: its time (2026-12-04T06:30:00Z, 2d before the appointment) had \
                 already passed"
            ),
            (
                "2h",
                "left out: no moment the hours allow near its time (2026-12-06T04:30:00Z) \
                 before the appointment: outside clinic hours (Sunday 09:00–18:00); patient's \
                 quiet hours 21:00–08:00 (Asia/Jerusalem)"
            ),
        ])
    );
}

#[test]
fn booked_the_evening_before_the_reminder_goes_when_the_clinic_opens_before_the_appointment() {
    // Thursday 20:00 for Friday 09:30: 07:30 Friday is before opening and nothing is left
    // before it, but 09:00 is still before the appointment.
    assert_eq!(
        series("2026-12-11T09:30+02:00", &["2h"], "2026-12-10T20:00+02:00"),
        expect(&[("2h", "Fri 2026-12-11 09:00+02:00")])
    );
    // Booked at 08:45 Friday for 09:30: its time has passed, the last chance goes at 09:00.
    assert_eq!(
        series("2026-12-11T09:30+02:00", &["2h"], "2026-12-11T08:45+02:00"),
        expect(&[("2h", "Fri 2026-12-11 09:00+02:00")])
    );
}

#[test]
fn reminders_keep_to_the_clinics_clock_in_the_daylight_saving_weeks() {
    // Summer time starts Friday 27 March 2026 at 02:00: Friday 12:30 is +03:00.
    assert_eq!(
        series(
            "2026-03-29T08:30+03:00",
            &["2d", "2h"],
            "2026-03-23T10:00+02:00"
        ),
        expect(&[
            ("2d", "Thu 2026-03-26 17:30+02:00"),
            ("2h", "Fri 2026-03-27 12:30+03:00"),
        ])
    );
    // It ends Sunday 25 October 2026: Friday is still +03:00, Sunday is +02:00.
    assert_eq!(
        series(
            "2026-10-26T08:30+02:00",
            &["2d", "2h"],
            "2026-10-19T10:00+03:00"
        ),
        expect(&[
            ("2d", "Fri 2026-10-23 12:30+03:00"),
            ("2h", "Sun 2026-10-25 17:30+02:00"),
        ])
    );
}

#[test]
fn a_moved_reminder_is_inside_the_hours_so_the_dispatcher_sends_it_then() {
    let hours = israeli();
    for planned in plan_reminders(
        at("2026-12-13T08:30+02:00"),
        &offsets(&["3d", "2d", "1d", "2h"]),
        at("2026-12-08T10:00+02:00"),
        &hours,
    ) {
        if let Some(send_at) = planned.time.send_at(at("2026-12-08T10:00+02:00")) {
            assert_eq!(hours.next_allowed(send_at), Some(send_at), "{planned:?}");
        }
    }
}

#[test]
fn a_moved_reminder_says_from_when_to_when_and_why() {
    let plan = plan_reminders(
        at("2026-12-13T08:30+02:00"),
        &offsets(&["2h"]),
        at("2026-12-08T10:00+02:00"),
        &israeli(),
    );
    let ReminderTime::Moved {
        at: moved,
        planned,
        held_by,
    } = &plan[0].time
    else {
        panic!("moved: {plan:?}");
    };
    assert_eq!(
        crate::domain::ReminderTiming::MovedForHours {
            at: moved.clone(),
            planned: *planned,
            held_by: held_by.clone(),
        }
        .to_string(),
        "scheduled for 2026-12-11T12:30+02:00[Asia/Jerusalem], the latest moment the hours \
         allow before its time 2026-12-13T04:30:00Z (outside clinic hours (Sunday \
         09:00–18:00); patient's quiet hours 21:00–08:00 (Asia/Jerusalem))"
    );
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
        let plan = plan_reminders(
            starts,
            &offsets(&["2h", "2d"]),
            at(now),
            &around_the_clock(),
        );
        let got: Vec<(String, Option<String>)> = plan
            .iter()
            .map(|r| {
                let time = match &r.time {
                    ReminderTime::At(t) => Some(t.to_string()),
                    ReminderTime::Now => Some("now".to_owned()),
                    ReminderTime::Moved { at, .. } => Some(at.timestamp().to_string()),
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
        &around_the_clock(),
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
