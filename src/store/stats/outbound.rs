//! Attempts of the notifications created in the period: counts, hand-over→delivered/read
//! durations, fallbacks and reminders' read times by local hour.

use medrelay_channels::ChannelKind;

use super::{Period, hour_sql};
use crate::policy::stats::{
    AttemptCounts, FirstChannelCount, LatencyCount, Measure, ReminderRead, bucket_sql,
};
use crate::store::{StoreError, parse_stored};

/// The clinic's notifications of the period joined to their attempts: a range scan of
/// `notifications_clinic_created`, then each notification's attempts by `attempts_notification`.
const PERIOD_ATTEMPTS: &str = "FROM notifications n JOIN attempts a ON a.notification_id = n.id \
    WHERE n.clinic_id = $1 AND n.created_at >= $2 AND n.created_at < $3";

/// Failed: the channel could not deliver (failed), or no receipt came in time (timed out); both
/// make the notification fall back.
fn attempt_counts_sql() -> String {
    format!(
        "SELECT a.channel, n.topic, \
         SUM(CASE WHEN a.accepted_at IS NOT NULL THEN 1 ELSE 0 END), \
         SUM(CASE WHEN a.delivered_at IS NOT NULL THEN 1 ELSE 0 END), \
         SUM(CASE WHEN a.read_at IS NOT NULL THEN 1 ELSE 0 END), \
         SUM(CASE WHEN a.status IN ('failed', 'timed_out') THEN 1 ELSE 0 END) \
         {PERIOD_ATTEMPTS} GROUP BY a.channel, n.topic"
    )
}

pub(super) async fn attempt_counts(period: &Period<'_>) -> Result<Vec<AttemptCounts>, StoreError> {
    let sql = attempt_counts_sql();
    let rows: Vec<(String, String, i64, i64, i64, i64)> =
        period.query(&sql).fetch_all(period.pool).await?;
    rows.into_iter()
        .map(|(channel, topic, sent, delivered, read, failed)| {
            Ok(AttemptCounts {
                channel: parse_stored(&channel, "channel")?,
                topic,
                sent,
                delivered,
                read,
                failed,
            })
        })
        .collect()
}

/// Both durations in one statement: measure 0 is to delivered, 1 is to read.
fn latencies_sql() -> String {
    let one = |measure: u8, column: &str| {
        format!(
            "SELECT a.channel, n.topic, {measure}, {bucket}, COUNT(*) {PERIOD_ATTEMPTS} \
             AND a.accepted_at IS NOT NULL AND a.{column} IS NOT NULL GROUP BY 1, 2, 3, 4",
            bucket = bucket_sql(&format!("(a.{column} - a.accepted_at)")),
        )
    };
    format!("{} UNION ALL {}", one(0, "delivered_at"), one(1, "read_at"))
}

pub(super) async fn latencies(period: &Period<'_>) -> Result<Vec<LatencyCount>, StoreError> {
    let sql = latencies_sql();
    let rows: Vec<(String, String, i64, i64, i64)> =
        period.query(&sql).fetch_all(period.pool).await?;
    rows.into_iter()
        .map(|(channel, topic, measure, bucket_ms, count)| {
            Ok(LatencyCount {
                channel: parse_stored(&channel, "channel")?,
                topic,
                measure: if measure == 0 {
                    Measure::ToDelivered
                } else {
                    Measure::ToRead
                },
                bucket_ms,
                count,
            })
        })
        .collect()
}

/// Delivered notifications (email: sent, its last evidence) by the channel of their first try;
/// an `unsent` attempt never reached a provider, so it is no try. The first try is found through
/// `attempts_notification` per notification. MATERIALIZED (SQLite and PostgreSQL alike) keeps
/// SQLite from copying the first-try subquery into each of the outer query's three uses of it.
const FIRST_CHANNELS: &str = "WITH d AS MATERIALIZED ( \
        SELECT n.topic, n.delivered_channel, \
            (SELECT a.channel FROM attempts a WHERE a.notification_id = n.id AND a.status <> 'unsent' \
             ORDER BY a.created_at, a.id LIMIT 1) AS first_channel \
        FROM notifications n \
        WHERE n.clinic_id = $1 AND n.created_at >= $2 AND n.created_at < $3 \
          AND (n.status IN ('delivered', 'read') OR (n.status = 'sent' AND n.delivered_channel = 'email')) \
    ) SELECT first_channel, topic, CASE WHEN delivered_channel = first_channel THEN 0 ELSE 1 END, \
        COUNT(*) FROM d WHERE first_channel IS NOT NULL GROUP BY 1, 2, 3";

pub(super) async fn first_channels(
    period: &Period<'_>,
) -> Result<Vec<FirstChannelCount>, StoreError> {
    let rows: Vec<(String, String, i64, i64)> =
        period.query(FIRST_CHANNELS).fetch_all(period.pool).await?;
    rows.into_iter()
        .map(|(channel, topic, fell_back, count)| {
            Ok(FirstChannelCount {
                first_channel: parse_stored(&channel, "channel")?,
                topic,
                fell_back: fell_back != 0,
                count,
            })
        })
        .collect()
}

/// Reminders (notifications of an appointment) read, by channel, the local hour they were handed
/// over and their read time.
fn reminder_reads_sql(period: &Period<'_>) -> String {
    format!(
        "SELECT a.channel, {hour}, {bucket}, COUNT(*) {PERIOD_ATTEMPTS} \
         AND n.appointment_id IS NOT NULL AND a.accepted_at IS NOT NULL AND a.read_at IS NOT NULL \
         GROUP BY 1, 2, 3",
        hour = hour_sql(&period.local_ms_sql("a.accepted_at")),
        bucket = bucket_sql("(a.read_at - a.accepted_at)"),
    )
}

pub(super) async fn reminder_reads(period: &Period<'_>) -> Result<Vec<ReminderRead>, StoreError> {
    let sql = reminder_reads_sql(period);
    let rows: Vec<(String, i64, i64, i64)> = period
        .bind_offsets(period.query(&sql))
        .fetch_all(period.pool)
        .await?;
    rows.into_iter()
        .map(|(channel, hour, bucket_ms, count)| {
            Ok(ReminderRead {
                channel: parse_stored::<ChannelKind>(&channel, "channel")?,
                hour: super::to_u8(hour, "hour")?,
                bucket_ms,
                count,
            })
        })
        .collect()
}
