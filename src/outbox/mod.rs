//! What medrelay owes other systems, delivered from outboxes the store fills in the transaction
//! of the change that caused them: signed webhooks to the booking system
//! ([`crate::booking_webhooks`]) and pushes to the clinic's FHIR server ([`fhir`]). They share
//! one mechanism, here:
//!
//! - [`run_until_stopped`]: the loop of rounds (claim under a lease, send side by side, record
//!   every try), idle polling and a graceful stop;
//! - [`client`]: the HTTP client every outbox sends with (timeout, no redirects, resolved
//!   addresses checked against [`target`]);
//! - [`retry_delay`]: the backoff between tries;
//! - [`failure`]: why a request got no answer, in a word;
//! - `target`: which URLs and addresses an outbox may deliver to.

pub mod fhir;
mod target;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use target::{TargetError, TargetRule, check_target, is_private};

use crate::store::StoreError;

/// One outbox's sender: a round claims what is due and delivers it.
pub trait Rounds: Send + Sync + 'static {
    /// What the log calls it.
    const NAME: &'static str;

    /// One round; returns how many deliveries it claimed.
    fn deliver_due(&self) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// Runs rounds until `stop`, the round in flight finishing first; after a round that found
/// nothing, or failed, waits `idle` (or until stopped).
pub async fn run_until_stopped<R: Rounds>(
    rounds: Arc<R>,
    idle: Duration,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        match rounds.deliver_due().await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(error) => tracing::error!(%error, sender = R::NAME, "outbox round failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(idle) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The HTTP client of an outbox: each request ends after `timeout`, redirects are not followed
/// (a target answering 3xx has failed the try), and host names resolve only to addresses
/// `rule` allows.
pub fn client(
    timeout: Duration,
    rule: TargetRule,
    user_agent: &'static str,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(target::GuardedResolver {
            allow_private: rule.allow_private,
        }))
        .user_agent(user_agent)
        .build()
}

/// The delay before try `tries + 1` after `tries` failed: doubling from `base_ms` up to
/// `cap_ms`, with ±20% jitter so that what failed together does not come back together.
pub fn retry_delay(base_ms: u64, cap_ms: u64, tries: u32) -> Duration {
    crate::policy::retry_delay(
        tries,
        Duration::from_millis(base_ms),
        Duration::from_millis(cap_ms),
        rand::random::<f64>() * 2.0 - 1.0,
    )
}

/// Why a request got no answer, in a word or two (never a URL, which may hold a token).
pub fn failure(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_owned()
    } else if error.is_connect() {
        "connect".to_owned()
    } else {
        "request".to_owned()
    }
}
