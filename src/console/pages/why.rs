//! Why a channel is left out, and why a message waits, in the page's language: the same
//! [`SkipReason`] and [`HoursRule`] values the routing decides with, drawn for staff. Shared by
//! the patient card and the send page's routing preview.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::console::i18n::Tr;
use crate::domain::{HoursRule, SkipReason};

/// A moment as the clinic's clock shows it: `Sun 09:00, 2026-12-06`.
pub fn clinic_time(tr: &Tr, at: Timestamp, zone: &TimeZone) -> String {
    let zoned = at.to_zoned(zone.clone());
    let day = tr.t(&format!(
        "patients-day-{}",
        zoned.weekday().to_sunday_zero_offset()
    ));
    format!("{day} {}", zoned.strftime("%H:%M, %Y-%m-%d"))
}

fn date(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone()).strftime("%Y-%m-%d").to_string()
}

/// Why a channel cannot carry a message to the patient.
pub fn skip_text(tr: &Tr, reason: &SkipReason, zone: &TimeZone) -> String {
    match reason {
        SkipReason::Suspended { until, .. } => tr.t_with(
            "patients-why-suspended",
            &[("until", &clinic_time(tr, *until, zone))],
        ),
        SkipReason::OutsideWhatsAppWindow => tr.t("patients-why-outside-window"),
        SkipReason::NotOnWhatsAppSaysProvider { learned_at } => tr.t_with(
            "patients-why-not-on-whatsapp-provider",
            &[("date", &date(*learned_at, zone))],
        ),
        SkipReason::UnsubscribedAtProvider { learned_at } => tr.t_with(
            "patients-why-unsubscribed-provider",
            &[("date", &date(*learned_at, zone))],
        ),
        SkipReason::LandlineSaysProvider { learned_at } => tr.t_with(
            "patients-why-landline-provider",
            &[("date", &date(*learned_at, zone))],
        ),
        SkipReason::Landline => tr.t("patients-why-landline"),
        SkipReason::NotConfigured => tr.t("patients-why-not-configured"),
        SkipReason::OptedOut => tr.t("patients-why-opted-out"),
        SkipReason::NotOnWhatsApp => tr.t("patients-why-not-on-whatsapp"),
        SkipReason::NoPhone => tr.t("patients-why-no-phone"),
        SkipReason::NoEmail => tr.t("patients-why-no-email"),
        SkipReason::TooLongForSms { length, max } => tr.t_with(
            "patients-why-too-long",
            &[("length", &length.to_string()), ("max", &max.to_string())],
        ),
    }
}

/// A rule of the messaging hours that holds a message back.
pub fn hours_text(tr: &Tr, rule: &HoursRule) -> String {
    match rule {
        HoursRule::Holiday { date } => {
            tr.t_with("patients-why-holiday", &[("date", &date.to_string())])
        }
        HoursRule::ClinicClosed { day } => {
            tr.t_with("patients-why-clinic-closed", &[("day", &day_name(tr, day))])
        }
        HoursRule::OutsideClinicHours { day, windows } => tr.t_with(
            "patients-why-outside-hours",
            &[("day", &day_name(tr, day)), ("hours", &windows.join(", "))],
        ),
        HoursRule::QuietHours { hours, .. } => {
            tr.t_with("patients-why-quiet-hours", &[("hours", hours)])
        }
    }
}

/// `sunday` … `saturday` in the page's language.
fn day_name(tr: &Tr, day: &str) -> String {
    const DAYS: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(day))
        .map_or_else(|| day.to_owned(), |i| tr.t(&format!("patients-day-{i}")))
}
