//! FHIR R4 (4.0.1): the clinic's messages as medical records. A notification is a
//! CommunicationRequest (what the clinic asked); every attempt that reached a provider and every
//! message a patient sent is a Communication. Resources are fhirbolt's typed R4 structs, built
//! here from [`records`] by pure functions: the `/fhir/r4` read API serves them and the push to
//! the clinic's FHIR server sends them.
//!
//! Identifiers are under the clinic's base ([`records::Identifiers`]); the patient is named by
//! the clinic's identifier for them, never by a server id.

mod communication;
mod elements;
pub mod records;
mod request;
mod server;

pub use communication::{
    communication, communications, found_communication, inbound_communication,
};
pub use elements::{our_id, resource_id};
pub use records::Identifiers;
pub use request::communication_request;
pub use server::{
    COMMUNICATION_PARAMS, COMMUNICATION_REQUEST_PARAMS, FHIR_JSON, FHIR_VERSION, IssueKind,
    capability_statement, operation_outcome, searchset,
};
