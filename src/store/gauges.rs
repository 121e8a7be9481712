//! What the metrics sampler reads: the queue and the day's notifications by status, each one
//! statement over an index (`notifications_due`, `notifications_clinic_created`), and the
//! pools' use, which costs no statement at all. Neither reads the whole history: the queue is
//! what is due, the count by status is one day's notifications, clinic by clinic.

use jiff::Timestamp;
use sqlx::AnyPool;

use super::dispatch::claimable;
use super::{Backend, Store, StoreError, millis};

/// A count of the whole table reads all of it (PostgreSQL, 1M rows: a parallel sequential scan,
/// 0.3 s). Here each clinic's recent rows are one range of `notifications_clinic_created`:
/// `CROSS JOIN` keeps SQLite from scanning a whole index of notifications first (PostgreSQL
/// plans it as the join it is and takes the same path).
const BY_STATUS_SINCE: &str = "SELECT n.status, COUNT(*) FROM clinics c CROSS JOIN notifications n \
    WHERE n.clinic_id = c.id AND n.created_at >= $1 GROUP BY n.status";

/// The dispatcher's queue at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueGauges {
    /// Notifications due now that no dispatcher holds.
    pub due: i64,
    /// When the longest-waiting of them fell due.
    pub oldest_due_at: Option<Timestamp>,
}

/// One pool's connections: open and idle, open and in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolGauges {
    /// `write` and `read` on SQLite; `shared` on PostgreSQL.
    pub pool: &'static str,
    pub idle: u64,
    pub in_use: u64,
}

impl Store {
    pub async fn queue_gauges(&self, now: Timestamp) -> Result<QueueGauges, StoreError> {
        let queue = format!(
            "SELECT COUNT(*), MIN(due_at) FROM notification_states WHERE {}",
            claimable("$1")
        );
        let (due, oldest): (i64, Option<i64>) = sqlx::query_as(&queue)
            .bind(millis(now))
            .fetch_one(&self.read)
            .await?;
        Ok(QueueGauges {
            due,
            oldest_due_at: oldest.and_then(|ms| Timestamp::from_millisecond(ms).ok()),
        })
    }

    /// The notifications created since `since`, by status.
    pub async fn notifications_by_status(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(BY_STATUS_SINCE)
            .bind(millis(since))
            .fetch_all(&self.read)
            .await?)
    }

    pub fn pool_gauges(&self) -> Vec<PoolGauges> {
        match self.backend {
            Backend::Sqlite => vec![pool("write", &self.write), pool("read", &self.read)],
            Backend::Postgres => vec![pool("shared", &self.write)],
        }
    }
}

fn pool(name: &'static str, pool: &AnyPool) -> PoolGauges {
    let open = u64::from(pool.size());
    let idle = u64::try_from(pool.num_idle()).unwrap_or(open).min(open);
    PoolGauges {
        pool: name,
        idle,
        in_use: open - idle,
    }
}
