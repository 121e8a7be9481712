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

/// Replies medrelay and staff sent, by origin and status: a range scan of
/// `notifications_clinic_replies`, which holds only notifications that are not `api`. The status
/// is grouped rather than filtered: a condition on it would steer SQLite to
/// `notifications_clinic_status` and through every notification of the period.
const REPLIES: &str = "SELECT origin, status, COUNT(*) FROM notifications \
    WHERE clinic_id = $1 AND created_at >= $2 AND created_at < $3 AND origin <> 'api' \
    GROUP BY origin, status";

/// Waits that passed the clinic's response target, as the overdue sweeper recorded them
/// (`Event::ConversationOverdue`: kind `conversation`, its JSON tagged first by its type): a range
/// scan of `events_conversation_kind` over the period's conversation events.
const OVERDUE: &str = "SELECT COUNT(*) FROM events \
    WHERE clinic_id = $1 AND kind = 'conversation' AND at >= $2 AND at < $3 \
      AND data LIKE '{\"type\":\"conversation_overdue\"%'";

/// Channels patients closed or opened by a message (`Event::OptedOutByMessage` and
/// `Event::OptedInByMessage`: kind `patient_message`, their JSON tagged first by their type). A
/// stop word on a channel already closed changes nothing and records no such event, so it is not
/// counted.
const CHANNEL_CHANGES: &str = "SELECT \
      SUM(CASE WHEN data LIKE '{\"type\":\"opted_out_by_message\"%' THEN 1 ELSE 0 END), \
      SUM(CASE WHEN data LIKE '{\"type\":\"opted_in_by_message\"%' THEN 1 ELSE 0 END) \
    FROM events WHERE clinic_id = $1 AND kind = 'patient_message' AND at >= $2 AND at < $3";

pub(super) async fn inbound_counts(period: &Period<'_>) -> Result<InboundCounts, StoreError> {
    Ok(InboundCounts {
        hour_of_week: hour_of_week(period).await?,
        response: response_times(period).await?,
        intents: intents(period).await?,
        auto_replies: auto_replies(period).await?,
        overdue: overdue(period).await?,
        opt_changes: opt_changes(period).await?,
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

/// How long patients waited for a person: messages medrelay answered in full are not counted.
async fn response_times(period: &Period<'_>) -> Result<Durations, StoreError> {
    let sql = format!(
        "SELECT {bucket}, COUNT(*) {PERIOD_MESSAGES} \
         AND (answered_at IS NOT NULL OR handled_at IS NOT NULL) \
         AND (answered_by IS NULL OR answered_by <> 'medrelay') GROUP BY 1",
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

/// Auto replies handed over: sent, delivered or read.
async fn auto_replies(period: &Period<'_>) -> Result<Vec<(AutoReply, i64)>, StoreError> {
    let rows: Vec<(String, String, i64)> = period.query(REPLIES).fetch_all(period.pool).await?;
    let mut replies: Vec<(AutoReply, i64)> = Vec::new();
    for (origin, status, n) in rows {
        let handed_over = matches!(status.as_str(), "sent" | "delivered" | "read");
        match Origin::parse(&origin) {
            Some(Origin::Auto(kind)) if handed_over => replies.push((kind, n)),
            Some(_) => {}
            None => return Err(StoreError::Corrupt(format!("origin {origin}"))),
        }
    }
    Ok(replies)
}

async fn overdue(period: &Period<'_>) -> Result<i64, StoreError> {
    let (count,): (i64,) = period.query(OVERDUE).fetch_one(period.pool).await?;
    Ok(count)
}

/// (opt-outs, opt-ins) that took effect.
async fn opt_changes(period: &Period<'_>) -> Result<(i64, i64), StoreError> {
    let (outs, ins): (Option<i64>, Option<i64>) =
        period.query(CHANNEL_CHANGES).fetch_one(period.pool).await?;
    Ok((outs.unwrap_or(0), ins.unwrap_or(0)))
}
