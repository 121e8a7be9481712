//! `/console/settings/topics`: the clinic's topics and how sensitive each is (what WhatsApp and
//! SMS may carry), with the secure link for sensitive ones. One form sets one topic, checked by
//! `TopicSetting::parse` as `PUT /v1/topics/{name}` is.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Done, refused};
use crate::api::AppState;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::session::{CsrfForm, SignedIn};
use crate::domain::{FieldError, Sensitivity, TopicSetting};
use crate::store::TopicView;

const PAGE: &str = "/console/settings/topics";

#[derive(Template)]
#[template(path = "console/settings_topics.html")]
struct TopicsPage {
    chrome: Chrome,
    topics: Vec<TopicView>,
    /// (value, label) of each sensitivity, least first.
    sensitivities: Vec<(&'static str, String)>,
    errors: Vec<FieldError>,
    /// The new topic's name as typed, kept when it was refused.
    typed_name: String,
}

impl TopicsPage {
    async fn new(
        state: &AppState,
        signed: &SignedIn,
        chrome: Chrome,
    ) -> Result<Self, ConsoleError> {
        let sensitivities = Sensitivity::ALL
            .iter()
            .map(|s| {
                let label = chrome.t(&format!("settings-topics-{}", s.as_str()));
                (s.as_str(), label)
            })
            .collect();
        Ok(Self {
            topics: state.store.topics(&signed.clinic.id).await?,
            chrome,
            sensitivities,
            errors: Vec::new(),
            typed_name: String::new(),
        })
    }
}

pub(in crate::console) async fn topics_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(done): Query<Done>,
) -> Result<impl IntoResponse, ConsoleError> {
    signed.require_admin()?;
    let chrome = done.chrome(&signed, "settings-topics-title");
    render(&TopicsPage::new(&state, &signed, chrome).await?)
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct TopicForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    sensitivity: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    secure_link: Option<String>,
}

/// Adds a topic or changes one, as `PUT /v1/topics/{name}` does.
pub(in crate::console) async fn set_topic(
    State(state): State<AppState>,
    CsrfForm(signed, form): CsrfForm<TopicForm>,
) -> Result<Response, ConsoleError> {
    signed.require_admin()?;
    let name = form.name.trim();
    let setting = match TopicSetting::parse(name, &form.sensitivity, form.secure_link.is_some()) {
        Ok(setting) => setting,
        Err(errors) => {
            let chrome = Chrome::new(&signed, "settings", "settings-topics-title");
            let mut page = TopicsPage::new(&state, &signed, chrome).await?;
            page.errors = errors;
            page.typed_name = name.to_owned();
            return refused(&page);
        }
    };
    let topic = state
        .store
        .set_topic(
            &signed.clinic.id,
            &setting.name,
            setting.sensitivity,
            setting.secure_link,
            state.clock.now(),
        )
        .await?;
    state.clinic_settings.forget(&signed.clinic.id);
    tracing::info!(clinic = %signed.clinic.slug, topic = %topic.name, sensitivity = topic.sensitivity.as_str(), by = %signed.member.id, "topic set");
    Ok(Redirect::to(&format!("{PAGE}?saved=1")).into_response())
}
