//! `/console/settings/templates`: the clinic's message templates per language and channel, with
//! what each SMS text costs in segments (GSM-7 160/153, UCS-2 70/67, counted by
//! `medrelay_channels::segments` on the same sample the API shows), and the staff quick replies.
//! Every form is checked by `policy::templates`, as `/v1/templates` and `/v1/quick-replies` are.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use medrelay_channels::segments::{self, Encoding};
use serde::Deserialize;

use super::{Done, refused};
use crate::api::AppState;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::session::{CsrfForm, SignedIn};
use crate::policy::templates::{
    self, EmailCopy, Flaw, OwnTemplate, QuickReply, SMS_SEGMENTS_WARNING, Source, TemplateCopy,
    TextCopy, WhatsAppCopy,
};

const PAGE: &str = "/console/settings/templates";

/// What an SMS text costs, as shown next to it.
#[derive(Debug)]
struct SmsCost {
    segments: usize,
    units: usize,
    encoding: &'static str,
    /// Past the API's warning threshold.
    costly: bool,
}

impl SmsCost {
    fn of(copy: &TemplateCopy, clinic: &str) -> Self {
        let cost = segments::analyse(&templates::sms_sample(copy, clinic));
        Self {
            segments: cost.segments,
            units: cost.units,
            encoding: match cost.encoding {
                Encoding::Gsm7 => "GSM-7",
                Encoding::Ucs2 => "UCS-2",
            },
            costly: cost.segments > SMS_SEGMENTS_WARNING,
        }
    }
}

#[derive(Debug)]
struct TemplateRow {
    name: String,
    language: String,
    built_in: bool,
    /// A built-in the clinic's own copy replaces.
    overridden: bool,
    sms: SmsCost,
}

#[derive(Template)]
#[template(path = "console/settings_templates.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<TemplateRow>,
    /// (name, [(language, text)]).
    quick_replies: Vec<(String, Vec<(String, String)>)>,
    errors: Vec<Flaw>,
}

impl ListPage {
    async fn new(
        state: &AppState,
        signed: &SignedIn,
        chrome: Chrome,
    ) -> Result<Self, ConsoleError> {
        let store = &state.store;
        let clinic = &signed.clinic;
        let own = store.clinic_texts::<TemplateCopy>(&clinic.id, None).await?;
        let mut rows: Vec<TemplateRow> = templates::builtins()
            .map(|(name, language, copy)| TemplateRow {
                overridden: own.iter().any(|t| t.name == name && t.language == language),
                name: name.to_owned(),
                language: language.to_owned(),
                built_in: true,
                sms: SmsCost::of(&copy, &clinic.name),
            })
            .collect();
        rows.extend(own.iter().map(|t| TemplateRow {
            name: t.name.clone(),
            language: t.language.clone(),
            built_in: false,
            overridden: false,
            sms: SmsCost::of(&t.content, &clinic.name),
        }));
        rows.sort_by(|a, b| {
            (&a.name, &a.language, !a.built_in).cmp(&(&b.name, &b.language, !b.built_in))
        });
        let mut quick_replies: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for reply in store.clinic_texts::<QuickReply>(&clinic.id, None).await? {
            let OwnTemplate {
                name,
                language,
                content,
            } = reply;
            quick_replies
                .entry(name)
                .or_default()
                .push((language, content.text));
        }
        Ok(Self {
            chrome,
            rows,
            quick_replies: quick_replies.into_iter().collect(),
            errors: Vec::new(),
        })
    }

    fn refused(mut self, errors: Vec<Flaw>) -> Result<Response, ConsoleError> {
        self.errors = errors;
        refused(&self)
    }
}

pub(in crate::console) async fn list_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(done): Query<Done>,
) -> Result<impl IntoResponse, ConsoleError> {
    signed.require_admin()?;
    let chrome = done.chrome(&signed, "settings-templates-title");
    render(&ListPage::new(&state, &signed, chrome).await?)
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct NewTemplate {
    #[serde(default)]
    name: String,
    #[serde(default)]
    language: String,
}

/// The "new template" form: to the editing page of that name and language, once both are valid.
pub(in crate::console) async fn new_template(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(wanted): Query<NewTemplate>,
) -> Result<Response, ConsoleError> {
    signed.require_admin()?;
    let (name, language) = (wanted.name.trim(), wanted.language.trim());
    let flaws = templates::check_name_and_language(name, Some(language));
    if flaws.is_empty() {
        return Ok(Redirect::to(&format!("{PAGE}/{name}/{language}")).into_response());
    }
    let chrome = Chrome::new(&signed, "settings", "settings-templates-title");
    ListPage::new(&state, &signed, chrome).await?.refused(flaws)
}

#[derive(Template)]
#[template(path = "console/settings_template_edit.html")]
struct EditPage {
    chrome: Chrome,
    name: String,
    language: String,
    /// Right-to-left languages get their text boxes drawn so.
    dir: &'static str,
    clinic_name: String,
    built_in: bool,
    /// The clinic has its own copy (which can be removed).
    own: bool,
    copy: TemplateCopy,
    sms: SmsCost,
    /// The cost sentence, its numbers in spans `segments.js` rewrites as the text changes.
    sms_counter: String,
    warn_above: usize,
    errors: Vec<Flaw>,
}

/// The cost sentence in the page's language, escaped, with each number in a `data-seg` span.
fn counter_html(chrome: &Chrome, cost: &SmsCost) -> String {
    let marks = [
        ("segments", "\u{E000}"),
        ("encoding", "\u{E001}"),
        ("units", "\u{E002}"),
    ];
    let sentence = chrome.tr.t_with("settings-templates-segments", &marks);
    let escaped = sentence
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let values = [
        cost.segments.to_string(),
        cost.encoding.to_owned(),
        cost.units.to_string(),
    ];
    marks
        .iter()
        .zip(values)
        .fold(escaped, |html, ((name, mark), value)| {
            html.replace(mark, &format!("<span data-seg=\"{name}\">{value}</span>"))
        })
}

impl EditPage {
    fn new(
        chrome: Chrome,
        signed: &SignedIn,
        (name, language): (String, String),
        copy: TemplateCopy,
    ) -> Self {
        let dir = if matches!(language.as_str(), "he" | "ar" | "fa" | "ur" | "yi") {
            "rtl"
        } else {
            "ltr"
        };
        let sms = SmsCost::of(&copy, &signed.clinic.name);
        Self {
            sms_counter: counter_html(&chrome, &sms),
            warn_above: SMS_SEGMENTS_WARNING,
            chrome,
            built_in: templates::builtin(&name, &language).is_some(),
            own: false,
            sms,
            clinic_name: signed.clinic.name.clone(),
            name,
            language,
            dir,
            copy,
            errors: Vec::new(),
        }
    }
}

fn blank_copy() -> TemplateCopy {
    let text = || TextCopy {
        text: String::new(),
    };
    TemplateCopy {
        params: Vec::new(),
        whatsapp: WhatsAppCopy {
            name: String::new(),
            parameters: Vec::new(),
            text: String::new(),
        },
        sms: text(),
        email: EmailCopy {
            subject: String::new(),
            text: String::new(),
        },
        voice: text(),
    }
}

/// The name and language of a path, valid, or no such page.
fn checked_path((name, language): (String, String)) -> Result<(String, String), ConsoleError> {
    if templates::check_name_and_language(&name, Some(&language)).is_empty() {
        Ok((name, language))
    } else {
        Err(ConsoleError::NotFound)
    }
}

/// The copy in use for exactly this language (the clinic's own or the built-in); a blank one to
/// write when there is neither.
pub(in crate::console) async fn edit_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(path): Path<(String, String)>,
    Query(done): Query<Done>,
) -> Result<impl IntoResponse, ConsoleError> {
    signed.require_admin()?;
    let (name, language) = checked_path(path)?;
    let own = state
        .store
        .clinic_texts::<TemplateCopy>(&signed.clinic.id, Some(&name))
        .await?;
    let found = templates::in_language(&name, &language, &own);
    let is_own = matches!(found, Some((Source::Clinic, _)));
    let copy = found.map(|(_, copy)| copy).unwrap_or_else(blank_copy);
    let chrome = done.chrome(&signed, "settings-templates-edit-title");
    let mut page = EditPage::new(chrome, &signed, (name, language), copy);
    page.own = is_own;
    render(&page)
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct CopyForm {
    #[serde(default)]
    params: String,
    #[serde(default)]
    whatsapp_name: String,
    #[serde(default)]
    whatsapp_parameters: String,
    #[serde(default)]
    whatsapp_text: String,
    #[serde(default)]
    sms_text: String,
    #[serde(default)]
    email_subject: String,
    #[serde(default)]
    email_text: String,
    #[serde(default)]
    voice_text: String,
}

/// Names written with commas or spaces between them.
fn names(list: &str) -> Vec<String> {
    list.split([',', ' ', '\n', '\r', '\t'])
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

impl CopyForm {
    /// The form as the API's `TemplateCopy`; browsers send line ends as CR LF, stored as LF.
    fn into_copy(self) -> TemplateCopy {
        let text = |t: String| t.replace("\r\n", "\n");
        TemplateCopy {
            params: names(&self.params),
            whatsapp: WhatsAppCopy {
                name: self.whatsapp_name.trim().to_owned(),
                parameters: names(&self.whatsapp_parameters),
                text: text(self.whatsapp_text),
            },
            sms: TextCopy {
                text: text(self.sms_text),
            },
            email: EmailCopy {
                subject: self.email_subject,
                text: text(self.email_text),
            },
            voice: TextCopy {
                text: text(self.voice_text),
            },
        }
    }
}

/// Creates or replaces the clinic's own copy, as `PUT /v1/templates/{name}/{language}` does.
pub(in crate::console) async fn save_template(
    State(state): State<AppState>,
    Path(path): Path<(String, String)>,
    CsrfForm(signed, form): CsrfForm<CopyForm>,
) -> Result<Response, ConsoleError> {
    signed.require_admin()?;
    let (name, language) = checked_path(path)?;
    let copy = form.into_copy();
    let flaws = templates::check_copy(&copy);
    if !flaws.is_empty() {
        let chrome = Chrome::new(&signed, "settings", "settings-templates-edit-title");
        let mut page = EditPage::new(chrome, &signed, (name, language), copy);
        page.errors = flaws;
        return refused(&page);
    }
    let clinic = &signed.clinic;
    state
        .store
        .put_clinic_text(&clinic.id, &name, &language, &copy, state.clock.now())
        .await?;
    state.clinic_settings.forget(&clinic.id);
    tracing::info!(clinic = %clinic.slug, template = %name, language = %language, by = %signed.member.id, "template set");
    Ok(Redirect::to(&format!("{PAGE}/{name}/{language}?saved=1")).into_response())
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct NoFields {}

/// Removes the clinic's own copy; a built-in it replaced is in use again.
pub(in crate::console) async fn delete_template(
    State(state): State<AppState>,
    Path(path): Path<(String, String)>,
    CsrfForm(signed, NoFields {}): CsrfForm<NoFields>,
) -> Result<Redirect, ConsoleError> {
    signed.require_admin()?;
    let (name, language) = checked_path(path)?;
    let removed = state
        .store
        .delete_clinic_texts::<TemplateCopy>(&signed.clinic.id, &name, Some(&language))
        .await?;
    state.clinic_settings.forget(&signed.clinic.id);
    if removed == 0 {
        return Err(ConsoleError::NotFound);
    }
    Ok(Redirect::to(&format!("{PAGE}?saved=1")))
}

/// The quick-reply form: its name and one text box per language (`text-he`, `text-en`, …); a
/// box left blank is no copy in that language.
pub(in crate::console) async fn save_quick_reply(
    State(state): State<AppState>,
    CsrfForm(signed, fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    signed.require_admin()?;
    let name = fields
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.trim())
        .unwrap_or("");
    let texts: BTreeMap<String, String> = fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("text-")?.to_owned(), v.replace("\r\n", "\n"))))
        .filter(|(_, text)| !text.trim().is_empty())
        .collect();
    let mut flaws = templates::check_name_and_language(name, None);
    let copies = templates::quick_reply_copies(texts, state.config.api.max_body_chars)
        .map_err(|broken| flaws.extend(broken));
    let (Ok(copies), true) = (copies, flaws.is_empty()) else {
        let chrome = Chrome::new(&signed, "settings", "settings-templates-title");
        return ListPage::new(&state, &signed, chrome).await?.refused(flaws);
    };
    state
        .store
        .replace_clinic_texts(&signed.clinic.id, name, &copies, state.clock.now())
        .await?;
    Ok(Redirect::to(&format!("{PAGE}?saved=1#quick-replies")).into_response())
}

pub(in crate::console) async fn delete_quick_reply(
    State(state): State<AppState>,
    Path(name): Path<String>,
    CsrfForm(signed, NoFields {}): CsrfForm<NoFields>,
) -> Result<Redirect, ConsoleError> {
    signed.require_admin()?;
    if !templates::is_template_name(&name) {
        return Err(ConsoleError::NotFound);
    }
    let removed = state
        .store
        .delete_clinic_texts::<QuickReply>(&signed.clinic.id, &name, None)
        .await?;
    if removed == 0 {
        return Err(ConsoleError::NotFound);
    }
    Ok(Redirect::to(&format!("{PAGE}?saved=1#quick-replies")))
}
