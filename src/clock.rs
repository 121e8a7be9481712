//! The one source of "now", so rules can be tested with a fixed clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::Timestamp;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

pub type SharedClock = Arc<dyn Clock>;

/// `at` moved `by` ahead; past the last instant a timestamp can hold, that instant. The one way
/// medrelay adds a duration to a time (leases, retries, deadlines, how long facts are trusted).
pub fn later(at: Timestamp, by: Duration) -> Timestamp {
    at.checked_add(by).unwrap_or(Timestamp::MAX)
}

#[derive(Debug, Default)]
pub struct SystemClock;

/// Storage keeps milliseconds, so "now" is cut to them: a value read back equals the one written.
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
    }
}

/// The system clock moved by an offset a test sets: time runs on as usual from whatever moment
/// the test puts it at, so leases, delays and deadlines behave as in production.
#[derive(Debug, Default)]
pub struct AdjustableClock {
    offset_ms: AtomicI64,
}

impl AdjustableClock {
    /// Makes it `at` now; the clock runs on from there.
    pub fn set(&self, at: Timestamp) {
        let offset = at.as_millisecond() - SystemClock.now().as_millisecond();
        self.offset_ms.store(offset, Ordering::SeqCst);
    }

    /// Moves it `by` ahead.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for AdjustableClock {
    fn now(&self) -> Timestamp {
        let now = SystemClock.now().as_millisecond();
        let offset = self.offset_ms.load(Ordering::SeqCst);
        Timestamp::from_millisecond(now.saturating_add(offset)).unwrap_or(Timestamp::MAX)
    }
}
