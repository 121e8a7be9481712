//! The dispatcher's sign of life for `/ready`: its workers beat between rounds and while a
//! round's hand-overs hold their lease, so a dispatcher that stopped, died or hangs in the
//! database goes stale within a lease.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Heartbeat {
    born: Instant,
    /// Milliseconds after `born` of the last beat.
    last: AtomicU64,
    running: AtomicBool,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            born: Instant::now(),
            last: AtomicU64::new(0),
            running: AtomicBool::new(false),
        }
    }
}

impl Heartbeat {
    pub(super) fn beat(&self) {
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    pub(super) fn set_running(&self, running: bool) {
        if running {
            self.beat();
        }
        self.running.store(running, Ordering::Relaxed);
    }

    /// Whether the workers run and one of them beat within `within`.
    pub fn is_alive(&self, within: Duration) -> bool {
        self.is_alive_at(self.born.elapsed(), within)
    }

    /// [`Self::is_alive`] at `age` after the heartbeat was made.
    fn is_alive_at(&self, age: Duration, within: Duration) -> bool {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.running.load(Ordering::Relaxed) && age.saturating_sub(last) <= within
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dispatcher_is_alive_only_while_running_and_beating() {
        let heart = Heartbeat::default();
        assert!(!heart.is_alive(Duration::from_secs(60)), "not started");

        heart.set_running(true);
        assert!(heart.is_alive(Duration::from_secs(60)));
        let later = heart.born.elapsed() + Duration::from_secs(31);
        assert!(
            !heart.is_alive_at(later, Duration::from_secs(30)),
            "no beat for 31 s"
        );
        assert!(heart.is_alive_at(later, Duration::from_secs(32)));

        heart.set_running(false);
        assert!(!heart.is_alive(Duration::from_secs(60)), "stopped");
    }
}
