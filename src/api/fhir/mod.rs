//! `/fhir/r4`: the clinic's messages as FHIR R4 records, read and searched with the same keys
//! and clinic isolation as `/v1`. The records carry message content, so a booking key is
//! refused; `metadata` (the CapabilityStatement) needs no key, as FHIR servers commonly allow.
//! Every answer is `application/fhir+json`, errors OperationOutcomes ([`outcome`]).

mod dates;
mod docs;
mod outcome;
mod search;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fhirbolt::model::r4::Resource;
use fhirbolt::model::r4::types::Id;
use fhirbolt::serde::SerializeResource;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use docs::{ReadRefusals, SearchParams, SearchRefusals};
pub(super) use outcome::{outcomes_for_errors, schemas};
use search::{Search, Target, check_read_params, is_lenient, negotiate, pairs};

use super::AppState;
use super::auth::Caller;
use super::problem::ApiError;

use crate::domain::{ClinicId, NotificationId};
use crate::fhir::records::{CommunicationId, Identifiers, RecordCursor};
use crate::fhir::{self, FHIR_JSON};
use crate::store::ApiKeyRole;

/// Where the routes are, and where the media type every answer has.
pub(super) const PREFIX: &str = "/fhir/";
pub(super) const MEDIA_TYPE: &str = "application/fhir+json";

/// Every `/fhir/r4` route.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(metadata))
        .routes(routes!(search_communications))
        .routes(routes!(read_communication))
        .routes(routes!(search_communication_requests))
        .routes(routes!(read_communication_request))
}

/// A FHIR resource as its answer.
fn answer<T: SerializeResource>(resource: &T) -> Result<Response, ApiError> {
    let body = fhirbolt::json::to_vec(resource, None).map_err(|e| ApiError::Internal(e.into()))?;
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    Ok(response)
}

/// This server's base URL as the client reaches it: the configured public URL, else the host
/// the client named.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let origin = match &state.config.public_url {
        Some(public) => public.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| {
                    !h.is_empty()
                        && h.chars()
                            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
                })
                .map_or_else(|| state.config.listen.to_string(), str::to_owned);
            format!("http://{host}")
        }
    };
    format!("{origin}/fhir/r4")
}

/// What the server does: the CapabilityStatement.
#[utoipa::path(
    get,
    path = "/fhir/r4/metadata",
    tag = "fhir",
    params(("_format" = Option<String>, Query, description = "`json` (the only format served)",
            pattern = "^(json|application/json|application/fhir\\+json)$")),
    responses(
        (status = 200, description = "The CapabilityStatement", content_type = "application/fhir+json",
            body = ref("#/components/schemas/FhirResource")),
        (status = 400, description = "A parameter a read does not take"),
        (status = 406, description = "A format other than JSON was asked for"),
    ),
)]
async fn metadata(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = pairs(query.as_deref());
    negotiate(&query, &headers)?;
    check_read_params(&query, is_lenient(&headers))?;
    answer(&fhir::capability_statement(&base_url(&state, &headers)))
}

/// The caller's clinic, once it is known to hold a staff or admin key and to want JSON.
fn reader(
    caller: &Caller,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<(), ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    negotiate(query, headers)
}

/// Every message that reached a provider (exactly what the patient got) and every message a
/// patient sent, as a searchset Bundle in the order they last changed.
#[utoipa::path(
    get,
    path = "/fhir/r4/Communication",
    tag = "fhir",
    params(
        SearchParams,
        ("based-on" = Option<String>, Query, description = "`CommunicationRequest/<id>`: the messages of one notification"),
    ),
    responses(
        (status = 200, description = "A searchset Bundle", content_type = "application/fhir+json",
            body = ref("#/components/schemas/FhirResource")),
        SearchRefusals,
    ),
    security(("api_key" = [])),
)]
async fn search_communications(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    search(
        &state,
        &caller,
        &headers,
        query.as_deref(),
        Target::Communication,
    )
    .await
}

/// Every notification: what the clinic asked to tell the patient, as a searchset Bundle in the
/// order they last changed.
#[utoipa::path(
    get,
    path = "/fhir/r4/CommunicationRequest",
    tag = "fhir",
    params(SearchParams),
    responses(
        (status = 200, description = "A searchset Bundle", content_type = "application/fhir+json",
            body = ref("#/components/schemas/FhirResource")),
        SearchRefusals,
    ),
    security(("api_key" = [])),
)]
async fn search_communication_requests(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    search(
        &state,
        &caller,
        &headers,
        query.as_deref(),
        Target::CommunicationRequest,
    )
    .await
}

/// One search of `target`, answered as a searchset Bundle.
async fn search(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    query: Option<&str>,
    target: Target,
) -> Result<Response, ApiError> {
    let query = pairs(query);
    reader(caller, headers, &query)?;
    let clinic = &caller.0.clinic;
    let ids = state.store.fhir_identifiers(&clinic.id).await?;
    let search = Search::parse(
        target,
        &query,
        is_lenient(headers),
        &ids,
        &clinic.timezone.zone(),
    )?;
    let base = base_url(state, headers);
    let (resources, next) = found(state, &clinic.id, &ids, &search, &base).await?;
    let bundle = fhir::searchset(
        resources,
        search.link(&base, search.records.after.as_ref()),
        next.map(|cursor| search.link(&base, Some(&cursor))),
        state.clock.now(),
    );
    answer(&bundle)
}

/// The page of resources a search finds, each with its full URL under `base`, and where the
/// next page starts.
async fn found(
    state: &AppState,
    clinic: &ClinicId,
    ids: &Identifiers,
    search: &Search,
    base: &str,
) -> Result<(Vec<(String, Resource)>, Option<RecordCursor>), ApiError> {
    let full_url = |kind: &str, id: Option<&Id>| {
        let id = id.and_then(|id| id.value.as_deref()).unwrap_or_default();
        format!("{base}/{kind}/{id}")
    };
    Ok(match search.target {
        Target::Communication => {
            let page = (state.store)
                .communication_record_page(clinic, &search.records)
                .await?;
            let found = page.items.iter().filter_map(|record| {
                let communication = fhir::found_communication(record, ids)?;
                let url = full_url("Communication", communication.id.as_ref());
                Some((url, Resource::Communication(Box::new(communication))))
            });
            (found.collect(), page.next)
        }
        Target::CommunicationRequest => {
            let page = (state.store)
                .notification_record_page(clinic, &search.records)
                .await?;
            let found = page.items.iter().map(|record| {
                let request = fhir::communication_request(record, ids);
                let url = full_url("CommunicationRequest", request.id.as_ref());
                (url, Resource::CommunicationRequest(Box::new(request)))
            });
            (found.collect(), page.next)
        }
    })
}

/// One Communication: a message that reached a provider, or one a patient sent.
#[utoipa::path(
    get,
    path = "/fhir/r4/Communication/{id}",
    tag = "fhir",
    params(
        ("id" = String, Path, description = "The Communication's id: `att-…` (a message to the patient) or `msg-…` (one from them)"),
        ("_format" = Option<String>, Query, description = "`json` (the only format served)",
            pattern = "^(json|application/json|application/fhir\\+json)$"),
    ),
    responses(
        (status = 200, description = "The Communication", content_type = "application/fhir+json",
            body = ref("#/components/schemas/FhirResource")),
        ReadRefusals,
    ),
    security(("api_key" = [])),
)]
async fn read_communication(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = pairs(query.as_deref());
    reader(&caller, &headers, &query)?;
    check_read_params(&query, is_lenient(&headers))?;
    let clinic = &caller.0.clinic.id;
    let id =
        CommunicationId::parse(&fhir::our_id(&id)).ok_or(ApiError::NotFound("Communication"))?;
    let record = (state.store)
        .communication_record(clinic, &id)
        .await
        .map_err(ApiError::not_found("Communication"))?;
    let ids = state.store.fhir_identifiers(clinic).await?;
    let communication =
        fhir::found_communication(&record, &ids).ok_or(ApiError::NotFound("Communication"))?;
    answer(&communication)
}

/// One CommunicationRequest: a notification, what the clinic asked to tell the patient.
#[utoipa::path(
    get,
    path = "/fhir/r4/CommunicationRequest/{id}",
    tag = "fhir",
    params(
        ("id" = String, Path, description = "The CommunicationRequest's id: `ntf-…`"),
        ("_format" = Option<String>, Query, description = "`json` (the only format served)",
            pattern = "^(json|application/json|application/fhir\\+json)$"),
    ),
    responses(
        (status = 200, description = "The CommunicationRequest", content_type = "application/fhir+json",
            body = ref("#/components/schemas/FhirResource")),
        ReadRefusals,
    ),
    security(("api_key" = [])),
)]
async fn read_communication_request(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = pairs(query.as_deref());
    reader(&caller, &headers, &query)?;
    check_read_params(&query, is_lenient(&headers))?;
    let clinic = &caller.0.clinic.id;
    let id = NotificationId::parse(&fhir::our_id(&id))
        .ok_or(ApiError::NotFound("CommunicationRequest"))?;
    let record = (state.store)
        .notification_record(clinic, &id)
        .await
        .map_err(ApiError::not_found("CommunicationRequest"))?;
    let ids = state.store.fhir_identifiers(clinic).await?;
    answer(&fhir::communication_request(&record, &ids))
}
