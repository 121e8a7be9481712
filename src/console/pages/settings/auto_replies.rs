//! `/console/settings/auto-replies`: how the clinic answers patients who write on their own — how
//! often a receipt or away message may go to one patient, how long staff take to answer (what
//! the receipt promises), the emergency number the away message gives — and the texts of those
//! replies, which are the built-in `auto_*` templates a clinic may replace. Checked by
//! `InboundSettings::check`, as `PUT /v1/clinic/inbound` is; the keywords, urgent phrases and
//! labels the API also sets are kept as they are.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Done, refused};
use crate::api::AppState;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::session::{CsrfForm, SignedIn};
use crate::domain::FieldError;
use crate::policy::inbound::InboundSettings;
use crate::policy::templates::{self, Source, TemplateCopy};

const PAGE: &str = "/console/settings/auto-replies";

/// One automatic reply's text in one language, as patients get it by SMS.
#[derive(Debug)]
struct ReplyText {
    name: &'static str,
    language: &'static str,
    text: String,
    own: bool,
}

#[derive(Template)]
#[template(path = "console/settings_auto_replies.html")]
struct AutoRepliesPage {
    chrome: Chrome,
    form: SettingsForm,
    texts: Vec<ReplyText>,
    errors: Vec<FieldError>,
}

impl AutoRepliesPage {
    async fn new(
        state: &AppState,
        signed: &SignedIn,
        chrome: Chrome,
        form: SettingsForm,
    ) -> Result<Self, ConsoleError> {
        let own = state
            .store
            .clinic_texts::<TemplateCopy>(&signed.clinic.id, None)
            .await?;
        let texts = templates::builtins()
            .filter(|(name, _, _)| name.starts_with("auto_"))
            .filter_map(|(name, language, _)| {
                let (source, copy) = templates::in_language(name, language, &own)?;
                Some(ReplyText {
                    name,
                    language,
                    text: copy.sms.text,
                    own: source == Source::Clinic,
                })
            })
            .collect();
        Ok(Self {
            chrome,
            form,
            texts,
            errors: Vec::new(),
        })
    }
}

/// The settings the page changes, as typed.
#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct SettingsForm {
    #[serde(default)]
    auto_reply_every_hours: String,
    #[serde(default)]
    staff_answered_quiet_minutes: String,
    #[serde(default)]
    response_target_minutes: String,
    #[serde(default)]
    emergency_number: String,
}

impl SettingsForm {
    fn of(settings: &InboundSettings) -> Self {
        Self {
            auto_reply_every_hours: settings.auto_reply_every_hours.to_string(),
            staff_answered_quiet_minutes: settings.staff_answered_quiet_minutes.to_string(),
            response_target_minutes: settings.response_target_minutes.to_string(),
            emergency_number: settings.emergency_number.clone(),
        }
    }

    /// `current` with the form's values; a number that is not one is named, as the API's JSON
    /// parser would refuse it.
    fn apply(&self, mut current: InboundSettings) -> Result<InboundSettings, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut number = |field: &str, text: &str, into: &mut u32| match text.trim().parse() {
            Ok(value) => *into = value,
            Err(_) => errors.push(FieldError::new(field, "must be a whole number")),
        };
        number(
            "auto_reply_every_hours",
            &self.auto_reply_every_hours,
            &mut current.auto_reply_every_hours,
        );
        number(
            "staff_answered_quiet_minutes",
            &self.staff_answered_quiet_minutes,
            &mut current.staff_answered_quiet_minutes,
        );
        number(
            "response_target_minutes",
            &self.response_target_minutes,
            &mut current.response_target_minutes,
        );
        current.emergency_number = self.emergency_number.trim().to_owned();
        errors.extend(current.check());
        if errors.is_empty() {
            Ok(current)
        } else {
            Err(errors)
        }
    }
}

pub(in crate::console) async fn auto_replies_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(done): Query<Done>,
) -> Result<impl IntoResponse, ConsoleError> {
    signed.require_admin()?;
    let settings = state.store.inbound_settings(&signed.clinic.id).await?;
    let chrome = done.chrome(&signed, "settings-auto-replies-title");
    render(&AutoRepliesPage::new(&state, &signed, chrome, SettingsForm::of(&settings)).await?)
}

pub(in crate::console) async fn save_auto_replies(
    State(state): State<AppState>,
    CsrfForm(signed, form): CsrfForm<SettingsForm>,
) -> Result<Response, ConsoleError> {
    signed.require_admin()?;
    let current = state.store.inbound_settings(&signed.clinic.id).await?;
    let settings = match form.apply(current) {
        Ok(settings) => settings,
        Err(errors) => {
            let chrome = Chrome::new(&signed, "settings", "settings-auto-replies-title");
            let mut page = AutoRepliesPage::new(&state, &signed, chrome, form).await?;
            page.errors = errors;
            return refused(&page);
        }
    };
    state
        .store
        .set_inbound_settings(&signed.clinic.id, &settings)
        .await?;
    tracing::info!(clinic = %signed.clinic.slug, by = %signed.member.id, "inbound settings set");
    Ok(Redirect::to(&format!("{PAGE}?saved=1")).into_response())
}
