//! Black-box tests: each starts the real application on port 0 with a fresh database (SQLite by
//! default; a fresh PostgreSQL database when `MEDRELAY_TEST_POSTGRES_URL` is set) and talks to it
//! over HTTP, the way a booking system would.

mod console_harness;
mod harness;

mod appointments;
mod appointments_list;
mod audit;
mod audit_coverage;
mod audit_integrity;
mod bad_input;
mod booking_webhooks;
mod booking_webhooks_patients;
mod callbacks;
mod channels;
mod clinic_inbound;
mod clinic_settings;
mod console_sign_in;
mod contents;
mod conversation_replies;
mod conversations;
mod edge;
mod events;
mod fhir;
mod fhir_push;
mod fhir_search;
mod fhir_settings;
mod fhir_validation;
mod hours;
mod inbound;
mod inbound_media;
mod isolation_and_auth;
mod keys;
mod metrics;
mod multi_instance;
mod notifications;
mod notifications_feed;
mod openapi;
mod openapi_contract;
mod patient_cap;
mod patients;
mod patients_erasure;
mod patients_search;
mod privacy;
mod ready;
mod retention;
mod routing;
mod sandbox;
mod secure_link;
mod secure_link_settings;
mod stats;
mod storage_faults;
mod templates;
mod transcript;
mod transcript_render;
mod webhooks;
