//! A clinic's topics and how sensitive each is: the built-in ones, and those the clinic adds.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::ApiError;
use crate::domain::{Sensitivity, TopicSetting};
use crate::store::{ApiKeyRole, TopicView};

/// One of the clinic's topics.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TopicOut {
    name: String,
    sensitivity: Sensitivity,
    /// A topic every clinic has (its sensitivity may still be the clinic's own choice).
    built_in: bool,
    secure_link: bool,
}

impl From<TopicView> for TopicOut {
    fn from(topic: TopicView) -> Self {
        Self {
            name: topic.name,
            sensitivity: topic.sensitivity,
            built_in: topic.built_in,
            secure_link: topic.secure_link,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TopicList {
    items: Vec<TopicOut>,
}

#[utoipa::path(
    get,
    path = "/v1/topics",
    tag = "topics",
    responses((status = 200, description = "The clinic's topics", body = TopicList))
)]
/// Every key may read the topics: booking systems need to know which ones exist.
pub(super) async fn list_topics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TopicList>, ApiError> {
    let items = state.store.topics(&caller.0.clinic.id).await?;
    Ok(Json(TopicList {
        items: items.into_iter().map(TopicOut::from).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sensitivity": "sensitive", "secure_link": true}))]
pub(super) struct TopicIn {
    #[schema(value_type = Sensitivity)]
    sensitivity: String,
    /// Its notices carry a secure message link (when the clinic has links on).
    #[serde(default)]
    secure_link: bool,
}

#[utoipa::path(
    put,
    path = "/v1/topics/{name}",
    tag = "topics",
    params(("name" = String, Path, description = "1 to 64 lowercase letters, digits and `_`, starting with a letter",
        pattern = "^[a-z][a-z0-9_]{0,63}$")),
    request_body = TopicIn,
    responses(
        (status = 200, description = "The topic as set", body = TopicOut),
        (status = 403, description = "Needs an admin key"),
    )
)]
/// Adds a topic or changes its sensitivity. What patients may read on which channel is the
/// clinic's set-up, so only admin keys may change it.
pub(super) async fn put_topic(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: ApiJson<TopicIn>,
) -> Result<Json<TopicOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let setting = TopicSetting::parse(&name, &body.value.sensitivity, body.value.secure_link)
        .map_err(ApiError::Invalid)?;
    let topic = state
        .store
        .set_topic(
            &caller.0.clinic.id,
            &setting.name,
            setting.sensitivity,
            setting.secure_link,
            state.clock.now(),
        )
        .await?;
    state.clinic_settings.forget(&caller.0.clinic.id);
    tracing::info!(clinic = %caller.0.clinic.slug, topic = %topic.name, sensitivity = topic.sensitivity.as_str(), secure_link = topic.secure_link, "topic set");
    Ok(Json(topic.into()))
}
