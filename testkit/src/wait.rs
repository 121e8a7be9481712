//! Waiting for what a test checks, with a deadline, instead of sleeping a guessed time: the test
//! goes on as soon as the condition holds, and a loaded machine only makes it wait longer.

use std::time::Duration;

use tokio::time::Instant;

/// How long to wait for a condition, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    within: Duration,
    every: Duration,
}

/// Looks every 25 ms for at most `within`.
pub const fn within(within: Duration) -> Deadline {
    Deadline {
        within,
        every: Duration::from_millis(25),
    }
}

impl Deadline {
    /// Looks this often instead (a costly look, e.g. a whole table, wants less often).
    #[must_use]
    pub const fn every(self, every: Duration) -> Self {
        Self { every, ..self }
    }

    /// Calls `check` until it returns `Ok`, and returns that. `Err` says what holds instead;
    /// the last one is the panic message once the time is up.
    pub async fn until<T>(self, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
        let deadline = Instant::now() + self.within;
        loop {
            let why_not = match check().await {
                Ok(done) => return done,
                Err(why_not) => why_not,
            };
            assert!(
                Instant::now() < deadline,
                "not so after {:?}: {why_not}",
                self.within
            );
            tokio::time::sleep(self.every).await;
        }
    }
}
