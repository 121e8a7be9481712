//! `/v1/templates` and `/v1/quick-replies`: a clinic's own message templates and staff quick
//! replies, and their use at intake. Admin keys write templates, staff and admin keys write quick
//! replies, every key of the clinic reads them. The rules live in `policy::templates`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use medrelay_channels::segments;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::{ApiError, FieldError};
use crate::domain::Clinic;
use crate::policy::templates::{
    self, Flaw, OwnTemplate, QuickReply, SMS_SEGMENTS_WARNING, Source, TemplateCopy,
};
use crate::store::ApiKeyRole;

fn invalid(flaws: Vec<Flaw>) -> ApiError {
    ApiError::Invalid(
        flaws
            .into_iter()
            .map(|f| FieldError::new(f.field, f.rule))
            .collect(),
    )
}

/// The name (and language) in a path, checked before anything is read or written.
fn checked_path(name: &str, language: Option<&str>) -> Result<(), ApiError> {
    let flaws = templates::check_name_and_language(name, language);
    if flaws.is_empty() {
        Ok(())
    } else {
        Err(invalid(flaws))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TemplateSummary {
    name: String,
    language: String,
    source: Source,
    /// A built-in the clinic's own copy replaces for this clinic.
    overridden: bool,
    params: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TemplateList {
    items: Vec<TemplateSummary>,
}

/// What the SMS rendering costs, counted on a sample.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SmsInfo {
    sample: String,
    encoding: &'static str,
    units: usize,
    segments: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TemplateOut {
    name: String,
    language: String,
    source: Source,
    #[serde(flatten)]
    copy: TemplateCopy,
    sms_info: SmsInfo,
    warnings: Vec<String>,
}

fn template_out(
    name: &str,
    language: &str,
    source: Source,
    copy: TemplateCopy,
    clinic: &Clinic,
) -> TemplateOut {
    let sample = templates::sms_sample(&copy, &clinic.name);
    let cost = segments::analyse(&sample);
    let warnings = (cost.segments > SMS_SEGMENTS_WARNING)
        .then(|| {
            format!(
                "sms.text: the sample takes {} segments ({}), more than {SMS_SEGMENTS_WARNING}; each segment is billed as one SMS",
                cost.segments,
                cost.encoding.as_str()
            )
        })
        .into_iter()
        .collect();
    TemplateOut {
        name: name.to_owned(),
        language: language.to_owned(),
        source,
        copy,
        sms_info: SmsInfo {
            sample,
            encoding: cost.encoding.as_str(),
            units: cost.units,
            segments: cost.segments,
        },
        warnings,
    }
}

#[utoipa::path(
    get,
    path = "/v1/templates",
    tag = "templates",
    responses((status = 200, description = "Every template, built-in and the clinic's own", body = TemplateList))
)]
/// `GET /v1/templates`: the built-ins and the clinic's own, each marked with its source.
pub(super) async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TemplateList>, ApiError> {
    let own = state
        .store
        .clinic_texts::<TemplateCopy>(&caller.0.clinic.id, None)
        .await?;
    let overrides =
        |name: &str, language: &str| own.iter().any(|t| t.name == name && t.language == language);
    let mut items: Vec<TemplateSummary> = templates::builtins()
        .map(|(name, language, copy)| TemplateSummary {
            overridden: overrides(name, language),
            name: name.to_owned(),
            language: language.to_owned(),
            source: Source::Builtin,
            params: copy.params,
        })
        .collect();
    items.extend(own.iter().map(|t| TemplateSummary {
        name: t.name.clone(),
        language: t.language.clone(),
        source: Source::Clinic,
        overridden: false,
        params: t.content.params.clone(),
    }));
    items.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
    Ok(Json(TemplateList { items }))
}

#[utoipa::path(
    get,
    path = "/v1/templates/{name}/{language}",
    tag = "templates",
    params(
        ("name" = String, Path, description = "1 to 64 lowercase letters, digits and `_`, starting with a letter",
            pattern = "^[a-z][a-z0-9_]{0,63}$"),
        ("language" = String, Path, description = "`he`, `ar`, `ru`, `en`, …"),
    ),
    responses(
        (status = 200, description = "The copy in use for this language", body = TemplateOut),
        (status = 404, description = "No such template in this language"),
        (status = 422, description = "The name or language in the path breaks its rule"),
    )
)]
/// `GET /v1/templates/{name}/{language}`: the copy in use for exactly this language.
pub(super) async fn get_template(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, language)): Path<(String, String)>,
) -> Result<Json<TemplateOut>, ApiError> {
    checked_path(&name, Some(&language))?;
    let clinic = &caller.0.clinic;
    let own = state
        .store
        .clinic_texts::<TemplateCopy>(&clinic.id, Some(&name))
        .await?;
    let (source, copy) =
        templates::in_language(&name, &language, &own).ok_or(ApiError::NotFound("template"))?;
    Ok(Json(template_out(&name, &language, source, copy, clinic)))
}

#[utoipa::path(
    put,
    path = "/v1/templates/{name}/{language}",
    tag = "templates",
    params(
        ("name" = String, Path, description = "1 to 64 lowercase letters, digits and `_`, starting with a letter",
            pattern = "^[a-z][a-z0-9_]{0,63}$"),
        ("language" = String, Path, description = "`he`, `ar`, `ru`, `en`, …"),
    ),
    request_body = TemplateCopy,
    responses(
        (status = 200, description = "Replaced", body = TemplateOut),
        (status = 201, description = "Created", body = TemplateOut),
        (status = 403, description = "Needs an admin key"),
    )
)]
/// `PUT /v1/templates/{name}/{language}`: creates or replaces the clinic's own copy, which
/// overrides a built-in of the same name and language for this clinic.
pub(super) async fn put_template(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, language)): Path<(String, String)>,
    body: ApiJson<TemplateCopy>,
) -> Result<(StatusCode, Json<TemplateOut>), ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    checked_path(&name, Some(&language))?;
    let copy = body.value;
    let flaws = templates::check_copy(&copy);
    if !flaws.is_empty() {
        return Err(invalid(flaws));
    }
    let clinic = &caller.0.clinic;
    let created = state
        .store
        .put_clinic_text(&clinic.id, &name, &language, &copy, state.clock.now())
        .await?;
    state.clinic_settings.forget(&clinic.id);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let out = template_out(&name, &language, Source::Clinic, copy, clinic);
    Ok((status, Json(out)))
}

#[utoipa::path(
    delete,
    path = "/v1/templates/{name}/{language}",
    tag = "templates",
    params(
        ("name" = String, Path, description = "1 to 64 lowercase letters, digits and `_`, starting with a letter",
            pattern = "^[a-z][a-z0-9_]{0,63}$"),
        ("language" = String, Path, description = "`he`, `ar`, `ru`, `en`, …"),
    ),
    responses(
        (status = 204, description = "Removed; a built-in it replaced is in use again"),
        (status = 403, description = "Needs an admin key"),
        (status = 404, description = "The clinic has no copy of this template in this language"),
        (status = 409, description = "Built-in templates cannot be deleted"),
        (status = 422, description = "The name or language in the path breaks its rule"),
    )
)]
/// `DELETE /v1/templates/{name}/{language}`: removes the clinic's own copy; a built-in it
/// replaced is in use again.
pub(super) async fn delete_template(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, language)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    checked_path(&name, Some(&language))?;
    let removed = state
        .store
        .delete_clinic_texts::<TemplateCopy>(&caller.0.clinic.id, &name, Some(&language))
        .await?;
    state.clinic_settings.forget(&caller.0.clinic.id);
    match (removed, templates::builtin(&name, &language)) {
        (0, Some(_)) => Err(ApiError::Conflict(
            "built-in templates cannot be deleted; replace it for this clinic with PUT".into(),
        )),
        (0, None) => Err(ApiError::NotFound("template")),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"texts": {"he": "נא להתקשר למרפאה", "en": "Please call the clinic"}}))]
pub(super) struct QuickReplyBody {
    /// One text per language.
    texts: BTreeMap<String, String>,
}

impl QuickReplyBody {
    /// One checked copy per language.
    fn copies(self, max_chars: usize) -> Result<Vec<(String, QuickReply)>, ApiError> {
        templates::quick_reply_copies(self.texts, max_chars).map_err(invalid)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QuickReplyOut {
    name: String,
    texts: BTreeMap<String, String>,
}

fn quick_reply_out(name: &str, own: Vec<OwnTemplate<QuickReply>>) -> QuickReplyOut {
    QuickReplyOut {
        name: name.to_owned(),
        texts: own
            .into_iter()
            .map(|t| (t.language, t.content.text))
            .collect(),
    }
}

#[utoipa::path(
    put,
    path = "/v1/quick-replies/{name}",
    tag = "templates",
    params(("name" = String, Path, description = "1 to 64 lowercase letters, digits and `_`, starting with a letter",
            pattern = "^[a-z][a-z0-9_]{0,63}$")),
    request_body = QuickReplyBody,
    responses(
        (status = 200, description = "Replaced", body = QuickReplyOut),
        (status = 201, description = "Created", body = QuickReplyOut),
        (status = 403, description = "Needs a staff or admin key"),
    )
)]
/// `PUT /v1/quick-replies/{name}`: creates or replaces a quick reply in all its languages.
pub(super) async fn put_quick_reply(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: ApiJson<QuickReplyBody>,
) -> Result<(StatusCode, Json<QuickReplyOut>), ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    checked_path(&name, None)?;
    let copies = body.value.copies(state.config.api.max_body_chars)?;
    let created = state
        .store
        .replace_clinic_texts(&caller.0.clinic.id, &name, &copies, state.clock.now())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let own = copies
        .into_iter()
        .map(|(language, content)| OwnTemplate {
            name: name.clone(),
            language,
            content,
        })
        .collect();
    Ok((status, Json(quick_reply_out(&name, own))))
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QuickReplyList {
    items: Vec<QuickReplyOut>,
}

#[utoipa::path(
    get,
    path = "/v1/quick-replies",
    tag = "templates",
    responses((status = 200, description = "The clinic's quick replies", body = QuickReplyList))
)]
/// `GET /v1/quick-replies`: the clinic's quick replies, by name.
pub(super) async fn list_quick_replies(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<QuickReplyList>, ApiError> {
    let own = state
        .store
        .clinic_texts::<QuickReply>(&caller.0.clinic.id, None)
        .await?;
    let mut by_name: BTreeMap<String, Vec<OwnTemplate<QuickReply>>> = BTreeMap::new();
    for reply in own {
        by_name.entry(reply.name.clone()).or_default().push(reply);
    }
    Ok(Json(QuickReplyList {
        items: by_name
            .into_iter()
            .map(|(name, texts)| quick_reply_out(&name, texts))
            .collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/quick-replies/{name}",
    tag = "templates",
    params(("name" = String, Path, description = "1 to 64 lowercase letters, digits and `_`, starting with a letter",
            pattern = "^[a-z][a-z0-9_]{0,63}$")),
    responses(
        (status = 200, description = "The quick reply in every language it has", body = QuickReplyOut),
        (status = 404, description = "No such quick reply"),
        (status = 422, description = "The name in the path breaks its rule"),
    )
)]
pub(super) async fn get_quick_reply(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<QuickReplyOut>, ApiError> {
    checked_path(&name, None)?;
    let own = state
        .store
        .clinic_texts::<QuickReply>(&caller.0.clinic.id, Some(&name))
        .await?;
    if own.is_empty() {
        return Err(ApiError::NotFound("quick reply"));
    }
    Ok(Json(quick_reply_out(&name, own)))
}

#[utoipa::path(
    delete,
    path = "/v1/quick-replies/{name}",
    tag = "templates",
    params(("name" = String, Path, description = "1 to 64 lowercase letters, digits and `_`, starting with a letter",
            pattern = "^[a-z][a-z0-9_]{0,63}$")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Needs a staff or admin key"),
        (status = 404, description = "No such quick reply"),
        (status = 422, description = "The name in the path breaks its rule"),
    )
)]
pub(super) async fn delete_quick_reply(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    checked_path(&name, None)?;
    let removed = state
        .store
        .delete_clinic_texts::<QuickReply>(&caller.0.clinic.id, &name, None)
        .await?;
    if removed == 0 {
        return Err(ApiError::NotFound("quick reply"));
    }
    Ok(StatusCode::NO_CONTENT)
}
