//! The clinic's settings, for its admins only: every handler starts with `require_admin`. Each
//! sub-page keeps to the rules the admin API keeps, by calling the same parsing and store code.

pub mod hours;
pub mod staff;
pub mod templates;
pub mod topics;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::session::SignedIn;

/// The sub-pages, in the order the index lists them: (path under /console/settings, text key).
const SUB_PAGES: [(&str, &str); 7] = [
    ("staff", "settings-staff"),
    ("hours", "settings-hours"),
    ("topics", "settings-topics"),
    ("templates", "settings-templates"),
    ("auto-replies", "settings-auto-replies"),
    ("keys", "settings-keys"),
    ("webhooks", "settings-webhooks"),
];

#[derive(Template)]
#[template(path = "console/settings_index.html")]
struct IndexPage {
    chrome: Chrome,
    /// (href, title, what it holds).
    links: Vec<(String, String, String)>,
}

pub(in crate::console) async fn index_page(
    signed: SignedIn,
) -> Result<impl IntoResponse, ConsoleError> {
    signed.require_admin()?;
    let chrome = Chrome::new(&signed, "settings", "settings-title");
    let links = SUB_PAGES
        .iter()
        .map(|(path, key)| {
            (
                format!("/console/settings/{path}"),
                chrome.t(&format!("{key}-title")),
                chrome.t(&format!("{key}-about")),
            )
        })
        .collect();
    render(&IndexPage { chrome, links })
}

/// `?saved=1` after a form's redirect: the page says once that it worked.
#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct Done {
    #[serde(default)]
    saved: Option<String>,
}

impl Done {
    /// The frame of a settings sub-page, with the notice when a form just worked.
    fn chrome(&self, signed: &SignedIn, title_key: &str) -> Chrome {
        let chrome = Chrome::new(signed, "settings", title_key);
        if self.saved.is_some() {
            chrome.with_notice("saved")
        } else {
            chrome
        }
    }
}

/// A form that broke a rule: its page again, with what to fix, and 422.
fn refused(page: &impl Template) -> Result<Response, ConsoleError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(page)?).into_response())
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console/settings", get(index_page))
        .route(
            "/console/settings/staff",
            get(staff::staff_page).post(staff::add_staff),
        )
        .route(
            "/console/settings/staff/{id}/password",
            post(staff::reset_password),
        )
        .route(
            "/console/settings/staff/{id}/disabled",
            post(staff::set_disabled),
        )
        .route(
            "/console/settings/hours",
            get(hours::hours_page).post(hours::save_hours),
        )
        .route(
            "/console/settings/topics",
            get(topics::topics_page).post(topics::set_topic),
        )
        .route("/console/settings/templates", get(templates::list_page))
        .route(
            "/console/settings/templates/new",
            get(templates::new_template),
        )
        .route(
            "/console/settings/templates/{name}/{language}",
            get(templates::edit_page).post(templates::save_template),
        )
        .route(
            "/console/settings/templates/{name}/{language}/delete",
            post(templates::delete_template),
        )
        .route(
            "/console/settings/quick-replies",
            post(templates::save_quick_reply),
        )
        .route(
            "/console/settings/quick-replies/{name}/delete",
            post(templates::delete_quick_reply),
        )
}
