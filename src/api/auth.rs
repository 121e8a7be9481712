//! `Authorization: Bearer <key>` on every `/v1` call: the key names the clinic and the role, and
//! is rate-limited on its own.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use super::problem::ApiError;
use crate::config::ApiConfig;
use crate::domain::ApiKeyId;
use crate::store::{AuthenticatedKey, Store, StoreError};

/// Checked keys are remembered this long, so a busy booking system costs one database read per
/// key every two seconds, not one per request. A key revoked through another instance (or the
/// command line) stops working here within this time; through this one, at once.
const KEY_CACHE_TTL: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct KeyGuard {
    cache: RwLock<HashMap<String, (AuthenticatedKey, Instant)>>,
    limiter: DefaultKeyedRateLimiter<String>,
}

impl KeyGuard {
    pub fn new(config: &ApiConfig) -> Self {
        let rate = NonZeroU32::new(config.key_rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.key_burst).unwrap_or(rate);
        Self {
            cache: RwLock::new(HashMap::new()),
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    async fn authenticate(
        &self,
        store: &Store,
        key: &str,
    ) -> Result<Option<AuthenticatedKey>, StoreError> {
        let hash = crate::store::key_fingerprint(key);
        if let Ok(cache) = self.cache.read()
            && let Some((found, at)) = cache.get(&hash)
            && at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(Some(found.clone()));
        }
        let found = store.authenticate(key).await?;
        if let (Some(found), Ok(mut cache)) = (&found, self.cache.write()) {
            cache.insert(hash, (found.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// Forgets the key `id`: it was just revoked.
    pub(super) fn forget(&self, id: &ApiKeyId) {
        self.cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|_, (key, _)| &key.id != id);
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
        let found = state
            .keys
            .authenticate(&state.store, key)
            .await?
            .ok_or(ApiError::Unauthorized("this API key is not valid"))?;
        state.keys.check_rate(&found)?;
        Ok(Self(found))
    }
}
