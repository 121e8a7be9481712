//! Errors under `/fhir/` as FHIR tells them: an OperationOutcome (`application/fhir+json`)
//! instead of a problem, with the same status, headers and words. Every error of the API is an
//! [`ApiError`] that rides on its response, so one middleware turns each, wherever it was
//! raised: in a handler, by the key check, the router (no such route) or the request deadline.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, schema::SchemaType};

use super::super::request_log::Failure;
use super::{PREFIX, answer};
use crate::fhir::{IssueKind, operation_outcome};

/// Answers an error under `/fhir/` as an OperationOutcome.
pub(in crate::api) async fn outcomes_for_errors(request: Request, next: Next) -> Response {
    let is_fhir = request.uri().path().starts_with(PREFIX);
    let response = next.run(request).await;
    let Some(Failure(error)) = response.extensions().get::<Failure>().cloned() else {
        return response;
    };
    if !is_fhir {
        return response;
    }
    let status = response.status();
    let outcome = operation_outcome(IssueKind::of_status(status.as_u16()), &error.detail());
    let Ok(mut fhir) = answer(&outcome) else {
        return response;
    };
    *fhir.status_mut() = status;
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fhir.headers_mut().insert(name, value.clone());
        }
    }
    fhir.extensions_mut().insert(Failure(Arc::clone(&error)));
    fhir.into_response()
}

/// The schemas `/fhir` answers are described by: any FHIR resource, and the OperationOutcome.
pub(in crate::api) fn schemas() -> Vec<(String, RefOr<Schema>)> {
    let resource_type = |name: &str| {
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .description(Some(name))
    };
    let resource = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .description(Some(
            "A FHIR R4 resource in JSON (https://hl7.org/fhir/R4/json.html): a Bundle, \
             Communication, CommunicationRequest or CapabilityStatement",
        ))
        .property(
            "resourceType",
            resource_type("The resource's type, e.g. `Bundle`"),
        )
        .required("resourceType")
        .build();
    let issue = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .property(
            "severity",
            resource_type("R4 issue-severity: `error`, `fatal`"),
        )
        .property(
            "code",
            resource_type("R4 issue-type: `invalid`, `not-found`, `forbidden`, …"),
        )
        .property("diagnostics", resource_type("What went wrong, in words"))
        .required("severity")
        .required("code")
        .build();
    let outcome = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .description(Some(
            "A FHIR R4 OperationOutcome (https://hl7.org/fhir/R4/operationoutcome.html): \
             every error under `/fhir`",
        ))
        .property("resourceType", resource_type("`OperationOutcome`"))
        .property("issue", ArrayBuilder::new().items(issue).min_items(Some(1)))
        .required("resourceType")
        .required("issue")
        .build();
    vec![
        (
            "FhirResource".to_owned(),
            RefOr::T(Schema::Object(resource)),
        ),
        (
            "OperationOutcome".to_owned(),
            RefOr::T(Schema::Object(outcome)),
        ),
    ]
}
