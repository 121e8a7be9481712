//! What the thread's forms do: answer the patient (through `conversation_reply`'s rules, as the
//! signed-in person, once the right patient is confirmed), mark the conversation handled, and
//! add or remove a label. Each names the signed-in person, never a name typed in.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use medrelay_channels::ChannelKind;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::inbox::{conversation, refusal, thread_page};
use crate::api::AppState;
use crate::api::v1::conversation_reply::{Said, StaffAnswer, answer_patient, plan_reply};
use crate::api::v1::conversations::label_change;
use crate::console::page::{ConsoleError, render};
use crate::console::right_patient::RightPatient;
use crate::console::session::{CsrfForm, NoFields};
use crate::domain::PatientId;

#[derive(Debug, Deserialize)]
pub(in crate::console) struct ReplyForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    quick_reply: String,
    /// Empty: where the patient last wrote.
    #[serde(default)]
    channel: String,
    /// The right patient's one confirmation (`right_patient=yes`).
    right_patient: Option<String>,
    /// The form's own token: the same form posted twice sends one reply.
    #[serde(default)]
    once: String,
}

impl ReplyForm {
    /// A quick reply chosen, else the text written; `None`: nothing to send.
    fn said(&self) -> Option<Said> {
        let quick = self.quick_reply.trim();
        if !quick.is_empty() {
            return Some(Said::QuickReply {
                name: quick.to_owned(),
                params: None,
            });
        }
        Some(Said::Text(self.text.trim().to_owned())).filter(|_| !self.text.trim().is_empty())
    }

    fn channel(&self) -> Option<ChannelKind> {
        self.channel.parse().ok()
    }

    /// What makes a resent form the same request.
    fn hash(&self, patient: &PatientId) -> String {
        let fields = [
            patient.as_str(),
            &self.text,
            &self.quick_reply,
            &self.channel,
        ];
        hex::encode(Sha256::digest(fields.join("\u{1f}").as_bytes()))
    }
}

/// The thread drawn again with the form as it was sent and why it was refused.
async fn refused(
    state: &AppState,
    signed: &crate::console::session::SignedIn,
    patient: &PatientId,
    form: &ReplyForm,
    why: String,
) -> Result<Response, ConsoleError> {
    let mut page = thread_page(state, signed, patient, form.channel()).await?;
    page.reply.text = form.text.clone();
    page.reply.error = Some(why);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

/// Answers the patient as the signed-in person.
pub(in crate::console) async fn reply(
    State(state): State<AppState>,
    Path(named): Path<String>,
    CsrfForm(signed, form): CsrfForm<ReplyForm>,
) -> Result<Response, ConsoleError> {
    let id = conversation(&state, &signed, &named).await?;
    let tr = signed.tr();
    let Some(said) = form.said() else {
        return refused(&state, &signed, &id, &form, tr.t("inbox-reply-empty")).await;
    };
    let patient = state.store.clinic_patient(&signed.clinic.id, &id).await?;
    let plan = plan_reply(&state, &signed.clinic, &patient, form.channel())
        .await
        .map_err(|e| refusal(e).map_or_else(|e| e, ConsoleError::BadForm))?;
    let right = RightPatient::new(&signed, &patient, plan.channel.ok());
    if !right.allows(form.right_patient.as_deref()) {
        return refused(&state, &signed, &id, &form, right.warning(&tr)).await;
    }
    let answer = StaffAnswer {
        patient: id.clone(),
        by: signed.member.name.clone(),
        said,
        channel: form.channel(),
        idempotency_key: Some(format!("console:{}", form.once)).filter(|_| !form.once.is_empty()),
        request_hash: form.hash(&id),
        // The console records its forms itself (`console::audit`).
        audit: None,
    };
    match answer_patient(&state, &signed.clinic, &signed.actor(), answer).await {
        Ok(_) => {
            signed.remember_patient(&state, &id).await?;
            Ok(Redirect::to(&format!("/console/inbox/{id}?done=replied")).into_response())
        }
        Err(error) => refused(&state, &signed, &id, &form, refusal(error)?).await,
    }
}

/// Marks every waiting message handled by the signed-in person.
pub(in crate::console) async fn handled(
    State(state): State<AppState>,
    Path(named): Path<String>,
    CsrfForm(signed, NoFields {}): CsrfForm<NoFields>,
) -> Result<Redirect, ConsoleError> {
    let id = conversation(&state, &signed, &named).await?;
    state
        .store
        .handle_conversation(
            &signed.clinic.id,
            &id,
            &signed.recorded_as(),
            state.clock.now(),
        )
        .await?;
    signed.remember_patient(&state, &id).await?;
    Ok(Redirect::to(&format!("/console/inbox/{id}?done=handled")))
}

#[derive(Debug, Deserialize)]
pub(in crate::console) struct LabelForm {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// Adds or removes labels, by the API's rules, as the signed-in person.
pub(in crate::console) async fn labels(
    State(state): State<AppState>,
    Path(named): Path<String>,
    CsrfForm(signed, form): CsrfForm<LabelForm>,
) -> Result<Response, ConsoleError> {
    let id = conversation(&state, &signed, &named).await?;
    let clinic = &signed.clinic.id;
    let known = state.store.conversation_labels(clinic).await?;
    let mut errors = Vec::new();
    let add = form.add.into_iter().filter(|l| !l.is_empty()).collect();
    let change = label_change(add, form.remove, &known, &mut errors);
    if !errors.is_empty() {
        let mut page = thread_page(&state, &signed, &id, None).await?;
        let rules: Vec<String> = errors.into_iter().map(|e| e.rule).collect();
        page.reply.error = Some(rules.join("; "));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let now = state.clock.now();
    state
        .store
        .label_conversation(clinic, &id, &signed.recorded_as(), &change, now)
        .await?;
    Ok(Redirect::to(&format!("/console/inbox/{id}?done=labelled")).into_response())
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route("/console/inbox/{patient}/reply", post(reply))
        .route("/console/inbox/{patient}/handled", post(handled))
        .route("/console/inbox/{patient}/labels", post(labels))
}
