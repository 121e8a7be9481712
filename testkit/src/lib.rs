//! What medrelay's tests and its benchmark share, so that each is written once:
//!
//! - [`browser`]: a headless Chromium driven over WebDriver, for what only a rendered page
//!   shows (direction, alignment, a screenshot), and a proxy that lends it an API key;
//! - [`database`]: a fresh database for one run (a SQLite file, or a new PostgreSQL database on
//!   the server `MEDRELAY_TEST_POSTGRES_URL` names) and its removal;
//! - [`process`]: the `medrelay` binary as a child process, with only the settings the test
//!   gives it, its output lines, readiness, the key a first run prints, and its log on failure;
//! - [`crash_run`]: the gateway run for the outboxes' crash tests, with a clinic, patients and
//!   a burst of notifications;
//! - [`outbox`]: what the sandbox says each patient received;
//! - [`webhook_receiver`]: a booking system's webhook receiver that verifies every signature with
//!   the Standard Webhooks reference verifier and keeps each event once;
//! - [`fhir_r4`]: whether a resource medrelay emitted is valid FHIR R4 (strict parse, value sets);
//! - [`fhir_server`]: a clinic's FHIR server that holds pushes to R4's transaction semantics
//!   ([`fhir_transaction`]) and plays its failures;
//! - [`snapshot`]: every table's rows, to show a refused request changed nothing;
//! - [`wait`]: waiting for a condition with a deadline, instead of sleeping a guessed time.
//!
//! It knows medrelay only from the outside (HTTP, the command line, the sandbox's table), so it
//! builds without the gateway and serves in-process and out-of-process tests alike.

pub mod browser;
pub mod crash_run;
pub mod database;
pub mod fhir_r4;
pub mod fhir_server;
pub mod fhir_transaction;
pub mod outbox;
pub mod process;
pub mod snapshot;
pub mod wait;
pub mod webhook_receiver;

pub use database::{Backend, TestDatabase};
pub use fhir_server::FhirServer;
pub use process::{Process, free_port};
pub use webhook_receiver::{ReceivedEvent, WebhookReceiver};
