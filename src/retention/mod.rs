//! Retention's daily run: every instance looks for clinics whose run is due (03:00 in the
//! clinic's time zone, or at once when one is overdue, as after a start) and runs it under a
//! lease, in bounded batches, so several instances never run it twice and a backlog never holds
//! the database writer long. What a run removes, and that waiting notifications keep their
//! texts, is the store's (shared with erasure); this module decides when.

use jiff::{Timestamp, ToSpan};
use tokio::sync::watch;

use crate::clock::{SharedClock, later};
use crate::config::RetentionConfig;
use crate::domain::{RetentionCounts, TimeZoneName};
use crate::store::{RetentionClaim, Store, StoreError};

/// The clinic-local hour of the daily run: the quietest hour, when no message may go out.
const RUN_AT_HOUR: i8 = 3;

/// The first 03:00 in `zone` after `now`.
pub fn next_run(now: Timestamp, zone: &TimeZoneName) -> Timestamp {
    let tz = zone.zone();
    let today = now.to_zoned(tz.clone()).date();
    [Ok(today), today.tomorrow()]
        .into_iter()
        .filter_map(|date| {
            date.ok()?
                .at(RUN_AT_HOUR, 0, 0, 0)
                .to_zoned(tz.clone())
                .ok()
        })
        .map(|at| at.timestamp())
        .find(|at| *at > now)
        .unwrap_or_else(|| now.checked_add(24.hours()).unwrap_or(Timestamp::MAX))
}

/// Runs due clinics' retention until `stop` says so.
pub async fn run_until_stopped(
    store: Store,
    clock: SharedClock,
    config: RetentionConfig,
    mut stop: watch::Receiver<bool>,
) {
    let runner = Runner {
        store,
        clock,
        config,
    };
    while !*stop.borrow() {
        match runner.run_one(&stop).await {
            // Another clinic may be due as well.
            Ok(true) => continue,
            Ok(false) => {}
            Err(error) => tracing::error!(%error, "retention run failed; it is tried again"),
        }
        tokio::select! {
            () = tokio::time::sleep(runner.config.poll_interval()) => {}
            _ = stop.changed() => {}
        }
    }
}

#[derive(Debug)]
struct Runner {
    store: Store,
    clock: SharedClock,
    config: RetentionConfig,
}

impl Runner {
    /// Claims one clinic whose run is due and runs it to the end. Returns whether one was due.
    async fn run_one(&self, stop: &watch::Receiver<bool>) -> Result<bool, StoreError> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let now = self.clock.now();
        let lease_until = later(now, self.config.lease());
        let Some(claim) = self
            .store
            .claim_retention_run(&token, now, lease_until)
            .await?
        else {
            return Ok(false);
        };
        let Some(removed) = self.remove_all(&claim, stop).await? else {
            return Ok(true);
        };
        let now = self.clock.now();
        let next = next_run(now, &claim.timezone);
        let finished = self
            .store
            .finish_retention_run(&claim, &removed, next, now)
            .await?;
        if finished {
            tracing::info!(clinic = %claim.clinic, notifications = removed.notifications,
                messages = removed.messages, media = removed.media,
                appointments = removed.appointments, batches = removed.batches,
                next = %next, "retention run finished");
        }
        Ok(true)
    }

    /// Removes batch after batch until one comes back short. `None` when the run stopped
    /// first (a stop, or its claim taken over): the run is left to its lease, and whoever runs
    /// it next goes on where it ended.
    async fn remove_all(
        &self,
        claim: &RetentionClaim,
        stop: &watch::Receiver<bool>,
    ) -> Result<Option<RetentionCounts>, StoreError> {
        let mut removed = RetentionCounts::default();
        let limit = self.config.batch_size;
        loop {
            let now = self.clock.now();
            let lease_until = later(now, self.config.lease());
            let Some(batch) = self
                .store
                .remove_past_retention(claim, now, lease_until, limit)
                .await?
            else {
                tracing::warn!(clinic = %claim.clinic, "retention run taken over by another instance");
                return Ok(None);
            };
            removed.add(&batch);
            if batch.records() < u64::from(limit) {
                return Ok(Some(removed));
            }
            if *stop.borrow() {
                return Ok(None);
            }
            // Between batches the writer serves everyone else.
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn jerusalem() -> TimeZoneName {
        TimeZoneName::parse("Asia/Jerusalem").expect("zone")
    }

    #[test]
    fn the_run_is_at_the_next_03_00_clinic_time() {
        assert_eq!(
            next_run(at("2026-12-06T01:00:00+02:00"), &jerusalem()),
            at("2026-12-06T03:00:00+02:00")
        );
        assert_eq!(
            next_run(at("2026-12-06T03:00:00+02:00"), &jerusalem()),
            at("2026-12-07T03:00:00+02:00")
        );
        assert_eq!(
            next_run(at("2026-12-06T15:00:00+02:00"), &jerusalem()),
            at("2026-12-07T03:00:00+02:00")
        );
    }

    #[test]
    fn the_run_keeps_to_03_00_across_a_clock_change() {
        // Israel moves to summer time at 02:00 on Friday 27 March 2026.
        assert_eq!(
            next_run(at("2026-03-26T12:00:00+02:00"), &jerusalem()),
            at("2026-03-27T03:00:00+03:00")
        );
    }
}
