//! Delivery tracking: provider status updates (sent, delivered, read, failed) move attempts
//! forward and wake the dispatcher, which decides what that means for the notification.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::clock::SharedClock;
use crate::store::{StatusUpdate, Store, StoreError};

#[derive(Debug, Clone)]
pub struct Tracker {
    store: Store,
    clock: SharedClock,
    dispatcher_wake: Arc<Notify>,
}

impl Tracker {
    pub fn new(store: Store, clock: SharedClock, dispatcher_wake: Arc<Notify>) -> Self {
        Self {
            store,
            clock,
            dispatcher_wake,
        }
    }

    /// Applies a batch of updates signed by the provider account of `senders`; returns once
    /// they are stored.
    pub async fn apply(
        &self,
        updates: &[StatusUpdate],
        senders: &[String],
    ) -> Result<(), StoreError> {
        let changed = self
            .store
            .apply_statuses(updates, senders, self.clock.now())
            .await?;
        if changed > 0 {
            self.dispatcher_wake.notify_one();
        }
        Ok(())
    }
}
