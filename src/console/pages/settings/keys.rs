//! `/console/settings/keys`: the clinic's API keys. A new key's secret is shown on the page the
//! form answers with, once, never in a URL or a later page; a revoked key is also dropped from
//! this instance's key cache, so it stops working here at once (as `DELETE /v1/keys/{id}`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::Done;
use crate::api::AppState;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::pages::today::local;
use crate::console::session::{CsrfForm, SignedIn};
use crate::domain::ApiKeyId;
use crate::store::ApiKeyRole;

const PAGE: &str = "/console/settings/keys";

/// One key as the page lists it: never its secret.
#[derive(Debug)]
struct KeyRow {
    id: String,
    role: &'static str,
    created_at: String,
    revoked_at: Option<String>,
}

#[derive(Template)]
#[template(path = "console/settings_keys.html")]
struct KeysPage {
    chrome: Chrome,
    keys: Vec<KeyRow>,
    /// A key just made: (its role, the secret), shown this once.
    issued: Option<(&'static str, String)>,
}

impl KeysPage {
    async fn new(
        state: &AppState,
        signed: &SignedIn,
        chrome: Chrome,
    ) -> Result<Self, ConsoleError> {
        let zone = signed.clinic.timezone.zone();
        let keys = state
            .store
            .api_keys(&signed.clinic.id)
            .await?
            .into_iter()
            .map(|key| KeyRow {
                id: key.id.to_string(),
                role: key.role.as_str(),
                created_at: local(key.created_at, &zone),
                revoked_at: key.revoked_at.map(|at| local(at, &zone)),
            })
            .collect();
        Ok(Self {
            chrome,
            keys,
            issued: None,
        })
    }
}

pub(in crate::console) async fn keys_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(done): Query<Done>,
) -> Result<impl IntoResponse, ConsoleError> {
    signed.require_admin()?;
    let chrome = done.chrome(&signed, "settings-keys-title");
    render(&KeysPage::new(&state, &signed, chrome).await?)
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct KeyForm {
    #[serde(default)]
    role: String,
}

/// Makes a key and answers with the page showing its secret (not a redirect: the secret must
/// not travel in a URL or be shown again on reload).
pub(in crate::console) async fn create_key(
    State(state): State<AppState>,
    CsrfForm(signed, form): CsrfForm<KeyForm>,
) -> Result<impl IntoResponse, ConsoleError> {
    signed.require_admin()?;
    let role = ApiKeyRole::parse(&form.role)
        .ok_or_else(|| ConsoleError::BadForm("role: booking, staff or admin".to_owned()))?;
    let issued = state
        .store
        .issue_api_key(&signed.clinic.id, role, state.clock.now())
        .await?;
    tracing::info!(clinic = %signed.clinic.slug, key = %issued.view.id, role = role.as_str(), by = %signed.member.id, "API key created");
    let chrome = Chrome::new(&signed, "settings", "settings-keys-title");
    let mut page = KeysPage::new(&state, &signed, chrome).await?;
    page.issued = Some((role.as_str(), issued.key));
    render(&page)
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct NoFields {}

pub(in crate::console) async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(signed, NoFields {}): CsrfForm<NoFields>,
) -> Result<Redirect, ConsoleError> {
    signed.require_admin()?;
    let id = ApiKeyId::parse(&id).ok_or(ConsoleError::NotFound)?;
    state
        .store
        .revoke_api_key(&signed.clinic.id, &id, state.clock.now())
        .await?;
    state.keys.forget(&id);
    tracing::info!(clinic = %signed.clinic.slug, key = %id, by = %signed.member.id, "API key revoked");
    Ok(Redirect::to(&format!("{PAGE}?saved=1")))
}
