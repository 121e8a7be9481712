//! What the gateway tells an operator besides its logs: Prometheus metrics (the recorder and
//! the names in [`recorder`], the database gauges in [`sampler`]) and, when configured, request
//! spans exported to an OpenTelemetry collector ([`otlp`]).

pub mod otlp;
pub mod recorder;
pub mod sampler;

pub use recorder::{
    record_attempt, record_audit_failure, record_provider_request, record_rate_limit_refusal,
    record_request, recorder, render,
};
pub use sampler::Sampler;
