//! What providers answered: each hand-over's outcome recorded, its notification's lease handed
//! back, and what the answer taught about the recipient or the clinic's account.

use std::collections::BTreeMap;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use medrelay_channels::segments::SmsEncoding;

use super::dispatch::{RELEASE, Release, returned_ids};
use super::events::EventBatch;
use super::facts::{LearnedFact, SuspensionWrite, remember_facts};
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

        let mut attempts = Vec::with_capacity(outcomes.len());
        let mut releases = Vec::with_capacity(outcomes.len());
        let mut events = EventBatch::default();
        let mut statuses = Vec::with_capacity(outcomes.len());
        for write in outcomes {
            let channel = write.channel;
            let unanswered = Outcome {
                id: write.attempt.as_str(),
                status: "",
                provider_message_id: None,
                accepted_at: None,
                deliver_by: None,
                error_code: None,
                error_text: None,
                retry_at: None,
                failed_at: None,
                sms_encoding: write.sms.map(|sms| sms.encoding.as_str()),
                sms_segments: write.sms.and_then(|sms| i64::try_from(sms.segments).ok()),
            };
            let (row, notification_status, due, event) = match &write.outcome {
                AttemptOutcome::Accepted {
                    provider_message_id,
                    deliver_by,
                } => (
                    Outcome {
                        status: AttemptStatus::Accepted.as_str(),
                        provider_message_id: Some(provider_message_id),
                        accepted_at: Some(at),
                        deliver_by: deliver_by.map(millis),
                        ..unanswered
                    },
                    if write.notice_follows {
                        NotificationStatus::Sending
                    } else {
                        NotificationStatus::Sent
                    },
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
                    Outcome {
                        status: AttemptStatus::Errored.as_str(),
                        error_code: Some(code),
                        error_text: Some(text),
                        retry_at: Some(millis(*retry_at)),
                        ..unanswered
                    },
                    NotificationStatus::Queued,
                    *retry_at,
                    Event::AttemptErrored {
                        channel,
                        error: provider_error(code, text),
                        retry_at: *retry_at,
                    },
                ),
                AttemptOutcome::RateLimited { retry_at } => (
                    Outcome {
                        status: AttemptStatus::RateLimited.as_str(),
                        error_text: Some("provider asked to slow down"),
                        retry_at: Some(millis(*retry_at)),
                        ..unanswered
                    },
                    NotificationStatus::Queued,
                    *retry_at,
                    Event::AttemptRateLimited {
                        channel,
                        retry_at: *retry_at,
                    },
                ),
                AttemptOutcome::Ambiguous { reason, deliver_by } => (
                    Outcome {
                        status: AttemptStatus::Ambiguous.as_str(),
                        error_text: Some(reason),
                        deliver_by: deliver_by.map(millis),
                        ..unanswered
                    },
                    NotificationStatus::Sending,
                    deliver_by.unwrap_or(now),
                    Event::AttemptAmbiguous {
                        channel,
                        cause: reason.clone(),
                    },
                ),
                AttemptOutcome::Failed { code, text } => (
                    Outcome {
                        status: AttemptStatus::Failed.as_str(),
                        error_code: Some(code),
                        error_text: Some(text),
                        failed_at: Some(at),
                        ..unanswered
                    },
                    NotificationStatus::Queued,
                    now,
                    Event::AttemptFailed {
                        channel,
                        error: provider_error(code, text),
                    },
                ),
            };
            attempts.push(row);
            // A notification a provider took is `sent` on that channel, and says so at once.
            let sent_on = matches!(write.outcome, AttemptOutcome::Accepted { .. });
            releases.push(Release {
                id: write.notification.as_str(),
                status: notification_status.as_str(),
                due_at: Some(millis(due)),
                delivered_channel: sent_on.then(|| channel.as_str()),
            });
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
            "WITH v ({columns}) AS (VALUES {values}) UPDATE attempts SET \
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
             FROM v WHERE attempts.id = v.id",
            &[at.into()],
            &attempts,
        )
        .await?;
        let released = returned_ids(
            write_rows(&mut tx, RELEASE, &[token.into(), at.into()], &releases).await?,
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
        let mut suspensions: BTreeMap<(&str, ChannelKind), Suspension> = BTreeMap::new();
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
                let row = Suspension {
                    clinic_id: clinic.as_str(),
                    channel: suspension.channel.as_str(),
                    reason: suspension.reason.as_str(),
                    until: millis(suspension.until),
                };
                suspensions.insert((clinic.as_str(), suspension.channel), row);
            }
        }
        write_rows(
            &mut tx,
            "WITH v ({columns}) AS (VALUES {values}) \
             INSERT INTO channel_suspensions ({columns}, since) SELECT {columns}, $1 FROM v WHERE true \
             ON CONFLICT (clinic_id, channel) DO UPDATE SET reason = excluded.reason, since = excluded.since, \
             until = excluded.until",
            &[at.into()],
            &suspensions.into_values().collect::<Vec<_>>(),
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
