//! Pushes to the clinic's FHIR server in the store: the clinic's identifier systems and server
//! (`servers`), the outbox the event writer fills in the causing transaction (`outbox`), and the
//! pusher's claims, deliveries log and alerts (`pushes`).

mod outbox;
mod pushes;
mod servers;

pub(crate) use outbox::{enqueue_fhir_pushes, enqueue_patient_fhir_pushes};
pub use pushes::{ClaimedPush, FhirBacklog, PushOutcome, PushPage, PushRecord, PushResult};
pub use servers::{FhirServerChange, FhirServerView, FhirSettings, FhirSettingsChange};
