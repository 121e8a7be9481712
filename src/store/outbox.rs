//! What every outbox's sender shares in the store: claiming due rows under a lease, so several
//! instances share the work and a crashed one's rows go again once its lease runs out; how a
//! try went, and the lines of the deliveries logs.

use jiff::Timestamp;
use sqlx::any::AnyRow;

use super::{Backend, Store, StoreError, millis, opt_timestamp, placeholders, timestamp};

/// How one outbox's rows are claimed.
pub(super) struct ClaimSql {
    /// Sets `lease_token = $1, next_attempt_at = $2` (the lease's end) on up to `$4` rows due at
    /// `$3`, picked from the table aliased `m` with `{lock}` after the `LIMIT`; returns their
    /// `seq`.
    pub(super) claim: &'static str,
    /// Reads the claimed rows: `WHERE m.seq IN ({seqs}) AND m.lease_token = $1`.
    pub(super) claimed: &'static str,
}

/// A round's claim: up to `limit` rows due at `now`, held until `until` under `token`.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    pub token: &'a str,
    pub now: Timestamp,
    pub until: Timestamp,
    pub limit: u32,
}

impl Store {
    /// Claims the rows `sql` picks, as `lease` says.
    pub(super) async fn claim_outbox<T>(
        &self,
        sql: &ClaimSql,
        lease: &Lease<'_>,
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
            .bind(lease.token)
            .bind(millis(lease.until))
            .bind(millis(lease.now))
            .bind(i64::from(lease.limit))
            .fetch_all(&self.write)
            .await?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let claimed = sql.claimed.replace("{seqs}", &placeholders(2, seqs.len()));
        let mut query = sqlx::query_as::<_, T>(&claimed).bind(lease.token);
        for seq in &seqs {
            query = query.bind(*seq);
        }
        Ok(query.fetch_all(&self.write).await?)
    }
}

/// How one try of a delivery went, as its sender saw it.
#[derive(Debug, Clone)]
pub struct Tried {
    /// When it ended.
    pub at: Timestamp,
    /// The target's HTTP status, if it answered.
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    /// Why it failed, in a few words; never the target's answer.
    pub error: Option<String>,
}

/// One line of an outbox's deliveries log.
#[derive(Debug, Clone)]
pub struct TryRecord {
    /// 1 for the first try.
    pub try_number: i64,
    pub at: Timestamp,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// `retrying`, or the outbox's last word on the delivery.
    pub outcome: String,
    pub next_retry_at: Option<Timestamp>,
}

/// The log columns every deliveries log has, in [`TryRow`]'s order.
pub(super) const TRY_COLUMNS: &str =
    "try_number, at, status_code, latency_ms, error, outcome, next_retry_at";

#[derive(sqlx::FromRow)]
pub(super) struct TryRow {
    try_number: i64,
    at: i64,
    status_code: Option<i64>,
    latency_ms: i64,
    error: Option<String>,
    outcome: String,
    next_retry_at: Option<i64>,
}

impl TryFrom<TryRow> for TryRecord {
    type Error = StoreError;

    fn try_from(r: TryRow) -> Result<Self, StoreError> {
        Ok(Self {
            try_number: r.try_number,
            at: timestamp(r.at)?,
            status_code: r.status_code,
            latency_ms: r.latency_ms,
            error: r.error,
            outcome: r.outcome,
            next_retry_at: opt_timestamp(r.next_retry_at)?,
        })
    }
}

/// A query that writes a log line, with the line's own columns bound: `query` is an
/// `INSERT INTO <log> (<its own columns>, {TRY_COLUMNS}) VALUES (…)` whose own values are
/// already bound.
pub(super) fn bind_try<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    try_number: i64,
    tried: &'q Tried,
    outcome: &'static str,
    next_retry_at: Option<i64>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(try_number)
        .bind(millis(tried.at))
        .bind(tried.status_code.map(i64::from))
        .bind(tried.latency_ms)
        .bind(tried.error.as_deref())
        .bind(outcome)
        .bind(next_retry_at)
}
