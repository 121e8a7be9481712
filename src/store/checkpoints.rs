//! SQLite's checkpoints, away from the writer.
//!
//! In WAL mode a commit appends the pages it changed to the log, and a checkpoint copies them into
//! the database file and syncs it. Left to itself, SQLite checkpoints inside the commit that takes
//! the log past 1,000 pages: a few times a second under load, one group of notifications waited
//! for the copy of the whole log on top of its own commit, and so did every request queued behind
//! it (a log of 16,000 pages between checkpoints raised the accept p99 from 52 to 70 ms,
//! docs/development.md's eleventh pass). Here a connection of its own checkpoints every
//! [`CHECKPOINT_EVERY`], beside the writer: in WAL mode a checkpoint and a writer run side by
//! side, and a `PASSIVE` one never waits for a lock. The writer still checkpoints by itself once
//! the log passes [`WRITER_CHECKPOINT_PAGES`], should this one fall behind or fail, so the log
//! stays bounded either way.

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::watch;

/// How often the checkpointer copies the log into the database file. At 4,000 notifications a
/// second the writer appends about 3,500 pages a second, so about 350 between checkpoints, a
/// third of what SQLite's own default lets the log reach.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The log's size, in pages, at which the writer checkpoints by itself: ten times SQLite's
/// default, reached only when the checkpointer has not run for about three seconds under load.
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// The checkpointing connection and its loop, which ends when the last clone of this is dropped
/// or [`Checkpointer::close`] is called.
#[derive(Debug, Clone)]
pub(super) struct Checkpointer {
    pool: AnyPool,
    _running: Arc<watch::Sender<()>>,
}

impl Checkpointer {
    /// Starts checkpointing through `pool` (one connection of its own).
    pub(super) fn start(pool: AnyPool) -> Self {
        let (running, stopped) = watch::channel(());
        tokio::spawn(checkpoint_until_stopped(pool.clone(), stopped));
        Self {
            pool,
            _running: Arc::new(running),
        }
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}

async fn checkpoint_until_stopped(pool: AnyPool, mut stopped: watch::Receiver<()>) {
    let mut failing = false;
    loop {
        tokio::select! {
            // Only ever an error: the sender sends nothing and is dropped with the last store.
            _ = stopped.changed() => break,
            () = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
        if pool.is_closed() {
            break;
        }
        // Said once when checkpoints start failing and once when they work again, not every
        // tenth of a second in between (a full disk fails every one).
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "SQLite checkpoint failed; the writer checkpoints once its log is large");
            }
            Ok(_) if failing => {
                failing = false;
                tracing::info!("SQLite checkpoints work again");
            }
            _ => {}
        }
    }
    pool.close().await;
}
