//! The overdue sweep: a patient's message left unanswered past the clinic's response target
//! (counted in its open hours when the message arrived) raises one `conversation overdue` event.
//! Every instance sweeps; the store's conditional claim lets exactly one raise each event.

use std::time::Duration;

use tokio::sync::watch;

use crate::clock::SharedClock;
use crate::store::Store;

/// How often conversations are checked: an overdue message is a staff matter, so a second or
/// so late is nothing, and the check is one read of a small partial index.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Raises overdue events until `stop` says so.
pub async fn raise_until_stopped(
    store: Store,
    clock: SharedClock,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        match store.raise_overdue(clock.now()).await {
            // A full batch: more may be due at once.
            Ok(n) if n >= crate::store::OVERDUE_BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "raising overdue conversations failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}
