//! What providers answered: each hand-over's outcome recorded, its notification's lease handed
//! back, and what the answer taught about the recipient or the clinic's account.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use medrelay_channels::segments::SmsEncoding;

use super::dispatch::{RELEASE, Release, returned_ids};
use super::events::EventBatch;
use super::facts::{LearnedFact, SuspensionWrite, remember_facts};
use super::notification_feed::with_feed_position;
use super::rows::{columns, write_rows};
use super::{Store, StoreError, lock_notifications, millis};
use crate::domain::{
    Actor, AttemptId, AttemptStatus, Event, NotificationId, NotificationStatus, ProviderError,
};

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
    /// A sensitive notification's content, handed over where no receipt follows: its notice is
    /// still to go, so the notification is still `sending`, not `sent`.
    pub notice_follows: bool,
}

columns! {
    /// What a provider answered about one attempt; absent values leave the attempt's own.
    struct Outcome<'a> {
        id: &'a str,
        status: &'a str,
        provider_message_id: Option<&'a str>,
        accepted_at: Option<i64>,
        deliver_by: Option<i64>,
        error_code: Option<&'a str>,
        error_text: Option<&'a str>,
        retry_at: Option<i64>,
        failed_at: Option<i64>,
        sms_encoding: Option<&'a str>,
        sms_segments: Option<i64>,
    }
}

columns! {
    struct Suspension<'a> {
        clinic_id: &'a str,
        channel: &'a str,
        reason: &'a str,
        until: i64,
    }
}

/// Records each provider answer on its attempt; values the answer lacks keep the attempt's own,
/// and only an attempt still `sending` takes the answer's status (a receipt may have come first).
const RECORD_ANSWERS: &str = "WITH v ({columns}) AS ({rows}) UPDATE attempts SET \
    status = CASE WHEN attempts.status = 'sending' THEN v.status ELSE attempts.status END, \
    provider_message_id = COALESCE(v.provider_message_id, attempts.provider_message_id), \
    accepted_at = COALESCE(v.accepted_at, attempts.accepted_at), \
    deliver_by = COALESCE(v.deliver_by, attempts.deliver_by), \
    error_code = COALESCE(v.error_code, attempts.error_code), \
    error_text = COALESCE(v.error_text, attempts.error_text), \
    retry_at = COALESCE(v.retry_at, attempts.retry_at), \
    failed_at = COALESCE(v.failed_at, attempts.failed_at), \
    sms_encoding = COALESCE(v.sms_encoding, attempts.sms_encoding), \
    sms_segments = COALESCE(v.sms_segments, attempts.sms_segments), \
    updated_at = $1 \
    FROM v WHERE attempts.id = v.id";

/// Pauses a clinic's channel, or moves an existing pause to the latest reason and end.
const SUSPEND_CHANNELS: &str = "WITH v ({columns}) AS ({rows}) \
    INSERT INTO channel_suspensions ({columns}, since) SELECT {columns}, $1 FROM v WHERE true \
    ON CONFLICT (clinic_id, channel) DO UPDATE SET reason = excluded.reason, since = excluded.since, \
    until = excluded.until";

impl Store {
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

        let mut events = EventBatch::default();
        for write in outcomes {
            let (id, attempt) = (write.notification.as_str(), Some(write.attempt.as_str()));
            events.add(id, attempt, now, &Actor::System, &write.answer_event())?;
        }
        let attempts: Vec<Outcome> = outcomes.iter().map(|w| w.attempt_row(at)).collect();
        write_rows(&mut tx, RECORD_ANSWERS, &[at.into()], &attempts).await?;
        let statuses: Vec<NotificationStatus> = outcomes.iter().map(|w| w.release(now).0).collect();
        let releases: Vec<Release> = outcomes.iter().map(|w| w.release_row(now)).collect();
        let release = with_feed_position(&tx, RELEASE);
        let released = returned_ids(
            write_rows(&mut tx, &release, &[token.into(), at.into()], &releases).await?,
        )?;
        add_status_changes(&mut events, outcomes, &statuses, &released, now)?;
        let suspensions = suspensions(&mut events, outcomes, now)?;
        write_rows(&mut tx, SUSPEND_CHANNELS, &[at.into()], &suspensions).await?;
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

impl OutcomeWrite {
    /// The attempt's row before the answer is known: only how an SMS was encoded.
    fn unanswered_row(&self) -> Outcome<'_> {
        Outcome {
            id: self.attempt.as_str(),
            status: "",
            provider_message_id: None,
            accepted_at: None,
            deliver_by: None,
            error_code: None,
            error_text: None,
            retry_at: None,
            failed_at: None,
            sms_encoding: self.sms.map(|sms| sms.encoding.as_str()),
            sms_segments: self.sms.and_then(|sms| i64::try_from(sms.segments).ok()),
        }
    }

    /// The attempt's row with what the provider answered, at `at`.
    fn attempt_row(&self, at: i64) -> Outcome<'_> {
        let unanswered = self.unanswered_row();
        match &self.outcome {
            AttemptOutcome::Accepted {
                provider_message_id,
                deliver_by,
            } => Outcome {
                status: AttemptStatus::Accepted.as_str(),
                provider_message_id: Some(provider_message_id),
                accepted_at: Some(at),
                deliver_by: deliver_by.map(millis),
                ..unanswered
            },
            AttemptOutcome::Errored {
                code,
                text,
                retry_at,
            } => Outcome {
                status: AttemptStatus::Errored.as_str(),
                error_code: Some(code),
                error_text: Some(text),
                retry_at: Some(millis(*retry_at)),
                ..unanswered
            },
            AttemptOutcome::RateLimited { retry_at } => Outcome {
                status: AttemptStatus::RateLimited.as_str(),
                error_text: Some("provider asked to slow down"),
                retry_at: Some(millis(*retry_at)),
                ..unanswered
            },
            AttemptOutcome::Ambiguous { reason, deliver_by } => Outcome {
                status: AttemptStatus::Ambiguous.as_str(),
                error_text: Some(reason),
                deliver_by: deliver_by.map(millis),
                ..unanswered
            },
            AttemptOutcome::Failed { code, text } => Outcome {
                status: AttemptStatus::Failed.as_str(),
                error_code: Some(code),
                error_text: Some(text),
                failed_at: Some(at),
                ..unanswered
            },
        }
    }

    /// The status the notification is handed back in, and when the dispatcher looks again: at
    /// the delivery deadline for a message a provider may hold, at the retry time for one to
    /// try again, at once for a failure to fall back from.
    fn release(&self, now: Timestamp) -> (NotificationStatus, Timestamp) {
        match &self.outcome {
            AttemptOutcome::Accepted { deliver_by, .. } if self.notice_follows => {
                (NotificationStatus::Sending, deliver_by.unwrap_or(now))
            }
            AttemptOutcome::Accepted { deliver_by, .. } => {
                (NotificationStatus::Sent, deliver_by.unwrap_or(now))
            }
            AttemptOutcome::Errored { retry_at, .. } | AttemptOutcome::RateLimited { retry_at } => {
                (NotificationStatus::Queued, *retry_at)
            }
            AttemptOutcome::Ambiguous { deliver_by, .. } => {
                (NotificationStatus::Sending, deliver_by.unwrap_or(now))
            }
            AttemptOutcome::Failed { .. } => (NotificationStatus::Queued, now),
        }
    }

    fn release_row(&self, now: Timestamp) -> Release<'_> {
        let (status, due) = self.release(now);
        // A notification a provider took is `sent` on that channel, and says so at once.
        let sent_on = matches!(self.outcome, AttemptOutcome::Accepted { .. });
        Release {
            id: self.notification.as_str(),
            status: status.as_str(),
            due_at: Some(millis(due)),
            delivered_channel: sent_on.then(|| self.channel.as_str()),
        }
    }

    /// The event saying what the provider answered.
    fn answer_event(&self) -> Event {
        let channel = self.channel;
        match &self.outcome {
            AttemptOutcome::Accepted {
                provider_message_id,
                ..
            } => Event::AttemptAccepted {
                channel,
                provider_message_id: provider_message_id.clone(),
            },
            AttemptOutcome::Errored {
                code,
                text,
                retry_at,
            } => Event::AttemptErrored {
                channel,
                error: provider_error(code, text),
                retry_at: *retry_at,
            },
            AttemptOutcome::RateLimited { retry_at } => Event::AttemptRateLimited {
                channel,
                retry_at: *retry_at,
            },
            AttemptOutcome::Ambiguous { reason, .. } => Event::AttemptAmbiguous {
                channel,
                cause: reason.clone(),
            },
            AttemptOutcome::Failed { code, text } => Event::AttemptFailed {
                channel,
                error: provider_error(code, text),
            },
        }
    }
}

/// Records each status change of a notification whose lease was still ours to hand back. An
/// ambiguous hand-over stays `sending`: no change happened, so none is recorded.
fn add_status_changes(
    events: &mut EventBatch,
    outcomes: &[OutcomeWrite],
    statuses: &[NotificationStatus],
    released: &HashSet<String>,
    now: Timestamp,
) -> Result<(), StoreError> {
    for (write, &status) in outcomes.iter().zip(statuses) {
        if released.contains(write.notification.as_str()) && status != NotificationStatus::Sending {
            let event = Event::StatusChanged {
                from: NotificationStatus::Sending,
                to: status,
            };
            let id = write.notification.as_str();
            events.add(id, None, now, &Actor::System, &event)?;
        }
    }
    Ok(())
}

/// The clinic channels to pause, one row per clinic and channel (the last answer wins), each
/// pause recorded as an event on the notification whose answer caused it.
fn suspensions<'a>(
    events: &mut EventBatch,
    outcomes: &'a [OutcomeWrite],
    now: Timestamp,
) -> Result<Vec<Suspension<'a>>, StoreError> {
    let mut suspensions: BTreeMap<(&str, ChannelKind), Suspension> = BTreeMap::new();
    for outcome in outcomes {
        let Some(SuspensionWrite { clinic, suspension }) = &outcome.suspend else {
            continue;
        };
        let event = Event::ChannelSuspended {
            channel: suspension.channel,
            until: suspension.until,
            cause: suspension.reason.clone(),
        };
        let (id, attempt) = (
            outcome.notification.as_str(),
            Some(outcome.attempt.as_str()),
        );
        events.add(id, attempt, now, &Actor::System, &event)?;
        let row = Suspension {
            clinic_id: clinic.as_str(),
            channel: suspension.channel.as_str(),
            reason: suspension.reason.as_str(),
            until: millis(suspension.until),
        };
        suspensions.insert((clinic.as_str(), suspension.channel), row);
    }
    Ok(suspensions.into_values().collect())
}

fn provider_error(code: &str, text: &str) -> ProviderError {
    ProviderError {
        code: code.to_owned(),
        text: text.to_owned(),
    }
}
