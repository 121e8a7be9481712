//! The gauges that need the database, read on a timer of their own: a scrape only renders what
//! the last sample found, so scraping often (or from several Prometheus servers) costs the
//! database nothing. The queue and the pools are read every `metrics.sample_interval_ms`; the
//! count of the last day's notifications by status, which grows with the day's traffic, every
//! `metrics.status_sample_interval_ms`.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::recorder::{
    DB_POOL_CONNECTIONS, FHIR_BACKLOG, FHIR_OLDEST_AGE, FHIR_PUSH_FAILING, NOTIFICATIONS,
    QUEUE_DEPTH, QUEUE_OLDEST_DUE_AGE, WEBHOOK_BACKLOG, recorder,
};
use crate::clock::SharedClock;
use crate::config::MetricsConfig;
use crate::domain::NotificationStatus;
use crate::store::{Store, StoreError};

/// How far back `medrelay_notifications` counts.
const STATUS_WINDOW: SignedDuration = SignedDuration::from_hours(24);

#[derive(Debug)]
pub struct Sampler {
    store: Store,
    clock: SharedClock,
    every: Duration,
    statuses_every: Duration,
    /// A FHIR push failing this long counts as failing.
    fhir_alert_after: Duration,
}

impl Sampler {
    pub fn new(
        store: Store,
        clock: SharedClock,
        config: &MetricsConfig,
        fhir_alert_after: Duration,
    ) -> Self {
        Self {
            store,
            clock,
            every: Duration::from_millis(config.sample_interval_ms),
            statuses_every: Duration::from_millis(config.status_sample_interval_ms),
            fhir_alert_after,
        }
    }

    /// Samples until `stop` turns true. A failed sample is logged and the gauges keep their last
    /// values until the next one works.
    pub async fn run_until_stopped(self, mut stop: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut statuses_due = Instant::now();
        while !*stop.borrow() {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => break,
            }
            let statuses = Instant::now() >= statuses_due;
            match self.sample(statuses).await {
                Ok(()) if statuses => statuses_due = Instant::now() + self.statuses_every,
                Ok(()) => {}
                Err(error) => tracing::warn!(%error, "metrics sample failed"),
            }
            // Drains the histograms' recent samples, which otherwise wait for the next scrape.
            recorder().run_upkeep();
        }
    }

    /// Reads the queue, the pools and the outboxes' backlogs, and with `statuses` the last
    /// day's notifications by status.
    pub async fn sample(&self, statuses: bool) -> Result<(), StoreError> {
        for pool in self.store.pool_gauges() {
            metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => pool.pool, "state" => "idle")
                .set(pool.idle as f64);
            metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => pool.pool, "state" => "in_use")
                .set(pool.in_use as f64);
        }
        let now = self.clock.now();
        let queue = self.store.queue_gauges(now).await?;
        metrics::gauge!(QUEUE_DEPTH).set(queue.due as f64);
        let oldest_age = queue
            .oldest_due_at
            .map_or(0.0, |due| now.duration_since(due).as_secs_f64());
        metrics::gauge!(QUEUE_OLDEST_DUE_AGE).set(oldest_age.max(0.0));
        self.sample_outboxes(now).await?;
        if statuses {
            let since = now.checked_sub(STATUS_WINDOW).unwrap_or(now);
            let counts = self.store.notifications_by_status(since).await?;
            for status in NotificationStatus::ALL {
                let count = counts
                    .iter()
                    .find(|(name, _)| name == status.as_str())
                    .map_or(0, |(_, count)| *count);
                metrics::gauge!(NOTIFICATIONS, "status" => status.as_str()).set(count as f64);
            }
        }
        Ok(())
    }

    async fn sample_outboxes(&self, now: Timestamp) -> Result<(), StoreError> {
        metrics::gauge!(WEBHOOK_BACKLOG).set(self.store.webhook_backlog().await? as f64);
        let failing_before = now
            .checked_sub(SignedDuration::try_from(self.fhir_alert_after).unwrap_or_default())
            .unwrap_or(now);
        for clinic in self.store.fhir_backlog(failing_before).await? {
            let slug = clinic.clinic_slug;
            let age = clinic
                .oldest_since
                .map_or(0.0, |since| now.duration_since(since).as_secs_f64());
            metrics::gauge!(FHIR_BACKLOG, "clinic" => slug.clone()).set(clinic.waiting as f64);
            metrics::gauge!(FHIR_OLDEST_AGE, "clinic" => slug.clone()).set(age.max(0.0));
            metrics::gauge!(FHIR_PUSH_FAILING, "clinic" => slug).set(clinic.failing as f64);
        }
        Ok(())
    }
}
