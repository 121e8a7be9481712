use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use sqlx::FromRow;
use sqlx::any::AnyRow;

use super::contents::record_contents;
use super::events::EventBatch;
use super::notifications::{NOTIFICATION_COLUMNS, status};
use super::rows::{Id, columns, write_rows};
use super::{
    Backend, Store, StoreError, lock_notifications, millis, opt_timestamp, parse_stored,
    placeholders, timestamp,
};
use crate::domain::{
    Actor, AttemptContent, AttemptId, AttemptStatus, CallbackTaskId, ClinicId, Event,
    NotificationId, NotificationStatus, PatientId, Priority, Reason,
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

const CLAIM_POSTGRES: &str = "UPDATE notifications n SET lease_token = $1, due_at = $2, recheck = 0 \
    WHERE n.id IN (SELECT id FROM notifications WHERE due_at <= $3 ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
    RETURNING ";
const CLAIM_SQLITE: &str = "UPDATE notifications AS n SET lease_token = $1, due_at = $2, recheck = 0 \
    WHERE n.id IN (SELECT id FROM notifications WHERE due_at <= $3 ORDER BY due_at LIMIT $4) \
    RETURNING ";

/// Releasing leases, for [`Release`] rows with `$1` the lease token and `$2` now: an update that
/// arrived while we held a lease means "look again now". A notification that went (`sent`,
/// `delivered`, `read`) names its channel: the row's, else the one it was sent on; any other
/// status names none.
pub(super) const RELEASE: &str = "WITH v ({columns}) AS (VALUES {values}) \
    UPDATE notifications SET status = v.status, \
    due_at = CASE WHEN notifications.recheck = 1 THEN $2 ELSE v.due_at END, \
    delivered_channel = CASE WHEN v.status IN ('sent', 'delivered', 'read') \
        THEN COALESCE(v.delivered_channel, notifications.delivered_channel) END, \
    lease_token = NULL, recheck = 0, updated_at = $2 \
    FROM v WHERE notifications.id = v.id AND notifications.lease_token = $1 RETURNING notifications.id";

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

columns! {
    /// An earlier attempt's new status, as the dispatcher judged it.
    struct Verdict<'a> {
        id: &'a str,
        status: &'a str,
    }
}

columns! {
    struct NewAttempt<'a> {
        id: &'a str,
        notification_id: &'a str,
        channel: &'a str,
        sender: &'a str,
        sandbox: i64,
    }
}

columns! {
    struct NewCallback<'a> {
        id: &'a str,
        notification_id: &'a str,
        reason: &'a str,
    }
}

impl Store {
    /// Claims up to `limit` due notifications for `lease_until`, under `token`.
    pub async fn claim_due(
        &self,
        token: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedNotification>, StoreError> {
        let _turn = self.background_turn().await;
        let claim = match self.backend {
            Backend::Postgres => CLAIM_POSTGRES,
            Backend::Sqlite => CLAIM_SQLITE,
        };
        let sql = format!("{claim}{}", NOTIFICATION_COLUMNS.replace("n.", ""));
        let rows: Vec<ClaimedRow> = sqlx::query_as(&sql)
            .bind(token)
            .bind(millis(lease_until))
            .bind(millis(now))
            .bind(i64::from(limit))
            .fetch_all(&self.write)
            .await?;
        let mut claimed = rows
            .into_iter()
            .map(ClaimedNotification::try_from)
            .collect::<Result<Vec<_>, StoreError>>()?;
        if claimed.is_empty() {
            return Ok(claimed);
        }

        let ids: Vec<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
        let sql = format!(
            "SELECT id, notification_id, channel, status, created_at, started_at, retry_at, failed_at, deliver_by, error_code, error_text \
             FROM attempts WHERE notification_id IN ({}) ORDER BY created_at, id",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query_as::<_, AttemptRow>(&sql);
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
            "WITH v ({columns}) AS (VALUES {values}) UPDATE notifications SET due_at = $2 \
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
                "WITH v ({columns}) AS (VALUES {values}) UPDATE attempts SET started_at = $1 FROM v \
                 WHERE attempts.id = v.attempt_id AND attempts.status = 'sending' AND EXISTS \
                 (SELECT 1 FROM notifications n WHERE n.id = v.notification_id AND n.lease_token = v.lease_token) \
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

    /// Records the dispatcher's decisions in one transaction. Returns the attempts that may now
    /// be handed to their provider: those whose notification we still hold the lease on.
    pub async fn record_decisions(
        &self,
        token: &str,
        writes: &[DispatchWrite],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<AttemptId>, StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        let ids: Vec<&str> = writes.iter().map(|w| w.notification.as_str()).collect();
        lock_notifications(self.backend, &mut tx, "{ids}", &ids).await?;
        let shared = [token.into(), millis(now).into()];

        // Delivery evidence that arrived while we were deciding (`recheck`) makes the decision
        // stale: such notifications are handed back, due now, untouched, and decided again.
        let decided: Vec<Id> = ids.iter().map(|id| Id { id }).collect();
        write_rows(
            &mut tx,
            "WITH v ({columns}) AS (VALUES {values}) \
             UPDATE notifications SET lease_token = NULL, recheck = 0, due_at = $2 \
             WHERE lease_token = $1 AND recheck = 1 AND id IN (SELECT id FROM v)",
            &shared,
            &decided,
        )
        .await?;
        let sends: Vec<Id> = writes
            .iter()
            .filter(|w| matches!(w.next, NextState::Send { .. }))
            .map(|w| Id {
                id: w.notification.as_str(),
            })
            .collect();
        let held = returned_ids(
            write_rows(
                &mut tx,
                "WITH v ({columns}) AS (VALUES {values}) \
                 UPDATE notifications SET status = 'sending', delivered_channel = NULL, updated_at = $2, due_at = $3 \
                 WHERE lease_token = $1 AND id IN (SELECT id FROM v) RETURNING id",
                &[token.into(), millis(now).into(), millis(lease_until).into()],
                &sends,
            )
            .await?,
        )?;
        let releases: Vec<Release> = writes
            .iter()
            .filter_map(|w| match &w.next {
                NextState::Send { .. } => None,
                NextState::Wait { until, status } => {
                    Some(release_row(w, *status, Some(*until), None))
                }
                NextState::Finish { status, channel } => {
                    Some(release_row(w, *status, None, *channel))
                }
            })
            .collect();
        let released = returned_ids(write_rows(&mut tx, RELEASE, &shared, &releases).await?)?;

        let mut verdicts = Vec::new();
        let mut attempts = Vec::new();
        let mut events = EventBatch::default();
        let mut cleared = Vec::new();
        for write in writes {
            let id = write.notification.as_str();
            if !held.contains(id) && !released.contains(id) {
                continue;
            }
            for verdict in &write.verdicts {
                verdicts.push(Verdict {
                    id: verdict.attempt.as_str(),
                    status: verdict.status.as_str(),
                });
                let event = Event::AttemptVerdict {
                    status: verdict.status,
                    reason: verdict.reason.clone(),
                };
                events.add(
                    id,
                    Some(verdict.attempt.as_str()),
                    now,
                    &Actor::System,
                    &event,
                )?;
            }
            for reason in &write.reasons {
                let event = Event::Routing(reason.clone());
                events.add(id, None, now, &Actor::System, &event)?;
            }
            let new_status = match &write.next {
                NextState::Send {
                    attempt,
                    channel,
                    sender,
                    to_masked,
                    sandbox,
                } => {
                    attempts.push(NewAttempt {
                        id: attempt.as_str(),
                        notification_id: id,
                        channel: channel.as_str(),
                        sender: sender.as_str(),
                        sandbox: i64::from(*sandbox),
                    });
                    let event = Event::AttemptSending {
                        channel: *channel,
                        to: to_masked.clone(),
                        sandbox: *sandbox,
                    };
                    events.add(id, Some(attempt.as_str()), now, &Actor::System, &event)?;
                    cleared.push(attempt.clone());
                    NotificationStatus::Sending
                }
                NextState::Wait { status, .. } | NextState::Finish { status, .. } => *status,
            };
            if new_status != write.previous_status {
                let event = Event::StatusChanged {
                    from: write.previous_status,
                    to: new_status,
                };
                events.add(id, None, now, &Actor::System, &event)?;
            }
        }
        write_rows(
            &mut tx,
            "WITH v ({columns}) AS (VALUES {values}) \
             UPDATE attempts SET status = v.status, updated_at = $1 FROM v \
             WHERE attempts.id = v.id AND attempts.status IN ('sending', 'ambiguous', 'accepted', 'sent')",
            &[millis(now).into()],
            &verdicts,
        )
        .await?;
        write_rows(
            &mut tx,
            "WITH v ({columns}) AS (VALUES {values}) \
             INSERT INTO attempts ({columns}, status, created_at, updated_at) \
             SELECT {columns}, 'sending', $1, $1 FROM v",
            &[millis(now).into()],
            &attempts,
        )
        .await?;
        // A restricted topic's task opens as its notice is sent (held), others' when a
        // notification finishes undelivered (released).
        let mut tasks = Vec::new();
        for w in writes.iter().filter(|w| {
            let id = w.notification.as_str();
            held.contains(id) || released.contains(id)
        }) {
            let Some(reason) = &w.callback else {
                continue;
            };
            let task = CallbackTaskId::generate();
            let event = Event::CallbackOpened { task: task.clone() };
            events.add(w.notification.as_str(), None, now, &Actor::System, &event)?;
            tasks.push((task, w, reason));
        }
        let callbacks: Vec<NewCallback> = tasks
            .iter()
            .map(|(task, w, reason)| NewCallback {
                id: task.as_str(),
                notification_id: w.notification.as_str(),
                reason: reason.as_str(),
            })
            .collect();
        write_rows(
            &mut tx,
            "WITH v ({columns}) AS (VALUES {values}) \
             INSERT INTO callback_tasks (id, clinic_id, notification_id, patient_id, reason, status, created_at, updated_at) \
             SELECT v.id, n.clinic_id, n.id, n.patient_id, v.reason, 'open', $1, $1 \
             FROM v JOIN notifications n ON n.id = v.notification_id WHERE true \
             ON CONFLICT (notification_id) DO NOTHING",
            &[millis(now).into()],
            &callbacks,
        )
        .await?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(cleared)
    }
}

pub(super) fn release_row(
    write: &DispatchWrite,
    status: NotificationStatus,
    due: Option<Timestamp>,
    channel: Option<ChannelKind>,
) -> Release<'_> {
    Release {
        id: write.notification.as_str(),
        status: status.as_str(),
        due_at: due.map(millis),
        delivered_channel: channel.map(|c| c.as_str()),
    }
}

pub(super) fn returned_ids(rows: Vec<AnyRow>) -> Result<HashSet<String>, StoreError> {
    rows.iter()
        .map(|row| Ok(<(String,)>::from_row(row)?.0))
        .collect()
}
