//! One try of a delivery as every deliveries log shows it: the webhooks' and the FHIR pushes'.

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::TryRecord;

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TryOut {
    /// 1 for the first try.
    #[serde(rename = "try")]
    try_number: i64,
    at: Timestamp,
    /// The target's HTTP status; `null` when it gave none (timeout, refused connection, an answer
    /// cut off).
    status_code: Option<i64>,
    latency_ms: i64,
    /// Why it failed, in a few words (never the target's answer).
    error: Option<String>,
    /// `retrying` (see `next_retry_at`), or the last word: a webhook's `delivered` or `failed`
    /// (given up), a push's `pushed` or `dropped` (its record is gone).
    outcome: String,
    next_retry_at: Option<Timestamp>,
}

impl From<TryRecord> for TryOut {
    fn from(r: TryRecord) -> Self {
        Self {
            try_number: r.try_number,
            at: r.at,
            status_code: r.status_code,
            latency_ms: r.latency_ms,
            error: r.error,
            outcome: r.outcome,
            next_retry_at: r.next_retry_at,
        }
    }
}
