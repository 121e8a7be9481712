//! The settings of what the gateway tells an operator: `[metrics]` and `[telemetry]`.

use medrelay_channels::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// How often the queue and the database pools are read for their gauges.
    pub sample_interval_ms: u64,
    /// How often the last 24 hours' notifications are counted by status (a read that grows
    /// with a day's traffic, so less often than the queue).
    pub status_sample_interval_ms: u64,
    /// When set, `GET /metrics` wants `Authorization: Bearer <this>` (or an admin API key);
    /// unset, it is open, for a scraper on a private network. From the environment:
    /// `MEDRELAY_METRICS__BEARER_TOKEN`.
    #[serde(default, skip_serializing)]
    pub bearer_token: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// An OpenTelemetry collector's OTLP/HTTP base URL (`http://collector:4318`); each request
    /// becomes a span sent to `<this>/v1/traces`. Unset: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
}
