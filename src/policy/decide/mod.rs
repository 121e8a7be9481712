//! The next step for one notification: send, wait or finish, with the reasons why.

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use super::{ChannelPlan, PlannedChannel, SendTime};
use crate::clock::later;
use crate::domain::{
    AttemptId, AttemptStatus, NotificationStatus, Reason, UsedUp, no_channel_left,
};

mod parts;
mod situation;
#[cfg(test)]
mod tests;

pub use parts::decide_in_parts;
pub use situation::{AttemptFacts, DeliveryRules, NotificationFacts};
use situation::{describe_failure, is_final, is_unanswered_call};

/// What happens to the notification now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Hand it to this channel.
    Send(PlannedChannel),
    /// Nothing to do before `until`; the notification shows `status` meanwhile.
    Wait {
        until: Timestamp,
        status: NotificationStatus,
    },
    /// It has reached a final state.
    Finish {
        status: NotificationStatus,
        channel: Option<ChannelKind>,
    },
}

/// A change to an earlier attempt that the rules conclude from the passing of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptVerdict {
    pub attempt: AttemptId,
    pub status: AttemptStatus,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub step: Step,
    pub verdicts: Vec<AttemptVerdict>,
    /// Why, for the audit trail.
    pub reasons: Vec<Reason>,
    /// When no channel delivered and there is a number to call: hand the notification to staff
    /// as a callback task, with this reason.
    pub callback: Option<String>,
    /// A sensitive notification's notice: the channel its content was handed to, if one took it
    /// (see [`decide_in_parts`]); the notice tells the patient only that.
    pub content_went_by: Option<ChannelKind>,
}

impl Decision {
    fn new(step: Step, verdicts: Vec<AttemptVerdict>, reasons: Vec<Reason>) -> Self {
        Self {
            step,
            verdicts,
            reasons,
            callback: None,
            content_went_by: None,
        }
    }
}

/// The next step for one notification.
///
/// Order of the rules: delivery evidence wins over everything; a message a provider may still
/// deliver is waited for (one winner: no fallback while it can still arrive); then expiry and
/// `send_at`; then the first channel of the plan that is not used up is sent to, or waited for
/// while it backs off; with none left, the notification fails with every channel's story. Every
/// hand-over, a retry or a fallback too, waits for the messaging hours unless it is urgent.
pub fn decide(
    notification: &NotificationFacts,
    plan: &ChannelPlan,
    attempts: &[AttemptFacts],
    rules: &DeliveryRules,
    now: Timestamp,
) -> Decision {
    decide_part(
        notification,
        plan,
        attempts,
        rules,
        now,
        attempts.is_empty(),
    )
}

/// [`decide`] over one part of a notification: `plan` and `attempts` are that part's, and the
/// route is told with the first decision that acts on it when `tell_route`.
fn decide_part(
    notification: &NotificationFacts,
    plan: &ChannelPlan,
    attempts: &[AttemptFacts],
    rules: &DeliveryRules,
    now: Timestamp,
    tell_route: bool,
) -> Decision {
    // A final state stays final: late evidence is in the attempt's events, not a new status.
    if is_final(notification.status) {
        return Decision::new(
            Step::Finish {
                status: notification.status,
                channel: None,
            },
            Vec::new(),
            Vec::new(),
        );
    }
    if let Some(step) = delivered(attempts) {
        return Decision::new(step, Vec::new(), Vec::new());
    }

    let (verdicts, still_in_flight) = judge_in_flight(attempts, rules, now);
    if let Some(until) = still_in_flight {
        let reasons = verdicts.iter().map(|v| v.reason.clone()).collect();
        return Decision::new(
            Step::Wait {
                until,
                status: NotificationStatus::Sent,
            },
            verdicts,
            reasons,
        );
    }
    let mut reasons: Vec<Reason> = verdicts.iter().map(|v| v.reason.clone()).collect();
    let status_after = |a: &AttemptFacts| {
        verdicts
            .iter()
            .find(|v| v.attempt == a.id)
            .map_or(a.status, |v| v.status)
    };

    if let Some(expires_at) = notification.expires_at.filter(|e| *e <= now) {
        reasons.push(Reason::Expired { at: expires_at });
        return Decision::new(
            Step::Finish {
                status: NotificationStatus::Expired,
                channel: None,
            },
            verdicts,
            reasons,
        );
    }
    if notification.send_at > now {
        return Decision::new(
            Step::Wait {
                until: notification.send_at,
                status: NotificationStatus::Scheduled,
            },
            verdicts,
            reasons,
        );
    }

    // The route is told with the first decision that acts on it, not with a deferral.
    let route: Vec<Reason> = if tell_route {
        std::iter::once(Reason::Route {
            source: plan.source.clone(),
        })
        .chain(plan.skipped.iter().cloned())
        .collect()
    } else {
        Vec::new()
    };
    // Why a channel can carry no more tries, if it cannot.
    let used_up = |channel: ChannelKind| -> Option<Reason> {
        let on_channel: Vec<&AttemptFacts> =
            attempts.iter().filter(|a| a.channel == channel).collect();
        let unanswered = on_channel
            .iter()
            .filter(|a| is_unanswered_call(a, status_after(a)))
            .count();
        if unanswered >= 2 {
            return Some(Reason::UsedUp {
                channel,
                how: UsedUp::NotAnswered { times: unanswered },
            });
        }
        if let Some(failed) = on_channel.iter().find(|a| {
            matches!(
                status_after(a),
                AttemptStatus::Failed | AttemptStatus::TimedOut
            ) && !is_unanswered_call(a, status_after(a))
        }) {
            return Some(Reason::UsedUp {
                channel,
                how: describe_failure(failed, status_after(failed)),
            });
        }
        let errors = on_channel
            .iter()
            .filter(|a| a.status == AttemptStatus::Errored)
            .count();
        (errors >= rules.max_tries_per_channel as usize).then_some(Reason::UsedUp {
            channel,
            how: UsedUp::Errored { times: errors },
        })
    };
    // Every channel tried so far that is used up, in the order they were tried, whether or not
    // the plan still lists it (a provider may have taught us to skip it since).
    let mut tried: Vec<ChannelKind> = Vec::new();
    for attempt in attempts {
        if !tried.contains(&attempt.channel) {
            tried.push(attempt.channel);
        }
    }
    let story: Vec<Reason> = tried.into_iter().filter_map(used_up).collect();

    for planned in &plan.channels {
        if used_up(planned.channel).is_some() {
            continue;
        }
        let next_try = |a: &AttemptFacts| match a.retry_at {
            Some(at) => Some(at),
            None if is_unanswered_call(a, status_after(a)) => a
                .failed_at
                .map(|failed| later(failed, rules.unanswered_call_retry_after)),
            None => None,
        };
        if let Some(retry_at) = attempts
            .iter()
            .rfind(|a| a.channel == planned.channel)
            .and_then(next_try)
            .filter(|t| *t > now)
        {
            return Decision::new(
                Step::Wait {
                    until: retry_at,
                    status: NotificationStatus::Queued,
                },
                verdicts,
                reasons,
            );
        }
        let (held, reason) =
            match notification
                .hours
                .send_time(notification.priority, now, notification.expires_at)
            {
                SendTime::Now { note } => {
                    reasons.extend(route);
                    reasons.extend(note);
                    if !story.is_empty() {
                        reasons.push(Reason::FallingBack {
                            to: planned.channel,
                            after: story,
                        });
                    }
                    return Decision::new(Step::Send(planned.clone()), verdicts, reasons);
                }
                SendTime::Defer { until, reason } => (
                    Step::Wait {
                        until,
                        status: NotificationStatus::Scheduled,
                    },
                    reason,
                ),
                SendTime::Expire { reason, .. } => (finish(NotificationStatus::Expired), reason),
                SendTime::Fail { reason } => (finish(NotificationStatus::Failed), reason),
            };
        reasons.push(reason);
        return Decision::new(held, verdicts, reasons);
    }

    reasons.extend(route);
    // A paused channel comes back: wait for it rather than give up on the patient.
    if let Some(until) = plan.suspended_until.filter(|u| *u > now) {
        reasons.push(Reason::WaitingForSuspendedChannel { until });
        return Decision::new(
            Step::Wait {
                until,
                status: NotificationStatus::Queued,
            },
            verdicts,
            reasons,
        );
    }
    let mut story = story;
    if attempts.is_empty() || story.is_empty() {
        story.extend(plan.skipped.iter().cloned());
    }
    let why = no_channel_left(&story);
    reasons.push(Reason::NoChannelLeft { story });
    let mut decision = Decision::new(
        Step::Finish {
            status: NotificationStatus::Failed,
            channel: None,
        },
        verdicts,
        reasons,
    );
    decision.callback = plan.callback_possible.then_some(why);
    decision
}

fn finish(status: NotificationStatus) -> Step {
    Step::Finish {
        status,
        channel: None,
    }
}

/// Delivered or read on some channel; for email, accepted by the mail server.
fn delivered(attempts: &[AttemptFacts]) -> Option<Step> {
    if let Some(first) = attempts.iter().find(|a| a.status.is_delivered()) {
        let read = attempts.iter().any(|a| a.status == AttemptStatus::Read);
        let status = if read {
            NotificationStatus::Read
        } else {
            NotificationStatus::Delivered
        };
        return Some(Step::Finish {
            status,
            channel: Some(first.channel),
        });
    }
    attempts
        .iter()
        .find(|a| {
            !a.channel.reports_delivery()
                && matches!(a.status, AttemptStatus::Accepted | AttemptStatus::Sent)
        })
        .map(|a| Step::Finish {
            status: NotificationStatus::Sent,
            channel: Some(a.channel),
        })
}

/// Attempts a provider may still deliver: past their delivery deadline they time out; a hand-over
/// found unfinished (its dispatcher died) after its request started becomes ambiguous and is
/// waited for like an accepted one, because sending it again risks the patient getting it twice;
/// one whose request never started is unsent, and goes again at once. Returns the verdicts and
/// the earliest deadline still ahead.
fn judge_in_flight(
    attempts: &[AttemptFacts],
    rules: &DeliveryRules,
    now: Timestamp,
) -> (Vec<AttemptVerdict>, Option<Timestamp>) {
    let mut verdicts = Vec::new();
    let mut wait_until: Option<Timestamp> = None;
    for attempt in attempts.iter().filter(|a| a.status.is_in_flight()) {
        if attempt.status == AttemptStatus::Sending && attempt.started_at.is_none() {
            verdicts.push(AttemptVerdict {
                attempt: attempt.id.clone(),
                status: AttemptStatus::Unsent,
                reason: Reason::HandOverNotStarted {
                    channel: attempt.channel,
                },
            });
            continue;
        }
        let Some(timeout) = rules.timeouts.for_channel(attempt.channel) else {
            // No receipt will ever come to settle it, so an interrupted hand-over on a channel
            // without receipts is given up at once: fall back rather than risk a second copy.
            if matches!(
                attempt.status,
                AttemptStatus::Sending | AttemptStatus::Ambiguous
            ) {
                verdicts.push(AttemptVerdict {
                    attempt: attempt.id.clone(),
                    status: AttemptStatus::TimedOut,
                    reason: Reason::UnsettledWithoutReceipt {
                        channel: attempt.channel,
                    },
                });
            }
            continue;
        };
        // The provider's window opens when the request is written, not when the attempt was
        // decided: a hand-over may wait its turn at the sender's rate for longer than the timeout.
        let deadline = attempt
            .deliver_by
            .unwrap_or_else(|| later(attempt.started_at.unwrap_or(attempt.created_at), timeout));
        if deadline <= now {
            verdicts.push(AttemptVerdict {
                attempt: attempt.id.clone(),
                status: AttemptStatus::TimedOut,
                reason: Reason::NoReceiptInTime {
                    channel: attempt.channel,
                    secs: timeout.as_secs(),
                },
            });
            continue;
        }
        if attempt.status == AttemptStatus::Sending {
            verdicts.push(AttemptVerdict {
                attempt: attempt.id.clone(),
                status: AttemptStatus::Ambiguous,
                reason: Reason::HandOverInterrupted {
                    channel: attempt.channel,
                    waiting_until: deadline,
                },
            });
        }
        wait_until = Some(wait_until.map_or(deadline, |w| w.min(deadline)));
    }
    (verdicts, wait_until)
}
