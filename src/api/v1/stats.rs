//! `GET /v1/stats?from=…&to=…`: the clinic's outbound and inbound figures over a period, in its
//! time zone. Staff read them; booking keys get 403, since the figures describe the patients'
//! conversations with the clinic and a booking system has no use for them.

use axum::Json;
use axum::extract::{Query, State};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::problem::{ApiError, FieldError};
use crate::policy::stats::{Stats, StatsRange, summarize};
use crate::store::ApiKeyRole;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct StatsQuery {
    /// Start of the period: a date (`YYYY-MM-DD`, from the start of that day in the clinic's
    /// zone) or an RFC 3339 instant.
    #[param(required = true, example = "2026-11-01")]
    from: Option<String>,
    /// End of the period, not included, at most 366 days after `from`: a date or an instant.
    #[param(required = true, example = "2026-12-01")]
    to: Option<String>,
}

/// The report, with the period it covers as UTC instants and the zone its hours are in.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StatsOut {
    from: Timestamp,
    to: Timestamp,
    timezone: String,
    #[serde(flatten)]
    stats: Stats,
}

#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "stats",
    params(StatsQuery),
    responses(
        (status = 200, description = "The figures over the period", body = StatsOut),
        (status = 403, description = "Needs a staff or admin key"),
    )
)]
pub(super) async fn get_stats(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<StatsOut>, ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let clinic = &caller.0.clinic;
    let zone = clinic.timezone.zone();
    let range =
        StatsRange::parse(query.from.as_deref(), query.to.as_deref(), &zone).map_err(|errors| {
            ApiError::Invalid(
                errors
                    .into_iter()
                    .map(|e| FieldError::new(e.field, e.rule))
                    .collect(),
            )
        })?;
    let rows = state
        .store
        .stats_rows(&clinic.id, range, &range.offsets(&zone))
        .await?;
    Ok(Json(StatsOut {
        from: range.from,
        to: range.to,
        timezone: clinic.timezone.as_str().to_owned(),
        stats: summarize(&rows),
    }))
}
