//! What the OpenAPI document says the `/fhir/r4` searches and reads take and answer. These types
//! only document: the handlers read the query themselves (`search.rs`), and every refusal is
//! an `ApiError` that `outcome.rs` answers as an OperationOutcome.

#![allow(dead_code)]

use serde::Deserialize;
use utoipa::{IntoParams, IntoResponses};

/// The parameters every search takes.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchParams {
    /// The patient: the clinic's id for them, `Patient/<id>`, or `system|id` with the clinic's
    /// patient system; commas for any of several
    patient: Option<String>,
    /// `ge`, `gt`, `le`, `lt` or `eq` and a FHIR date or instant; repeat for a range
    #[serde(rename = "_lastUpdated")]
    last_updated: Option<String>,
    /// Results per page: 50 unless asked, at most 200
    #[serde(rename = "_count")]
    #[param(minimum = 1)]
    count: Option<u32>,
    /// `json` (the only format served)
    #[serde(rename = "_format")]
    #[param(pattern = "^(json|application/json|application/fhir\\+json)$")]
    format: Option<String>,
    /// Where a page starts, as the `next` link gives it
    #[serde(rename = "_cursor")]
    cursor: Option<String>,
}

/// What a search refuses.
#[derive(IntoResponses)]
pub(super) enum SearchRefusals {
    /// A parameter the server does not know, or a value it cannot read
    #[response(status = 400)]
    Unreadable,
    /// A booking key: the records carry message content
    #[response(status = 403)]
    BookingKey,
    /// A format other than JSON was asked for
    #[response(status = 406)]
    NotJson,
}

/// What a read refuses.
#[derive(IntoResponses)]
pub(super) enum ReadRefusals {
    /// A parameter a read does not take
    #[response(status = 400)]
    Unreadable,
    /// A booking key: the records carry message content
    #[response(status = 403)]
    BookingKey,
    /// No such record in the caller's clinic
    #[response(status = 404)]
    NotFound,
    /// A format other than JSON was asked for
    #[response(status = 406)]
    NotJson,
}
