//! The sandbox's own pages: a clinic's outbox, and a patient of the clinic writing on WhatsApp.
//! Both need the clinic's key and reach only that clinic's patients, like the rest of the API.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Caller;
use super::json::ApiJson;
use super::problem::ApiError;
use crate::domain::Phone;
use crate::sandbox::Sandbox;
use crate::store::{OutboxFilter, OutboxMessage};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutboxQuery {
    recipient: Option<String>,
    channel: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(super) struct Outbox {
    messages: Vec<OutboxMessage>,
}

/// What the caller's patients received from the sandbox provider, newest first.
pub(super) async fn outbox(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<OutboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Outbox>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 10000"));
    }
    let filter = OutboxFilter {
        recipient: query.recipient,
        channel: query.channel,
        limit,
    };
    Ok(Json(Outbox {
        messages: state
            .store
            .sandbox_outbox(&caller.clinic.id, &filter)
            .await?,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PatientMessage {
    from: String,
    text: String,
}

/// Plays one of the caller's patients writing to the clinic's WhatsApp number: the sandbox posts
/// Meta's inbound message webhook to the gateway, which opens the patient's 24-hour window for
/// free text.
pub(super) async fn patient_writes(
    State(state): State<AppState>,
    Extension(sandbox): Extension<Arc<Sandbox>>,
    Caller(caller): Caller,
    body: ApiJson<PatientMessage>,
) -> Result<StatusCode, ApiError> {
    let message = body.value;
    let from = Phone::parse(&message.from, caller.clinic.phone_region)
        .map_err(|e| ApiError::invalid("from", e.to_string()))?;
    if !state
        .store
        .is_patient_phone(&caller.clinic.id, from.as_str())
        .await?
    {
        return Err(ApiError::invalid(
            "from",
            "must be the phone number of one of this clinic's patients",
        ));
    }
    if sandbox
        .patient_writes_on_whatsapp(from.as_str(), &message.text)
        .await
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Internal(
            "the gateway did not take the webhook".into(),
        ))
    }
}
