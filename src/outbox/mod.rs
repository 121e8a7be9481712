//! What medrelay owes other systems, delivered from outboxes the store fills in the transaction
//! of the change that caused them: signed webhooks to the booking system
//! ([`crate::booking_webhooks`]) and pushes to the clinic's FHIR server ([`fhir`]). They share
//! one mechanism, here:
//!
//! - [`Outbox`], [`deliver_due`] and [`run_until_stopped`]: rounds (claim under a lease, send
//!   side by side, record every try), idle polling and a graceful stop; [`timed`] times a try;
//! - [`client`]: the HTTP client every outbox sends with (timeout, no redirects, resolved
//!   addresses checked against [`target`]);
//! - [`retry_delay`]: the backoff between tries;
//! - [`failure`]: why a request got no answer, in a word;
//! - `target`: which URLs and addresses an outbox may deliver to.

pub mod fhir;
mod target;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::watch;

pub use target::{TargetError, TargetRule, check_target, is_private};

use crate::clock::{SharedClock, later};
use crate::config::WebhooksConfig;
use crate::store::{Lease, StoreError, Tried};

/// One outbox's sender. A round ([`deliver_due`]) claims what is due under a lease, sends it
/// side by side, and records every try in one go.
pub trait Outbox: Send + Sync + 'static {
    /// What the log calls it.
    const NAME: &'static str;
    /// A delivery the round holds the lease on.
    type Claimed: Send;
    /// How one try of it went, to record.
    type Outcome: Send;

    /// Its clock, and the lease, batch size, concurrency and polling, which every outbox takes
    /// from `[webhooks]`.
    fn pace(&self) -> (&SharedClock, &WebhooksConfig);

    /// Claims due deliveries as `lease` says.
    fn claim(
        &self,
        lease: &Lease<'_>,
    ) -> impl Future<Output = Result<Vec<Self::Claimed>, StoreError>> + Send;

    /// One try of one delivery.
    fn send(&self, claimed: Self::Claimed) -> impl Future<Output = Self::Outcome> + Send;

    /// Records the round's tries, as far as `token` still holds them.
    fn record(
        &self,
        token: &str,
        outcomes: Vec<Self::Outcome>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// One round: claim due deliveries, send them side by side, record every try. Returns how many
/// were claimed.
pub async fn deliver_due<O: Outbox>(outbox: &O) -> Result<usize, StoreError> {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let (clock, pace) = outbox.pace();
    let now = clock.now();
    let lease = Lease {
        token: &token,
        now,
        until: later(now, pace.lease()),
        limit: pace.batch_size,
    };
    let claimed = outbox.claim(&lease).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let count = claimed.len();
    let outcomes = futures::stream::iter(claimed)
        .map(|claimed| outbox.send(claimed))
        .buffer_unordered(pace.concurrency.max(1) as usize)
        .collect()
        .await;
    outbox.record(&token, outcomes).await?;
    Ok(count)
}

/// Runs rounds until `stop`, the round in flight finishing first; after a round that found
/// nothing, or failed, waits `webhooks.poll_interval_ms` (or until stopped).
pub async fn run_until_stopped<O: Outbox>(outbox: Arc<O>, mut stop: watch::Receiver<bool>) {
    let idle = Duration::from_millis(outbox.pace().1.poll_interval_ms);
    while !*stop.borrow() {
        match deliver_due(outbox.as_ref()).await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(error) => tracing::error!(%error, sender = O::NAME, "outbox round failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(idle) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Runs one try, timed: how it went (`send` gives the target's status, if any, and why it
/// failed, if it did), with what else `send` returned.
pub async fn timed<T>(
    clock: &SharedClock,
    send: impl Future<Output = (Option<u16>, Option<String>, T)>,
) -> (Tried, T) {
    let started = Instant::now();
    let (status_code, error, rest) = send.await;
    let tried = Tried {
        at: clock.now(),
        status_code,
        latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        error,
    };
    (tried, rest)
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
