//! Running the dispatcher until nothing is due, for tests that check what it did (or did not
//! do) at a given moment instead of sleeping through some rounds and hoping they ran.

use std::future::Future;

use tokio::sync::RwLock;

use super::Dispatcher;
use crate::store::StoreError;

/// Lets a drain run rounds alone: each worker's round holds a share, a drain holds them all, so
/// it starts once the rounds in flight have recorded their outcomes and no new one starts
/// meanwhile.
#[derive(Debug, Default)]
pub(super) struct Rounds(RwLock<()>);

impl Rounds {
    /// Runs one worker's round beside the other workers' ones.
    pub(super) async fn share<T>(&self, round: impl Future<Output = T>) -> T {
        let _share = self.0.read().await;
        round.await
    }
}

impl Dispatcher {
    /// Runs rounds until one finds nothing due at the dispatcher's clock; returns how many
    /// notifications they claimed. What a provider reports later (a delivery receipt) is not
    /// waited for.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let _alone = self.rounds.0.write().await;
        let mut claimed = 0;
        loop {
            match self.dispatch_due().await? {
                0 => return Ok(claimed),
                n => claimed += n,
            }
        }
    }
}
