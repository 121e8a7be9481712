//! medrelay: a patient notification gateway.
//!
//! Layout, in the order a notification travels:
//! - [`api`]: the HTTP edge; validates, authenticates and stores (durably) before answering.
//! - [`http`]: the server under it: connection cap, header-read timeout, graceful stop.
//! - [`store`]: all SQL, for SQLite and PostgreSQL.
//! - [`dispatch`]: claims due notifications, asks [`policy`] what to do, hands messages to
//!   channel adapters, records outcomes.
//! - [`policy`]: pure routing rules: channel plan, fallback, retries, expiry, templates.
//! - [`tracking`]: provider status updates move attempts to delivered / read / failed.
//! - [`booking_webhooks`]: signed webhooks to the booking system, from the outbox the event
//!   writer fills in the causing transaction.
//! - [`outbox`]: the delivery mechanism every outbox shares, and the pushes of each clinic's
//!   records to its FHIR server.
//! - [`conversations`]: what patients send: stored, read by the rules, answered, labelled.
//! - [`retention`]: the daily run that removes texts and media past each clinic's periods.
//! - [`providers`]: each clinic's provider accounts and adapters; webhook secrets.
//! - [`sandbox`]: look-alikes of the providers' APIs, used when a clinic has no provider account.
//! - [`secure_link`]: secure message links: pages where a patient proves who they are and reads
//!   a sensitive message that the chat only points to.
//! - [`fhir`]: FHIR R4 records of every message, for the `/fhir/r4` API and the clinic's server.
//! - [`console`]: the staff console: reception's pages, sign-in, sessions, the UI texts.
//! - [`audit`]: the audit trail: who changed what, who read patients' content.
//! - [`domain`]: the clinic's words as types.
//! - [`cache`]: the one expiring cache for values read from the database.
//! - [`logging`]: log lines as text or JSON.
//! - [`observability`]: Prometheus metrics, their sampler of database gauges, trace export.

pub mod api;
pub mod app;
pub mod audit;
pub mod batch;
pub mod booking_webhooks;
pub mod cache;
pub mod clock;
pub mod config;
pub mod console;
pub mod conversations;
pub mod dispatch;
pub mod domain;
pub mod fhir;
pub mod http;
pub mod intake;
pub mod logging;
pub mod observability;
pub mod outbox;
pub mod policy;
pub mod providers;
pub mod retention;
pub mod sandbox;
pub mod secure_link;
pub mod store;
pub mod tracking;
pub mod transcript;

pub use app::{Application, RunningApp};
pub use config::Config;
