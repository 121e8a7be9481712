//! Inbound messages received in the period, and what medrelay answered on its own.

use super::{Period, hour_sql, to_u8, weekday_sql};
use crate::domain::{AutoReply, Intent, Origin};
use crate::policy::stats::{Durations, InboundCounts, bucket_sql};
use crate::store::StoreError;

/// The clinic's inbound messages of the period: a range scan of `inbound_messages_clinic`.
const PERIOD_MESSAGES: &str =
    "FROM inbound_messages WHERE clinic_id = $1 AND received_at >= $2 AND received_at < $3";

/// When a message stopped waiting: the earlier of its answer and its handling.
const RESPONDED_AT: &str = "CASE WHEN answered_at IS NULL THEN handled_at \
    WHEN handled_at IS NULL OR answered_at < handled_at THEN answered_at ELSE handled_at END";

/// Auto replies handed over (delivered, read, or sent), by origin: a range scan of
/// `notifications_clinic_replies`, which holds only notifications that are not `api`.
const AUTO_REPLIES: &str = "SELECT origin, COUNT(*) FROM notifications \
    WHERE clinic_id = $1 AND created_at >= $2 AND created_at < $3 AND origin <> 'api' \
      AND status IN ('sent', 'delivered', 'read') GROUP BY origin";

/// Waits that passed the clinic's response target, as the overdue sweeper recorded them: a range
/// scan of `events_conversation_kind`.
const OVERDUE: &str = "SELECT COUNT(*) FROM events \
    WHERE clinic_id = $1 AND kind = $4 AND at >= $2 AND at < $3";

/// The event kind the overdue sweeper records.
const OVERDUE_KIND: &str = "overdue";

pub(super) async fn inbound_counts(period: &Period<'_>) -> Result<InboundCounts, StoreError> {
    Ok(InboundCounts {
        hour_of_week: hour_of_week(period).await?,
        response: response_times(period).await?,
        intents: intents(period).await?,
        auto_replies: auto_replies(period).await?,
        overdue: overdue(period).await?,
    })
}

async fn hour_of_week(period: &Period<'_>) -> Result<Vec<(u8, u8, i64)>, StoreError> {
    let local = period.local_ms_sql("received_at");
    let sql = format!(
        "SELECT {weekday}, {hour}, COUNT(*) {PERIOD_MESSAGES} GROUP BY 1, 2",
        weekday = weekday_sql(&local),
        hour = hour_sql(&local),
    );
    let rows: Vec<(i64, i64, i64)> = period
        .bind_offsets(period.query(&sql))
        .fetch_all(period.pool)
        .await?;
    rows.into_iter()
        .map(|(day, hour, n)| Ok((to_u8(day, "weekday")?, to_u8(hour, "hour")?, n)))
        .collect()
}

async fn response_times(period: &Period<'_>) -> Result<Durations, StoreError> {
    let sql = format!(
        "SELECT {bucket}, COUNT(*) {PERIOD_MESSAGES} \
         AND (answered_at IS NOT NULL OR handled_at IS NOT NULL) GROUP BY 1",
        bucket = bucket_sql(&format!("(({RESPONDED_AT}) - received_at)")),
    );
    let rows: Vec<(i64, i64)> = period.query(&sql).fetch_all(period.pool).await?;
    let mut durations = Durations::default();
    for (bucket_ms, count) in rows {
        durations.add(bucket_ms, count);
    }
    Ok(durations)
}

async fn intents(period: &Period<'_>) -> Result<Vec<(Intent, i64)>, StoreError> {
    let sql = format!("SELECT intent, COUNT(*) {PERIOD_MESSAGES} GROUP BY intent");
    let rows: Vec<(String, i64)> = period.query(&sql).fetch_all(period.pool).await?;
    rows.into_iter()
        .map(|(intent, n)| {
            let intent = Intent::parse(&intent)
                .ok_or_else(|| StoreError::Corrupt(format!("intent {intent}")))?;
            Ok((intent, n))
        })
        .collect()
}

async fn auto_replies(period: &Period<'_>) -> Result<Vec<(AutoReply, i64)>, StoreError> {
    let rows: Vec<(String, i64)> = period.query(AUTO_REPLIES).fetch_all(period.pool).await?;
    let mut replies = Vec::new();
    for (origin, n) in rows {
        match Origin::parse(&origin) {
            Some(Origin::Auto(kind)) => replies.push((kind, n)),
            Some(Origin::Api | Origin::StaffReply) => {}
            None => return Err(StoreError::Corrupt(format!("origin {origin}"))),
        }
    }
    Ok(replies)
}

async fn overdue(period: &Period<'_>) -> Result<i64, StoreError> {
    let (count,): (i64,) = period
        .query(OVERDUE)
        .bind(OVERDUE_KIND)
        .fetch_one(period.pool)
        .await?;
    Ok(count)
}
