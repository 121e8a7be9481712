//! What every console page shares: the frame around it ([`Chrome`]: language, direction, the
//! person, the navigation, the form token), drawing a template, and the errors a page can end in.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::i18n::Tr;
use super::session::SignedIn;
use crate::domain::UiLanguage;
use crate::store::{FailureKind, StoreError};

/// The console's sections, in the order the navigation lists them: (id, path, admin only).
const SECTIONS: [(&str, &str, bool); 9] = [
    ("today", "/console/today", false),
    ("patients", "/console/patients", false),
    ("send", "/console/send", false),
    ("notifications", "/console/notifications", false),
    ("inbox", "/console/inbox", false),
    ("callbacks", "/console/callbacks", false),
    ("appointments", "/console/appointments", false),
    ("stats", "/console/stats", false),
    ("settings", "/console/settings", true),
];

/// One link of the navigation.
#[derive(Debug)]
pub struct NavItem {
    pub href: &'static str,
    pub label: String,
    pub current: bool,
}

/// The frame of a page: what `console/base.html` draws around its content.
#[derive(Debug)]
pub struct Chrome {
    pub tr: Tr,
    /// The page's `<title>` and `<h1>`.
    pub title: String,
    pub member_name: String,
    pub clinic_name: String,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    /// The sandbox's phone is in the navigation while the sandbox runs.
    pub sandbox: bool,
    /// A short confirmation of what the last form did ("Saved"), shown once.
    pub notice: Option<String>,
}

impl Chrome {
    /// The frame for `signed`, on the section `active` (none matches: no section is marked),
    /// titled with the text `title_key`.
    pub fn new(signed: &SignedIn, active: &str, title_key: &str) -> Self {
        let tr = signed.tr();
        let nav = SECTIONS
            .iter()
            .filter(|(_, _, admin_only)| !admin_only || signed.is_admin())
            .map(|(id, href, _)| NavItem {
                href,
                label: tr.t(&format!("nav-{id}")),
                current: *id == active,
            })
            .collect();
        Self {
            title: tr.t(title_key),
            tr,
            member_name: signed.member.name.clone(),
            clinic_name: signed.clinic.name.clone(),
            csrf: signed.csrf.clone(),
            nav,
            sandbox: signed.sandbox.is_some(),
            notice: None,
        }
    }

    /// The same frame with a one-time notice, the text `key`.
    pub fn with_notice(mut self, key: &str) -> Self {
        self.notice = Some(self.tr.t(key));
        self
    }

    pub fn t(&self, key: &str) -> String {
        self.tr.t(key)
    }
}

/// How a console request can fail. Each is drawn as a short page with the right status.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("not found")]
    NotFound,
    #[error("this page is for the clinic's admins")]
    AdminOnly,
    /// The form's token is missing or stale, or another site sent it: nothing was changed.
    #[error("the form expired")]
    FormExpired,
    #[error("the form could not be read: {0}")]
    BadForm(String),
    /// The audit trail could not record that the page was seen, so it is not shown.
    #[error("the audit trail cannot be written")]
    AuditUnavailable,
    #[error("the page could not be drawn")]
    Render(#[from] askama::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ConsoleError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::AdminOnly | Self::FormExpired => StatusCode::FORBIDDEN,
            Self::BadForm(_) => StatusCode::BAD_REQUEST,
            Self::Store(StoreError::NotFound) => StatusCode::NOT_FOUND,
            Self::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(error) if error.kind() != FailureKind::Other => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Render(_) | Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The catalogue key of the sentence the page shows.
    fn text_key(&self) -> &'static str {
        match self.status() {
            StatusCode::NOT_FOUND => "error-not-found",
            StatusCode::FORBIDDEN if matches!(self, Self::AdminOnly) => "error-admin-only",
            StatusCode::FORBIDDEN => "error-form-expired",
            StatusCode::BAD_REQUEST => "error-bad-form",
            StatusCode::SERVICE_UNAVAILABLE => "error-unavailable",
            _ => "error-internal",
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    /// The sentence in both languages: an error page cannot always know whose it is.
    texts: Vec<(Tr, String)>,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "console page failed");
        }
        let key = self.text_key();
        let page = ErrorPage {
            texts: [UiLanguage::He, UiLanguage::En]
                .into_iter()
                .map(|language| (Tr::new(language), Tr::new(language).t(key)))
                .collect(),
        };
        let body = page.render().unwrap_or_else(|_| key.to_owned());
        (status, Html(body)).into_response()
    }
}

/// A page drawn, or the error it ended in.
pub fn render(page: &impl Template) -> Result<Html<String>, ConsoleError> {
    Ok(Html(page.render()?))
}
