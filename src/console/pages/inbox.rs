//! The inbox: the clinic's conversations with their labels, filtered (unanswered, overdue,
//! handled, a label), and one patient's thread: their messages and ours interleaved, photos
//! shown inline, the reply form (see `inbox_reply` for what its posts do).
//!
//! Everything is read with the store queries behind `/v1/conversations`; where a reply would go
//! (the WhatsApp window, the channel plan) is `conversation_reply`'s rule, asked, not repeated.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use medrelay_channels::ChannelKind;
use serde::Deserialize;

use super::inbox_messages::{Message, inbound_message, outbound_message};
use super::notifications::{at, channel_name};
use crate::api::v1::conversation_reply::plan_reply;
use crate::api::v1::conversations::{decode_cursor, encode_cursor};
use crate::api::v1::messages::patient_media;
use crate::api::{ApiError, AppState};
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::right_patient::{CONFIRM_FIELD, RightPatient};
use crate::console::session::{SignedIn, new_token};
use crate::domain::{ConversationStatus, PatientId};
use crate::policy::templates::QuickReply;
use crate::store::{ConversationFilter, ConversationRecord};

const PAGE_SIZE: u32 = 50;

/// The list's GET form.
#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct ListForm {
    /// `unanswered`, `overdue`, `handled`, or empty: all.
    #[serde(default)]
    show: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    cursor: String,
}

const SHOWS: [&str; 3] = ["unanswered", "overdue", "handled"];

/// One conversation of the list.
#[derive(Debug)]
struct Row {
    patient: String,
    name: String,
    labels: Vec<String>,
    last: String,
    preview: String,
    waiting: bool,
    overdue: bool,
    urgent: bool,
}

#[derive(Template)]
#[template(path = "console/inbox.html")]
struct ListPage {
    chrome: Chrome,
    shows: Vec<(&'static str, String, bool)>,
    labels: Vec<(String, bool)>,
    rows: Vec<Row>,
    next: Option<String>,
}

fn filter(
    form: &ListForm,
    known: &[String],
    now: Timestamp,
) -> Result<ConversationFilter, ConsoleError> {
    let bad = |field: &str| ConsoleError::BadForm(format!("{field}: not one of the choices"));
    let show = form.show.as_str();
    if !show.is_empty() && !SHOWS.contains(&show) {
        return Err(bad("show"));
    }
    let label = Some(form.label.clone()).filter(|l| !l.is_empty());
    if label.as_ref().is_some_and(|l| !known.contains(l)) {
        return Err(bad("label"));
    }
    let after = Some(form.cursor.as_str())
        .filter(|c| !c.is_empty())
        .map(|c| decode_cursor(c).ok_or_else(|| bad("cursor")))
        .transpose()?;
    Ok(ConversationFilter {
        label,
        status: (show == "handled").then_some(ConversationStatus::Handled),
        unanswered: (show == "unanswered").then_some(true),
        overdue: (show == "overdue").then_some(true),
        now,
        limit: PAGE_SIZE,
        after,
    })
}

pub(in crate::console) async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(form): Query<ListForm>,
) -> Result<impl IntoResponse, ConsoleError> {
    let clinic = &signed.clinic.id;
    let known = state.store.conversation_labels(clinic).await?;
    let now = state.clock.now();
    let page = state
        .store
        .conversations(clinic, &filter(&form, &known, now)?)
        .await?;
    let tr = signed.tr();
    let zone = signed.clinic.timezone.zone();
    let next = page.next.as_ref().map(|cursor| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("show", &form.show);
        query.append_pair("label", &form.label);
        query.append_pair("cursor", &encode_cursor(cursor));
        format!("/console/inbox?{}", query.finish())
    });
    render(&ListPage {
        chrome: Chrome::new(&signed, "inbox", "inbox-title"),
        shows: SHOWS
            .iter()
            .map(|s| (*s, tr.t(&format!("inbox-show-{s}")), form.show == *s))
            .collect(),
        labels: known
            .into_iter()
            .map(|l| {
                let selected = l == form.label;
                (l, selected)
            })
            .collect(),
        rows: page.items.into_iter().map(|c| row(c, &zone, now)).collect(),
        next,
    })
}

fn row(c: ConversationRecord, zone: &TimeZone, now: Timestamp) -> Row {
    Row {
        patient: c.patient.id.to_string(),
        name: c.patient.name,
        labels: c.labels,
        last: c.last_message_at.map(|t| at(t, zone)).unwrap_or_default(),
        preview: c
            .last_inbound_text
            .map(|t| t.chars().take(100).collect())
            .unwrap_or_default(),
        waiting: c.awaiting_since.is_some(),
        overdue: c.overdue_at.is_some_and(|t| t <= now),
        urgent: c.urgent_since.is_some(),
    }
}

/// What the reply form shows and keeps between a refused post and the page drawn again.
#[derive(Debug, Default)]
pub(super) struct ReplyBox {
    /// "Dana Levi, …4567, by WhatsApp".
    pub(super) summary: String,
    /// Asked when the patient is not the one this person last worked with.
    pub(super) confirm: Option<(String, String)>,
    pub(super) confirm_field: &'static str,
    pub(super) window_open: bool,
    /// Why the reply goes where it goes, or why it cannot go.
    pub(super) note: Option<String>,
    pub(super) quick_replies: Vec<String>,
    pub(super) channels: Vec<(String, String, bool)>,
    /// Sent once: the same form posted twice sends one reply.
    pub(super) once: String,
    pub(super) text: String,
    pub(super) error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/inbox_thread.html")]
pub(super) struct ThreadPage {
    pub(super) chrome: Chrome,
    pub(super) patient: String,
    pub(super) unknown_contact: bool,
    pub(super) open: bool,
    pub(super) labels: Vec<String>,
    pub(super) addable: Vec<String>,
    pub(super) messages: Vec<Message>,
    pub(super) reply: ReplyBox,
}

/// The clinic's patient a thread URL names (our id or the booking system's); another clinic's
/// is not found.
pub(super) async fn conversation(
    state: &AppState,
    signed: &SignedIn,
    named: &str,
) -> Result<PatientId, ConsoleError> {
    Ok(state
        .store
        .conversation_patient(&signed.clinic.id, named)
        .await?)
}

/// A refused API-layer call as the sentence a form shows, or the page's error.
pub(super) fn refusal(error: ApiError) -> Result<String, ConsoleError> {
    match error {
        ApiError::NotFound(_) => Err(ConsoleError::NotFound),
        ApiError::Invalid(errors) => Ok(errors
            .into_iter()
            .map(|e| e.rule)
            .collect::<Vec<_>>()
            .join("; ")),
        other => Ok(other.to_string()),
    }
}

/// The thread of `patient`, with the reply form for staff's choice of `channel`.
pub(super) async fn thread_page(
    state: &AppState,
    signed: &SignedIn,
    patient: &PatientId,
    channel: Option<ChannelKind>,
) -> Result<ThreadPage, ConsoleError> {
    let clinic = &signed.clinic;
    let timeline = state
        .store
        .conversation_timeline(&clinic.id, patient)
        .await?;
    let whole = state.store.clinic_patient(&clinic.id, patient).await?;
    let known = state.store.conversation_labels(&clinic.id).await?;
    let tr = signed.tr();
    let zone = clinic.timezone.zone();
    let mut messages: Vec<Message> = timeline
        .inbound
        .into_iter()
        .map(|m| inbound_message(m, &tr, &zone))
        .chain(
            timeline
                .outbound
                .into_iter()
                .map(|n| outbound_message(n, &tr, &zone)),
        )
        .collect();
    // Stable: at the same millisecond the patient's message comes before our answer.
    messages.sort_by_key(|m| m.sort);
    let reply = reply_box(state, signed, &whole, channel).await?;
    let c = timeline.conversation;
    let addable = known
        .into_iter()
        .filter(|l| l != "awaiting_response" && !c.labels.contains(l))
        .collect();
    let mut chrome = Chrome::new(signed, "inbox", "inbox-thread-title");
    chrome.title = format!("{} · {}", chrome.title, c.patient.name);
    Ok(ThreadPage {
        chrome,
        patient: c.patient.id.to_string(),
        unknown_contact: c.patient.unknown_contact,
        open: c.status == ConversationStatus::Open || c.awaiting_since.is_some(),
        labels: c.labels,
        addable,
        messages,
        reply,
    })
}

async fn reply_box(
    state: &AppState,
    signed: &SignedIn,
    patient: &crate::domain::Patient,
    channel: Option<ChannelKind>,
) -> Result<ReplyBox, ConsoleError> {
    let tr = signed.tr();
    let plan = match plan_reply(state, &signed.clinic, patient, channel).await {
        Ok(plan) => plan,
        Err(error) => return Err(refusal(error).map(ConsoleError::BadForm)?),
    };
    let first = plan.channel.as_ref().ok().copied();
    let right = RightPatient::new(signed, patient, first);
    let note = match &plan.channel {
        Err(why) => Some(format!("{} {why}", tr.t("inbox-no-channel"))),
        Ok(_) => plan.note.clone(),
    };
    let mut quick_replies: Vec<String> = state
        .store
        .clinic_texts::<QuickReply>(&signed.clinic.id, None)
        .await?
        .into_iter()
        .map(|q| q.name)
        .collect();
    quick_replies.dedup();
    Ok(ReplyBox {
        summary: right.summary(&tr),
        confirm: right
            .confirm
            .then(|| (right.warning(&tr), right.confirm_label(&tr))),
        confirm_field: CONFIRM_FIELD,
        window_open: plan.window_open,
        note,
        quick_replies,
        channels: ChannelKind::ALL
            .iter()
            .map(|c| (c.to_string(), channel_name(&tr, *c), channel == Some(*c)))
            .collect(),
        once: new_token(),
        text: String::new(),
        error: None,
    })
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct ThreadQuery {
    done: Option<String>,
    #[serde(default)]
    channel: String,
}

pub(in crate::console) async fn thread(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(named): Path<String>,
    Query(query): Query<ThreadQuery>,
) -> Result<impl IntoResponse, ConsoleError> {
    let patient = conversation(&state, &signed, &named).await?;
    let channel = query.channel.parse::<ChannelKind>().ok();
    let mut page = thread_page(&state, &signed, &patient, channel).await?;
    if let Some(done @ ("replied" | "handled" | "labelled")) = query.done.as_deref() {
        page.chrome = page.chrome.with_notice(&format!("inbox-done-{done}"));
    }
    render(&page)
}

/// A patient's photo or file, streamed as `GET /v1/messages/{id}/media` streams it, for the
/// signed-in person's clinic only.
pub(in crate::console) async fn media(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    match patient_media(&state, &signed.clinic.id, &id).await {
        Ok(response) => Ok(response),
        Err(ApiError::NotFound(_)) => Err(ConsoleError::NotFound),
        Err(other) => Ok(other.into_response()),
    }
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/console/inbox", get(list))
        .route("/console/inbox/{patient}", get(thread))
        .route("/console/media/{message}", get(media))
}
