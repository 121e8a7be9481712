//! `/console/settings/webhooks`: the booking system's endpoints — where medrelay tells it what
//! happened. Registered with the rules `/v1/webhooks` uses (`booking_webhooks::checked_*`); the
//! signing secret is shown once, on the page the form answers with. Switching an endpoint on
//! again sends what waited for it, in order; deleting drops its undelivered messages and log.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Done, refused};
use crate::api::AppState;
use crate::booking_webhooks::{checked_event_types, checked_url, new_secret};
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::pages::today::local;
use crate::console::session::{CsrfForm, SignedIn};
use crate::domain::{FieldError, WebhookEndpointId, WebhookEventType};
use crate::store::{EndpointChange, NewWebhookEndpoint};

const PAGE: &str = "/console/settings/webhooks";

#[derive(Debug)]
struct EndpointRow {
    id: String,
    url: String,
    event_types: Vec<&'static str>,
    enabled: bool,
    disabled_reason: Option<String>,
    failing_since: Option<String>,
}

#[derive(Template)]
#[template(path = "console/settings_webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    endpoints: Vec<EndpointRow>,
    /// Every event type, with whether the add form has it ticked.
    event_types: Vec<(&'static str, bool)>,
    typed_url: String,
    /// An endpoint just registered: its secret, shown this once.
    secret: Option<String>,
    errors: Vec<FieldError>,
}

impl WebhooksPage {
    async fn new(
        state: &AppState,
        signed: &SignedIn,
        chrome: Chrome,
    ) -> Result<Self, ConsoleError> {
        let zone = signed.clinic.timezone.zone();
        let endpoints = state
            .store
            .webhook_endpoints(&signed.clinic.id)
            .await?
            .into_iter()
            .map(|e| EndpointRow {
                id: e.id.to_string(),
                url: e.url,
                event_types: e.event_types.iter().map(|t| t.as_str()).collect(),
                enabled: e.enabled,
                disabled_reason: e.disabled_reason,
                failing_since: e.failing_since.map(|at| local(at, &zone)),
            })
            .collect();
        Ok(Self {
            chrome,
            endpoints,
            event_types: WebhookEventType::ALL
                .iter()
                .map(|t| (t.as_str(), false))
                .collect(),
            typed_url: String::new(),
            secret: None,
            errors: Vec::new(),
        })
    }
}

pub(in crate::console) async fn webhooks_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(done): Query<Done>,
) -> Result<impl IntoResponse, ConsoleError> {
    signed.require_admin()?;
    let chrome = done.chrome(&signed, "settings-webhooks-title");
    render(&WebhooksPage::new(&state, &signed, chrome).await?)
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct EndpointForm {
    #[serde(default)]
    url: String,
    /// One per ticked box.
    #[serde(default)]
    event_types: Vec<String>,
}

/// Registers an endpoint, switched on, and answers with its secret (no redirect: the secret is
/// never in a URL nor shown again).
pub(in crate::console) async fn create_webhook(
    State(state): State<AppState>,
    CsrfForm(signed, form): CsrfForm<EndpointForm>,
) -> Result<Response, ConsoleError> {
    signed.require_admin()?;
    let mut errors = Vec::new();
    let url = checked_url(
        form.url.trim(),
        state.config.webhooks.target_rule(),
        &mut errors,
    );
    let types = checked_event_types(&form.event_types, &mut errors);
    let chrome = Chrome::new(&signed, "settings", "settings-webhooks-title");
    let (Some(url), Some(event_types)) = (url, types) else {
        let mut page = WebhooksPage::new(&state, &signed, chrome).await?;
        for (name, ticked) in &mut page.event_types {
            *ticked = form.event_types.iter().any(|t| t == name);
        }
        page.typed_url = form.url;
        page.errors = errors;
        return refused(&page);
    };
    let secret = new_secret();
    let new = NewWebhookEndpoint {
        url,
        event_types,
        secret: secret.clone(),
        enabled: true,
    };
    let clinic = &signed.clinic;
    let endpoint = state
        .store
        .create_webhook_endpoint(&clinic.id, new, state.clock.now())
        .await?;
    tracing::info!(clinic = %clinic.slug, endpoint = %endpoint.id, by = %signed.member.id, "webhook endpoint registered");
    let mut page = WebhooksPage::new(&state, &signed, chrome).await?;
    page.secret = Some(secret);
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct EnabledForm {
    /// `1`: on; `0`: off.
    #[serde(default)]
    enabled: String,
}

pub(in crate::console) async fn set_enabled(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(signed, form): CsrfForm<EnabledForm>,
) -> Result<Redirect, ConsoleError> {
    signed.require_admin()?;
    let id = WebhookEndpointId::parse(&id).ok_or(ConsoleError::NotFound)?;
    let enabled = match form.enabled.as_str() {
        "1" => true,
        "0" => false,
        _ => return Err(ConsoleError::BadForm("enabled: 1 or 0".to_owned())),
    };
    let change = EndpointChange {
        url: None,
        event_types: None,
        enabled: Some(enabled),
    };
    state
        .store
        .change_webhook_endpoint(&signed.clinic.id, &id, change, state.clock.now())
        .await?;
    tracing::info!(clinic = %signed.clinic.slug, endpoint = %id, enabled, by = %signed.member.id, "webhook endpoint changed");
    Ok(Redirect::to(&format!("{PAGE}?saved=1")))
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct NoFields {}

pub(in crate::console) async fn delete_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(signed, NoFields {}): CsrfForm<NoFields>,
) -> Result<Redirect, ConsoleError> {
    signed.require_admin()?;
    let id = WebhookEndpointId::parse(&id).ok_or(ConsoleError::NotFound)?;
    state
        .store
        .delete_webhook_endpoint(&signed.clinic.id, &id)
        .await?;
    tracing::info!(clinic = %signed.clinic.slug, endpoint = %id, by = %signed.member.id, "webhook endpoint deleted");
    Ok(Redirect::to(&format!("{PAGE}?saved=1")))
}
