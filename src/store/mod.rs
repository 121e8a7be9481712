//! Storage: every SQL statement lives here, behind typed functions. One code path serves SQLite
//! and PostgreSQL through sqlx's Any driver (ids as TEXT, instants as integer milliseconds UTC);
//! the only SQL that differs is how the dispatcher claims work.
//!
//! SQLite has one writer at a time, so it gets a single-connection write pool next to a read
//! pool; PostgreSQL shares one pool for both.

mod appointments;
mod callbacks;
mod clinics;
mod dispatch;
mod error;
mod facts;
mod notifications;
mod patients;
mod rows;
mod sandbox;
mod stats;
mod templates;
mod topics;
mod tracking;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use tokio::sync::{Semaphore, SemaphorePermit};

pub use appointments::{
    AppointmentChange, AppointmentView, Booking, NewAppointment, ReminderView, SkippedReminder,
};
pub use callbacks::CallbackView;
pub use clinics::{ApiKeyRole, AuthenticatedKey, NewClinic, key_fingerprint};
pub use dispatch::{
    AttemptOutcome, ClaimedNotification, DispatchWrite, HandoverStart, NextState, OutcomeWrite,
};
pub use error::StoreError;
pub use facts::{LearnedFact, SuspensionWrite};
pub use notifications::{
    AttemptView, EventView, IntakeResult, NewNotification, NotificationFilter, NotificationPage,
    NotificationView, Receipt, ReminderLink,
};
pub use patients::PatientUpsert;
pub use sandbox::{OutboxFilter, SandboxAdvance, SandboxMessage, SandboxStatusDue};
pub use templates::ClinicText;
pub use topics::TopicView;
pub use tracking::StatusUpdate;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Store {
    write: AnyPool,
    read: AnyPool,
    backend: Backend,
    /// SQLite's one writer serves intake and background work (dispatch, tracking, sandbox).
    /// Background writers take turns here, so at most one of them is ever ahead of a new
    /// notification in the queue for the writer: a burst of notifications is acknowledged fast,
    /// and delivery catches up. PostgreSQL writes in parallel and has no gate.
    background: Option<Arc<Semaphore>>,
}

impl Store {
    /// Connects, creating the SQLite file if needed, and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let store = match backend {
            Backend::Sqlite => {
                let url = sqlite_url(url);
                let write = sqlite_pool(&url, 1).await?;
                let read = sqlite_pool(&url, 4).await?;
                Self {
                    write,
                    read,
                    backend,
                    background: Some(Arc::new(Semaphore::new(1))),
                }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?;
                Self {
                    write: pool.clone(),
                    read: pool,
                    backend,
                    background: None,
                }
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&store.write).await?;
        Ok(store)
    }

    /// Waits for a background writer's turn (see `background`).
    async fn background_turn(&self) -> Option<SemaphorePermit<'_>> {
        match &self.background {
            Some(gate) => gate.acquire().await.ok(),
            None => None,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// sqlx opens SQLite files read-write only when asked to create them.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

async fn sqlite_pool(url: &str, connections: u32) -> Result<AnyPool, StoreError> {
    // Durable before acknowledged: WAL with a full sync on every commit. Group commit in the
    // writers keeps that affordable.
    let pool = AnyPoolOptions::new()
        .max_connections(connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await?;
    Ok(pool)
}

/// Locks the notifications a transaction will touch, all at once and in id order, before it
/// touches any of them or their attempts. PostgreSQL takes row locks as statements reach rows, so
/// two transactions touching the same notifications in different orders could otherwise deadlock.
/// SQLite has one writer at a time and needs nothing. `select_ids` is a query (with `$1…`
/// placeholders for `ids`) that yields the notification ids.
async fn lock_notifications(
    backend: Backend,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    select_ids: &str,
    ids: &[&str],
) -> Result<(), StoreError> {
    if backend == Backend::Sqlite || ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT id FROM notifications WHERE id IN ({select_ids}) ORDER BY id FOR UPDATE",
        select_ids = select_ids.replace("{ids}", &placeholders(1, ids.len()))
    );
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(&mut **tx).await?;
    Ok(())
}

pub(crate) fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

pub(crate) fn timestamp(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms).map_err(|_| StoreError::Corrupt(format!("timestamp {ms}")))
}

pub(crate) fn opt_timestamp(ms: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    ms.map(timestamp).transpose()
}

/// `$start, $start+1, …` for `count` values, for `IN (…)` lists.
pub(crate) fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn parse_stored<T: FromStr>(s: &str, what: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} `{s}`")))
}

pub(crate) fn parse_channels(s: &str) -> Result<Vec<medrelay_channels::ChannelKind>, StoreError> {
    s.split(',')
        .filter(|c| !c.is_empty())
        .map(|c| parse_stored(c, "channel"))
        .collect()
}

pub(crate) fn join_channels(channels: &[medrelay_channels::ChannelKind]) -> String {
    channels
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_back_ends_have_the_same_migrations() {
        let versions = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(versions(&SQLITE_MIGRATIONS), versions(&POSTGRES_MIGRATIONS));
    }

    #[test]
    fn placeholders_number_from_the_start_given() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
    }
}
