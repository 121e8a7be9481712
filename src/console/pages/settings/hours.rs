//! `/console/settings/hours`: when the clinic sends (weekly windows in its time zone), its
//! holidays and its patients' default quiet hours. The form is read into the same
//! `ClinicHoursText` that `PUT /v1/clinic/hours` takes and checked by the same `ClinicHours::parse`.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Done, refused};
use crate::api::AppState;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::session::{CsrfForm, SignedIn};
use crate::domain::{ClinicHours, ClinicHoursText, DAY_NAMES, WeekText, WindowText};

const PAGE: &str = "/console/settings/hours";

/// One weekday's rows: its open windows and one blank row to add another.
#[derive(Debug)]
struct DayRows {
    name: &'static str,
    label: String,
    windows: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/settings_hours.html")]
struct HoursPage {
    chrome: Chrome,
    /// The clinic's time zone, which the hours are in.
    zone: String,
    days: Vec<DayRows>,
    /// One date a line.
    holidays: String,
    quiet: (String, String),
    /// (field, rule) of what the form broke.
    errors: Vec<(String, String)>,
}

impl HoursPage {
    fn new(chrome: Chrome, signed: &SignedIn, text: &ClinicHoursText) -> Self {
        let week = days_of(&text.week);
        let days = DAY_NAMES
            .iter()
            .zip(week)
            .map(|(name, windows)| DayRows {
                name,
                label: chrome.t(&format!("settings-hours-{name}")),
                windows: windows
                    .iter()
                    .map(|w| (w.start.clone(), w.end.clone()))
                    .chain([(String::new(), String::new())])
                    .collect(),
            })
            .collect();
        let quiet = text
            .patient_quiet_hours
            .as_ref()
            .map(|q| (q.start.clone(), q.end.clone()))
            .unwrap_or_default();
        Self {
            chrome,
            zone: signed.clinic.timezone.as_str().to_owned(),
            days,
            holidays: text.holidays.join("\n"),
            quiet,
            errors: Vec::new(),
        }
    }
}

fn days_of(week: &WeekText) -> [&Vec<WindowText>; 7] {
    [
        &week.sunday,
        &week.monday,
        &week.tuesday,
        &week.wednesday,
        &week.thursday,
        &week.friday,
        &week.saturday,
    ]
}

pub(in crate::console) async fn hours_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(done): Query<Done>,
) -> Result<impl IntoResponse, ConsoleError> {
    signed.require_admin()?;
    let hours = state.store.clinic_hours(&signed.clinic.id).await?;
    let chrome = done.chrome(&signed, "settings-hours-title");
    render(&HoursPage::new(chrome, &signed, &hours.to_text()))
}

/// The form as the API's text: `<day>-start`/`<day>-end` repeat once per window (a row left
/// blank is no window), `holidays` holds a date a line, blank quiet hours are none.
fn hours_text(fields: &[(String, String)]) -> ClinicHoursText {
    let values = |name: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .collect()
    };
    let mut days: [Vec<WindowText>; 7] = Default::default();
    for (day, name) in DAY_NAMES.iter().enumerate() {
        let ends = values(&format!("{name}-end"));
        days[day] = values(&format!("{name}-start"))
            .into_iter()
            .zip(ends)
            .filter(|(start, end)| !(start.is_empty() && end.is_empty()))
            .map(|(start, end)| WindowText {
                start: start.to_owned(),
                end: end.to_owned(),
            })
            .collect();
    }
    let [
        sunday,
        monday,
        tuesday,
        wednesday,
        thursday,
        friday,
        saturday,
    ] = days;
    let holidays = values("holidays")
        .iter()
        .flat_map(|text| text.lines())
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let (start, end) = (values("quiet-start"), values("quiet-end"));
    let (start, end) = (start.first().copied(), end.first().copied());
    let patient_quiet_hours = match (start.unwrap_or(""), end.unwrap_or("")) {
        ("", "") => None,
        (start, end) => Some(WindowText {
            start: start.to_owned(),
            end: end.to_owned(),
        }),
    };
    ClinicHoursText {
        week: WeekText {
            sunday,
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
        },
        holidays,
        patient_quiet_hours,
    }
}

/// Replaces the hours as a whole, as `PUT /v1/clinic/hours` does.
pub(in crate::console) async fn save_hours(
    State(state): State<AppState>,
    CsrfForm(signed, fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    signed.require_admin()?;
    let text = hours_text(&fields);
    let hours = match ClinicHours::parse(&text) {
        Ok(hours) => hours,
        Err(broken) => {
            let chrome = Chrome::new(&signed, "settings", "settings-hours-title");
            let mut page = HoursPage::new(chrome, &signed, &text);
            page.errors = broken;
            return refused(&page);
        }
    };
    state
        .store
        .set_clinic_hours(&signed.clinic.id, &hours)
        .await?;
    state.clinic_settings.forget(&signed.clinic.id);
    tracing::info!(clinic = %signed.clinic.slug, by = %signed.member.id, "clinic hours set");
    Ok(Redirect::to(&format!("{PAGE}?saved=1")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn blank_rows_are_no_windows_and_a_half_filled_row_is_kept_for_the_rules_to_refuse() {
        let text = hours_text(&[
            pair("sunday-start", "09:00"),
            pair("sunday-end", "13:00"),
            pair("sunday-start", ""),
            pair("sunday-end", ""),
            pair("monday-start", "09:00"),
            pair("monday-end", ""),
            pair("holidays", "2026-09-21\r\n\r\n 2026-09-22 "),
            pair("quiet-start", ""),
            pair("quiet-end", ""),
        ]);

        assert_eq!(text.week.sunday.len(), 1);
        assert_eq!(text.week.monday.len(), 1);
        assert!(text.week.tuesday.is_empty());
        assert_eq!(text.holidays, ["2026-09-21", "2026-09-22"]);
        assert_eq!(text.patient_quiet_hours, None);
        assert!(ClinicHours::parse(&text).is_err());
    }
}
