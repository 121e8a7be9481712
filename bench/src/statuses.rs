//! What the gateway did with the notifications, read from its store: counts by status, the wait
//! until all are finished, and `--verbose` progress.

use std::time::{Duration, Instant};

use medrelay::domain::{ClinicId, NotificationStatus};
use medrelay::store::Store;

use crate::BenchResult;

/// Notification counts by status.
#[derive(Debug, Default, Clone)]
pub(crate) struct StatusTally(Vec<(NotificationStatus, i64)>);

impl StatusTally {
    fn count(&self, wanted: &[NotificationStatus]) -> i64 {
        self.0
            .iter()
            .filter(|(s, _)| wanted.contains(s))
            .map(|(_, n)| n)
            .sum()
    }

    pub(crate) fn delivered(&self) -> i64 {
        self.count(&[NotificationStatus::Delivered, NotificationStatus::Read])
    }

    pub(crate) fn failed(&self) -> i64 {
        self.count(&[
            NotificationStatus::Failed,
            NotificationStatus::Cancelled,
            NotificationStatus::Expired,
        ])
    }

    pub(crate) fn finished(&self) -> i64 {
        self.delivered() + self.failed()
    }

    pub(crate) fn describe(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(s, n)| format!("{} {n}", s.as_str()))
            .collect();
        parts.join(", ")
    }
}

/// Polls the store until `expected` notifications are finished or `timeout` passes; returns the
/// last counts and the time since `from` at which they were seen.
pub(crate) async fn wait_until_finished(
    store: &Store,
    clinic: &ClinicId,
    expected: usize,
    from: Instant,
    timeout: Duration,
) -> BenchResult<(StatusTally, Duration)> {
    let expected = i64::try_from(expected)?;
    let give_up = Instant::now() + timeout;
    loop {
        let statuses = StatusTally(store.status_counts(clinic).await?);
        let seen_at = from.elapsed();
        if statuses.finished() >= expected || Instant::now() >= give_up {
            return Ok((statuses, seen_at));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops a background task when dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `--verbose`: the status counts every second from the first submit on, to see which stage
/// falls behind.
pub(crate) async fn report_progress(store: Store, clinic: ClinicId) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        match store.status_counts(&clinic).await {
            Ok(counts) => eprintln!(
                "  {:6.1} s  {}",
                started.elapsed().as_secs_f64(),
                StatusTally(counts).describe()
            ),
            Err(error) => eprintln!("  status counts failed: {error}"),
        }
    }
}
