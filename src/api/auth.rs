//! `Authorization: Bearer <key>` on every `/v1` call: the key names the clinic and the role, and
//! is rate-limited on its own. Failed key checks are limited per client address, since each
//! costs a database read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use super::audit_trail::{CallerSlot, KeyHolder};
use super::problem::ApiError;
use crate::cache::ExpiringCache;
use crate::config::{ApiConfig, HttpConfig};
use crate::domain::{ApiKeyId, ClinicId};
use crate::intake::Actor;
use crate::store::{ApiKeyRole, AuthenticatedKey, Store, StoreError};

/// Checked keys are remembered this long, so a busy booking system costs one database read per
/// key every two seconds, not one per request. A key revoked through another instance (or the
/// command line) stops working here within this time; through this one, at once.
const KEY_CACHE_TTL: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct KeyGuard {
    /// Checked keys by fingerprint.
    cache: ExpiringCache<String, AuthenticatedKey>,
    limiter: DefaultKeyedRateLimiter<String>,
}

impl KeyGuard {
    pub fn new(config: &ApiConfig) -> Self {
        let rate = NonZeroU32::new(config.key_rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.key_burst).unwrap_or(rate);
        Self {
            cache: ExpiringCache::new(KEY_CACHE_TTL),
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Reads `key` from the database, and remembers it when it is valid.
    async fn look_up(
        &self,
        store: &Store,
        key: &str,
    ) -> Result<Option<AuthenticatedKey>, StoreError> {
        let read_at = Instant::now();
        let found = store.authenticate(key).await?;
        if let Some(found) = &found {
            self.cache
                .insert(crate::store::key_fingerprint(key), found.clone(), read_at);
        }
        Ok(found)
    }

    /// `key`, if it was checked recently and found valid: no database read needed.
    fn remembered(&self, key: &str) -> Option<AuthenticatedKey> {
        self.cache.get(&crate::store::key_fingerprint(key))
    }

    /// Forgets the key `id`: it was just revoked.
    pub(crate) fn forget(&self, id: &ApiKeyId) {
        self.cache.retain(|_, key| &key.id != id);
    }

    /// Forgets every key of `clinic`: the clinic they carry just changed.
    pub(super) fn forget_clinic(&self, clinic: &ClinicId) {
        self.cache.retain(|_, key| &key.clinic.id != clinic);
    }

    fn check_rate(&self, key: &AuthenticatedKey) -> Result<(), ApiError> {
        self.limiter
            .check_key(&key.id.as_str().to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                ApiError::RateLimited {
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
            })
    }
}

/// The authenticated caller of a `/v1` request.
#[derive(Debug, Clone)]
pub struct Caller(pub AuthenticatedKey);

impl Caller {
    /// Refuses a key below `role`: each role may do what the roles below it may.
    pub fn require(&self, role: ApiKeyRole) -> Result<(), ApiError> {
        if self.has(role) {
            return Ok(());
        }
        Err(ApiError::Forbidden(match role {
            ApiKeyRole::Admin => "this needs an admin key",
            ApiKeyRole::Staff | ApiKeyRole::Booking => "this needs a staff or admin key",
        }))
    }

    /// Whether this key is `role` or above it.
    pub fn has(&self, role: ApiKeyRole) -> bool {
        self.0.role >= role
    }

    /// Who acts, as intake and the records see it.
    pub fn actor(&self) -> Actor {
        Actor {
            who: crate::domain::Actor::Key {
                id: self.0.id.clone(),
                role: self.0.role.as_str(),
            },
            role: self.0.role,
        }
    }

    /// Who made a change, as the audit trail records it.
    pub fn recorded_as(&self) -> crate::domain::Actor {
        self.actor().recorded_as()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "send your API key as 'Authorization: Bearer <key>'",
            ))?;
        let key = header
            .to_str()
            .ok()
            // The scheme name is case-insensitive (RFC 9110).
            .and_then(|v| {
                v.split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            })
            .map(|(_, key)| key)
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthorized(
                "the Authorization header must be 'Bearer <key>'",
            ))?;
        let client = crate::http::peer(&parts.extensions).map(|peer| ClientNet::of(peer.ip()));
        // A remembered key costs no database read, so it passes even from a limited address.
        let found = match state.keys.remembered(key) {
            Some(found) => found,
            None => {
                if let Some(client) = client {
                    state.auth_failures.refuse_while_limited(client)?;
                }
                let Some(found) = state.keys.look_up(&state.store, key).await? else {
                    if let Some(client) = client {
                        state.auth_failures.count(client)?;
                    }
                    leave_revoked_key_for_audit(parts, state, key).await?;
                    return Err(ApiError::Unauthorized("this API key is not valid"));
                };
                found
            }
        };
        // The request's log line names the key (its id, never the secret).
        tracing::Span::current().record("key", tracing::field::display(&found.id));
        state.keys.check_rate(&found)?;
        CallerSlot::fill(&parts.extensions, || KeyHolder {
            key: found.id.clone(),
            role: found.role,
            clinic: found.clinic.id.clone(),
        });
        Ok(Self(found))
    }
}

/// On a recorded request, a revoked key is named to the audit trail with its clinic: an unknown
/// key has no clinic to be filed under.
async fn leave_revoked_key_for_audit(
    parts: &Parts,
    state: &AppState,
    key: &str,
) -> Result<(), ApiError> {
    if !CallerSlot::is_wanted(&parts.extensions) {
        return Ok(());
    }
    if let Some((key, role, clinic)) = state.store.revoked_key_owner(key).await? {
        CallerSlot::fill(&parts.extensions, || KeyHolder { key, role, clinic });
    }
    Ok(())
}

/// Where failed key checks are counted: a client's IPv4 address, or its IPv6 /64 (one host
/// usually holds a whole /64, and could otherwise change address for every try).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientNet(IpAddr);

impl ClientNet {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(prefix.into()))
            }
            v4 => Self(v4),
        }
    }
}

/// Failed key checks per client address. A client over the limit is refused with `429` before
/// its key is looked up, until the limit frees; checks that succeed are not counted, and a key
/// checked a moment ago still passes.
#[derive(Debug)]
pub struct FailedAuthLimit {
    failures: DefaultKeyedRateLimiter<ClientNet>,
    /// Clients over the limit, and when they may try again.
    limited: Mutex<HashMap<ClientNet, Instant>>,
}

/// Past this many clients tracked, the ones whose limit has freed are forgotten.
const TRACKED_CLIENTS: usize = 10_000;

impl FailedAuthLimit {
    pub fn new(config: &HttpConfig) -> Self {
        let rate = NonZeroU32::new(config.auth_failures_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.auth_failure_burst).unwrap_or(rate);
        Self {
            failures: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            limited: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn refuse_while_limited(&self, client: ClientNet) -> Result<(), ApiError> {
        let Ok(mut limited) = self.limited.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        match limited.get(&client) {
            Some(until) if *until > now => Err(auth_failures(*until - now)),
            Some(_) => {
                limited.remove(&client);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts one failed check; the one that goes over the limit is already refused.
    pub(crate) fn count(&self, client: ClientNet) -> Result<(), ApiError> {
        let Err(not_until) = self.failures.check_key(&client) else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        if let Ok(mut limited) = self.limited.lock() {
            if limited.len() >= TRACKED_CLIENTS {
                let now = Instant::now();
                limited.retain(|_, until| *until > now);
                self.failures.retain_recent();
            }
            limited.insert(client, Instant::now() + wait);
        }
        Err(auth_failures(wait))
    }
}

fn auth_failures(wait: Duration) -> ApiError {
    ApiError::AuthFailures {
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}
