//! Send: a staff member chooses the patient, the topic and what to send (a template, a quick
//! reply or their own text) and an optional channel; the page shows the message in the patient's
//! language and the routing preview (a `GET` with the chosen fields draws them, no script
//! needed), and the send goes through intake as `POST /v1/notifications` does, in the staff
//! member's name. The right patient: the full name, the end of the address and the channel stand
//! beside the button, and a patient other than the last one worked with needs one confirmation.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use medrelay_channels::ChannelKind;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::patients::{clinic_patient, urlencode};
use super::send_preview::{
    Chosen, ContentPreview, RoutingView, content_preview, parse_params, routing_preview,
};
use crate::api::AppState;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::right_patient::{RightPatient, channel_name};
use crate::console::session::{CsrfForm, SignedIn};
use crate::domain::{Metadata, Patient, Priority};
use crate::intake::{Content, Draft, IntakeError};
use crate::policy::templates::{OwnTemplate, QuickReply, TemplateCopy, builtins};

/// The send form's fields, as a `GET` (the preview) or a `POST` (the send) gives them.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(in crate::console) struct SendFields {
    patient: String,
    topic: String,
    /// `template`, `quick_reply` or `text`.
    kind: String,
    template: String,
    quick_reply: String,
    body: String,
    /// A template's parameters, `name=value` a line.
    params: String,
    channel: String,
    right_patient: Option<String>,
}

impl SendFields {
    fn chosen(&self) -> Chosen {
        Chosen {
            topic: self.topic.clone(),
            kind: self.kind.clone(),
            template: self.template.clone(),
            quick_reply: self.quick_reply.clone(),
            body: self.body.clone(),
            params: parse_params(&self.params),
            channel: self.channel.parse().ok(),
        }
    }
}

/// The patient the page is for.
struct PatientView {
    id: String,
    name: String,
    language: String,
}

/// (value, label, selected) of a choice.
type Choice = (String, String, bool);

#[derive(Template)]
#[template(path = "console/send.html")]
struct SendPage {
    chrome: Chrome,
    f: SendFields,
    patient: Option<PatientView>,
    topics: Vec<Choice>,
    templates: Vec<Choice>,
    quick_replies: Vec<Choice>,
    channels: Vec<Choice>,
    content: ContentPreview,
    routing: RoutingView,
    /// (summary, confirmation label, warning, confirmation needed).
    right: Option<(String, String, String, bool)>,
    /// The staff member posted without the confirmation the patient needs.
    ask_confirmation: bool,
    /// Patient, topic and content chosen: the send button shows.
    ready: bool,
    errors: Vec<String>,
}

fn choices(names: impl IntoIterator<Item = String>, chosen: &str) -> Vec<Choice> {
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| (n.clone(), n.clone(), n == chosen))
        .collect()
}

/// The page for `fields`, with the preview when a patient is chosen.
async fn page(
    state: &AppState,
    signed: &SignedIn,
    fields: SendFields,
    patient: Option<&Patient>,
) -> Result<SendPage, ConsoleError> {
    let clinic = &signed.clinic;
    let tr = signed.tr();
    let store = &state.store;
    let (topics, own_templates, own_replies) = tokio::try_join!(
        store.topics(&clinic.id),
        store.clinic_texts::<TemplateCopy>(&clinic.id, None),
        store.clinic_texts::<QuickReply>(&clinic.id, None),
    )?;
    let topic = if fields.topic.is_empty() {
        "general"
    } else {
        &fields.topic
    };
    let mut chosen = fields.chosen();
    chosen.topic = topic.to_owned();
    let template_names = own_templates
        .iter()
        .map(|t: &OwnTemplate<TemplateCopy>| t.name.clone())
        .chain(builtins().map(|(name, _, _)| name.to_owned()));
    let mut page = SendPage {
        chrome: Chrome::new(signed, "send", "send-title"),
        topics: choices(topics.into_iter().map(|t| t.name), topic),
        templates: choices(template_names, &fields.template),
        quick_replies: choices(
            own_replies
                .iter()
                .map(|t: &OwnTemplate<QuickReply>| t.name.clone()),
            &fields.quick_reply,
        ),
        channels: [
            ChannelKind::Whatsapp,
            ChannelKind::Sms,
            ChannelKind::Email,
            ChannelKind::Voice,
        ]
        .into_iter()
        .map(|c| {
            (
                c.as_str().to_owned(),
                channel_name(&tr, c),
                chosen.channel == Some(c),
            )
        })
        .collect(),
        content: ContentPreview::default(),
        routing: RoutingView::default(),
        right: None,
        ask_confirmation: false,
        ready: false,
        errors: Vec::new(),
        patient: None,
        f: fields,
    };
    let Some(patient) = patient else {
        return Ok(page);
    };
    page.content = content_preview(state, &tr, clinic, patient, &chosen).await?;
    page.routing = routing_preview(
        state,
        &tr,
        clinic,
        patient,
        &chosen,
        page.content.text.as_deref(),
    )
    .await?;
    let right = RightPatient::new(signed, patient, chosen.channel.or(page.routing.first));
    page.right = Some((
        right.summary(&tr),
        right.confirm_label(&tr),
        right.warning(&tr),
        right.confirm,
    ));
    page.ready = page.content.text.is_some();
    page.patient = Some(PatientView {
        id: patient.external_id.clone(),
        name: patient.name.clone(),
        language: patient.language.as_str().to_owned(),
    });
    Ok(page)
}

pub(in crate::console) async fn send_page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(fields): Query<SendFields>,
) -> Result<Response, ConsoleError> {
    let patient = if fields.patient.is_empty() {
        None
    } else {
        Some(clinic_patient(&state, &signed.clinic, &fields.patient).await?)
    };
    let page = page(&state, &signed, fields, patient.as_ref()).await?;
    Ok(render(&page)?.into_response())
}

/// Sends through intake, as `POST /v1/notifications` does, in the staff member's name; a patient
/// other than the last one worked with needs the confirmation first.
pub(in crate::console) async fn send(
    State(state): State<AppState>,
    CsrfForm(signed, fields): CsrfForm<SendFields>,
) -> Result<Response, ConsoleError> {
    let patient = clinic_patient(&state, &signed.clinic, &fields.patient).await?;
    let confirmation = fields.right_patient.clone();
    let right = RightPatient::new(&signed, &patient, fields.channel.parse().ok());
    if !right.allows(confirmation.as_deref()) {
        let mut page = page(&state, &signed, fields, Some(&patient)).await?;
        page.ask_confirmation = true;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let refused = match draft(&signed, &fields) {
        Ok(draft) => match state.intake.accept(draft, &signed.actor()).await {
            Ok(accepted) => {
                signed.remember_patient(&state, &patient.id).await?;
                let id = accepted.receipt.id;
                tracing::info!(notification = %id, "staff sent a notification from the console");
                let to = format!("/console/notifications/{}", urlencode(id.as_str()));
                return Ok(Redirect::to(&to).into_response());
            }
            Err(error) => refusal(error)?,
        },
        Err(why) => vec![signed.tr().t(why)],
    };
    let mut page = page(&state, &signed, fields, Some(&patient)).await?;
    page.errors = refused;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

/// The draft intake checks; the key of the text saying what is missing, if something is.
fn draft(signed: &SignedIn, fields: &SendFields) -> Result<Draft, &'static str> {
    let content = match fields.kind.as_str() {
        "template" if !fields.template.is_empty() => {
            let params: BTreeMap<String, String> = parse_params(&fields.params);
            Content::Template {
                name: fields.template.clone(),
                params: (!params.is_empty()).then_some(params),
            }
        }
        "quick_reply" if !fields.quick_reply.is_empty() => {
            Content::QuickReply(fields.quick_reply.clone())
        }
        "text" => Content::Body(fields.body.clone()),
        _ => return Err("send-choose-content"),
    };
    let channel = match fields.channel.as_str() {
        "" => None,
        name => Some(name.parse().map_err(|_| "send-bad-channel")?),
    };
    let topic = if fields.topic.is_empty() {
        "general".to_owned()
    } else {
        fields.topic.clone()
    };
    // Nothing is replayed without an idempotency key: the hash only describes the request.
    let described = format!("{}\n{topic}\n{content:?}\n{channel:?}", fields.patient);
    Ok(Draft {
        clinic: signed.clinic.clone(),
        patient_id: fields.patient.clone(),
        topic,
        content,
        channel,
        priority: Priority::Normal,
        send_at: None,
        expires_at: None,
        idempotency_key: None,
        request_hash: hex::encode(Sha256::digest(described.as_bytes())),
        reference: None,
        metadata: Metadata::default(),
        audit: None,
    })
}

/// What intake refused, as the page lists it; a failure of the store is the page's error.
fn refusal(error: IntakeError) -> Result<Vec<String>, ConsoleError> {
    match error {
        IntakeError::Invalid(errors) => Ok(errors
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.rule))
            .collect()),
        IntakeError::Store(e) => Err(ConsoleError::Store(e)),
        other => Ok(vec![other.to_string()]),
    }
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::get;
    axum::Router::new().route("/console/send", get(send_page).post(send))
}
