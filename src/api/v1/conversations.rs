//! `/v1/conversations`: the clinic's inbox. Staff list conversations, read one, answer the
//! patient (`conversation_reply`), label it and mark it handled; every action names the person
//! (`by`). Booking keys have no business in patients' messages: every call here needs a staff or
//! admin key. A conversation is named by its patient: our id, or the id the rest of the API
//! uses for them.

use axum::Json;
use axum::extract::{Path, Query, State};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::conversation_out::{ConversationOut, TimelineOut};
use super::patients::checked;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{Actor, Clinic, ConversationStatus, PatientId};
use crate::store::{ApiKeyRole, ConversationCursor, ConversationFilter, LabelChange};

const BY_RULE: &str = "must name the staff member acting: 1 to 100 characters on one line";

fn staff_only(caller: &Caller) -> Result<(), ApiError> {
    caller.require(ApiKeyRole::Staff)
}

/// The conversation's patient, named by our id or by the id the rest of the API uses.
pub(super) async fn conversation_of(
    state: &AppState,
    caller: &Caller,
    named: &str,
) -> Result<PatientId, ApiError> {
    staff_only(caller)?;
    state
        .store
        .conversation_patient(&caller.0.clinic.id, named)
        .await
        .map_err(ApiError::not_found("conversation"))
}

/// The staff member named by `by`, as the audit trail records them.
pub(super) fn staff_member(by: &str, errors: &mut Vec<FieldError>) -> Actor {
    let name = by.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new("by", BY_RULE));
    }
    Actor::Staff(name.to_owned())
}

fn label_rule(known: &[String]) -> String {
    format!("must be one of the clinic's labels: {}", known.join(", "))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only conversations with this label (one of the clinic's).
    label: Option<String>,
    /// Only conversations in this state.
    #[param(value_type = Option<ConversationStatus>, inline)]
    status: Option<String>,
    /// Only those with (`true`) or without (`false`) a message waiting for staff.
    #[param(value_type = Option<bool>, inline)]
    unanswered: Option<String>,
    /// Only those past (`true`) or within (`false`) the clinic's response target.
    #[param(value_type = Option<bool>, inline)]
    overdue: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

fn flag(s: &str) -> Option<bool> {
    match s {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

impl ListQuery {
    /// The filter asked for; `known` are the clinic's labels.
    fn filter(self, now: Timestamp, known: &[String]) -> Result<ConversationFilter, ApiError> {
        let mut errors = Vec::new();
        let label = checked(
            &mut errors,
            "label",
            self.label,
            |l| known.iter().any(|k| k == l).then(|| l.to_owned()),
            &label_rule(known),
        );
        let status = checked(
            &mut errors,
            "status",
            self.status,
            ConversationStatus::parse,
            &format!("must be one of {}", ConversationStatus::names()),
        );
        let unanswered = checked(&mut errors, "unanswered", self.unanswered, flag, BOOL);
        let overdue = checked(&mut errors, "overdue", self.overdue, flag, BOOL);
        let (limit, after) = checked_page(&mut errors, self.limit, self.cursor);
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        Ok(ConversationFilter {
            label,
            status,
            unanswered,
            overdue,
            now,
            limit,
            after,
        })
    }
}

const BOOL: &str = "must be true or false";

/// The page asked for: its size (50 unless given) and where it starts.
fn checked_page(
    errors: &mut Vec<FieldError>,
    limit: Option<u32>,
    cursor: Option<String>,
) -> (u32, Option<ConversationCursor>) {
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 500"));
    }
    let after = checked(
        errors,
        "cursor",
        cursor,
        decode_cursor,
        "must be a next_cursor value from an earlier page",
    );
    (limit, after)
}

/// `<urgent 0|1>.<last message, ms>.<patient id>`.
pub(crate) fn decode_cursor(cursor: &str) -> Option<ConversationCursor> {
    let mut parts = cursor.splitn(3, '.');
    let urgent = match parts.next()? {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    Some(ConversationCursor {
        urgent,
        last_message_at: parts.next()?.parse().ok()?,
        patient_id: PatientId::parse(parts.next()?)?.as_str().to_owned(),
    })
}

pub(crate) fn encode_cursor(cursor: &ConversationCursor) -> String {
    let urgent = u8::from(cursor.urgent);
    format!("{urgent}.{}.{}", cursor.last_message_at, cursor.patient_id)
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ConversationList {
    items: Vec<ConversationOut>,
    next_cursor: Option<String>,
}

/// The inbox: urgent conversations first, then by their last message, newest first.
#[utoipa::path(
    get,
    path = "/v1/conversations",
    tag = "conversations",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of conversations", body = ConversationList),
        (status = 403, description = "Needs a staff or admin key"),
    )
)]
pub(super) async fn list_conversations(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConversationList>, ApiError> {
    staff_only(&caller)?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let now = state.clock.now();
    let known = state.store.conversation_labels(&caller.0.clinic.id).await?;
    let filter = query.filter(now, &known)?;
    let page = state
        .store
        .conversations(&caller.0.clinic.id, &filter)
        .await?;
    Ok(Json(ConversationList {
        items: page
            .items
            .into_iter()
            .map(|c| ConversationOut::new(c, now))
            .collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/conversations/{patient_id}",
    tag = "conversations",
    params(("patient_id" = String, Path, description = "The patient: our id (`pat_…`) or the booking system's")),
    responses(
        (status = 200, description = "The conversation with its messages both ways and its events", body = TimelineOut),
        (status = 403, description = "Needs a staff or admin key"),
        (status = 404, description = "No such patient"),
    )
)]
pub(super) async fn get_conversation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TimelineOut>, ApiError> {
    let id = conversation_of(&state, &caller, &id).await?;
    let timeline = state
        .store
        .conversation_timeline(&caller.0.clinic.id, &id)
        .await
        .map_err(ApiError::not_found("conversation"))?;
    Ok(Json(TimelineOut::new(timeline, state.clock.now())))
}

/// The conversation as it stands after a staff action.
async fn current(
    state: &AppState,
    clinic: &Clinic,
    id: &PatientId,
) -> Result<Json<ConversationOut>, ApiError> {
    let timeline = state
        .store
        .conversation_timeline(&clinic.id, id)
        .await
        .map_err(ApiError::not_found("conversation"))?;
    Ok(Json(ConversationOut::new(
        timeline.conversation,
        state.clock.now(),
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"by": "Rivka"}))]
pub(super) struct HandledIn {
    /// The staff member: 1 to 100 characters on one line.
    by: String,
}

/// Marks every waiting message handled by the named staff member.
#[utoipa::path(
    post,
    path = "/v1/conversations/{patient_id}/handled",
    tag = "conversations",
    params(("patient_id" = String, Path, description = "The patient: our id (`pat_…`) or the booking system's")),
    request_body = HandledIn,
    responses(
        (status = 200, description = "The conversation now", body = ConversationOut),
        (status = 403, description = "Needs a staff or admin key"),
        (status = 404, description = "No such patient"),
    )
)]
pub(super) async fn mark_handled(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<HandledIn>,
) -> Result<Json<ConversationOut>, ApiError> {
    let id = conversation_of(&state, &caller, &id).await?;
    let mut errors = Vec::new();
    let by = staff_member(&body.value.by, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let clinic = &caller.0.clinic;
    state
        .store
        .handle_conversation(&clinic.id, &id, &by, state.clock.now())
        .await
        .map_err(ApiError::not_found("conversation"))?;
    current(&state, clinic, &id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"by": "Rivka", "add": ["test_result"], "remove": ["new_appointment"]}))]
pub(super) struct LabelsIn {
    /// The staff member: 1 to 100 characters on one line.
    by: String,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

impl LabelsIn {
    fn change(self, known: &[String], errors: &mut Vec<FieldError>) -> LabelChange {
        label_change(self.add, self.remove, known, errors)
    }
}

/// Every label known to the clinic, none both added and removed, and `awaiting_response`
/// left to medrelay: it is set when the patient writes and cleared when staff answer.
pub(crate) fn label_change(
    add: Vec<String>,
    remove: Vec<String>,
    known: &[String],
    errors: &mut Vec<FieldError>,
) -> LabelChange {
    if add.is_empty() && remove.is_empty() {
        errors.push(FieldError::new("add", "give labels to add or to remove"));
    }
    for (field, labels) in [("add", &add), ("remove", &remove)] {
        for (i, label) in labels.iter().enumerate() {
            let field = format!("{field}[{i}]");
            if label == "awaiting_response" {
                errors.push(FieldError::new(
                    field,
                    "awaiting_response is set when the patient writes and cleared when staff \
                     answer or mark the conversation handled",
                ));
            } else if !known.contains(label) {
                errors.push(FieldError::new(field, label_rule(known)));
            } else if field.starts_with("add") && remove.contains(label) {
                errors.push(FieldError::new(field, "is also in remove"));
            }
        }
    }
    LabelChange { add, remove }
}

/// Adds and removes the clinic's labels.
#[utoipa::path(
    post,
    path = "/v1/conversations/{patient_id}/labels",
    tag = "conversations",
    params(("patient_id" = String, Path, description = "The patient: our id (`pat_…`) or the booking system's")),
    request_body = LabelsIn,
    responses(
        (status = 200, description = "The conversation now", body = ConversationOut),
        (status = 403, description = "Needs a staff or admin key"),
        (status = 404, description = "No such patient"),
    )
)]
pub(super) async fn change_labels(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: ApiJson<LabelsIn>,
) -> Result<Json<ConversationOut>, ApiError> {
    let id = conversation_of(&state, &caller, &id).await?;
    let mut errors = Vec::new();
    let by = staff_member(&body.value.by, &mut errors);
    let known = state.store.conversation_labels(&caller.0.clinic.id).await?;
    let change = body.value.change(&known, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let clinic = &caller.0.clinic;
    state
        .store
        .label_conversation(&clinic.id, &id, &by, &change, state.clock.now())
        .await
        .map_err(ApiError::not_found("conversation"))?;
    current(&state, clinic, &id).await
}
