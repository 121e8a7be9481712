//! One expiring cache for what is read from the database and kept for a moment: API keys,
//! clinic settings for intake, clinics for the dispatcher. A value is used while it is fresher
//! than the cache's age limit, then read again; a change made through this instance forgets the
//! entry at once, one made elsewhere is seen within the limit.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct ExpiringCache<K, V> {
    fresh_for: Duration,
    /// Each value with when it was read (taken before the read, so it never looks fresher
    /// than it is).
    entries: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> ExpiringCache<K, V> {
    pub fn new(fresh_for: Duration) -> Self {
        Self {
            fresh_for,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The value for `key`, if it was read within the age limit.
    pub fn get(&self, key: &K) -> Option<V> {
        self.read()
            .get(key)
            .filter(|(read_at, _)| read_at.elapsed() < self.fresh_for)
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value`, read at `read_at`.
    pub fn insert(&self, key: K, value: V, read_at: Instant) {
        self.write().insert(key, (read_at, value));
    }

    /// The fresh value for `key`, else the one `read` returns, which is then kept.
    pub async fn get_or_read<E>(
        &self,
        key: &K,
        read: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E> {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        let read_at = Instant::now();
        let value = read.await?;
        self.insert(key.clone(), value.clone(), read_at);
        Ok(value)
    }

    /// Forgets `key`: it just changed.
    pub fn remove(&self, key: &K) {
        self.write().remove(key);
    }

    /// Forgets every entry `keep` says no to.
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.write().retain(|key, (_, value)| keep(key, value));
    }

    // A panic while the lock was held cannot leave a map entry half-written, so a poisoned
    // lock's map is still sound to use.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_value_is_used_while_fresh_then_read_again_and_forgotten_on_change() {
        let cache = ExpiringCache::new(Duration::from_millis(50));
        let read = |v: u32| async move { Ok::<_, ()>(v) };

        assert_eq!(cache.get_or_read(&"a", read(1)).await, Ok(1));
        assert_eq!(cache.get_or_read(&"a", read(2)).await, Ok(1), "fresh");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cache.get(&"a"), None, "stale");
        assert_eq!(cache.get_or_read(&"a", read(3)).await, Ok(3));
        cache.remove(&"a");
        assert_eq!(cache.get(&"a"), None);
        assert_eq!(cache.get_or_read(&"a", async { Err(()) }).await, Err(()));
        assert_eq!(cache.get(&"a"), None, "a failed read keeps nothing");
    }
}
