//! `/v1/clinic/fhir`: the identifier systems of the clinic's FHIR records and the FHIR server
//! they are pushed to (`GET`/`PUT`, `DELETE …/server`), and the deliveries log of the pushes
//! (`GET …/pushes`). Admin keys only. The server's credentials are write-only: a `GET` shows
//! their kind, a basic user name and a hint of a long token, never the secret.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use medrelay_channels::Secret;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::deliveries::TryOut;
use super::paging::checked_page;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::json::ApiJson;
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{FhirAuth, IDENTIFIER_SYSTEM_RULE, identifier_system};
use crate::outbox::{TargetRule, check_target};
use crate::store::{
    ApiKeyRole, FhirServerChange, FhirServerView, FhirSettings, FhirSettingsChange, PushRecord,
    StoreError,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "identifier_base": "https://hadar.example/fhir/ids",
    "patient_identifier_system": "http://fhir.health.gov.il/identifier/il-national-id",
    "server": {"base_url": "https://ehr.hadar.example/fhir", "auth": {"kind": "bearer", "token": "…"}, "enabled": true}
}))]
pub(super) struct FhirSettingsIn {
    /// The base of the identifier systems of the clinic's records (`<base>/notification`,
    /// `<base>/attempt`, `<base>/message`); absent or null: `urn:medrelay:clinic:<slug>`.
    /// Changing it after records were pushed makes the server see them as new records.
    identifier_base: Option<String>,
    /// The system of the patients' ids (the booking system's ids); absent or null:
    /// `<base>/patient`.
    patient_identifier_system: Option<String>,
    /// The server records are pushed to, or `null` for none (a server the clinic had is
    /// removed, with what waited for it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<FhirServerIn>, required = true)]
    server: Option<Option<FhirServerIn>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FhirServerIn {
    /// The server's base URL: transaction Bundles are posted to it. `https://`; loopback and
    /// private addresses only where the gateway allows them (`fhir.allow_private_targets`).
    #[schema(example = "https://ehr.hadar.example/fhir")]
    base_url: String,
    /// How medrelay signs in; absent: the credentials of the server already set are kept.
    auth: Option<FhirAuthIn>,
    /// Default `true`. While off, nothing is pushed, and changes are not queued.
    enabled: Option<bool>,
}

/// How medrelay signs in to the server. Write-only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum FhirAuthIn {
    None,
    /// `Authorization: Bearer <token>`.
    Bearer {
        token: String,
    },
    /// `Authorization: Basic …` (RFC 7617).
    Basic {
        username: String,
        password: String,
    },
}

/// Some(value) for a field given (`null` included), so that a missing one can be told apart.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FhirSettingsOut {
    identifier_base: Option<String>,
    patient_identifier_system: Option<String>,
    server: Option<FhirServerOut>,
    /// The latest "FHIR push failing" and "recovered" alerts, newest first.
    alerts: Vec<FhirAlertOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FhirServerOut {
    #[schema(example = "https://ehr.hadar.example/fhir")]
    base_url: String,
    auth: FhirAuthOut,
    enabled: bool,
    /// Since when every push has failed; `null` after a success.
    failing_since: Option<Timestamp>,
    /// When the "FHIR push failing" alert was raised (a record's pushes failed for longer than
    /// `fhir.alert_after_ms`); `null` while none is.
    alert_raised_at: Option<Timestamp>,
    /// Records waiting to be pushed (or in flight).
    waiting: i64,
    /// The first change of the longest-waiting record.
    waiting_since: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// The credentials' kind, without the secret.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FhirAuthOut {
    /// `none`, `bearer` or `basic`.
    #[schema(example = "bearer")]
    kind: String,
    /// Basic's user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    /// The last four characters of a token of 16 or more.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "…9f3a")]
    token_hint: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FhirAlertOut {
    at: Timestamp,
    detail: String,
}

impl From<FhirSettings> for FhirSettingsOut {
    fn from(s: FhirSettings) -> Self {
        Self {
            identifier_base: s.identifier_base,
            patient_identifier_system: s.patient_system,
            server: s.server.map(FhirServerOut::from),
            alerts: s
                .alerts
                .into_iter()
                .map(|(at, detail)| FhirAlertOut { at, detail })
                .collect(),
        }
    }
}

impl From<FhirServerView> for FhirServerOut {
    fn from(s: FhirServerView) -> Self {
        Self {
            base_url: s.base_url,
            auth: FhirAuthOut {
                kind: s.auth_kind,
                username: s.username,
                token_hint: s.token_hint,
            },
            enabled: s.enabled,
            failing_since: s.failing_since,
            alert_raised_at: s.alerted_at,
            waiting: s.waiting,
            waiting_since: s.waiting_since,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

const TOKEN_RULE: &str = "must be 1 to 4096 visible ASCII characters";
const USERNAME_RULE: &str = "must be 1 to 256 characters, without `:` or control characters";
const PASSWORD_RULE: &str = "must be 1 to 1024 characters";
const BASE_URL_RULE: &str = "must not have a query or a fragment: it is the server's base URL";

impl FhirSettingsIn {
    /// The settings, each field checked; every broken rule named.
    fn checked(self, rule: TargetRule) -> Result<FhirSettingsChange, ApiError> {
        let mut errors = Vec::new();
        let mut system = |field: &str, value: Option<String>| {
            let value = value?;
            let checked = identifier_system(&value);
            if checked.is_none() {
                errors.push(FieldError::new(field, IDENTIFIER_SYSTEM_RULE));
            }
            checked
        };
        let identifier_base = system("identifier_base", self.identifier_base);
        let patient_system = system("patient_identifier_system", self.patient_identifier_system);
        let server = match self.server {
            None => {
                errors.push(FieldError::new(
                    "server",
                    "is required: the server's settings, or null for none",
                ));
                None
            }
            Some(server) => server.and_then(|s| s.checked(rule, &mut errors)),
        };
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        Ok(FhirSettingsChange {
            identifier_base,
            patient_system,
            server,
        })
    }
}

impl FhirServerIn {
    fn checked(self, rule: TargetRule, errors: &mut Vec<FieldError>) -> Option<FhirServerChange> {
        let base_url = match check_target(&self.base_url, rule) {
            Ok(url) if url.query().is_some() || url.fragment().is_some() => {
                errors.push(FieldError::new("server.base_url", BASE_URL_RULE));
                None
            }
            Ok(url) => Some(url.as_str().trim_end_matches('/').to_owned()),
            Err(broken) => {
                errors.push(FieldError::new("server.base_url", broken.to_string()));
                None
            }
        };
        let auth = match self.auth.map(|a| a.checked(errors)) {
            None => None,
            Some(checked) => Some(checked?),
        };
        Some(FhirServerChange {
            base_url: base_url?,
            auth,
            enabled: self.enabled.unwrap_or(true),
        })
    }
}

impl FhirAuthIn {
    fn checked(self, errors: &mut Vec<FieldError>) -> Option<FhirAuth> {
        let mut check = |ok: bool, field: &str, rule: &str| {
            if !ok {
                errors.push(FieldError::new(format!("server.auth.{field}"), rule));
            }
            ok
        };
        match self {
            Self::None => Some(FhirAuth::None),
            Self::Bearer { token } => {
                let fits = (1..=4096).contains(&token.len())
                    && token.bytes().all(|b| b.is_ascii_graphic());
                check(fits, "token", TOKEN_RULE).then(|| FhirAuth::Bearer {
                    token: Secret::new(token),
                })
            }
            Self::Basic { username, password } => {
                let user_fits = (1..=256).contains(&username.chars().count())
                    && !username.contains(':')
                    && !username.chars().any(char::is_control);
                let user_ok = check(user_fits, "username", USERNAME_RULE);
                let password_fits = (1..=1024).contains(&password.chars().count());
                let password_ok = check(password_fits, "password", PASSWORD_RULE);
                (user_ok && password_ok).then(|| FhirAuth::Basic {
                    username,
                    password: Secret::new(password),
                })
            }
        }
    }
}

#[utoipa::path(get, path = "/v1/clinic/fhir", tag = "clinic",
    responses(
        (status = 200, description = "The clinic's FHIR settings, without the server's credentials", body = FhirSettingsOut),
        (status = 403, description = "Needs an admin key"),
    ))]
pub(super) async fn get_fhir(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<FhirSettingsOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let settings = state.store.fhir_settings(&caller.0.clinic.id).await?;
    Ok(Json(settings.into()))
}

#[utoipa::path(put, path = "/v1/clinic/fhir", tag = "clinic", request_body = FhirSettingsIn,
    responses(
        (status = 200, description = "The settings as set; what waited for the server is tried now", body = FhirSettingsOut),
        (status = 403, description = "Needs an admin key"),
        (status = 422, description = "A field breaks a rule (a new server needs `server.auth`)"),
    ))]
/// Replaces the settings as a whole.
pub(super) async fn put_fhir(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<FhirSettingsIn>,
) -> Result<Json<FhirSettingsOut>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let change = body.value.checked(state.config.fhir.target_rule())?;
    let clinic = &caller.0.clinic;
    let settings = state
        .store
        .set_fhir_settings(&clinic.id, &change, state.clock.now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::invalid(
                "server.auth",
                "is required: the clinic has no server whose credentials could be kept",
            ),
            other => other.into(),
        })?;
    let server = settings.server.as_ref();
    tracing::info!(clinic = %clinic.slug, server = server.is_some(), enabled = server.is_some_and(|s| s.enabled), by = %caller.0.id, "FHIR settings set");
    Ok(Json(settings.into()))
}

#[utoipa::path(delete, path = "/v1/clinic/fhir/server", tag = "clinic",
    responses(
        (status = 204, description = "Removed, with the records that waited to be pushed; the deliveries log stays"),
        (status = 403, description = "Needs an admin key"),
        (status = 404, description = "The clinic has no FHIR server"),
    ))]
pub(super) async fn delete_fhir_server(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let clinic = &caller.0.clinic;
    state
        .store
        .delete_fhir_server(&clinic.id)
        .await
        .map_err(ApiError::not_found("FHIR server"))?;
    tracing::info!(clinic = %clinic.slug, by = %caller.0.id, "FHIR server removed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct PushesQuery {
    /// Tries per page, 1 to 500 (50 unless given).
    limit: Option<u32>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// Only the pushes of this notification (`ntf_…`) or patient's message (`msg_…`).
    subject_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PushOut {
    /// `notification` (its CommunicationRequest and Communications) or `inbound_message` (its
    /// Communication).
    #[schema(example = "notification")]
    subject_kind: String,
    #[schema(example = "ntf_0190f3a1c2d37b40a1b2c3d4e5f60718")]
    subject_id: String,
    /// Resources in the transaction Bundle.
    entries: i64,
    /// Its `try` counts from 1 again once the record was pushed.
    #[serde(flatten)]
    tried: TryOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PushList {
    items: Vec<PushOut>,
    /// Where the next (older) page starts; null on the last page.
    next_cursor: Option<String>,
}

impl From<PushRecord> for PushOut {
    fn from(r: PushRecord) -> Self {
        Self {
            subject_kind: r.subject.kind().to_owned(),
            subject_id: r.subject.id().to_owned(),
            entries: r.entries,
            tried: r.tried.into(),
        }
    }
}

#[utoipa::path(get, path = "/v1/clinic/fhir/pushes", tag = "clinic", params(PushesQuery),
    responses(
        (status = 200, description = "The latest tries of pushes, newest first", body = PushList),
        (status = 403, description = "Needs an admin key"),
        (status = 422, description = "A query parameter breaks its rule"),
    ))]
pub(super) async fn list_fhir_pushes(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<PushesQuery>, QueryRejection>,
) -> Result<Json<PushList>, ApiError> {
    caller.require(ApiKeyRole::Admin)?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let mut errors = Vec::new();
    let (limit, before) = checked_page(&mut errors, query.limit, query.cursor, |c| {
        i64::from_str_radix(c, 16).ok().filter(|id| *id > 0)
    });
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let subject = query.subject_id.as_deref();
    let page = state
        .store
        .fhir_pushes(&caller.0.clinic.id, subject, before, limit)
        .await?;
    Ok(Json(PushList {
        items: page.items.into_iter().map(PushOut::from).collect(),
        next_cursor: page.next.map(|id| format!("{id:x}")),
    }))
}
