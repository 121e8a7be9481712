//! The dispatcher's decisions recorded: leases held for a hand-over or handed back, earlier
//! attempts judged, new attempts and callback tasks opened, each step with its event.

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::dispatch::{DispatchWrite, NextState, RELEASE, Release, returned_ids};
use super::events::EventBatch;
use super::notification_feed::with_feed_position;
use super::rows::{Id, columns, write_rows};
use super::{Store, StoreError, lock_notifications, millis};
use crate::domain::{Actor, AttemptId, CallbackTaskId, Event, NotificationStatus};

/// Hands back, due now and untouched, notifications whose delivery evidence arrived while we
/// were deciding (`recheck`): the decision is stale and is made again.
const HAND_BACK_STALE: &str = "WITH v ({columns}) AS ({rows}) \
    UPDATE notification_states SET lease_token = NULL, lease_until = NULL, recheck = 0, due_at = $2 \
    WHERE lease_token = $1 AND recheck = 1 AND id IN (SELECT id FROM v)";

/// Keeps the lease on notifications about to be handed to a provider, until `$3`.
const HOLD_FOR_SENDING: &str = "WITH v ({columns}) AS ({rows}) \
    UPDATE notification_states SET status = 'sending', delivered_channel = NULL, updated_at = $2, due_at = $3, lease_until = $3, \
    {feed_position} \
    WHERE lease_token = $1 AND id IN (SELECT id FROM v) RETURNING id";

/// An attempt already finished by a receipt or a staff member keeps its status.
const JUDGE_ATTEMPTS: &str = "WITH v ({columns}) AS ({rows}) \
    UPDATE attempts SET status = v.status, updated_at = $1 FROM v \
    WHERE attempts.id = v.id AND attempts.status IN ('sending', 'ambiguous', 'accepted', 'sent')";

const OPEN_ATTEMPTS: &str = "WITH v ({columns}) AS ({rows}) \
    INSERT INTO attempts ({columns}, status, created_at, updated_at) \
    SELECT {columns}, 'sending', $1, $1 FROM v";

/// One task per notification: a decision made again opens none twice.
const OPEN_CALLBACKS: &str = "WITH v ({columns}) AS ({rows}) \
    INSERT INTO callback_tasks (id, clinic_id, notification_id, patient_id, reason, status, created_at, updated_at) \
    SELECT v.id, n.clinic_id, n.id, n.patient_id, v.reason, 'open', $1, $1 \
    FROM v JOIN notification_requests n ON n.id = v.notification_id WHERE true \
    ON CONFLICT (notification_id) DO NOTHING";

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
        let ours = settle_leases(&mut tx, token, writes, now, lease_until).await?;

        let mut events = EventBatch::default();
        let mut rows = DecisionRows::default();
        for write in &ours {
            rows.add(write, &mut events, now)?;
        }
        let at = [millis(now).into()];
        write_rows(&mut tx, JUDGE_ATTEMPTS, &at, &rows.verdicts).await?;
        write_rows(&mut tx, OPEN_ATTEMPTS, &at, &rows.attempts).await?;
        let tasks = open_callbacks(&ours, &mut events, now)?;
        let callbacks: Vec<NewCallback> = tasks
            .iter()
            .map(|(task, write, reason)| NewCallback {
                id: task.as_str(),
                notification_id: write.notification.as_str(),
                reason,
            })
            .collect();
        write_rows(&mut tx, OPEN_CALLBACKS, &at, &callbacks).await?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(rows.cleared)
    }
}

/// Keeps the lease on notifications to hand over and hands back the rest. Returns the decisions
/// on notifications still ours: a stale one (see [`HAND_BACK_STALE`]) or another's is not
/// recorded.
async fn settle_leases<'w>(
    tx: &mut Transaction<'_, Any>,
    token: &str,
    writes: &'w [DispatchWrite],
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Vec<&'w DispatchWrite>, StoreError> {
    let shared = [token.into(), millis(now).into()];
    let decided: Vec<Id> = writes
        .iter()
        .map(|w| Id {
            id: w.notification.as_str(),
        })
        .collect();
    write_rows(tx, HAND_BACK_STALE, &shared, &decided).await?;
    let sends: Vec<Id> = writes.iter().filter_map(send_row).collect();
    let hold = [token.into(), millis(now).into(), millis(lease_until).into()];
    let (hold_sql, release_sql) = (
        with_feed_position(tx, HOLD_FOR_SENDING),
        with_feed_position(tx, RELEASE),
    );
    let held = returned_ids(write_rows(tx, &hold_sql, &hold, &sends).await?)?;
    let releases: Vec<Release> = writes.iter().filter_map(release_row).collect();
    let released = returned_ids(write_rows(tx, &release_sql, &shared, &releases).await?)?;
    Ok(writes
        .iter()
        .filter(|w| {
            let id = w.notification.as_str();
            held.contains(id) || released.contains(id)
        })
        .collect())
}

fn send_row(write: &DispatchWrite) -> Option<Id<'_>> {
    matches!(write.next, NextState::Send { .. }).then(|| Id {
        id: write.notification.as_str(),
    })
}

/// The lease a decision to wait or to finish hands back; a send keeps it.
fn release_row(write: &DispatchWrite) -> Option<Release<'_>> {
    let (status, due, channel) = match &write.next {
        NextState::Send { .. } => return None,
        NextState::Wait { until, status } => (status, Some(*until), None),
        NextState::Finish { status, channel } => (status, None, *channel),
    };
    Some(Release {
        id: write.notification.as_str(),
        status: status.as_str(),
        due_at: due.map(millis),
        delivered_channel: channel.map(|c| c.as_str()),
    })
}

/// The rows a batch of decisions writes about attempts.
#[derive(Default)]
struct DecisionRows<'a> {
    verdicts: Vec<Verdict<'a>>,
    attempts: Vec<NewAttempt<'a>>,
    /// The new attempts, cleared to be handed to their provider.
    cleared: Vec<AttemptId>,
}

impl<'a> DecisionRows<'a> {
    /// Adds one decision: its verdicts on earlier attempts, its routing reasons, the attempt it
    /// opens and the notification's change of status, each with its event.
    fn add(
        &mut self,
        write: &'a DispatchWrite,
        events: &mut EventBatch,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let id = write.notification.as_str();
        for verdict in &write.verdicts {
            self.verdicts.push(Verdict {
                id: verdict.attempt.as_str(),
                status: verdict.status.as_str(),
            });
            let event = Event::AttemptVerdict {
                status: verdict.status,
                reason: verdict.reason.clone(),
            };
            let attempt = Some(verdict.attempt.as_str());
            events.add(id, attempt, now, &Actor::System, &event)?;
        }
        for reason in &write.reasons {
            let event = Event::Routing(reason.clone());
            events.add(id, None, now, &Actor::System, &event)?;
        }
        let new_status = self.open_attempt(write, events, now)?;
        if new_status != write.previous_status {
            let event = Event::StatusChanged {
                from: write.previous_status,
                to: new_status,
            };
            events.add(id, None, now, &Actor::System, &event)?;
        }
        Ok(())
    }

    /// Opens the attempt a decision to send makes; returns the status the decision leaves the
    /// notification in.
    fn open_attempt(
        &mut self,
        write: &'a DispatchWrite,
        events: &mut EventBatch,
        now: Timestamp,
    ) -> Result<NotificationStatus, StoreError> {
        let (attempt, channel, sender, to_masked, sandbox) = match &write.next {
            NextState::Send {
                attempt,
                channel,
                sender,
                to_masked,
                sandbox,
            } => (attempt, *channel, sender, to_masked, *sandbox),
            NextState::Wait { status, .. } | NextState::Finish { status, .. } => {
                return Ok(*status);
            }
        };
        let id = write.notification.as_str();
        self.attempts.push(NewAttempt {
            id: attempt.as_str(),
            notification_id: id,
            channel: channel.as_str(),
            sender: sender.as_str(),
            sandbox: i64::from(sandbox),
        });
        let event = Event::AttemptSending {
            channel,
            to: to_masked.clone(),
            sandbox,
        };
        events.add(id, Some(attempt.as_str()), now, &Actor::System, &event)?;
        self.cleared.push(attempt.clone());
        Ok(NotificationStatus::Sending)
    }
}

/// Opens the callback tasks the decisions ask for: a restricted topic's as its notice is sent
/// (held), others' when a notification finishes undelivered (released).
fn open_callbacks<'a>(
    ours: &[&'a DispatchWrite],
    events: &mut EventBatch,
    now: Timestamp,
) -> Result<Vec<(CallbackTaskId, &'a DispatchWrite, &'a str)>, StoreError> {
    let mut tasks = Vec::new();
    for &write in ours {
        let Some(reason) = &write.callback else {
            continue;
        };
        let task = CallbackTaskId::generate();
        let event = Event::CallbackOpened { task: task.clone() };
        let id = write.notification.as_str();
        events.add(id, None, now, &Actor::System, &event)?;
        tasks.push((task, write, reason.as_str()));
    }
    Ok(tasks)
}
