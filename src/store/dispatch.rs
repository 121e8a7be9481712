use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use medrelay_channels::segments::SmsEncoding;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::contents::record_contents;
use super::events::EventBatch;
use super::facts::{LearnedFact, SuspensionWrite, remember_facts};
use super::notifications::{NOTIFICATION_COLUMNS, status};
use super::rows::{Param, write_rows};
use super::{
    Backend, Store, StoreError, lock_notifications, millis, opt_timestamp, parse_stored,
    placeholders, timestamp,
};
use crate::domain::{
    Actor, AttemptContent, AttemptId, AttemptStatus, CallbackTaskId, ClinicId, Event,
    NotificationId, NotificationStatus, PatientId, Priority, ProviderError, Reason,
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

/// How the provider answered one hand-over.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Accepted {
        provider_message_id: String,
        deliver_by: Option<Timestamp>,
    },
    Errored {
        code: String,
        text: String,
        retry_at: Timestamp,
    },
    RateLimited {
        retry_at: Timestamp,
    },
    Failed {
        code: String,
        text: String,
    },
    /// No answer from the provider: it may or may not have the message.
    Ambiguous {
        reason: String,
        deliver_by: Option<Timestamp>,
    },
}

#[derive(Debug, Clone)]
pub struct OutcomeWrite {
    pub notification: NotificationId,
    pub attempt: AttemptId,
    pub channel: ChannelKind,
    pub outcome: AttemptOutcome,
    /// What the provider's answer taught us about the recipient.
    pub learned: Option<LearnedFact>,
    /// The clinic's channel to pause: its provider account is unusable.
    pub suspend: Option<SuspensionWrite>,
    /// How an SMS was encoded and how many segments it took.
    pub sms: Option<SmsEncoding>,
}

const CLAIM_POSTGRES: &str = "UPDATE notifications n SET lease_token = $1, due_at = $2, recheck = 0 \
    WHERE n.id IN (SELECT id FROM notifications WHERE due_at <= $3 ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
    RETURNING ";
const CLAIM_SQLITE: &str = "UPDATE notifications AS n SET lease_token = $1, due_at = $2, recheck = 0 \
    WHERE n.id IN (SELECT id FROM notifications WHERE due_at <= $3 ORDER BY due_at LIMIT $4) \
    RETURNING ";

/// Releasing leases, for rows (id, status, due_at, delivered channel) with `$1` the lease token
/// and `$2` now: an update that arrived while we held a lease means "look again now".
const RELEASE: &str = "UPDATE notifications SET status = v.column2, \
    due_at = CASE WHEN notifications.recheck = 1 THEN $2 ELSE v.column3 END, \
    delivered_channel = COALESCE(v.column4, notifications.delivered_channel), \
    lease_token = NULL, recheck = 0, updated_at = $2 \
    FROM (VALUES {values}) AS v WHERE notifications.id = v.column1 AND notifications.lease_token = $1 RETURNING id";

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
        let rows = sqlx::query(&sql)
            .bind(token)
            .bind(millis(lease_until))
            .bind(millis(now))
            .bind(i64::from(limit))
            .fetch_all(&self.write)
            .await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let priority: String = row.try_get("priority")?;
                let channel: Option<String> = row.try_get("channel")?;
                Ok(ClaimedNotification {
                    id: NotificationId::from_stored(row.try_get("id")?),
                    clinic_id: ClinicId::from_stored(row.try_get("clinic_id")?),
                    patient_id: PatientId::from_stored(row.try_get("patient_id")?),
                    topic: row.try_get("topic")?,
                    body: row.try_get("body")?,
                    template: row.try_get("template")?,
                    params: row.try_get("params")?,
                    channel: channel.map(|c| parse_stored(&c, "channel")).transpose()?,
                    priority: Priority::parse(&priority).unwrap_or(Priority::Normal),
                    send_at: timestamp(row.try_get("send_at")?)?,
                    expires_at: opt_timestamp(row.try_get("expires_at")?)?,
                    status: status(&row.try_get::<String, _>("status")?)?,
                    attempts: Vec::new(),
                })
            })
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
        let mut query = sqlx::query(&sql);
        for id in &ids {
            query = query.bind(*id);
        }
        let mut by_notification: HashMap<String, Vec<AttemptFacts>> = HashMap::new();
        for row in query.fetch_all(&self.read).await? {
            let status_text: String = row.try_get("status")?;
            by_notification
                .entry(row.try_get("notification_id")?)
                .or_default()
                .push(AttemptFacts {
                    id: AttemptId::from_stored(row.try_get("id")?),
                    channel: parse_stored(&row.try_get::<String, _>("channel")?, "channel")?,
                    status: AttemptStatus::parse(&status_text).ok_or_else(|| {
                        StoreError::Corrupt(format!("attempt status {status_text}"))
                    })?,
                    created_at: timestamp(row.try_get("created_at")?)?,
                    started_at: opt_timestamp(row.try_get("started_at")?)?,
                    retry_at: opt_timestamp(row.try_get("retry_at")?)?,
                    failed_at: opt_timestamp(row.try_get("failed_at")?)?,
                    deliver_by: opt_timestamp(row.try_get("deliver_by")?)?,
                    error_code: row.try_get("error_code")?,
                    error_text: row.try_get("error_text")?,
                });
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
        write_rows(
            &mut tx,
            "UPDATE notifications SET due_at = $2 \
             WHERE lease_token = $1 AND id IN (SELECT column1 FROM (VALUES {values}) AS v)",
            &[token.into(), millis(lease_until).into()],
            notifications.iter().map(|id| vec![(*id).into()]).collect(),
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
        let started = returned_ids(
            write_rows(
                &mut tx,
                "UPDATE attempts SET started_at = $1 FROM (VALUES {values}) AS v \
                 WHERE attempts.id = v.column1 AND attempts.status = 'sending' AND EXISTS \
                 (SELECT 1 FROM notifications n WHERE n.id = v.column2 AND n.lease_token = v.column3) \
                 RETURNING attempts.id",
                &[millis(now).into()],
                starts
                    .iter()
                    .map(|s| {
                        vec![
                            s.attempt.as_str().into(),
                            s.notification.as_str().into(),
                            s.token.as_str().into(),
                        ]
                    })
                    .collect(),
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
        write_rows(
            &mut tx,
            "UPDATE notifications SET lease_token = NULL, recheck = 0, due_at = $2 \
             WHERE lease_token = $1 AND recheck = 1 AND id IN (SELECT column1 FROM (VALUES {values}) AS v)",
            &[token.into(), millis(now).into()],
            writes.iter().map(|w| vec![w.notification.as_str().into()]).collect(),
        )
        .await?;
        let sends: Vec<Vec<Param>> = writes
            .iter()
            .filter(|w| matches!(w.next, NextState::Send { .. }))
            .map(|w| vec![w.notification.as_str().into()])
            .collect();
        let held = returned_ids(
            write_rows(
                &mut tx,
                "UPDATE notifications SET status = 'sending', updated_at = $2, due_at = $3 \
                 WHERE lease_token = $1 AND id IN (SELECT column1 FROM (VALUES {values}) AS v) RETURNING id",
                &[token.into(), millis(now).into(), millis(lease_until).into()],
                sends,
            )
            .await?,
        )?;
        let releases = writes
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
        let released = returned_ids(write_rows(&mut tx, RELEASE, &shared, releases).await?)?;

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
                verdicts.push(vec![
                    verdict.attempt.as_str().into(),
                    verdict.status.as_str().into(),
                ]);
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
                    attempts.push(vec![
                        attempt.as_str().into(),
                        id.into(),
                        channel.as_str().into(),
                        sender.as_str().into(),
                        i64::from(*sandbox).into(),
                    ]);
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
            "UPDATE attempts SET status = v.column2, updated_at = $1 FROM (VALUES {values}) AS v \
             WHERE attempts.id = v.column1 AND attempts.status IN ('sending', 'ambiguous', 'accepted', 'sent')",
            &[millis(now).into()],
            verdicts,
        )
        .await?;
        write_rows(
            &mut tx,
            "INSERT INTO attempts (id, notification_id, channel, sender, sandbox, status, created_at, updated_at) \
             SELECT column1, column2, column3, column4, column5, 'sending', $1, $1 FROM (VALUES {values}) AS v",
            &[millis(now).into()],
            attempts,
        )
        .await?;
        // A restricted topic's task opens as its notice is sent (held), others' when a
        // notification finishes undelivered (released).
        let mut callbacks = Vec::new();
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
            callbacks.push(vec![
                task.as_str().into(),
                w.notification.as_str().into(),
                reason.as_str().into(),
            ]);
        }
        write_rows(
            &mut tx,
            "INSERT INTO callback_tasks (id, clinic_id, notification_id, patient_id, reason, status, created_at, updated_at) \
             SELECT v.column1, n.clinic_id, n.id, n.patient_id, v.column3, 'open', $1, $1 \
             FROM (VALUES {values}) AS v JOIN notifications n ON n.id = v.column2 WHERE true \
             ON CONFLICT (notification_id) DO NOTHING",
            &[millis(now).into()],
            callbacks,
        )
        .await?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(cleared)
    }

    /// Records what providers answered, releasing each notification's lease.
    pub async fn record_outcomes(
        &self,
        token: &str,
        outcomes: &[OutcomeWrite],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        let ids: Vec<&str> = outcomes.iter().map(|o| o.notification.as_str()).collect();
        lock_notifications(self.backend, &mut tx, "{ids}", &ids).await?;
        let at = millis(now);

        let mut attempts = Vec::with_capacity(outcomes.len());
        let mut releases = Vec::with_capacity(outcomes.len());
        let mut events = EventBatch::default();
        let mut statuses = Vec::with_capacity(outcomes.len());
        for write in outcomes {
            let channel = write.channel;
            // (status, provider id, accepted at, deliver by, error code, error text, retry at, failed at)
            let (status, fields, notification_status, due, event): (_, [Param; 7], _, _, _) =
                match &write.outcome {
                    AttemptOutcome::Accepted {
                        provider_message_id,
                        deliver_by,
                    } => (
                        AttemptStatus::Accepted,
                        [
                            provider_message_id.as_str().into(),
                            at.into(),
                            deliver_by.map(millis).into(),
                            Param::Text(None),
                            Param::Text(None),
                            Param::Int(None),
                            Param::Int(None),
                        ],
                        NotificationStatus::Sent,
                        deliver_by.unwrap_or(now),
                        Event::AttemptAccepted {
                            channel,
                            provider_message_id: provider_message_id.clone(),
                        },
                    ),
                    AttemptOutcome::Errored {
                        code,
                        text,
                        retry_at,
                    } => (
                        AttemptStatus::Errored,
                        error_fields(Some(code), text, Some(millis(*retry_at)), None, None),
                        NotificationStatus::Queued,
                        *retry_at,
                        Event::AttemptErrored {
                            channel,
                            error: provider_error(code, text),
                            retry_at: *retry_at,
                        },
                    ),
                    AttemptOutcome::RateLimited { retry_at } => (
                        AttemptStatus::RateLimited,
                        error_fields(
                            None,
                            "provider asked to slow down",
                            Some(millis(*retry_at)),
                            None,
                            None,
                        ),
                        NotificationStatus::Queued,
                        *retry_at,
                        Event::AttemptRateLimited {
                            channel,
                            retry_at: *retry_at,
                        },
                    ),
                    AttemptOutcome::Ambiguous { reason, deliver_by } => (
                        AttemptStatus::Ambiguous,
                        error_fields(None, reason, None, None, deliver_by.map(millis)),
                        NotificationStatus::Sending,
                        deliver_by.unwrap_or(now),
                        Event::AttemptAmbiguous {
                            channel,
                            cause: reason.clone(),
                        },
                    ),
                    AttemptOutcome::Failed { code, text } => (
                        AttemptStatus::Failed,
                        error_fields(Some(code), text, None, Some(at), None),
                        NotificationStatus::Queued,
                        now,
                        Event::AttemptFailed {
                            channel,
                            error: provider_error(code, text),
                        },
                    ),
                };
            let mut row = vec![write.attempt.as_str().into(), status.as_str().into()];
            row.extend(fields);
            row.push(write.sms.map(|sms| sms.encoding.as_str()).into());
            row.push(
                write
                    .sms
                    .and_then(|sms| i64::try_from(sms.segments).ok())
                    .into(),
            );
            attempts.push(row);
            releases.push(vec![
                write.notification.as_str().into(),
                notification_status.as_str().into(),
                millis(due).into(),
                Param::Text(None),
            ]);
            events.add(
                write.notification.as_str(),
                Some(write.attempt.as_str()),
                now,
                &Actor::System,
                &event,
            )?;
            statuses.push(notification_status);
        }
        write_rows(
            &mut tx,
            "UPDATE attempts SET \
             status = CASE WHEN attempts.status = 'sending' THEN v.column2 ELSE attempts.status END, \
             provider_message_id = COALESCE(v.column3, attempts.provider_message_id), \
             accepted_at = COALESCE(v.column4, attempts.accepted_at), \
             deliver_by = COALESCE(v.column5, attempts.deliver_by), \
             error_code = COALESCE(v.column6, attempts.error_code), \
             error_text = COALESCE(v.column7, attempts.error_text), \
             retry_at = COALESCE(v.column8, attempts.retry_at), \
             failed_at = COALESCE(v.column9, attempts.failed_at), \
             sms_encoding = COALESCE(v.column10, attempts.sms_encoding), \
             sms_segments = COALESCE(v.column11, attempts.sms_segments), \
             updated_at = $1 \
             FROM (VALUES {values}) AS v WHERE attempts.id = v.column1",
            &[at.into()],
            attempts,
        )
        .await?;
        let released = returned_ids(
            write_rows(&mut tx, RELEASE, &[token.into(), at.into()], releases).await?,
        )?;
        for (write, status) in outcomes.iter().zip(statuses) {
            // An ambiguous hand-over stays `sending`: no change happened, so none is recorded.
            if released.contains(write.notification.as_str())
                && status != NotificationStatus::Sending
            {
                let event = Event::StatusChanged {
                    from: NotificationStatus::Sending,
                    to: status,
                };
                events.add(
                    write.notification.as_str(),
                    None,
                    now,
                    &Actor::System,
                    &event,
                )?;
            }
        }
        let mut suspensions: BTreeMap<(&str, ChannelKind), Vec<Param>> = BTreeMap::new();
        for outcome in outcomes {
            if let Some(SuspensionWrite { clinic, suspension }) = &outcome.suspend {
                let event = Event::ChannelSuspended {
                    channel: suspension.channel,
                    until: suspension.until,
                    cause: suspension.reason.clone(),
                };
                events.add(
                    outcome.notification.as_str(),
                    Some(outcome.attempt.as_str()),
                    now,
                    &Actor::System,
                    &event,
                )?;
                let row = vec![
                    clinic.as_str().into(),
                    suspension.channel.as_str().into(),
                    suspension.reason.as_str().into(),
                    millis(suspension.until).into(),
                ];
                suspensions.insert((clinic.as_str(), suspension.channel), row);
            }
        }
        write_rows(
            &mut tx,
            "INSERT INTO channel_suspensions (clinic_id, channel, reason, since, until) \
             SELECT column1, column2, column3, $1, column4 FROM (VALUES {values}) AS v WHERE true \
             ON CONFLICT (clinic_id, channel) DO UPDATE SET reason = excluded.reason, since = excluded.since, \
             until = excluded.until",
            &[at.into()],
            suspensions.into_values().collect(),
        )
        .await?;
        let learned = outcomes.iter().filter_map(|outcome| {
            let fact = outcome.learned.as_ref()?;
            Some((outcome.notification.as_str(), fact))
        });
        remember_facts(&mut tx, learned, at).await?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn provider_error(code: &str, text: &str) -> ProviderError {
    ProviderError {
        code: code.to_owned(),
        text: text.to_owned(),
    }
}

/// The outcome columns (provider id, accepted at, deliver by, error code, error text, retry at,
/// failed at) of a hand-over the provider did not accept.
fn error_fields(
    code: Option<&String>,
    text: &str,
    retry_at: Option<i64>,
    failed_at: Option<i64>,
    deliver_by: Option<i64>,
) -> [Param; 7] {
    [
        Param::Text(None),
        Param::Int(None),
        deliver_by.into(),
        code.cloned().into(),
        text.into(),
        retry_at.into(),
        failed_at.into(),
    ]
}

/// A row for [`RELEASE`]: notification id, new status, when to look again, delivering channel.
fn release_row(
    write: &DispatchWrite,
    status: NotificationStatus,
    due: Option<Timestamp>,
    channel: Option<ChannelKind>,
) -> Vec<Param> {
    vec![
        write.notification.as_str().into(),
        status.as_str().into(),
        due.map(millis).into(),
        channel.map(|c| c.as_str()).into(),
    ]
}

fn returned_ids(rows: Vec<AnyRow>) -> Result<HashSet<String>, StoreError> {
    rows.iter()
        .map(|row| Ok(row.try_get::<String, _>("id")?))
        .collect()
}
