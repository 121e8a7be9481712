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
}
