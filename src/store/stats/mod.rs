//! Counts over a clinic's notifications and inbound messages, for `GET /v1/stats` and the
//! benchmark. Everything is grouped in SQL over index range scans of one clinic and one period
//! (migration 0020 says which index serves which query); durations come back as counts per
//! bucket ([`bucket_sql`]), never one row per message.
//!
//! The period selects notifications by `created_at` and inbound messages by `received_at`.
//! Clinic-local hours are computed in SQL from the clinic's offsets over the period
//! ([`OffsetSpan`]), so daylight saving time needs no time-zone database in SQL.

mod inbound;
mod outbound;

use sqlx::AnyPool;
use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;

use super::{Store, StoreError};
use crate::domain::{ClinicId, NotificationStatus};
use crate::policy::stats::{OffsetSpan, StatsRange, StatsRows};

impl Store {
    /// How many of the clinic's notifications are in each status; statuses with none are left out.
    pub async fn status_counts(
        &self,
        clinic: &ClinicId,
    ) -> Result<Vec<(NotificationStatus, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) AS n FROM notification_states WHERE clinic_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(clinic.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(text, count)| {
                let status = NotificationStatus::parse(&text)
                    .ok_or_else(|| StoreError::Corrupt(format!("notification status {text}")))?;
                Ok((status, count))
            })
            .collect()
    }

    /// Everything the statistics of `clinic` over `range` are made of. `offsets`: the clinic's
    /// UTC offsets from [`StatsRange::offsets`].
    pub async fn stats_rows(
        &self,
        clinic: &ClinicId,
        range: StatsRange,
        offsets: &[OffsetSpan],
    ) -> Result<StatsRows, StoreError> {
        let period = Period {
            pool: &self.read,
            clinic: clinic.as_str(),
            from: range.from.as_millisecond(),
            to: range.to.as_millisecond(),
            offsets,
        };
        Ok(StatsRows {
            attempts: outbound::attempt_counts(&period).await?,
            latencies: outbound::latencies(&period).await?,
            first_channels: outbound::first_channels(&period).await?,
            reminder_reads: outbound::reminder_reads(&period).await?,
            inbound: inbound::inbound_counts(&period).await?,
        })
    }
}

/// One clinic and one period: the first three parameters of every statistics query
/// (`$1` clinic, `$2` from, `$3` to, in milliseconds).
struct Period<'a> {
    pool: &'a AnyPool,
    clinic: &'a str,
    from: i64,
    to: i64,
    offsets: &'a [OffsetSpan],
}

impl<'a> Period<'a> {
    /// `sql` with the clinic and the period bound as `$1..$3`.
    fn query<'q, T>(&'q self, sql: &'q str) -> StatsQuery<'q, T>
    where
        'a: 'q,
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as(sql)
            .bind(self.clinic)
            .bind(self.from)
            .bind(self.to)
    }

    /// The clinic-local wall-clock time of `column` (UTC milliseconds), in milliseconds since the
    /// local epoch: the offset in force at that instant added. Its parameters start at `$4`;
    /// bind them with [`Period::bind_offsets`].
    fn local_ms_sql(&self, column: &str) -> String {
        let mut case = String::from("CASE");
        let changes = self.offsets.len().saturating_sub(1);
        // Before the next span starts, the current span's offset holds.
        for i in 0..changes {
            let starts = 4 + 2 * i;
            case.push_str(&format!(" WHEN {column} < ${starts} THEN ${}", starts + 1));
        }
        case.push_str(&format!(" ELSE ${} END", 4 + 2 * changes));
        format!("({column} + {case})")
    }

    /// Binds the parameters of [`Period::local_ms_sql`], after `$1..$3`.
    fn bind_offsets<'q, T>(&self, mut query: StatsQuery<'q, T>) -> StatsQuery<'q, T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        for pair in self.offsets.windows(2) {
            query = query.bind(pair[1].starts_at_ms).bind(pair[0].offset_ms);
        }
        let last = self.offsets.last().map_or(0, |span| span.offset_ms);
        query.bind(last)
    }
}

type StatsQuery<'q, T> = QueryAs<'q, sqlx::Any, T, AnyArguments<'q>>;

/// The clinic-local hour of day (0–23) of a local-milliseconds expression.
fn hour_sql(local_ms: &str) -> String {
    format!("(({local_ms}) / 3600000) % 24")
}

/// The clinic-local day of week, Sunday = 0, of a local-milliseconds expression: day 0 of the
/// epoch (1970-01-01) was a Thursday.
fn weekday_sql(local_ms: &str) -> String {
    format!("((({local_ms}) / 86400000) + 4) % 7")
}

fn to_u8(value: i64, what: &str) -> Result<u8, StoreError> {
    u8::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value}")))
}
