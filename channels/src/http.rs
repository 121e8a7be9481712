//! What every provider's HTTP answer is read for alike.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// A `Retry-After` in seconds, as Meta and Twilio send it (an HTTP date is read as absent: the
/// caller's own backoff applies then).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}
