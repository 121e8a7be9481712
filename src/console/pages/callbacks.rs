//! The callback queue: patients no channel reached, to be called by a person. The queue shows
//! who to call and why with only the number's last digits; the task's own card has the full
//! number as a `tel:` link, the claim (by the signed-in person) and the outcome form. The rules
//! are the callbacks API's: the store's claim and close, and its outcome and note checks.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::notifications::at;
use crate::api::AppState;
use crate::api::v1::callbacks::checked_outcome;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::session::{CsrfForm, NoFields, SignedIn};
use crate::domain::{CallbackOutcome, CallbackStatus, CallbackTaskId};
use crate::store::{CallbackView, StoreError};

/// Tasks the queue shows of each state.
const QUEUE_SIZE: u32 = 200;

/// The end of a number: enough to tell two tasks apart, not the number.
fn last_digits(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("…{tail}")
}

/// One task as the queue or its card shows it.
#[derive(Debug)]
struct Task {
    id: String,
    patient: String,
    name: String,
    /// The last digits (queue), or the whole number (card).
    phone: Option<String>,
    reason: String,
    status: &'static str,
    status_label: String,
    claimed_by: Option<String>,
    created: String,
    outcome: Option<String>,
    note: Option<String>,
    closed: Option<String>,
}

fn task(signed: &SignedIn, t: CallbackView, whole_number: bool) -> Task {
    let tr = signed.tr();
    let zone = signed.clinic.timezone.zone();
    Task {
        id: t.id.to_string(),
        patient: t.patient_id,
        name: t.patient_name,
        phone: t
            .phone
            .map(|p| if whole_number { p } else { last_digits(&p) }),
        reason: t.reason,
        status: t.status.as_str(),
        status_label: tr.t(&format!("callbacks-status-{}", t.status.as_str())),
        claimed_by: t.claimed_by,
        created: at(t.created_at, &zone),
        outcome: t
            .outcome
            .map(|o| tr.t(&format!("callbacks-outcome-{}", o.as_str()))),
        note: t.note,
        closed: t.closed_at.map(|c| at(c, &zone)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct QueueForm {
    /// `closed`: the finished tasks; else the open and claimed ones.
    #[serde(default)]
    show: String,
}

#[derive(Template)]
#[template(path = "console/callbacks.html")]
struct QueuePage {
    chrome: Chrome,
    closed: bool,
    tasks: Vec<Task>,
}

pub(in crate::console) async fn queue(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(form): Query<QueueForm>,
) -> Result<impl IntoResponse, ConsoleError> {
    let clinic = &signed.clinic.id;
    let closed = form.show == "closed";
    let wanted: &[CallbackStatus] = if closed {
        &[CallbackStatus::Closed]
    } else {
        &[CallbackStatus::Open, CallbackStatus::Claimed]
    };
    let mut found = Vec::new();
    for status in wanted {
        found.extend(
            state
                .store
                .callbacks(clinic, Some(*status), QUEUE_SIZE)
                .await?,
        );
    }
    // Oldest first, the order staff should work them, whatever their state.
    found.sort_by_key(|t| t.created_at);
    render(&QueuePage {
        chrome: Chrome::new(&signed, "callbacks", "callbacks-title"),
        closed,
        tasks: found.into_iter().map(|t| task(&signed, t, false)).collect(),
    })
}

#[derive(Template)]
#[template(path = "console/callback.html")]
struct CardPage {
    chrome: Chrome,
    task: Task,
    /// The signed-in person has the task: they call and record the outcome.
    mine: bool,
    outcomes: Vec<(&'static str, String)>,
    error: Option<String>,
}

fn task_id(id: &str) -> Result<CallbackTaskId, ConsoleError> {
    CallbackTaskId::parse(id).ok_or(ConsoleError::NotFound)
}

async fn card(
    state: &AppState,
    signed: &SignedIn,
    id: &CallbackTaskId,
) -> Result<CardPage, ConsoleError> {
    let found = state.store.callback(&signed.clinic.id, id).await?;
    let me = signed.recorded_as().to_string();
    let tr = signed.tr();
    let mut chrome = Chrome::new(signed, "callbacks", "callbacks-card-title");
    chrome.title = format!("{} · {}", chrome.title, found.patient_name);
    Ok(CardPage {
        chrome,
        mine: found.claimed_by.as_deref() == Some(me.as_str()),
        task: task(signed, found, true),
        outcomes: CallbackOutcome::ALL
            .iter()
            .map(|o| {
                (
                    o.as_str(),
                    tr.t(&format!("callbacks-outcome-{}", o.as_str())),
                )
            })
            .collect(),
        error: None,
    })
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct CardQuery {
    done: Option<String>,
}

pub(in crate::console) async fn task_card(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<CardQuery>,
) -> Result<impl IntoResponse, ConsoleError> {
    let mut page = card(&state, &signed, &task_id(&id)?).await?;
    if let Some(done @ ("claimed" | "closed")) = query.done.as_deref() {
        page.chrome = page.chrome.with_notice(&format!("callbacks-done-{done}"));
    }
    render(&page)
}

/// The card again, with why the store refused (someone else claimed or closed it first).
async fn conflict(
    state: &AppState,
    signed: &SignedIn,
    id: &CallbackTaskId,
    why: String,
) -> Result<Response, ConsoleError> {
    let mut page = card(state, signed, id).await?;
    page.error = Some(why);
    Ok((StatusCode::CONFLICT, render(&page)?).into_response())
}

/// The signed-in person takes the task: they call now.
pub(in crate::console) async fn claim(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(signed, NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, ConsoleError> {
    let id = task_id(&id)?;
    let by = signed.recorded_as();
    match state
        .store
        .claim_callback(&signed.clinic.id, &id, &by, state.clock.now())
        .await
    {
        Ok(()) => {
            Ok(Redirect::to(&format!("/console/callbacks/{id}?done=claimed")).into_response())
        }
        Err(StoreError::Conflict(_)) => {
            let why = signed.tr().t("callbacks-already-taken");
            conflict(&state, &signed, &id, why).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct CloseForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

/// Records how the call went, as the signed-in person.
pub(in crate::console) async fn close(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm(signed, form): CsrfForm<CloseForm>,
) -> Result<Response, ConsoleError> {
    let id = task_id(&id)?;
    let note = Some(form.note.trim()).filter(|n| !n.is_empty());
    let outcome = match checked_outcome(&form.outcome, note) {
        Ok(outcome) => outcome,
        Err(errors) => {
            let mut page = card(&state, &signed, &id).await?;
            let rules: Vec<String> = errors.into_iter().map(|e| e.rule).collect();
            page.error = Some(rules.join("; "));
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let by = signed.recorded_as();
    let now = state.clock.now();
    match state
        .store
        .close_callback(&signed.clinic.id, &id, outcome, note, &by, now)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/console/callbacks/{id}?done=closed")).into_response()),
        Err(StoreError::Conflict(_)) => {
            let why = signed.tr().t("callbacks-already-closed");
            conflict(&state, &signed, &id, why).await
        }
        Err(other) => Err(other.into()),
    }
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console/callbacks", get(queue))
        .route("/console/callbacks/{id}", get(task_card))
        .route("/console/callbacks/{id}/claim", post(claim))
        .route("/console/callbacks/{id}/close", post(close))
}
