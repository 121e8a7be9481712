//! Delivery tracking: provider status updates (sent, delivered, read, failed) move attempts
//! forward and wake the dispatcher, which decides what that means for the notification.
//!
//! Twilio posts one status a request, so the updates of requests arriving together share one
//! transaction (group commit): each is durable when its request is answered, and the disk syncs
//! once per batch instead of once per status. Measured with `bench/external/run.py` on SQLite
//! before this, a transaction per callback held receipts to about 600 a second.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::batch::{BatchError, Batcher};
use crate::clock::SharedClock;
use crate::store::{StatusUpdate, Store};

/// Requests (each with its updates) written in one transaction at most.
const MAX_BATCH: usize = 256;

/// How often statuses that came before their message's id was known are looked at again: the
/// hand-over's answer follows within moments, and the look is one read of a table that is
/// nearly always empty.
const EARLY_STATUSES_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct Tracker {
    writer: Batcher<Vec<StatusUpdate>, ()>,
    store: Store,
    clock: SharedClock,
}

impl Tracker {
    pub fn new(store: Store, clock: SharedClock, dispatcher_wake: Arc<Notify>) -> Self {
        let writer = Batcher::spawn(MAX_BATCH, {
            let store = store.clone();
            let clock = Arc::clone(&clock);
            move |requests: Vec<Vec<StatusUpdate>>| {
                let store = store.clone();
                let clock = Arc::clone(&clock);
                let dispatcher_wake = Arc::clone(&dispatcher_wake);
                async move {
                    let answers = vec![(); requests.len()];
                    let updates: Vec<StatusUpdate> = requests.into_iter().flatten().collect();
                    let changed = store.apply_statuses(&updates, clock.now()).await?;
                    if changed > 0 {
                        dispatcher_wake.notify_one();
                    }
                    Ok(answers)
                }
            }
        });
        Self {
            writer,
            store,
            clock,
        }
    }

    /// Applies the updates of one provider request; returns once they are stored.
    pub async fn apply(&self, updates: Vec<StatusUpdate>) -> Result<(), BatchError> {
        self.writer.submit(updates).await
    }

    /// Applies each status that came before its message's id was known, once an attempt
    /// carries that id, until `stop` says so. Every instance looks: the status may have reached
    /// one and the hand-over's answer another, and applying one twice changes nothing.
    pub async fn apply_early_statuses_until_stopped(self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            match self.apply_early_statuses().await {
                // A full batch: more may be waiting.
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => {
                    tracing::error!(%error, "applying statuses that came before their message failed");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(EARLY_STATUSES_EVERY) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Applies the early statuses an attempt now names; true when a full batch was taken.
    async fn apply_early_statuses(&self) -> Result<bool, BatchError> {
        let failed = |error| BatchError::Failed(Arc::new(error));
        let mut taken = self
            .store
            .take_up_early_statuses(self.clock.now())
            .await
            .map_err(failed)?;
        if taken.is_empty() {
            return Ok(false);
        }
        let named = std::mem::take(&mut taken.named);
        if !named.is_empty() {
            self.apply(named).await?;
        }
        self.store
            .forget_early_statuses(&taken)
            .await
            .map_err(failed)?;
        Ok(taken.is_full())
    }
}
