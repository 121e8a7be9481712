//! The values medrelay fills into an auto reply's template, in the patient's language: how soon
//! staff answer, the clinic's hours in short form, the emergency number and the clinic's phone.

use std::collections::BTreeMap;

use jiff::civil::Weekday;

use super::InboundSettings;
use crate::domain::{AutoReply, ClinicHours, Language, OpenWindow, Phone};

/// The template an auto reply is written with: `auto_<kind>`, a built-in the clinic may edit.
pub fn reply_template(reply: AutoReply) -> &'static str {
    match reply {
        AutoReply::Receipt => "auto_receipt",
        AutoReply::Away => "auto_away",
        AutoReply::OptOut => "auto_opt_out",
        AutoReply::OptIn => "auto_opt_in",
        AutoReply::Confirmed => "auto_confirmed",
        AutoReply::CancellationRequested => "auto_cancellation_requested",
        AutoReply::Urgent => "auto_urgent",
    }
}

/// Every value medrelay fills, whichever reply it is for: a clinic's own copy of any auto reply
/// may use any of them. `clinic_phone` only when the clinic has set one, in E.164 as the
/// content-free notices give it: dialable from abroad too.
pub fn reply_params(
    settings: &InboundSettings,
    hours: &ClinicHours,
    language: &Language,
    clinic_phone: Option<&Phone>,
) -> BTreeMap<String, String> {
    let words = Words::of(language);
    let mut params = BTreeMap::from([
        (
            "response_time".to_owned(),
            response_time(settings.response_target_minutes, words),
        ),
        ("hours".to_owned(), weekly_hours(hours, words)),
        (
            "emergency_number".to_owned(),
            settings.emergency_number.clone(),
        ),
    ]);
    if let Some(phone) = clinic_phone {
        params.insert("clinic_phone".to_owned(), phone.as_str().to_owned());
    }
    params
}

/// The words of one language; English for a language without its own.
struct Words {
    /// Sunday first.
    days: [&'static str; 7],
    /// Between two days of a run, and between the groups of days.
    day_range: &'static str,
    group_separator: &'static str,
    closed: &'static str,
    hours: fn(u32) -> String,
    minutes: fn(u32) -> String,
    and: &'static str,
}

impl Words {
    fn of(language: &Language) -> &'static Self {
        match language.as_str() {
            "he" => &HEBREW,
            "ar" => &ARABIC,
            "ru" => &RUSSIAN,
            _ => &ENGLISH,
        }
    }
}

const HEBREW: Words = Words {
    days: ["א׳", "ב׳", "ג׳", "ד׳", "ה׳", "ו׳", "ש׳"],
    day_range: "–",
    group_separator: ", ",
    closed: "אין שעות קבועות",
    hours: |n| match n {
        1 => "שעה".to_owned(),
        2 => "שעתיים".to_owned(),
        n => format!("{n} שעות"),
    },
    minutes: |n| match n {
        1 => "דקה".to_owned(),
        n => format!("{n} דקות"),
    },
    and: " ו-",
};

// Arabic has no short day names in common use; counted nouns take the dual for two, the plural
// from three to ten and the singular from eleven.
const ARABIC: Words = Words {
    days: [
        "الأحد",
        "الاثنين",
        "الثلاثاء",
        "الأربعاء",
        "الخميس",
        "الجمعة",
        "السبت",
    ],
    day_range: "–",
    group_separator: "، ",
    closed: "لا ساعات محددة",
    hours: |n| arabic_count(n, "ساعة واحدة", "ساعتان", "ساعات", "ساعة"),
    minutes: |n| arabic_count(n, "دقيقة واحدة", "دقيقتان", "دقائق", "دقيقة"),
    and: " و",
};

const RUSSIAN: Words = Words {
    days: ["Вс", "Пн", "Вт", "Ср", "Чт", "Пт", "Сб"],
    day_range: "–",
    group_separator: ", ",
    closed: "часы не установлены",
    hours: |n| russian_count(n, "час", "часа", "часов"),
    minutes: |n| russian_count(n, "минута", "минуты", "минут"),
    and: " ",
};

const ENGLISH: Words = Words {
    days: ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"],
    day_range: "–",
    group_separator: ", ",
    closed: "no set hours",
    hours: |n| english_count(n, "hour"),
    minutes: |n| english_count(n, "minute"),
    and: " ",
};

fn english_count(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Russian nouns after a number: one form for 1, 21, 31…; another for 2–4, 22–24…; a third for
/// the rest, 11–14 included.
fn russian_count(n: u32, one: &str, few: &str, many: &str) -> String {
    let noun = match (n % 10, n % 100) {
        (1, tens) if tens != 11 => one,
        (2..=4, tens) if !(12..=14).contains(&tens) => few,
        _ => many,
    };
    format!("{n} {noun}")
}

fn arabic_count(n: u32, one: &str, two: &str, few: &str, many: &str) -> String {
    match n {
        1 => one.to_owned(),
        2 => two.to_owned(),
        3..=10 => format!("{n} {few}"),
        _ => format!("{n} {many}"),
    }
}

/// "4 hours", "1 hour 30 minutes", "45 minutes".
fn response_time(minutes: u32, words: &Words) -> String {
    let (hours, minutes) = (minutes / 60, minutes % 60);
    match (hours, minutes) {
        (0, m) => (words.minutes)(m),
        (h, 0) => (words.hours)(h),
        (h, m) => format!("{}{}{}", (words.hours)(h), words.and, (words.minutes)(m)),
    }
}

/// The week in short form, runs of days with the same hours together: "Sun–Thu 09:00–18:00,
/// Fri 09:00–13:00". Closed days are left out; holidays are not hours.
fn weekly_hours(hours: &ClinicHours, words: &Words) -> String {
    let week: Vec<&[OpenWindow]> = WEEK.iter().map(|day| hours.on(*day)).collect();
    let mut groups = Vec::new();
    let mut first = 0;
    while first < week.len() {
        let last = (first..week.len())
            .take_while(|d| week[*d] == week[first])
            .last()
            .unwrap_or(first);
        if !week[first].is_empty() {
            let days = if last == first {
                words.days[first].to_owned()
            } else {
                format!(
                    "{}{}{}",
                    words.days[first], words.day_range, words.days[last]
                )
            };
            let windows: Vec<String> = week[first].iter().map(OpenWindow::to_string).collect();
            groups.push(format!("{days} {}", windows.join(" ")));
        }
        first = last + 1;
    }
    if groups.is_empty() {
        return words.closed.to_owned();
    }
    groups.join(words.group_separator)
}

const WEEK: [Weekday; 7] = [
    Weekday::Sunday,
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClinicHoursText, WeekText, WindowText};

    fn language(code: &str) -> Language {
        Language::parse(code).expect("language")
    }

    fn params(code: &str, settings: &InboundSettings) -> BTreeMap<String, String> {
        reply_params(
            settings,
            &ClinicHours::israeli_default(),
            &language(code),
            None,
        )
    }

    #[test]
    fn the_response_time_is_counted_in_the_patients_language() {
        let settings = InboundSettings::default();
        assert_eq!(params("en", &settings)["response_time"], "4 hours");
        assert_eq!(params("he", &settings)["response_time"], "4 שעות");
        assert_eq!(params("ar", &settings)["response_time"], "4 ساعات");
        assert_eq!(params("ru", &settings)["response_time"], "4 часа");
        assert_eq!(params("fr", &settings)["response_time"], "4 hours");
    }

    #[test]
    fn russian_nouns_follow_the_number() {
        let hours = |n| russian_count(n, "час", "часа", "часов");
        assert_eq!(
            [1, 2, 5, 11, 12, 21, 22, 25, 111].map(hours),
            [
                "1 час",
                "2 часа",
                "5 часов",
                "11 часов",
                "12 часов",
                "21 час",
                "22 часа",
                "25 часов",
                "111 часов"
            ]
        );
    }

    #[test]
    fn hours_and_minutes_are_said_together() {
        let he = Words::of(&language("he"));
        assert_eq!(
            response_time(90, Words::of(&language("en"))),
            "1 hour 30 minutes"
        );
        assert_eq!(response_time(120, he), "שעתיים");
        assert_eq!(response_time(45, he), "45 דקות");
        assert_eq!(response_time(60, Words::of(&language("ar"))), "ساعة واحدة");
        assert_eq!(
            response_time(61, Words::of(&language("ru"))),
            "1 час 1 минута"
        );
    }

    #[test]
    fn the_israeli_week_is_said_in_short_form() {
        let settings = InboundSettings::default();
        assert_eq!(
            params("en", &settings)["hours"],
            "Sun–Thu 09:00–18:00, Fri 09:00–13:00"
        );
        assert_eq!(
            params("he", &settings)["hours"],
            "א׳–ה׳ 09:00–18:00, ו׳ 09:00–13:00"
        );
        assert_eq!(
            params("ru", &settings)["hours"],
            "Вс–Чт 09:00–18:00, Пт 09:00–13:00"
        );
    }

    #[test]
    fn days_apart_with_the_same_hours_are_said_apart_and_split_days_in_full() {
        let window = |start: &str, end: &str| WindowText {
            start: start.into(),
            end: end.into(),
        };
        let text = ClinicHoursText {
            week: WeekText {
                sunday: vec![window("08:00", "12:00"), window("16:00", "19:00")],
                tuesday: vec![window("08:00", "12:00"), window("16:00", "19:00")],
                ..WeekText::default()
            },
            holidays: Vec::new(),
            patient_quiet_hours: None,
        };
        let hours = ClinicHours::parse(&text).expect("hours");
        assert_eq!(
            weekly_hours(&hours, Words::of(&language("en"))),
            "Sun 08:00–12:00 16:00–19:00, Tue 08:00–12:00 16:00–19:00"
        );
        let closed = ClinicHours::parse(&ClinicHoursText {
            week: WeekText::default(),
            ..text
        })
        .expect("hours");
        assert_eq!(
            weekly_hours(&closed, Words::of(&language("en"))),
            "no set hours"
        );
    }

    #[test]
    fn the_emergency_number_and_clinic_phone_are_the_clinics() {
        let settings = InboundSettings {
            emergency_number: "+972-101".to_owned(),
            ..InboundSettings::default()
        };
        let phone =
            Phone::from_stored("+97248123456".to_owned(), crate::domain::LineType::Landline);
        let params = reply_params(
            &settings,
            &ClinicHours::israeli_default(),
            &language("he"),
            Some(&phone),
        );
        assert_eq!(params["emergency_number"], "+972-101");
        assert_eq!(params["clinic_phone"], "+97248123456");
        assert!(!self::params("he", &InboundSettings::default()).contains_key("clinic_phone"));
    }
}
