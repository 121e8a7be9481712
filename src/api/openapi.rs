//! The OpenAPI 3.1 document and the reference page. The document is built from the same list of
//! handlers as the router (utoipa-axum's `routes!`), so a route cannot be served undocumented or
//! documented unserved. What every operation has in common is added here once, from what the
//! API does everywhere: `/v1` and `/sandbox` take the bearer key (`auth.rs`), JSON bodies are
//! refused as `json.rs` refuses them, and every error is a problem (`problem.rs`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{Object, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response as Answer};

/// The security scheme every authenticated operation names.
pub(super) const BEARER_KEY: &str = "api_key";
const PROBLEM_JSON: &str = "application/problem+json";

/// Redoc's standalone bundle: npm `redoc` 3.0.1, `bundles/redoc.standalone.js`, MIT licensed
/// (`assets/redoc/LICENSE`). Served from the binary: nothing is fetched at build or run time.
const REDOC_JS: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");
/// The page that loads the bundle and points it at `/openapi.json`.
const DOCS_PAGE: &str = include_str!("../../assets/redoc/index.html");

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "medrelay",
        description = "Patient notification gateway: one API takes a notification for a patient \
            and delivers it by WhatsApp, SMS, email, voice or a staff callback, with fallback, \
            clinic hours, privacy by topic and delivery tracking.\n\n\
            Every `/v1` call takes the clinic's API key as `Authorization: Bearer <key>`. \
            Errors are `application/problem+json` (RFC 9457); a `422` lists every broken rule \
            in `errors[]`, each naming the field and the rule.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(super::problem::Problem)),
    tags(
        (name = "notifications", description = "Messages to patients and where each stands"),
        (name = "patients", description = "Patients as the booking system knows them"),
        (name = "appointments", description = "Appointments and their reminder series"),
        (name = "topics", description = "What notifications are about, and how sensitive"),
        (name = "templates", description = "Message templates and staff quick replies"),
        (name = "clinic", description = "The clinic's set-up: hours, inbound handling, links"),
        (name = "callbacks", description = "The staff queue of patients to call back"),
        (name = "conversations", description = "The clinic's inbox, one conversation per patient"),
        (name = "keys", description = "The clinic's API keys"),
        (name = "stats", description = "The clinic's figures over a period"),
        (name = "audit", description = "Who changed what, and who read patients' content: \
            every change and every such read through `/v1` and `/fhir/r4` is recorded, and no \
            API changes or removes an entry"),
        (name = "webhooks", description = "The booking system's webhook endpoints: signed per \
            Standard Webhooks, retried for over a day, in order per notification"),
        (name = "provider webhooks", description = "Status and inbound webhooks from Meta and \
            Twilio, checked against the provider's signature"),
        (name = "secure links", description = "The pages patients open from a secure link"),
        (name = "sandbox", description = "The sandbox's outbox and patient stand-in; served only \
            while medrelay runs in sandbox mode. The sandbox's look-alikes of the providers' \
            APIs are not listed: they copy Meta's and Twilio's, whose documents describe them."),
        (name = "fhir", description = "The clinic's messages as FHIR R4 records \
            (`application/fhir+json`): every notification a CommunicationRequest, every message \
            that reached a provider or came from a patient a Communication. Staff or admin keys; \
            errors are OperationOutcomes."),
        (name = "operations", description = "Liveness, readiness and Prometheus metrics, for \
            orchestrators, load balancers and monitoring"),
    ),
)]
pub(super) struct ApiDoc;

/// Completes the document with what every operation has in common.
pub(super) fn complete(document: &mut OpenApi) {
    let components = document.components.get_or_insert_with(Default::default);
    components.schemas.extend(super::fhir::schemas());
    components.security_schemes.insert(
        BEARER_KEY.to_owned(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API key made with `medrelay key create` or `POST /v1/keys`; its role \
                     (booking, staff, admin) decides what it may do.",
                ))
                .build(),
        )),
    );
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            (&mut item.get, false),
            (&mut item.put, true),
            (&mut item.post, true),
            (&mut item.delete, true),
            (&mut item.patch, true),
        ];
        for (operation, writes) in operations {
            if let Some(operation) = operation.as_mut() {
                let traits = Traits::of(path, operation, writes);
                add_common_answers(operation, &traits);
            }
        }
    }
}

/// What decides the answers an operation shares with others.
struct Traits {
    /// Takes the bearer key (`auth.rs`): every `/v1` and `/sandbox` route, and those that say
    /// so (`/fhir`).
    authenticated: bool,
    /// Changes something, so a full database refuses it.
    writes: bool,
    /// Shows patients' content, so it is withheld when its audit entry cannot be written.
    audited_read: bool,
    /// Reads a JSON body through `json.rs`, which refuses other types and broken JSON (provider
    /// webhooks take the bytes as sent, to check the signature over them).
    json_body: bool,
    has_body: bool,
    has_query: bool,
    /// How its errors are written: problems, or (the patients' pages) axum's plain text.
    errors_as: &'static str,
}

impl Traits {
    fn of(path: &str, operation: &Operation, writes: bool) -> Self {
        let authenticated = path.starts_with("/v1/")
            || path.starts_with("/sandbox/")
            || operation.security.is_some();
        let body_types: Vec<&String> = match &operation.request_body {
            Some(RefOr::T(body)) => body.content.keys().collect(),
            _ => Vec::new(),
        };
        Self {
            authenticated,
            writes,
            audited_read: !writes
                && crate::audit::routes::recorded(&axum::http::Method::GET, path).is_some(),
            json_body: authenticated && body_types.iter().any(|t| t.ends_with("json")),
            has_body: !body_types.is_empty(),
            has_query: (operation.parameters.iter().flatten())
                .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query)),
            errors_as: if path.starts_with("/s/") {
                "text/plain"
            } else if path.starts_with(super::fhir::PREFIX) {
                super::fhir::MEDIA_TYPE
            } else {
                PROBLEM_JSON
            },
        }
    }

    /// The statuses it may answer besides its own, and why.
    fn common_answers(&self) -> Vec<(&'static str, &'static str)> {
        let answers = [
            ("400", "The body is not valid JSON", self.json_body),
            ("401", "No API key, or not a valid one", self.authenticated),
            (
                "408",
                "The request took longer than the server allows",
                true,
            ),
            (
                "413",
                "The body is larger than the server accepts",
                self.has_body,
            ),
            ("415", "The body is not `application/json`", self.json_body),
            (
                "422",
                "The request breaks rules, each named in `errors[]`",
                // FHIR answers a search it cannot read with 400.
                (self.has_body || self.has_query) && self.errors_as != super::fhir::MEDIA_TYPE,
            ),
            (
                "429",
                "Too many requests for this key, or too many failed key checks from this address",
                self.authenticated,
            ),
            (
                "503",
                "The database cannot be reached right now; nothing was changed",
                !self.audited_read,
            ),
            (
                "503",
                "The database cannot be reached right now, or this read cannot be written to \
                 the audit trail: its content is withheld",
                self.audited_read,
            ),
            (
                "507",
                "The database is full; nothing was stored",
                self.writes,
            ),
        ];
        answers
            .into_iter()
            .filter(|(_, _, applies)| *applies)
            .map(|(status, description, _)| (status, description))
            .collect()
    }
}

/// The answers any operation may give besides its own, a problem body on every error, and the
/// request id on every answer.
fn add_common_answers(operation: &mut Operation, traits: &Traits) {
    if traits.authenticated {
        operation.security = Some(vec![SecurityRequirement::new(
            BEARER_KEY,
            Vec::<String>::new(),
        )]);
    }
    let answers = &mut operation.responses.responses;
    for (status, description) in traits.common_answers() {
        answers
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Answer::new(description)));
    }
    for (status, answer) in answers.iter_mut() {
        let RefOr::T(answer) = answer else { continue };
        answer
            .headers
            .insert(REQUEST_ID.to_owned(), RefOr::T(request_id()));
        if !status.starts_with('2') && !status.starts_with('3') {
            as_error(status, answer, traits.errors_as);
        }
    }
}

/// `X-Request-Id` (`request_log.rs`): on every answer, the request's id as its log lines carry it.
const REQUEST_ID: &str = "X-Request-Id";

fn request_id() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(Object::with_type(Type::String)))
        .description(Some(
            "The request's id, as every log line about it names it: the client's own \
             `X-Request-Id` when it sent a sane one, else a new one",
        ))
        .build()
}

/// An error answer: a problem body (or text), and the headers that go with its status.
fn as_error(status: &str, answer: &mut Answer, content_type: &str) {
    if answer.content.is_empty() {
        let schema: RefOr<Schema> = match content_type {
            PROBLEM_JSON => Ref::from_schema_name("Problem").into(),
            super::fhir::MEDIA_TYPE => Ref::from_schema_name("OperationOutcome").into(),
            _ => Object::with_type(Type::String).into(),
        };
        answer.content.insert(
            content_type.to_owned(),
            RefOr::T(ContentBuilder::new().schema(Some(schema)).build()),
        );
    }
    let seconds = || {
        HeaderBuilder::new()
            .schema(Some(Object::with_type(Type::Integer)))
            .description(Some("Seconds to wait before sending the request again"))
            .build()
    };
    match status {
        "429" | "503" | "507" => {
            answer
                .headers
                .insert("Retry-After".to_owned(), RefOr::T(seconds()));
        }
        "401" => {
            answer.headers.insert(
                "WWW-Authenticate".to_owned(),
                RefOr::T(
                    HeaderBuilder::new()
                        .schema(Some(Object::with_type(Type::String)))
                        .description(Some("`Bearer`"))
                        .build(),
                ),
            );
        }
        _ => {}
    }
}

/// `/openapi.json` and `/docs`.
pub(super) fn routes<S>(document: &OpenApi) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let json = serde_json::to_value(document)
        .map(|mut json| {
            open_flattened_parts(&mut json);
            Arc::<str>::from(json.to_string())
        })
        .unwrap_or_else(|error| Arc::from(format!("{{\"error\":\"{error}\"}}")));
    Router::new()
        .route("/openapi.json", get(serve_document).with_state(json))
        .route("/docs", get(serve_page))
        .route("/docs/redoc.standalone.js", get(serve_redoc))
}

/// A body that flattens a type which refuses unknown fields (`ClinicOut` holds the clinic's
/// details and more) is described as `allOf` that type and the rest; the type's own
/// `additionalProperties: false` would then refuse the rest, so inside `allOf` it is given as a
/// copy without it.
fn open_flattened_parts(document: &mut Value) {
    let schemas = document["components"]["schemas"].clone();
    let Some(all) = document["components"]["schemas"].as_object_mut() else {
        return;
    };
    for schema in all.values_mut() {
        let parts = schema.get_mut("allOf").and_then(Value::as_array_mut);
        for part in parts.into_iter().flatten() {
            let name = part["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"));
            let Some(referenced) = name.map(|name| &schemas[name]) else {
                continue;
            };
            if referenced["additionalProperties"] == Value::Bool(false) {
                let mut open = referenced.clone();
                open.as_object_mut()
                    .map(|o| o.remove("additionalProperties"));
                *part = open;
            }
        }
    }
}

async fn serve_document(State(json): State<Arc<str>>) -> Response {
    let mut answer = json.to_string().into_response();
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    answer
}

/// What the page may load: only what this server serves (the script, the document), so the
/// browser refuses anything the bundle would fetch from elsewhere (fonts, icons, telemetry).
const DOCS_POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
                           img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:";

async fn serve_page() -> Response {
    let mut answer = Html(DOCS_PAGE).into_response();
    answer.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_POLICY),
    );
    answer
}

async fn serve_redoc() -> Response {
    let mut answer = REDOC_JS.into_response();
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    answer
}
