//! The dispatcher's side of the store: claiming due notifications under a lease, extending it,
//! and recording each hand-over's start. Its decisions are recorded by `decisions`, the
//! providers' answers by `outcomes`.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use sqlx::FromRow;
use sqlx::any::AnyRow;

use super::contents::record_contents;
use super::notifications::{NOTIFICATION_COLUMNS, status};
use super::rows::{Id, columns, write_rows};
use super::{
    Backend, Store, StoreError, in_list, lock_notifications, millis, opt_timestamp, padded,
    parse_stored, placeholders, skip_locked, timestamp,
};
use crate::domain::{
    AttemptContent, AttemptId, AttemptStatus, ClinicId, NotificationId, NotificationStatus, Origin,
    PatientId, Priority, Reason,
};
use crate::policy::{AttemptFacts, AttemptVerdict};

/// A notification the dispatcher holds the lease on, with everything tried so far.
#[derive(Debug, Clone)]
pub struct ClaimedNotification {
    pub id: NotificationId,
    pub clinic_id: ClinicId,
    pub patient_id: PatientId,
    pub topic: String,
    pub body: Option<String>,
    pub template: Option<String>,
    pub params: Option<String>,
    pub channel: Option<ChannelKind>,
    pub priority: Priority,
    pub send_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub status: NotificationStatus,
    /// Where it came from: an opt-out's confirmation may go where nothing else may.
    pub origin: Origin,
    pub attempts: Vec<AttemptFacts>,
}

/// What the dispatcher decided for one claimed notification.
#[derive(Debug, Clone)]
pub struct DispatchWrite {
    pub notification: NotificationId,
    pub previous_status: NotificationStatus,
    pub verdicts: Vec<AttemptVerdict>,
    pub reasons: Vec<Reason>,
    pub next: NextState,
    /// Open a staff callback task with this reason.
    pub callback: Option<String>,
}

#[derive(Debug, Clone)]
pub enum NextState {
    /// Record a new attempt in `sending` and keep the lease while the provider is called.
    Send {
        attempt: AttemptId,
        channel: ChannelKind,
        sender: String,
        to_masked: String,
        /// The sender is the sandbox: the attempt will reach no patient.
        sandbox: bool,
    },
    /// Release the lease until `until`.
    Wait {
        until: Timestamp,
        status: NotificationStatus,
    },
    Finish {
        status: NotificationStatus,
        channel: Option<ChannelKind>,
    },
}

/// A hand-over about to write its request to the provider.
#[derive(Debug, Clone)]
pub struct HandoverStart {
    pub notification: NotificationId,
    pub attempt: AttemptId,
    /// The lease token the dispatcher holds the notification under.
    pub token: String,
    pub clinic: ClinicId,
    /// What the request carries to the patient, recorded with the start.
    pub content: AttemptContent,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: String,
    clinic_id: String,
    patient_id: String,
    topic: String,
    body: Option<String>,
    template: Option<String>,
    params: Option<String>,
    channel: Option<String>,
    priority: String,
    send_at: i64,
    expires_at: Option<i64>,
    status: String,
    origin: String,
}

impl TryFrom<ClaimedRow> for ClaimedNotification {
    type Error = StoreError;

    fn try_from(row: ClaimedRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: NotificationId::from_stored(row.id),
            clinic_id: ClinicId::from_stored(row.clinic_id),
            patient_id: PatientId::from_stored(row.patient_id),
            topic: row.topic,
            body: row.body,
            template: row.template,
            params: row.params,
            channel: row
                .channel
                .map(|c| parse_stored(&c, "channel"))
                .transpose()?,
            priority: Priority::parse(&row.priority).unwrap_or(Priority::Normal),
            send_at: timestamp(row.send_at)?,
            expires_at: opt_timestamp(row.expires_at)?,
            status: status(&row.status)?,
            origin: Origin::parse(&row.origin)
                .ok_or_else(|| StoreError::Corrupt(format!("origin {}", row.origin)))?,
            attempts: Vec::new(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    id: String,
    notification_id: String,
    channel: String,
    status: String,
    created_at: i64,
    started_at: Option<i64>,
    retry_at: Option<i64>,
    failed_at: Option<i64>,
    deliver_by: Option<i64>,
    error_code: Option<String>,
    error_text: Option<String>,
}

impl TryFrom<AttemptRow> for AttemptFacts {
    type Error = StoreError;

    fn try_from(row: AttemptRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: AttemptId::from_stored(row.id),
            channel: parse_stored(&row.channel, "channel")?,
            status: AttemptStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Corrupt(format!("attempt status {}", row.status)))?,
            created_at: timestamp(row.created_at)?,
            started_at: opt_timestamp(row.started_at)?,
            retry_at: opt_timestamp(row.retry_at)?,
            failed_at: opt_timestamp(row.failed_at)?,
            deliver_by: opt_timestamp(row.deliver_by)?,
            error_code: row.error_code,
            error_text: row.error_text,
        })
    }
}

/// Due by `now` (a placeholder) and held under no lease that still runs: what a claim may take
/// and what the queue gauge counts. A claim leaves the due time alone (see [`Store::claim_due`]),
/// so a held notification can be due; once decided, its due time is its lease's end.
pub(super) fn claimable(now: &str) -> String {
    format!("due_at <= {now} AND (lease_token IS NULL OR lease_until <= {now})")
}

/// Releasing leases, for [`Release`] rows with `$1` the lease token and `$2` now: an update that
/// arrived while we held a lease means "look again now". A notification that went (`sent`,
/// `delivered`, `read`) names its channel: the row's, else the one it was sent on; any other
/// status names none.
pub(super) const RELEASE: &str = "WITH v ({columns}) AS ({rows}) \
    UPDATE notification_states SET status = v.status, \
    due_at = CASE WHEN notification_states.recheck = 1 THEN $2 ELSE v.due_at END, \
    delivered_channel = CASE WHEN v.status IN ('sent', 'delivered', 'read') \
        THEN COALESCE(v.delivered_channel, notification_states.delivered_channel) END, \
    lease_token = NULL, lease_until = NULL, recheck = 0, updated_at = $2, {feed_position} \
    FROM v WHERE notification_states.id = v.id AND notification_states.lease_token = $1 \
    RETURNING notification_states.id";

columns! {
    /// A lease handed back: the notification's new status, when to look again, and the channel
    /// it went on.
    pub(super) struct Release<'a> {
        pub(super) id: &'a str,
        pub(super) status: &'a str,
        pub(super) due_at: Option<i64>,
        pub(super) delivered_channel: Option<&'a str>,
    }
}

columns! {
    /// A hand-over about to start, if its notification is still held under `lease_token`.
    struct Start<'a> {
        attempt_id: &'a str,
        notification_id: &'a str,
        lease_token: &'a str,
    }
}

impl Store {
    /// Claims up to `limit` due notifications for `lease_until`, under `token`. The claim sets
    /// only columns no index holds: on PostgreSQL the update is then HOT (no new entry in any of
    /// the state table's indexes; its fillfactor keeps room on the row's page for the new
    /// version), on SQLite it rewrites the state row alone. What the notifications ask is read
    /// after: SQLite's `RETURNING` gives only the updated table's columns.
    pub async fn claim_due(
        &self,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedNotification>, StoreError> {
        let _turn = self.background_turn().await;
        let skip_locked = skip_locked(self.backend);
        let sql = format!(
            "UPDATE notification_states SET lease_token = $1, lease_until = $2, recheck = 0 \
             WHERE id IN (SELECT id FROM notification_states WHERE {} \
             ORDER BY due_at LIMIT $4{skip_locked}) RETURNING id",
            claimable("$3"),
        );
        // Planned afresh each time: PostgreSQL keeps one generic plan per prepared statement
        // until the table's statistics change, and a plan made while the table was small reads
        // all of it (a sequential scan to find the claimed rows) for as long as the connection
        // lives, which without autovacuum's ANALYZE is for ever.
        let ids: Vec<String> = sqlx::query_scalar(&sql)
            .persistent(false)
            .bind(token)
            .bind(millis(lease_until))
            .bind(millis(now))
            .bind(i64::from(limit))
            .fetch_all(&self.write)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();

        // Oldest first: the dispatcher hands one patient's notifications over in this order.
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS}, n.origin FROM notifications n WHERE n.id IN ({}) \
             ORDER BY n.created_at, n.id",
            in_list(1, ids.len())
        );
        let mut query = sqlx::query_as::<_, ClaimedRow>(&sql);
        for id in padded(&ids) {
            query = query.bind(id);
        }
        let mut claimed = query
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(ClaimedNotification::try_from)
            .collect::<Result<Vec<_>, StoreError>>()?;

        let sql = claimed_attempts_sql(self.backend, ids.len());
        let mut query = sqlx::query_as::<_, AttemptRow>(&sql).persistent(false);
        for id in &ids {
            query = query.bind(*id);
        }
        let mut by_notification: HashMap<String, Vec<AttemptFacts>> = HashMap::new();
        for row in query.fetch_all(&self.read).await? {
            by_notification
                .entry(row.notification_id.clone())
                .or_default()
                .push(row.try_into()?);
        }
        for notification in &mut claimed {
            notification.attempts = by_notification
                .remove(notification.id.as_str())
                .unwrap_or_default();
        }
        Ok(claimed)
    }

    /// Keeps the notifications claimed under `token` until `lease_until`, for hand-overs that
    /// take longer than one lease (a slow provider, a sender's rate limit).
    pub async fn extend_lease(
        &self,
        token: &str,
        notifications: &[&str],
        lease_until: Timestamp,
    ) -> Result<(), StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        lock_notifications(self.backend, &mut tx, "{ids}", notifications).await?;
        let rows: Vec<Id> = notifications.iter().map(|id| Id { id }).collect();
        write_rows(
            &mut tx,
            "WITH v ({columns}) AS ({rows}) UPDATE notification_states SET due_at = $2, lease_until = $2 \
             WHERE lease_token = $1 AND id IN (SELECT id FROM v)",
            &[token.into(), millis(lease_until).into()],
            &rows,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that these hand-overs' requests are about to start, for those whose notification
    /// is still held under the hand-over's lease token. Returns the attempts that may start: a
    /// hand-over whose lease another dispatcher took over may already be sent again by it.
    /// What each of those is about to send is recorded in the same transaction.
    pub async fn mark_started(
        &self,
        starts: &[HandoverStart],
        now: Timestamp,
    ) -> Result<HashSet<String>, StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        let ids: Vec<&str> = starts.iter().map(|s| s.notification.as_str()).collect();
        // Taken before the attempts are marked, so a claim by another dispatcher either comes
        // after this commit and sees the marks, or changed the token and this marks nothing.
        lock_notifications(self.backend, &mut tx, "{ids}", &ids).await?;
        let rows: Vec<Start> = starts
            .iter()
            .map(|s| Start {
                attempt_id: s.attempt.as_str(),
                notification_id: s.notification.as_str(),
                lease_token: s.token.as_str(),
            })
            .collect();
        let started = returned_ids(
            write_rows(
                &mut tx,
                "WITH v ({columns}) AS ({rows}) UPDATE attempts SET started_at = $1 FROM v \
                 WHERE attempts.id = v.attempt_id AND attempts.status = 'sending' AND EXISTS \
                 (SELECT 1 FROM notification_states n WHERE n.id = v.notification_id AND n.lease_token = v.lease_token) \
                 RETURNING attempts.id",
                &[millis(now).into()],
                &rows,
            )
            .await?,
        )?;
        let recorded: Vec<&HandoverStart> = starts
            .iter()
            .filter(|s| started.contains(s.attempt.as_str()))
            .collect();
        record_contents(&mut tx, &recorded, now).await?;
        tx.commit().await?;
        Ok(started)
    }
}

/// Every attempt of `count` notifications (`$1`…), oldest first. On PostgreSQL each id is
/// looked up in `attempts_notification` on its own (`LATERAL`, fenced by `OFFSET 0` so the
/// planner cannot fold it into a join): with an `IN` list and no statistics on `attempts` (no
/// ANALYZE yet) the planner expects a third of the table to match and reads all of it, so every
/// claim would cost more as attempts pile up. Planned afresh each time, as the claim is: a plan
/// made while `attempts` was empty reads it whole. SQLite's planner takes the index for an `IN`
/// list.
fn claimed_attempts_sql(backend: Backend, count: usize) -> String {
    const COLUMNS: &str = "id, notification_id, channel, status, created_at, started_at, \
        retry_at, failed_at, deliver_by, error_code, error_text";
    match backend {
        Backend::Postgres => {
            let values = (1..=count)
                .map(|i| format!("(${i})"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "WITH v (id) AS (VALUES {values}) SELECT a.* FROM v CROSS JOIN LATERAL \
                 (SELECT {COLUMNS} FROM attempts WHERE notification_id = v.id OFFSET 0) a \
                 ORDER BY a.created_at, a.id"
            )
        }
        Backend::Sqlite => format!(
            "SELECT {COLUMNS} FROM attempts WHERE notification_id IN ({}) ORDER BY created_at, id",
            placeholders(1, count)
        ),
    }
}

pub(super) fn returned_ids(rows: Vec<AnyRow>) -> Result<HashSet<String>, StoreError> {
    rows.iter()
        .map(|row| Ok(<(String,)>::from_row(row)?.0))
        .collect()
}
