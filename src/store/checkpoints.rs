//! SQLite's checkpoints, away from the writer.
//!
//! In WAL mode a commit appends the pages it changed to the log, and a checkpoint copies them into
//! the database file and syncs it. Left to itself, SQLite checkpoints inside the commit that takes
//! the log past 1,000 pages: a few times a second under load, one group of notifications waited
//! for the copy of the whole log on top of its own commit, and so did every request queued behind
//! it (a log of 16,000 pages between checkpoints raised the accept p99 from 52 to 70 ms,
//! docs/development.md's eleventh pass). Here a connection of its own checkpoints every
//! [`CHECKPOINT_EVERY`], beside the writer: in WAL mode a checkpoint and a writer run side by
//! side, and a `PASSIVE` one never waits for a lock. With the writer held less, `run.py`
//! delivered 1.01–1.12× as many notifications a second for 0.92–1.02× the CPU, in four sets of
//! four pairs; the accept p99 did not change (the eighteenth pass).
//!
//! SQLite starts the log again from its beginning only when a write begins with every page of it
//! copied, which a writer that is never idle does not see after another connection's checkpoint.
//! So the writer still checkpoints by itself once the log passes [`WRITER_CHECKPOINT_PAGES`]:
//! by then this connection has copied all but the last tenth of a second's pages, the writer's
//! checkpoint copies those, and the log starts again. That also bounds the log should this
//! connection fall behind or fail.

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::watch;

/// How often the checkpointer copies the log into the database file, chosen with `run.py`: every
/// 500 ms raised the accept p99 (a larger copy's writes and sync delay the writer's own), every
/// 30 ms took more CPU for about the same p99.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The log's size, in pages, at which the writer checkpoints by itself and the log starts again:
/// ten times SQLite's default, 40 MB; `run.py`'s warm-up filled it in about three seconds.
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
            // The store closed while this one ran: a clean stop, not a failing checkpoint.
            Err(_) if pool.is_closed() => break,
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
