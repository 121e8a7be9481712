use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use medrelay_channels::{ChannelKind, DeliveryState, RecipientFact};
use sqlx::FromRow;

use super::early_statuses;
use super::events::EventBatch;
use super::facts::{LearnedFact, remember_facts};
use super::notification_feed::with_feed_position;
use super::notifications::status as notification_status;
use super::rows::{Id, columns, write_rows};
use super::{Store, StoreError, lock_notifications, millis, parse_stored};
use crate::domain::{Actor, AttemptStatus, Event, ProviderError};

/// Delivery evidence from a provider about one attempt.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    /// Our attempt id, when the provider echoed it back. Meta does not promise to echo it on
    /// `failed`; then the attempt is found by `provider_message_id`.
    pub attempt_id: Option<String>,
    pub provider_message_id: String,
    pub state: DeliveryState,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    /// What a failure taught about the recipient, and until when to trust it.
    pub fact: Option<(RecipientFact, Timestamp)>,
    /// The senders of the provider account whose signature the update carried: it touches only
    /// attempts sent through one of them, so one clinic's account cannot speak for another's
    /// messages.
    pub senders: Arc<[String]>,
}

fn attempt_status(state: DeliveryState) -> AttemptStatus {
    match state {
        DeliveryState::Sent => AttemptStatus::Sent,
        DeliveryState::Delivered => AttemptStatus::Delivered,
        DeliveryState::Read => AttemptStatus::Read,
        DeliveryState::Failed => AttemptStatus::Failed,
    }
}

impl Store {
    /// Applies provider status updates in one transaction. Statuses only move forward: a repeat
    /// or a late, lesser status changes nothing and records nothing. Proof of delivery finishes a
    /// notification that was only waiting for it (`sent` → `delivered` → `read`); any other
    /// change flags the notification for the dispatcher to decide on (fallback after a failure,
    /// a late delivery, one it holds the lease on). Returns how many updates changed something.
    ///
    /// Each update touches only an attempt sent through one of its own `senders`.
    pub async fn apply_statuses(
        &self,
        updates: &[StatusUpdate],
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        let (updates, unknown) = addressed(&mut tx, updates).await?;
        early_statuses::keep(&mut tx, &unknown, now).await?;
        let attempt_ids: Vec<&str> = updates.iter().map(|u| u.attempt_id.as_str()).collect();
        let owners = "SELECT notification_id FROM attempts WHERE id IN ({ids})";
        lock_notifications(self.backend, &mut tx, owners, &attempt_ids).await?;

        // Each attempt with the state of its notification, in one read.
        let mut attempts: HashMap<String, TrackedAttempt<'_>> = HashMap::new();
        let mut notifications = HashMap::new();
        let lookup_ids: Vec<Id> = attempt_ids.iter().map(|id| Id { id }).collect();
        let lookup = write_rows(
            &mut tx,
            "WITH v ({columns}) AS ({rows}) SELECT a.id, a.notification_id, a.channel, a.sender, a.status, \
             a.provider_message_id, n.status AS notification_status, n.lease_token, \
             p.phone, p.email \
             FROM attempts a JOIN notifications n ON n.id = a.notification_id JOIN patients p ON p.id = n.patient_id \
             WHERE a.id IN (SELECT id FROM v)",
            &[],
            &lookup_ids,
        )
        .await?;
        for row in lookup {
            let row = LookupRow::from_row(&row)?;
            let status = AttemptStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Corrupt(format!("attempt status {}", row.status)))?;
            notifications.insert(
                row.notification_id.clone(),
                (row.notification_status, row.lease_token.is_some()),
            );
            let address = if row.channel == ChannelKind::Email.as_str() {
                row.email
            } else {
                row.phone
            };
            attempts.insert(
                row.id,
                TrackedAttempt {
                    notification: row.notification_id,
                    channel: row.channel,
                    sender: row.sender,
                    address,
                    status,
                    has_provider_message_id: row.provider_message_id.is_some(),
                    update: None,
                },
            );
        }

        let at = millis(now);
        let mut changed = 0;
        let mut finished = Vec::new();
        let mut pokes = Vec::new();
        let mut events = EventBatch::default();
        let mut learned = Vec::new();
        for Addressed { attempt_id, update } in &updates {
            let Some(attempt) = attempts.get_mut(attempt_id) else {
                continue;
            };
            if !update.senders.contains(&attempt.sender) {
                continue;
            }
            let new = attempt_status(update.state);
            if new.progress() <= attempt.status.progress() {
                continue;
            }
            let event = Event::DeliveryStatus {
                channel: parse_stored(&attempt.channel, "channel")?,
                status: new,
                error: match (&update.error_code, &update.error_text) {
                    (Some(code), Some(text)) => Some(ProviderError {
                        code: code.clone(),
                        text: text.clone(),
                    }),
                    _ => None,
                },
                after_timeout: attempt.status == AttemptStatus::TimedOut,
            };
            events.add(
                &attempt.notification,
                Some(attempt_id),
                now,
                &Actor::System,
                &event,
            )?;
            attempt.status = new;
            attempt.update = Some(update);
            changed += 1;
            if let (Some((fact, until)), Some(address), Ok(channel)) = (
                update.fact,
                &attempt.address,
                attempt.channel.parse::<ChannelKind>(),
            ) {
                learned.push((
                    attempt.notification.clone(),
                    LearnedFact {
                        address: address.clone(),
                        channel,
                        fact,
                        until,
                    },
                ));
            }
            if new == AttemptStatus::Sent {
                continue;
            }
            // Proof of delivery ends a notification that is only waiting for it, as
            // `policy::decide` would; anything else is for the dispatcher to decide.
            let Some((status, leased)) = notifications.get_mut(&attempt.notification) else {
                continue;
            };
            let waiting = matches!(status.as_str(), "sending" | "sent" | "delivered");
            if new.is_delivered() && waiting && !*leased {
                let next = if new == AttemptStatus::Read || status == "read" {
                    "read"
                } else {
                    "delivered"
                };
                if next != status {
                    let event = Event::StatusChanged {
                        from: notification_status(status)?,
                        to: notification_status(next)?,
                    };
                    events.add(&attempt.notification, None, now, &Actor::System, &event)?;
                    finished.push((attempt.notification.clone(), next, attempt.channel.clone()));
                    *status = next.to_owned();
                }
            } else {
                pokes.push(attempt.notification.clone());
            }
        }
        // One row per attempt, with where the batch's updates took it.
        let rows: Vec<Tracked> = attempts
            .iter()
            .filter_map(|(id, attempt)| {
                let update = attempt.update?;
                Some(Tracked {
                    id,
                    status: attempt.status.as_str(),
                    error_code: update.error_code.as_deref(),
                    error_text: update.error_text.as_deref(),
                })
            })
            .collect();
        // Only an update that overtook the hand-over's answer names the provider's id first.
        // The others leave the column out of the `SET` list: an index entry is rewritten for
        // every column a statement sets, changed or not, and these ids are random, so each
        // rewrite is another page of `attempts_provider_message` written.
        let learned_ids: Vec<LearnedProviderId> = attempts
            .iter()
            .filter(|(_, attempt)| !attempt.has_provider_message_id)
            .filter_map(|(id, attempt)| {
                Some(LearnedProviderId {
                    id,
                    provider_message_id: &attempt.update?.provider_message_id,
                })
            })
            .collect();
        write_rows(
            &mut tx,
            "WITH v ({columns}) AS ({rows}) UPDATE attempts \
             SET provider_message_id = v.provider_message_id \
             FROM v WHERE attempts.id = v.id AND attempts.provider_message_id IS NULL",
            &[],
            &learned_ids,
        )
        .await?;
        write_rows(
            &mut tx,
            "WITH v ({columns}) AS ({rows}) UPDATE attempts SET status = v.status, \
             delivered_at = CASE WHEN v.status IN ('delivered', 'read') THEN COALESCE(attempts.delivered_at, $1) \
                            ELSE attempts.delivered_at END, \
             read_at = CASE WHEN v.status = 'read' THEN $1 ELSE attempts.read_at END, \
             failed_at = CASE WHEN v.status = 'failed' THEN $1 ELSE attempts.failed_at END, \
             error_code = COALESCE(v.error_code, attempts.error_code), \
             error_text = COALESCE(v.error_text, attempts.error_text), updated_at = $1 \
             FROM v WHERE attempts.id = v.id",
            &[at.into()],
            &rows,
        )
        .await?;
        // A notification finished twice in one batch (delivered, then read) keeps the last row.
        let mut seen = std::collections::HashSet::new();
        let finished: Vec<Finished> = finished
            .iter()
            .rev()
            .filter(|(id, _, _)| seen.insert(id))
            .map(|(id, status, channel)| Finished {
                id,
                status,
                delivered_channel: channel,
            })
            .collect();
        let finish = with_feed_position(
            &tx,
            "WITH v ({columns}) AS ({rows}) UPDATE notification_states SET status = v.status, \
             delivered_channel = CASE WHEN notification_states.status IN ('delivered', 'read') \
             THEN notification_states.delivered_channel ELSE v.delivered_channel END, due_at = NULL, \
             updated_at = $1, {feed_position} FROM v \
             WHERE notification_states.id = v.id AND notification_states.lease_token IS NULL",
        );
        write_rows(&mut tx, &finish, &[at.into()], &finished).await?;
        let pokes: Vec<Id> = pokes.iter().map(|id| Id { id }).collect();
        write_rows(
            &mut tx,
            "WITH v ({columns}) AS ({rows}) \
             UPDATE notification_states SET recheck = 1, due_at = CASE WHEN lease_token IS NULL THEN $1 ELSE due_at END \
             WHERE id IN (SELECT id FROM v)",
            &[at.into()],
            &pokes,
        )
        .await?;
        remember_facts(
            &mut tx,
            learned
                .iter()
                .map(|(notification, fact)| (notification.as_str(), fact)),
            at,
        )
        .await?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(changed)
    }
}

/// A status update and the attempt it is about.
struct Addressed<'u> {
    attempt_id: String,
    update: &'u StatusUpdate,
}

columns! {
    /// A provider's id for one of our messages.
    struct ProviderMessage<'a> {
        provider_message_id: &'a str,
    }
}

/// Each update with the attempt it names: by our attempt id when the provider echoed it, else by
/// the provider's message id among the attempts sent through the update's senders. Apart, the
/// updates whose provider message id no attempt carries yet (they may have overtaken the
/// hand-over's answer); an update that names another account's attempt is left out.
async fn addressed<'u>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    updates: &'u [StatusUpdate],
) -> Result<(Vec<Addressed<'u>>, Vec<&'u StatusUpdate>), StoreError> {
    let unnamed: Vec<ProviderMessage> = updates
        .iter()
        .filter(|u| u.attempt_id.is_none())
        .map(|u| ProviderMessage {
            provider_message_id: &u.provider_message_id,
        })
        .collect();
    let rows = write_rows(
        tx,
        "WITH v ({columns}) AS ({rows}) SELECT id, provider_message_id, sender \
         FROM attempts WHERE provider_message_id IN (SELECT provider_message_id FROM v)",
        &[],
        &unnamed,
    )
    .await?;
    let mut by_provider_id: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for row in &rows {
        let (id, provider_message_id, sender) = <(String, String, String)>::from_row(row)?;
        by_provider_id
            .entry(provider_message_id)
            .or_default()
            .push((id, sender));
    }
    let mut named = Vec::with_capacity(updates.len());
    let mut unknown = Vec::new();
    for update in updates {
        let attempt_id = match &update.attempt_id {
            Some(id) => Some(id.clone()),
            None => match by_provider_id.get(&update.provider_message_id) {
                Some(sent) => sent
                    .iter()
                    .find(|(_, sender)| update.senders.contains(sender))
                    .map(|(id, _)| id.clone()),
                None => {
                    unknown.push(update);
                    None
                }
            },
        };
        if let Some(attempt_id) = attempt_id {
            named.push(Addressed { attempt_id, update });
        }
    }
    Ok((named, unknown))
}

columns! {
    /// Where a batch of updates took one attempt.
    struct Tracked<'a> {
        id: &'a str,
        status: &'a str,
        error_code: Option<&'a str>,
        error_text: Option<&'a str>,
    }
}

columns! {
    /// The provider's id for an attempt whose hand-over answer has not named it yet.
    struct LearnedProviderId<'a> {
        id: &'a str,
        provider_message_id: &'a str,
    }
}

columns! {
    /// A notification proof of delivery finished.
    struct Finished<'a> {
        id: &'a str,
        status: &'a str,
        delivered_channel: &'a str,
    }
}

/// An attempt a status update names, with its notification's state and the patient's addresses.
#[derive(sqlx::FromRow)]
struct LookupRow {
    id: String,
    notification_id: String,
    channel: String,
    sender: String,
    status: String,
    provider_message_id: Option<String>,
    notification_status: String,
    lease_token: Option<String>,
    phone: Option<String>,
    email: Option<String>,
}

struct TrackedAttempt<'a> {
    notification: String,
    channel: String,
    /// The account's sender it went through: only that account may report on it.
    sender: String,
    /// Where the attempt went: the patient's phone, or email for email.
    address: Option<String>,
    status: AttemptStatus,
    /// The hand-over's answer (or an earlier update) named the provider's id for it.
    has_provider_message_id: bool,
    /// The last update in this batch that moved it forward.
    update: Option<&'a StatusUpdate>,
}

impl Store {
    /// Records the key a patient pressed during a call (`1` confirms) on the call's notification.
    /// Returns `false` when no attempt with this id was made through one of `senders`.
    pub async fn record_call_reply(
        &self,
        attempt_id: &str,
        digits: &str,
        senders: &[String],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT notification_id, sender FROM attempts WHERE id = $1")
                .bind(attempt_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((notification, sender)) = row else {
            return Ok(false);
        };
        if !senders.contains(&sender) {
            return Ok(false);
        }
        let mut events = EventBatch::default();
        let event = Event::PatientPressed {
            digits: digits.to_owned(),
        };
        events.add(&notification, Some(attempt_id), now, &Actor::System, &event)?;
        events.write(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }
}
