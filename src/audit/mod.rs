//! The audit trail: who did what through the API. One entry per recorded request ([`routes`]
//! says which), made by the API's audit middleware, never by handlers. Entries are written in
//! group commits: requests arriving together share one transaction, so auditing a burst costs
//! one sync, not one per request. The trail is append-only in the database itself.
//!
//! It is not the event log: `events` is the state history of notifications and conversations,
//! written with the change it records; this is the record of access and requests, written beside
//! the change, after it. A request that hands a notification in is the exception: its entry is
//! stored in the notification's own transaction (`api::audit_trail::AuditWithChange`).

pub mod export;
pub mod routes;

use crate::batch::{BatchError, Batcher};
use crate::store::{AuditEntry, Store};

/// Entries written per transaction at most; a larger burst takes several.
const MAX_BATCH: usize = 512;

/// Appends entries to the trail.
#[derive(Debug, Clone)]
pub struct AuditLog {
    writer: Batcher<AuditEntry, ()>,
}

impl AuditLog {
    /// Starts the group-commit writer.
    pub fn start(store: Store) -> Self {
        let writer = Batcher::spawn(MAX_BATCH, move |batch: Vec<AuditEntry>| {
            let store = store.clone();
            async move {
                store.append_audit_entries(&batch).await?;
                Ok(vec![(); batch.len()])
            }
        });
        Self { writer }
    }

    /// Appends `entry`, durably, and returns once it is committed.
    pub async fn append(&self, entry: AuditEntry) -> Result<(), BatchError> {
        self.writer.submit(entry).await
    }

    /// Writes the entry of a request already handled, before its answer leaves, for the API and
    /// the console alike. A read (`is_read`) whose entry cannot be written is withheld: the error
    /// comes back and the caller answers 503 instead of the content. A change stands whatever
    /// becomes of its entry, but its answer still waits for the commit, so a change acknowledged
    /// is in the trail even if the gateway dies next; an entry that failed is logged and counted.
    /// When the server failed the request (`outcome` 5xx: the database locked, gone or full),
    /// nothing changed and nothing was shown, and the entry needs that same database: it is
    /// written when the database lets it, and the answer does not wait.
    pub async fn append_before_answer(
        &self,
        entry: AuditEntry,
        is_read: bool,
    ) -> Result<(), BatchError> {
        let (action, outcome) = (entry.action.clone(), entry.outcome);
        // Its own task: should the request be dropped now (its deadline passed), the entry of
        // what was done is still written.
        let audit = self.clone();
        let writing = tokio::spawn(async move { audit.append(entry).await });
        let written = async move { writing.await.unwrap_or(Err(BatchError::Closed)) };
        if outcome >= 500 {
            tokio::spawn(async move {
                if let Err(error) = written.await {
                    report_unrecorded(&action, outcome, &error);
                }
            });
            return Ok(());
        }
        match written.await {
            Ok(()) => Ok(()),
            Err(error) if is_read => {
                crate::observability::record_audit_failure("withheld");
                Err(error)
            }
            Err(error) => {
                report_unrecorded(&action, outcome, &error);
                Ok(())
            }
        }
    }
}

/// A request answered without its entry: counted and logged with what it was.
fn report_unrecorded(action: &str, status: u16, error: &BatchError) {
    crate::observability::record_audit_failure("unrecorded");
    tracing::error!(
        action,
        status,
        error = %error,
        causes = %std::error::Error::source(error).map(ToString::to_string).unwrap_or_default(),
        "audit entry not written; the request was answered without it"
    );
}
