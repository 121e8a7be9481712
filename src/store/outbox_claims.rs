//! What every outbox's sender shares in the store: claiming due rows under a lease, so several
//! instances share the work and a crashed one's rows go again once its lease runs out.

use jiff::Timestamp;
use sqlx::any::AnyRow;

use super::{Backend, Store, StoreError, millis, placeholders};

/// How one outbox's rows are claimed.
pub(super) struct ClaimSql {
    /// Sets `lease_token = $1, next_attempt_at = $2` (the lease's end) on up to `$4` rows due at
    /// `$3`, picked from the table aliased `m` with `{lock}` after the `LIMIT`; returns their
    /// `seq`.
    pub(super) claim: &'static str,
    /// Reads the claimed rows: `WHERE m.seq IN ({seqs}) AND m.lease_token = $1`.
    pub(super) claimed: &'static str,
}

impl Store {
    /// Claims up to `limit` due rows until `lease_until`, under `token`.
    pub(super) async fn claim_outbox<T>(
        &self,
        sql: &ClaimSql,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        let _turn = self.background_turn().await;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE OF m SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let seqs: Vec<i64> = sqlx::query_scalar(&sql.claim.replace("{lock}", lock))
            .bind(token)
            .bind(millis(lease_until))
            .bind(millis(now))
            .bind(i64::from(limit))
            .fetch_all(&self.write)
            .await?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let claimed = sql.claimed.replace("{seqs}", &placeholders(2, seqs.len()));
        let mut query = sqlx::query_as::<_, T>(&claimed).bind(token);
        for seq in &seqs {
            query = query.bind(*seq);
        }
        Ok(query.fetch_all(&self.write).await?)
    }
}
