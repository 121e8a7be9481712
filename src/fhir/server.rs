//! What the `/fhir/r4` read API answers besides the records: searchset Bundles, the
//! CapabilityStatement, and OperationOutcomes for errors.

use fhirbolt::model::r4::Resource;
use fhirbolt::model::r4::resources::{
    Bundle, BundleEntry, BundleEntrySearch, BundleLink, CapabilityStatement,
    CapabilityStatementImplementation, CapabilityStatementRest, CapabilityStatementRestResource,
    CapabilityStatementRestResourceInteraction, CapabilityStatementRestResourceSearchParam,
    CapabilityStatementRestSecurity, CapabilityStatementSoftware, OperationOutcome,
    OperationOutcomeIssue,
};
use fhirbolt::model::r4::types::{Id, Narrative, Xhtml};
use jiff::Timestamp;

use super::elements::{instant, meta};

/// The FHIR version served (R4).
pub const FHIR_VERSION: &str = "4.0.1";
/// The media type of every answer, with the FHIR version it is in (R4: `4.0`) and its charset,
/// which R4 (http.html, "Content Types and encodings") requires to be named: UTF-8.
pub const FHIR_JSON: &str = "application/fhir+json; fhirVersion=4.0; charset=utf-8";

/// A search's page: its resources (each with its full URL) and the links to this page and the
/// next. `total` is left out: counting every match would cost what the page saves.
pub fn searchset(
    resources: Vec<(String, Resource)>,
    self_link: String,
    next_link: Option<String>,
    now: Timestamp,
) -> Bundle {
    let mut links = vec![link("self", self_link)];
    links.extend(next_link.map(|url| link("next", url)));
    Bundle {
        id: Some(Id::from(uuid::Uuid::now_v7().simple().to_string())),
        meta: Some(meta(now)),
        r#type: "searchset".into(),
        timestamp: Some(instant(now).into()),
        link: links,
        entry: resources
            .into_iter()
            .map(|(full_url, resource)| BundleEntry {
                full_url: Some(full_url.into()),
                resource: Some(resource),
                search: Some(BundleEntrySearch {
                    mode: Some("match".into()),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn link(relation: &str, url: String) -> BundleLink {
    BundleLink {
        relation: relation.into(),
        url: url.into(),
        ..Default::default()
    }
}

/// How bad an issue is (R4 issue-severity), and what kind it is (R4 issue-type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueKind {
    pub severity: &'static str,
    pub code: &'static str,
}

impl IssueKind {
    /// The issue an HTTP error status stands for.
    pub fn of_status(status: u16) -> Self {
        let (severity, code) = match status {
            400 | 422 => ("error", "invalid"),
            401 => ("error", "login"),
            403 => ("error", "forbidden"),
            404 => ("error", "not-found"),
            405 | 406 | 415 => ("error", "not-supported"),
            408 => ("error", "timeout"),
            413 => ("error", "too-costly"),
            429 => ("error", "throttled"),
            503 => ("error", "transient"),
            500..=599 => ("fatal", "exception"),
            _ => ("error", "processing"),
        };
        Self { severity, code }
    }
}

/// An error as FHIR tells it: one issue, with what went wrong in words.
pub fn operation_outcome(kind: IssueKind, diagnostics: &str) -> OperationOutcome {
    OperationOutcome {
        text: Some(Box::new(narrative(diagnostics))),
        issue: vec![OperationOutcomeIssue {
            severity: kind.severity.into(),
            code: kind.code.into(),
            diagnostics: Some(diagnostics.into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A generated narrative saying `text`.
fn narrative(text: &str) -> Narrative {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    Narrative {
        status: "generated".into(),
        div: Xhtml {
            value: format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{escaped}</div>"),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The search parameters each resource type takes, with what they mean (also the strict list
/// every other parameter is refused against).
pub const COMMUNICATION_PARAMS: &[(&str, &str, &str)] = &[
    (
        "patient",
        "reference",
        "The patient, by the clinic's (booking system's) id, or `system|value` with the clinic's patient identifier system; `patient:identifier` the same",
    ),
    (
        "based-on",
        "reference",
        "The notification an outbound message carries: `CommunicationRequest/<id>`",
    ),
    (
        "_lastUpdated",
        "date",
        "When the record last changed: `ge`, `gt`, `le`, `lt` or `eq` (the default) and a date or instant; repeat for a range. A date or a time without a zone is read in the clinic's time zone",
    ),
];

pub const COMMUNICATION_REQUEST_PARAMS: &[(&str, &str, &str)] = &[
    (
        "patient",
        "reference",
        "The patient, by the clinic's (booking system's) id, or `system|value` with the clinic's patient identifier system; `patient:identifier` the same",
    ),
    (
        "_lastUpdated",
        "date",
        "When the record last changed: `ge`, `gt`, `le`, `lt` or `eq` (the default) and a date or instant; repeat for a range. A date or a time without a zone is read in the clinic's time zone",
    ),
];

/// When this server's capabilities last changed.
const CAPABILITIES_DATE: &str = "2026-12-05";

/// What this server does: reads and searches of Communication and CommunicationRequest, JSON
/// only, for callers with a staff or admin key.
pub fn capability_statement(base_url: &str) -> CapabilityStatement {
    let resource = |kind: &str, params: &[(&str, &str, &str)], documentation: &str| {
        CapabilityStatementRestResource {
            r#type: kind.into(),
            documentation: Some(documentation.into()),
            interaction: ["read", "search-type"]
                .into_iter()
                .map(|code| CapabilityStatementRestResourceInteraction {
                    code: code.into(),
                    ..Default::default()
                })
                .collect(),
            versioning: Some("no-version".into()),
            read_history: Some(false.into()),
            update_create: Some(false.into()),
            search_param: params
                .iter()
                .map(
                    |(name, kind, documentation)| CapabilityStatementRestResourceSearchParam {
                        name: (*name).into(),
                        r#type: (*kind).into(),
                        documentation: Some((*documentation).into()),
                        ..Default::default()
                    },
                )
                .collect(),
            ..Default::default()
        }
    };
    CapabilityStatement {
        text: Some(Box::new(narrative(
            "medrelay: the clinic's patient messages as FHIR R4 Communication and CommunicationRequest resources, read and searched",
        ))),
        name: Some("MedrelayMessages".into()),
        title: Some("medrelay patient messages".into()),
        status: "active".into(),
        date: CAPABILITIES_DATE.into(),
        publisher: Some("medrelay".into()),
        kind: "instance".into(),
        software: Some(CapabilityStatementSoftware {
            name: "medrelay".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
            ..Default::default()
        }),
        implementation: Some(CapabilityStatementImplementation {
            description: "medrelay: the clinic's messages to and from patients".into(),
            url: Some(base_url.into()),
            ..Default::default()
        }),
        fhir_version: FHIR_VERSION.into(),
        format: vec!["json".into()],
        rest: vec![CapabilityStatementRest {
            mode: "server".into(),
            documentation: Some(
                "Results are paged with `_count` (50 by default, at most 200) and the `next` link; \
                 a parameter the server does not know is refused (400) unless the request says \
                 `Prefer: handling=lenient`, which ignores it. Records are in the order they \
                 last changed."
                    .into(),
            ),
            security: Some(CapabilityStatementRestSecurity {
                cors: Some(false.into()),
                description: Some(
                    "`Authorization: Bearer <key>` with one of the clinic's staff or admin API keys; \
                     each key sees its own clinic's records only."
                        .into(),
                ),
                ..Default::default()
            }),
            resource: vec![
                resource(
                    "Communication",
                    COMMUNICATION_PARAMS,
                    "Every message that reached a provider (what the patient got, exactly) and every message a patient sent",
                ),
                resource(
                    "CommunicationRequest",
                    COMMUNICATION_REQUEST_PARAMS,
                    "Every notification: what the clinic asked to tell the patient",
                ),
            ],
            ..Default::default()
        }],
        ..Default::default()
    }
}
