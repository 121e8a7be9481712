//! Appointments: one day of the clinic's calendar, each appointment with its status (booked,
//! confirmed by the patient, cancellation asked, cancelled) and where each of its reminders
//! stands. Read with the store query behind `GET /v1/appointments?day=…`.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::api::AppState;
use crate::console::i18n::Tr;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::session::SignedIn;
use crate::domain::AppointmentStatus;
use crate::store::{AppointmentFilter, AppointmentView, Store};

/// More than a clinic books in a day; the API pages beyond it.
const DAY_LIMIT: u32 = 500;

#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct DayQuery {
    /// `YYYY-MM-DD` in the clinic's calendar; today unless given.
    day: Option<String>,
}

#[derive(Template)]
#[template(path = "console/appointments.html")]
struct AppointmentsPage {
    chrome: Chrome,
    day: String,
    previous: String,
    next: String,
    error: Option<String>,
    /// (label, count) of the day's appointments by status.
    summary: Vec<(String, usize)>,
    rows: Vec<Row>,
}

struct Row {
    time: String,
    patient: String,
    /// The patient's card.
    patient_href: String,
    topic: String,
    status: &'static str,
    status_label: String,
    /// (when before the appointment, status class, status label), oldest first.
    reminders: Vec<(String, &'static str, String)>,
    /// (when before, why) of reminders left out.
    skipped: Vec<(String, String)>,
}

pub(in crate::console) async fn appointments_page(
    State(state): State<AppState>,
    signed: SignedIn,
    query: Result<Query<DayQuery>, QueryRejection>,
) -> Result<Response, ConsoleError> {
    let typed = query.ok().and_then(|Query(q)| q.day).unwrap_or_default();
    let zone = signed.clinic.timezone.zone();
    let today = state.clock.now().to_zoned(zone.clone()).date();
    let tr = signed.tr();
    let picked = match typed.trim() {
        "" => Some(today),
        text => text.parse::<Date>().ok().filter(|_| text.len() == 10),
    };
    let day = picked.unwrap_or(today);
    let mut page = AppointmentsPage {
        chrome: Chrome::new(&signed, "appointments", "appointments-title"),
        day: day.to_string(),
        previous: day.yesterday().unwrap_or(day).to_string(),
        next: day.tomorrow().unwrap_or(day).to_string(),
        error: None,
        summary: Vec::new(),
        rows: Vec::new(),
    };
    let Some(bounds) = picked.and_then(|d| day_bounds(d, &zone)) else {
        page.error = Some(tr.t("appointments-bad-day"));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let appointments = day_appointments(&state.store, &signed, bounds).await?;
    page.summary = summary(&tr, &appointments);
    for appointment in appointments {
        page.rows
            .push(row(&state.store, &signed, &tr, appointment, &zone).await?);
    }
    Ok(render(&page)?.into_response())
}

/// The day's bounds in the clinic's zone (a day of a clock change is 23 or 25 hours).
fn day_bounds(day: Date, zone: &TimeZone) -> Option<(Timestamp, Timestamp)> {
    let from = day.to_zoned(zone.clone()).ok()?.timestamp();
    let to = day
        .tomorrow()
        .ok()?
        .to_zoned(zone.clone())
        .ok()?
        .timestamp();
    Some((from, to))
}

async fn day_appointments(
    store: &Store,
    signed: &SignedIn,
    starts: (Timestamp, Timestamp),
) -> Result<Vec<AppointmentView>, ConsoleError> {
    let filter = AppointmentFilter {
        patient_id: None,
        starts: Some(starts),
        status: None,
        limit: DAY_LIMIT,
        after: None,
    };
    Ok(store.appointments(&signed.clinic.id, &filter).await?.items)
}

fn summary(tr: &Tr, appointments: &[AppointmentView]) -> Vec<(String, usize)> {
    let mut summary = vec![(tr.t("appointments-total"), appointments.len())];
    for status in [
        AppointmentStatus::Confirmed,
        AppointmentStatus::CancellationRequested,
        AppointmentStatus::Cancelled,
    ] {
        let count = appointments.iter().filter(|a| a.status == status).count();
        summary.push((status_label(tr, status), count));
    }
    summary
}

fn status_label(tr: &Tr, status: AppointmentStatus) -> String {
    tr.t(&format!("appointments-status-{}", status.as_str()))
}

async fn row(
    store: &Store,
    signed: &SignedIn,
    tr: &Tr,
    appointment: AppointmentView,
    zone: &TimeZone,
) -> Result<Row, ConsoleError> {
    let patient = store
        .patient_by_external_id(&signed.clinic.id, &appointment.patient_id)
        .await
        .map_or_else(|_| appointment.patient_id.clone(), |p| p.name);
    let reminders = appointment
        .reminders
        .iter()
        .map(|r| {
            let status = r.status.as_str();
            let label = tr.t(&format!("appointments-reminder-{status}"));
            (before(tr, &r.before), status, label)
        })
        .collect();
    Ok(Row {
        patient_href: format!(
            "/console/patients/{}",
            super::patients::urlencode(&appointment.patient_id)
        ),
        time: appointment
            .starts_at
            .to_zoned(zone.clone())
            .strftime("%H:%M")
            .to_string(),
        patient,
        topic: appointment.topic,
        status: appointment.status.as_str(),
        status_label: status_label(tr, appointment.status),
        reminders,
        skipped: appointment
            .skipped_reminders
            .into_iter()
            .map(|s| (before(tr, &s.before), s.reason))
            .collect(),
    })
}

/// `2d`, `2h`, `30m` in words: "2 days before".
fn before(tr: &Tr, offset: &str) -> String {
    let split = offset.len().saturating_sub(1);
    let (number, unit) = (offset.get(..split), offset.get(split..));
    let unit = match unit {
        Some("d") => "days",
        Some("h") => "hours",
        Some("m") => "minutes",
        _ => return offset.to_owned(),
    };
    let Some(n) = number.and_then(|n| n.parse::<u32>().ok()) else {
        return offset.to_owned();
    };
    let form = match n {
        1 => "one",
        2 => "two",
        _ => "other",
    };
    tr.t_with(
        &format!("appointments-before-{unit}-{form}"),
        &[("n", &n.to_string())],
    )
}

/// The page's route.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::get;
    axum::Router::new().route("/console/appointments", get(appointments_page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UiLanguage;

    #[test]
    fn reminder_offsets_read_as_words_in_each_language() {
        let en = Tr::new(UiLanguage::En);
        let he = Tr::new(UiLanguage::He);
        assert_eq!(before(&en, "2d"), "2 days before");
        assert_eq!(before(&en, "1h"), "1 hour before");
        assert_eq!(before(&en, "30m"), "30 minutes before");
        assert_eq!(before(&he, "2d"), "יומיים לפני");
        assert_eq!(before(&he, "1h"), "שעה לפני");
        assert_eq!(before(&he, "3d"), "3 ימים לפני");
        assert_eq!(before(&en, "soon"), "soon");
    }

    #[test]
    fn a_day_of_a_clock_change_has_its_own_length() {
        let zone = TimeZone::get("Asia/Jerusalem").expect("zone");
        // Israel moved its clocks back on Sunday 25 October 2026.
        let (from, to) = day_bounds(jiff::civil::date(2026, 10, 25), &zone).expect("day");
        assert_eq!(to.as_second() - from.as_second(), 25 * 3600);
    }
}
