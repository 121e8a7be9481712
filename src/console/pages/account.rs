//! The signed-in person's own account: the console's language, their password, and the TOTP
//! second factor (set up by scanning a code and proving it with one, or turned off).

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::api::AppState;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::session::{CsrfForm, NoFields, SignedIn};
use crate::console::{password, totp};
use crate::domain::UiLanguage;

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    chrome: Chrome,
    email: String,
    languages: Vec<(&'static str, &'static str, bool)>,
    second_factor: bool,
    /// Set-up in progress: the QR code (SVG) and the secret to type instead.
    totp_setup: Option<(String, String)>,
    error: Option<String>,
}

impl AccountPage {
    fn new(signed: &SignedIn) -> Self {
        let current = signed.member.language;
        Self {
            chrome: Chrome::new(signed, "account", "account-title"),
            email: signed.member.email.clone(),
            languages: [(UiLanguage::He, "עברית"), (UiLanguage::En, "English")]
                .into_iter()
                .map(|(l, label)| (l.as_str(), label, l == current))
                .collect(),
            second_factor: signed.member.second_factor,
            totp_setup: None,
            error: None,
        }
    }
}

pub(in crate::console) async fn account_page(
    signed: SignedIn,
) -> Result<impl IntoResponse, ConsoleError> {
    render(&AccountPage::new(&signed))
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct LanguageForm {
    language: String,
}

pub(in crate::console) async fn set_language(
    State(state): State<AppState>,
    CsrfForm(signed, form): CsrfForm<LanguageForm>,
) -> Result<Redirect, ConsoleError> {
    let language = UiLanguage::parse(&form.language)
        .ok_or_else(|| ConsoleError::BadForm("language: he or en".to_owned()))?;
    state
        .store
        .set_staff_language(&signed.member.id, language)
        .await?;
    Ok(Redirect::to("/console/account"))
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct PasswordForm {
    current: String,
    new: String,
    repeated: String,
}

/// A new password needs the current one; every other session of the person ends with it.
pub(in crate::console) async fn change_password(
    State(state): State<AppState>,
    CsrfForm(signed, form): CsrfForm<PasswordForm>,
) -> Result<Response, ConsoleError> {
    let record = state.store.sign_in_record(&signed.member.email).await?;
    let stored = record.map(|r| r.password_hash);
    let mut page = AccountPage::new(&signed);
    let tr = page.chrome.tr;
    let error = if !password::verify(form.current, stored).await {
        Some("account-password-wrong")
    } else if form.new != form.repeated {
        Some("account-password-mismatch")
    } else if password::check_new(&form.new).is_err() {
        Some("account-password-rule")
    } else {
        None
    };
    if let Some(key) = error {
        page.error = Some(tr.t(key));
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let hash = password::hash(form.new)
        .await
        .map_err(|e| ConsoleError::BadForm(e.to_string()))?;
    let store = &state.store;
    store
        .set_staff_password(&signed.clinic.id, &signed.member.id, &hash)
        .await?;
    store.end_sessions_of(&signed.member.id).await?;
    Ok(Redirect::to("/console/sign-in").into_response())
}

/// Proposes a new secret and shows it as a QR code; nothing changes until a code proves it.
pub(in crate::console) async fn start_totp(
    State(state): State<AppState>,
    CsrfForm(signed, NoFields {}): CsrfForm<NoFields>,
) -> Result<impl IntoResponse, ConsoleError> {
    let secret = totp::new_secret();
    state
        .store
        .propose_totp_secret(&signed.member.id, &secret)
        .await?;
    let mut page = AccountPage::new(&signed);
    let url = totp::setup_url(&secret, &signed.member.email).unwrap_or_default();
    page.totp_setup = Some((totp::setup_qr_svg(&url).unwrap_or_default(), secret));
    render(&page)
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct CodeForm {
    code: String,
}

pub(in crate::console) async fn confirm_totp(
    State(state): State<AppState>,
    CsrfForm(signed, form): CsrfForm<CodeForm>,
) -> Result<Response, ConsoleError> {
    let store = &state.store;
    let proposed = store.proposed_totp_secret(&signed.member.id).await?;
    let unix = u64::try_from(state.clock.now().as_second()).unwrap_or_default();
    let Some(secret) =
        proposed.filter(|secret| totp::matching_step(secret, &form.code, unix).is_some())
    else {
        let mut page = AccountPage::new(&signed);
        page.error = Some(page.chrome.tr.t("account-totp-wrong-code"));
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    store
        .set_totp_secret(&signed.member.id, Some(&secret))
        .await?;
    Ok(Redirect::to("/console/account").into_response())
}

pub(in crate::console) async fn turn_totp_off(
    State(state): State<AppState>,
    CsrfForm(signed, NoFields {}): CsrfForm<NoFields>,
) -> Result<Redirect, ConsoleError> {
    state.store.set_totp_secret(&signed.member.id, None).await?;
    Ok(Redirect::to("/console/account"))
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console/account", get(account_page))
        .route("/console/account/language", post(set_language))
        .route("/console/account/password", post(change_password))
        .route("/console/account/totp", post(start_totp))
        .route("/console/account/totp/confirm", post(confirm_totp))
        .route("/console/account/totp/off", post(turn_totp_off))
}
