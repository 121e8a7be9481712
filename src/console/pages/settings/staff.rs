//! `/console/settings/staff`: the clinic's people. An admin adds accounts (the rules of
//! `medrelay staff add`, in `console::accounts`), sets a new password for someone who forgot
//! theirs (which also lifts a lock-out), and turns accounts off and on. Nobody turns off their
//! own account: a clinic could lock out its last admin that way.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Done, refused};
use crate::api::AppState;
use crate::console::accounts::{AccountError, NewAccount, add_member};
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::password::{self, PasswordError};
use crate::console::session::{CsrfForm, SignedIn};
use crate::domain::{StaffId, StaffMember, UiLanguage};
use crate::store::ApiKeyRole;

const PAGE: &str = "/console/settings/staff";

#[derive(Template)]
#[template(path = "console/settings_staff.html")]
struct StaffPage {
    chrome: Chrome,
    members: Vec<StaffMember>,
    /// The admin looking: no button turns their own account off.
    me: StaffId,
    error: Option<String>,
    /// The add form as typed, kept when it was refused (never its password).
    typed: AddForm,
}

impl StaffPage {
    async fn new(
        state: &AppState,
        signed: &SignedIn,
        chrome: Chrome,
    ) -> Result<Self, ConsoleError> {
        Ok(Self {
            chrome,
            members: state.store.staff_members(&signed.clinic.id).await?,
            me: signed.member.id.clone(),
            error: None,
            typed: AddForm::default(),
        })
    }

    fn refused(mut self, key: &str) -> Result<Response, ConsoleError> {
        self.error = Some(self.chrome.t(key));
        refused(&self)
    }
}

pub(in crate::console) async fn staff_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(done): Query<Done>,
) -> Result<impl IntoResponse, ConsoleError> {
    signed.require_admin()?;
    let chrome = done.chrome(&signed, "settings-staff-title");
    render(&StaffPage::new(&state, &signed, chrome).await?)
}

#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct AddForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    password: String,
}

/// The sentence for a refused account, or the failure that is not the form's.
fn account_error_key(error: AccountError) -> Result<&'static str, ConsoleError> {
    Ok(match error {
        AccountError::Email => "settings-staff-email-rule",
        AccountError::Name => "settings-staff-name-rule",
        AccountError::Role => "settings-staff-role-rule",
        AccountError::Password(PasswordError::Length) => "account-password-rule",
        AccountError::Taken => "settings-staff-taken",
        AccountError::Password(e @ PasswordError::Hashing) => {
            return Err(ConsoleError::BadForm(e.to_string()));
        }
        AccountError::Store(e) => return Err(e.into()),
    })
}

pub(in crate::console) async fn add_staff(
    State(state): State<AppState>,
    CsrfForm(signed, mut form): CsrfForm<AddForm>,
) -> Result<Response, ConsoleError> {
    signed.require_admin()?;
    let role = ApiKeyRole::parse(&form.role).unwrap_or(ApiKeyRole::Booking);
    let language = UiLanguage::parse(&form.language).unwrap_or(signed.member.language);
    let added = add_member(
        &state.store,
        NewAccount {
            clinic: &signed.clinic.id,
            email: &form.email,
            name: &form.name,
            role,
            language,
            password: std::mem::take(&mut form.password),
        },
        state.clock.now(),
    )
    .await;
    match added {
        Ok(member) => {
            tracing::info!(clinic = %signed.clinic.slug, member = %member.id, by = %signed.member.id, "staff account added");
            Ok(Redirect::to(&format!("{PAGE}?saved=1")).into_response())
        }
        Err(error) => {
            let key = account_error_key(error)?;
            let chrome = Chrome::new(&signed, "settings", "settings-staff-title");
            let mut page = StaffPage::new(&state, &signed, chrome).await?;
            page.typed = form;
            page.refused(key)
        }
    }
}

/// The person `id` names, who must be of the admin's clinic.
async fn member_of_clinic(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
) -> Result<StaffMember, ConsoleError> {
    let id = StaffId::parse(id).ok_or(ConsoleError::NotFound)?;
    state
        .store
        .staff_members(&signed.clinic.id)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or(ConsoleError::NotFound)
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// A new password an admin gives out: it lifts a lock-out, and the person's open sessions end.
pub(in crate::console) async fn reset_password(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(signed, form): CsrfForm<PasswordForm>,
) -> Result<Response, ConsoleError> {
    signed.require_admin()?;
    let member = member_of_clinic(&state, &signed, &id).await?;
    let hash = match password::hash(form.password).await {
        Ok(hash) => hash,
        Err(PasswordError::Length) => {
            let chrome = Chrome::new(&signed, "settings", "settings-staff-title");
            let page = StaffPage::new(&state, &signed, chrome).await?;
            return page.refused("account-password-rule");
        }
        Err(e) => return Err(ConsoleError::BadForm(e.to_string())),
    };
    let store = &state.store;
    store
        .set_staff_password(&signed.clinic.id, &member.id, &hash)
        .await?;
    store.end_sessions_of(&member.id).await?;
    tracing::info!(clinic = %signed.clinic.slug, member = %member.id, by = %signed.member.id, "staff password reset");
    Ok(Redirect::to(&format!("{PAGE}?saved=1")).into_response())
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct DisabledForm {
    /// `1`: turn the account off; `0`: on again.
    #[serde(default)]
    disabled: String,
}

/// Turns an account off (its sessions end at once) or on again.
pub(in crate::console) async fn set_disabled(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(signed, form): CsrfForm<DisabledForm>,
) -> Result<Response, ConsoleError> {
    signed.require_admin()?;
    let member = member_of_clinic(&state, &signed, &id).await?;
    let disabled = match form.disabled.as_str() {
        "1" => true,
        "0" => false,
        _ => return Err(ConsoleError::BadForm("disabled: 1 or 0".to_owned())),
    };
    if disabled && member.id == signed.member.id {
        let chrome = Chrome::new(&signed, "settings", "settings-staff-title");
        let page = StaffPage::new(&state, &signed, chrome).await?;
        return page.refused("settings-staff-not-yourself");
    }
    state
        .store
        .set_staff_disabled(&signed.clinic.id, &member.id, disabled, state.clock.now())
        .await?;
    tracing::info!(clinic = %signed.clinic.slug, member = %member.id, disabled, by = %signed.member.id, "staff account turned on or off");
    Ok(Redirect::to(&format!("{PAGE}?saved=1")).into_response())
}
