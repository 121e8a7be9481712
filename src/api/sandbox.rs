use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::problem::ApiError;
use crate::store::{OutboxFilter, SandboxMessage};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutboxQuery {
    recipient: Option<String>,
    channel: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(super) struct Outbox {
    messages: Vec<SandboxMessage>,
}

/// What each recipient received from the sandbox provider, newest first. The sandbox holds only
/// test data, so it needs no key.
pub(super) async fn outbox(
    State(state): State<AppState>,
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
        messages: state.store.sandbox_outbox(&filter).await?,
    }))
}
