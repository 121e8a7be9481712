use std::time::Duration;

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use super::{ChannelPlan, MessagingHours, PlannedChannel, SendTime};
use crate::config::DeliveryTimeouts;
use crate::domain::{AttemptId, AttemptStatus, NotificationStatus, Priority};

/// What the rules need to know about the notification itself.
#[derive(Debug, Clone)]
pub struct NotificationFacts {
    pub status: NotificationStatus,
    pub priority: Priority,
    pub send_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    /// When the clinic and the patient allow it to go.
    pub hours: MessagingHours,
}

/// One earlier try, as stored.
#[derive(Debug, Clone)]
pub struct AttemptFacts {
    pub id: AttemptId,
    pub channel: ChannelKind,
    pub status: AttemptStatus,
    pub created_at: Timestamp,
    /// When its request to the provider began; `None` for a hand-over that never started.
    pub started_at: Option<Timestamp>,
    pub retry_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub deliver_by: Option<Timestamp>,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
}

/// Limits that shape retries and fallback.
#[derive(Debug, Clone)]
pub struct DeliveryRules {
    pub max_tries_per_channel: u32,
    pub timeouts: DeliveryTimeouts,
    /// A call that was busy or not answered is made once more after this long.
    pub unanswered_call_retry_after: Duration,
}

/// A call that rang out or was busy: worth one more try later, unlike a failed one.
fn is_unanswered_call(attempt: &AttemptFacts, status: AttemptStatus) -> bool {
    attempt.channel == ChannelKind::Voice
        && status == AttemptStatus::Failed
        && matches!(attempt.error_code.as_deref(), Some("busy" | "no-answer"))
}

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
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub step: Step,
    pub verdicts: Vec<AttemptVerdict>,
    /// Why, in words for the audit trail.
    pub reasons: Vec<String>,
    /// When no channel delivered and there is a number to call: hand the notification to staff
    /// as a callback task, with this reason.
    pub callback: Option<String>,
}

impl Decision {
    fn new(step: Step, verdicts: Vec<AttemptVerdict>, reasons: Vec<String>) -> Self {
        Self {
            step,
            verdicts,
            reasons,
            callback: None,
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
    let mut reasons: Vec<String> = verdicts.iter().map(|v| v.reason.clone()).collect();
    let status_after = |a: &AttemptFacts| {
        verdicts
            .iter()
            .find(|v| v.attempt == a.id)
            .map_or(a.status, |v| v.status)
    };

    if let Some(expires_at) = notification.expires_at.filter(|e| *e <= now) {
        reasons.push(format!(
            "expired at {expires_at} before it could be delivered"
        ));
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
    let route: Vec<String> = if attempts.is_empty() {
        std::iter::once(format!("route: {}", plan.source))
            .chain(plan.skipped.iter().cloned())
            .collect()
    } else {
        Vec::new()
    };
    // Why a channel can carry no more tries, if it cannot.
    let used_up = |channel: ChannelKind| -> Option<String> {
        let on_channel: Vec<&AttemptFacts> =
            attempts.iter().filter(|a| a.channel == channel).collect();
        let unanswered = on_channel
            .iter()
            .filter(|a| is_unanswered_call(a, status_after(a)))
            .count();
        if unanswered >= 2 {
            return Some(format!("{channel} not answered {unanswered} times"));
        }
        if let Some(failed) = on_channel.iter().find(|a| {
            matches!(
                status_after(a),
                AttemptStatus::Failed | AttemptStatus::TimedOut
            ) && !is_unanswered_call(a, status_after(a))
        }) {
            return Some(format!(
                "{channel} {}",
                describe_failure(failed, status_after(failed))
            ));
        }
        let errors = on_channel
            .iter()
            .filter(|a| a.status == AttemptStatus::Errored)
            .count();
        (errors >= rules.max_tries_per_channel as usize)
            .then(|| format!("{channel} failed {errors} times"))
    };
    // Every channel tried so far that is used up, in the order they were tried, whether or not
    // the plan still lists it (a provider may have taught us to skip it since).
    let mut tried: Vec<ChannelKind> = Vec::new();
    for attempt in attempts {
        if !tried.contains(&attempt.channel) {
            tried.push(attempt.channel);
        }
    }
    let story: Vec<String> = tried.into_iter().filter_map(used_up).collect();

    for planned in &plan.channels {
        if used_up(planned.channel).is_some() {
            continue;
        }
        let next_try = |a: &AttemptFacts| match a.retry_at {
            Some(at) => Some(at),
            None if is_unanswered_call(a, status_after(a)) => a
                .failed_at
                .map(|failed| add(failed, rules.unanswered_call_retry_after)),
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
                        reasons.push(format!(
                            "falling back to {} after {}",
                            planned.channel,
                            story.join("; ")
                        ));
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
        reasons.push(format!("waiting until {until} for a suspended channel"));
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
    let why = if story.is_empty() {
        "no channel to try".to_owned()
    } else {
        format!("no channel left to try ({})", story.join("; "))
    };
    reasons.push(format!("failed: {why}"));
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

fn is_final(status: NotificationStatus) -> bool {
    matches!(
        status,
        NotificationStatus::Failed | NotificationStatus::Cancelled | NotificationStatus::Expired
    )
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
                reason: format!(
                    "{} hand-over was interrupted before its request started; the provider never had it, sending again",
                    attempt.channel
                ),
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
                    reason: format!(
                        "{} hand-over is unsettled and {} has no delivery receipt; not resending on it",
                        attempt.channel, attempt.channel
                    ),
                });
            }
            continue;
        };
        // The provider's window opens when the request is written, not when the attempt was
        // decided: a hand-over may wait its turn at the sender's rate for longer than the timeout.
        let deadline = attempt
            .deliver_by
            .unwrap_or_else(|| add(attempt.started_at.unwrap_or(attempt.created_at), timeout));
        if deadline <= now {
            verdicts.push(AttemptVerdict {
                attempt: attempt.id.clone(),
                status: AttemptStatus::TimedOut,
                reason: format!(
                    "{} timed out: no delivery receipt within {}s",
                    attempt.channel,
                    timeout.as_secs()
                ),
            });
            continue;
        }
        if attempt.status == AttemptStatus::Sending {
            verdicts.push(AttemptVerdict {
                attempt: attempt.id.clone(),
                status: AttemptStatus::Ambiguous,
                reason: format!(
                    "{} hand-over was interrupted; not resending, waiting for the provider's status until {deadline}",
                    attempt.channel
                ),
            });
        }
        wait_until = Some(wait_until.map_or(deadline, |w| w.min(deadline)));
    }
    (verdicts, wait_until)
}

fn describe_failure(attempt: &AttemptFacts, status: AttemptStatus) -> String {
    match (status, &attempt.error_code, &attempt.error_text) {
        (AttemptStatus::TimedOut, _, _) => "timed out".to_owned(),
        (_, Some(code), Some(text)) => format!("failed ({code}: {text})"),
        (_, None, Some(text)) => format!("failed ({text})"),
        (_, Some(code), None) => format!("failed ({code})"),
        (_, None, None) => "failed".to_owned(),
    }
}

fn add(at: Timestamp, by: Duration) -> Timestamp {
    let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millisecond(at.as_millisecond().saturating_add(millis))
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use medrelay_channels::Recipient;

    use super::*;
    use crate::domain::ClinicHours;
    use crate::policy::channel_plan::tests::{clinic, default_plan, patient};
    use crate::policy::{WhatsAppContent, channel_plan};

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn rules() -> DeliveryRules {
        DeliveryRules {
            max_tries_per_channel: 3,
            unanswered_call_retry_after: Duration::from_secs(600),
            timeouts: DeliveryTimeouts {
                whatsapp_ms: 600_000,
                sms_ms: 900_000,
                voice_ms: 300_000,
            },
        }
    }

    fn due_now() -> NotificationFacts {
        NotificationFacts {
            status: NotificationStatus::Queued,
            priority: Priority::Normal,
            send_at: at("2026-11-26T08:00:00Z"),
            expires_at: None,
            hours: hours(ClinicHours::always_open()),
        }
    }

    /// `clinic` hours in Jerusalem, for a patient there with the clinic's quiet hours.
    fn hours(clinic: ClinicHours) -> MessagingHours {
        let jerusalem = jiff::tz::TimeZone::get("Asia/Jerusalem").expect("zone");
        MessagingHours {
            quiet_hours: clinic.patient_quiet_hours(),
            clinic: std::sync::Arc::new(clinic),
            clinic_zone: jerusalem.clone(),
            patient_zone: jerusalem,
        }
    }

    /// Due now, under the Israeli default hours.
    fn israeli_due_now() -> NotificationFacts {
        NotificationFacts {
            hours: hours(ClinicHours::israeli_default()),
            ..due_now()
        }
    }

    fn attempt(channel: ChannelKind, status: AttemptStatus, created: &str) -> AttemptFacts {
        AttemptFacts {
            id: AttemptId::generate(),
            channel,
            status,
            created_at: at(created),
            started_at: Some(at(created)),
            retry_at: None,
            failed_at: None,
            deliver_by: None,
            error_code: None,
            error_text: None,
        }
    }

    fn plan() -> ChannelPlan {
        default_plan(&patient())
    }

    const NOW: &str = "2026-11-26T10:00:00Z";

    #[test]
    fn a_new_notification_goes_to_the_first_planned_channel_with_the_route_explained() {
        let decision = decide(&due_now(), &plan(), &[], &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Send(PlannedChannel {
                channel: ChannelKind::Whatsapp,
                to: Recipient::Phone("+972541234567".into())
            })
        );
        assert_eq!(
            decision.reasons,
            ["route: clinic default order: whatsapp, sms, email"]
        );
    }

    #[test]
    fn a_permanent_failure_falls_back_to_the_next_channel() {
        let mut failed = attempt(
            ChannelKind::Whatsapp,
            AttemptStatus::Failed,
            "2026-11-26T09:59:00Z",
        );
        failed.error_code = Some("131026".into());
        failed.error_text = Some("recipient is not a WhatsApp user".into());
        let decision = decide(&due_now(), &plan(), &[failed], &rules(), at(NOW));
        assert!(matches!(&decision.step, Step::Send(p) if p.channel == ChannelKind::Sms));
        assert_eq!(
            decision.reasons,
            [
                "falling back to sms after whatsapp failed (131026: recipient is not a WhatsApp user)"
            ]
        );
    }

    #[test]
    fn an_accepted_message_is_waited_for_until_its_delivery_deadline() {
        let mut accepted = attempt(
            ChannelKind::Whatsapp,
            AttemptStatus::Accepted,
            "2026-11-26T09:59:00Z",
        );
        accepted.deliver_by = Some(at("2026-11-26T10:09:00Z"));
        let decision = decide(&due_now(), &plan(), &[accepted], &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Wait {
                until: at("2026-11-26T10:09:00Z"),
                status: NotificationStatus::Sent
            }
        );
        assert!(decision.verdicts.is_empty());
    }

    #[test]
    fn no_delivery_receipt_in_time_times_out_and_falls_back() {
        let mut accepted = attempt(
            ChannelKind::Whatsapp,
            AttemptStatus::Sent,
            "2026-11-26T09:40:00Z",
        );
        accepted.deliver_by = Some(at("2026-11-26T09:50:00Z"));
        let id = accepted.id.clone();
        let decision = decide(&due_now(), &plan(), &[accepted], &rules(), at(NOW));
        assert!(matches!(&decision.step, Step::Send(p) if p.channel == ChannelKind::Sms));
        assert_eq!(decision.verdicts.len(), 1);
        assert_eq!(decision.verdicts[0].attempt, id);
        assert_eq!(decision.verdicts[0].status, AttemptStatus::TimedOut);
        assert_eq!(
            decision.reasons,
            [
                "whatsapp timed out: no delivery receipt within 600s",
                "falling back to sms after whatsapp timed out"
            ]
        );
    }

    #[test]
    fn an_interrupted_hand_over_is_not_resent_but_waited_for() {
        let sending = attempt(
            ChannelKind::Whatsapp,
            AttemptStatus::Sending,
            "2026-11-26T09:58:00Z",
        );
        let decision = decide(&due_now(), &plan(), &[sending], &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Wait {
                until: at("2026-11-26T10:08:00Z"),
                status: NotificationStatus::Sent
            }
        );
        assert_eq!(decision.verdicts[0].status, AttemptStatus::Ambiguous);
    }

    #[test]
    fn an_interrupted_email_hand_over_falls_back_instead_of_resending() {
        let mut patient = patient();
        patient.channels = vec![ChannelKind::Email, ChannelKind::Sms];
        let plan = default_plan(&patient);
        let sending = attempt(
            ChannelKind::Email,
            AttemptStatus::Sending,
            "2026-11-26T09:58:00Z",
        );
        let decision = decide(&due_now(), &plan, &[sending], &rules(), at(NOW));
        assert!(matches!(&decision.step, Step::Send(p) if p.channel == ChannelKind::Sms));
        assert_eq!(decision.verdicts[0].status, AttemptStatus::TimedOut);
    }

    #[test]
    fn an_interrupted_hand_over_whose_request_never_started_goes_again_at_once() {
        let mut claimed = attempt(
            ChannelKind::Whatsapp,
            AttemptStatus::Sending,
            "2026-11-26T09:58:00Z",
        );
        claimed.started_at = None;
        let decision = decide(&due_now(), &plan(), &[claimed], &rules(), at(NOW));
        assert!(matches!(&decision.step, Step::Send(p) if p.channel == ChannelKind::Whatsapp));
        assert_eq!(decision.verdicts[0].status, AttemptStatus::Unsent);
    }

    #[test]
    fn an_interrupted_hand_over_is_waited_for_from_when_its_request_started() {
        let mut sending = attempt(
            ChannelKind::Whatsapp,
            AttemptStatus::Sending,
            "2026-11-26T09:40:00Z",
        );
        sending.started_at = Some(at("2026-11-26T09:58:00Z"));
        let decision = decide(&due_now(), &plan(), &[sending], &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Wait {
                until: at("2026-11-26T10:08:00Z"),
                status: NotificationStatus::Sent
            }
        );
    }

    #[test]
    fn an_interrupted_email_whose_request_never_started_goes_again_on_email() {
        let mut patient = patient();
        patient.channels = vec![ChannelKind::Email, ChannelKind::Sms];
        let plan = default_plan(&patient);
        let mut claimed = attempt(
            ChannelKind::Email,
            AttemptStatus::Sending,
            "2026-11-26T09:58:00Z",
        );
        claimed.started_at = None;
        let decision = decide(&due_now(), &plan, &[claimed], &rules(), at(NOW));
        assert!(matches!(&decision.step, Step::Send(p) if p.channel == ChannelKind::Email));
        assert_eq!(decision.verdicts[0].status, AttemptStatus::Unsent);
    }

    #[test]
    fn unsent_hand_overs_are_not_counted_as_tries() {
        let unsent: Vec<AttemptFacts> = (0..rules().max_tries_per_channel)
            .map(|_| {
                attempt(
                    ChannelKind::Whatsapp,
                    AttemptStatus::Unsent,
                    "2026-11-26T09:58:00Z",
                )
            })
            .collect();
        let decision = decide(&due_now(), &plan(), &unsent, &rules(), at(NOW));
        assert!(matches!(&decision.step, Step::Send(p) if p.channel == ChannelKind::Whatsapp));
        assert!(decision.verdicts.is_empty());
    }

    #[test]
    fn a_transient_error_retries_the_same_channel_after_the_backoff() {
        let mut errored = attempt(
            ChannelKind::Whatsapp,
            AttemptStatus::Errored,
            "2026-11-26T09:59:58Z",
        );
        errored.retry_at = Some(at("2026-11-26T10:00:02Z"));
        let waiting = decide(
            &due_now(),
            &plan(),
            std::slice::from_ref(&errored),
            &rules(),
            at(NOW),
        );
        assert_eq!(
            waiting.step,
            Step::Wait {
                until: at("2026-11-26T10:00:02Z"),
                status: NotificationStatus::Queued
            }
        );
        let retrying = decide(
            &due_now(),
            &plan(),
            &[errored],
            &rules(),
            at("2026-11-26T10:00:02Z"),
        );
        assert!(matches!(&retrying.step, Step::Send(p) if p.channel == ChannelKind::Whatsapp));
    }

    #[test]
    fn an_unanswered_call_is_made_once_more_ten_minutes_later_then_falls_back() {
        let mut patient = patient();
        patient.channels = vec![ChannelKind::Voice, ChannelKind::Sms];
        let mut clinic = clinic();
        clinic.default_channels.push(ChannelKind::Voice);
        let plan = channel_plan(None, &patient, &clinic, &[], &[], WhatsAppContent::Template);
        let mut unanswered = attempt(
            ChannelKind::Voice,
            AttemptStatus::Failed,
            "2026-11-26T09:55:00Z",
        );
        unanswered.error_code = Some("no-answer".into());
        unanswered.failed_at = Some(at("2026-11-26T09:56:00Z"));

        let waiting = decide(
            &due_now(),
            &plan,
            std::slice::from_ref(&unanswered),
            &rules(),
            at(NOW),
        );
        assert_eq!(
            waiting.step,
            Step::Wait {
                until: at("2026-11-26T10:06:00Z"),
                status: NotificationStatus::Queued
            }
        );
        let again = decide(
            &due_now(),
            &plan,
            std::slice::from_ref(&unanswered),
            &rules(),
            at("2026-11-26T10:06:00Z"),
        );
        assert!(matches!(&again.step, Step::Send(p) if p.channel == ChannelKind::Voice));

        let twice = [unanswered.clone(), unanswered];
        let fallback = decide(
            &due_now(),
            &plan,
            &twice,
            &rules(),
            at("2026-11-26T10:20:00Z"),
        );
        assert!(matches!(&fallback.step, Step::Send(p) if p.channel == ChannelKind::Sms));
        assert_eq!(
            fallback.reasons,
            ["falling back to sms after voice not answered 2 times"]
        );
    }

    #[test]
    fn a_channel_that_errs_too_often_is_used_up() {
        let errors: Vec<_> = (0..3)
            .map(|_| {
                attempt(
                    ChannelKind::Whatsapp,
                    AttemptStatus::Errored,
                    "2026-11-26T09:50:00Z",
                )
            })
            .collect();
        let decision = decide(&due_now(), &plan(), &errors, &rules(), at(NOW));
        assert!(matches!(&decision.step, Step::Send(p) if p.channel == ChannelKind::Sms));
        assert_eq!(
            decision.reasons,
            ["falling back to sms after whatsapp failed 3 times"]
        );
    }

    #[test]
    fn delivery_on_any_channel_finishes_the_notification() {
        let attempts = [
            attempt(
                ChannelKind::Whatsapp,
                AttemptStatus::Failed,
                "2026-11-26T09:50:00Z",
            ),
            attempt(
                ChannelKind::Sms,
                AttemptStatus::Delivered,
                "2026-11-26T09:51:00Z",
            ),
        ];
        let decision = decide(&due_now(), &plan(), &attempts, &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Finish {
                status: NotificationStatus::Delivered,
                channel: Some(ChannelKind::Sms)
            }
        );
    }

    #[test]
    fn an_email_accepted_by_the_mail_server_is_done() {
        let attempts = [attempt(
            ChannelKind::Email,
            AttemptStatus::Accepted,
            "2026-11-26T09:50:00Z",
        )];
        let decision = decide(&due_now(), &plan(), &attempts, &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Finish {
                status: NotificationStatus::Sent,
                channel: Some(ChannelKind::Email)
            }
        );
    }

    #[test]
    fn a_future_send_at_waits_and_a_passed_expiry_expires() {
        let mut later = due_now();
        later.send_at = at("2026-11-27T07:00:00Z");
        let decision = decide(&later, &plan(), &[], &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Wait {
                until: at("2026-11-27T07:00:00Z"),
                status: NotificationStatus::Scheduled
            }
        );

        let mut stale = due_now();
        stale.expires_at = Some(at("2026-11-26T09:00:00Z"));
        let decision = decide(&stale, &plan(), &[], &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Finish {
                status: NotificationStatus::Expired,
                channel: None
            }
        );
    }

    #[test]
    fn with_every_channel_used_up_the_notification_fails_with_the_whole_story() {
        let mut patient = patient();
        patient.email = None;
        let plan = default_plan(&patient);
        let attempts = [
            attempt(
                ChannelKind::Whatsapp,
                AttemptStatus::Failed,
                "2026-11-26T09:50:00Z",
            ),
            attempt(
                ChannelKind::Sms,
                AttemptStatus::TimedOut,
                "2026-11-26T09:51:00Z",
            ),
        ];
        let decision = decide(&due_now(), &plan, &attempts, &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Finish {
                status: NotificationStatus::Failed,
                channel: None
            }
        );
        assert_eq!(
            decision.reasons,
            ["failed: no channel left to try (whatsapp failed; sms timed out)"]
        );
    }

    #[test]
    fn when_every_channel_failed_staff_get_a_callback_task_if_there_is_a_number_to_call() {
        let attempts = [
            attempt(
                ChannelKind::Whatsapp,
                AttemptStatus::Failed,
                "2026-11-26T09:50:00Z",
            ),
            attempt(
                ChannelKind::Sms,
                AttemptStatus::Failed,
                "2026-11-26T09:51:00Z",
            ),
            attempt(
                ChannelKind::Email,
                AttemptStatus::Failed,
                "2026-11-26T09:52:00Z",
            ),
        ];
        let decision = decide(&due_now(), &plan(), &attempts, &rules(), at(NOW));
        assert_eq!(
            decision.callback.as_deref(),
            Some("no channel left to try (whatsapp failed; sms failed; email failed)")
        );

        let mut no_phone = patient();
        no_phone.phone = None;
        let plan = default_plan(&no_phone);
        let email_failed = [attempt(
            ChannelKind::Email,
            AttemptStatus::Failed,
            "2026-11-26T09:52:00Z",
        )];
        let decision = decide(&due_now(), &plan, &email_failed, &rules(), at(NOW));
        assert_eq!(decision.callback, None, "no number to call");
    }

    #[test]
    fn with_only_a_suspended_channel_left_the_notification_waits_for_it() {
        let suspended = [crate::policy::ChannelSuspension {
            channel: ChannelKind::Sms,
            reason: "20003: authenticate".into(),
            until: at("2026-11-26T10:15:00Z"),
        }];
        let plan = channel_plan(
            Some(ChannelKind::Sms),
            &patient(),
            &clinic(),
            &[],
            &suspended,
            WhatsAppContent::Template,
        );
        let decision = decide(&due_now(), &plan, &[], &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Wait {
                until: at("2026-11-26T10:15:00Z"),
                status: NotificationStatus::Queued
            }
        );
    }

    #[test]
    fn late_delivery_evidence_does_not_reopen_a_failed_notification() {
        let mut failed = due_now();
        failed.status = NotificationStatus::Failed;
        let attempts = [attempt(
            ChannelKind::Whatsapp,
            AttemptStatus::Delivered,
            "2026-11-26T09:50:00Z",
        )];
        let decision = decide(&failed, &plan(), &attempts, &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Finish {
                status: NotificationStatus::Failed,
                channel: None
            }
        );
    }

    #[test]
    fn an_empty_plan_fails_at_once_saying_why() {
        let mut patient = patient();
        patient.phone = None;
        patient.email = None;
        let plan = default_plan(&patient);
        let decision = decide(&due_now(), &plan, &[], &rules(), at(NOW));
        assert_eq!(
            decision.step,
            Step::Finish {
                status: NotificationStatus::Failed,
                channel: None
            }
        );
        assert_eq!(
            decision.reasons.last().map(String::as_str),
            Some(
                "failed: no channel left to try (whatsapp skipped: no phone number on record; \
                 sms skipped: no phone number on record; email skipped: no email address on record)"
            )
        );
    }

    /// Thursday 26 November 2026, 23:30 in Jerusalem.
    const LATE_THURSDAY: &str = "2026-11-26T21:30:00Z";

    #[test]
    fn a_normal_notification_at_night_waits_for_the_clinic_to_open_without_telling_the_route_yet() {
        let decision = decide(
            &israeli_due_now(),
            &plan(),
            &[],
            &rules(),
            at(LATE_THURSDAY),
        );
        assert_eq!(
            decision.step,
            Step::Wait {
                until: at("2026-11-27T07:00:00Z"),
                status: NotificationStatus::Scheduled
            }
        );
        assert_eq!(
            decision.reasons,
            [
                "deferred to 2026-11-27T09:00+02:00[Asia/Jerusalem]: outside clinic hours \
                 (Thursday 09:00–18:00); patient's quiet hours 21:00–08:00 (Asia/Jerusalem)"
            ]
        );

        let at_opening = decide(
            &israeli_due_now(),
            &plan(),
            &[],
            &rules(),
            at("2026-11-27T07:00:00Z"),
        );
        assert!(matches!(&at_opening.step, Step::Send(p) if p.channel == ChannelKind::Whatsapp));
        assert_eq!(
            at_opening.reasons,
            ["route: clinic default order: whatsapp, sms, email"]
        );
    }

    #[test]
    fn an_urgent_notification_at_night_goes_now_and_says_why() {
        let urgent = NotificationFacts {
            priority: Priority::Urgent,
            ..israeli_due_now()
        };
        let decision = decide(&urgent, &plan(), &[], &rules(), at(LATE_THURSDAY));
        assert!(matches!(&decision.step, Step::Send(p) if p.channel == ChannelKind::Whatsapp));
        assert_eq!(
            decision.reasons,
            [
                "route: clinic default order: whatsapp, sms, email",
                "urgent: sent now, not deferred for outside clinic hours (Thursday 09:00–18:00); \
                 patient's quiet hours 21:00–08:00 (Asia/Jerusalem)"
            ]
        );
    }

    #[test]
    fn a_retry_or_fallback_that_falls_into_the_night_waits_too() {
        let mut errored = attempt(
            ChannelKind::Whatsapp,
            AttemptStatus::Errored,
            "2026-11-26T15:59:00Z",
        );
        errored.retry_at = Some(at("2026-11-26T16:01:00Z"));
        let retry = decide(
            &israeli_due_now(),
            &plan(),
            &[errored],
            &rules(),
            at("2026-11-26T16:01:00Z"),
        );
        assert_eq!(
            retry.step,
            Step::Wait {
                until: at("2026-11-27T07:00:00Z"),
                status: NotificationStatus::Scheduled
            }
        );

        let failed = attempt(
            ChannelKind::Whatsapp,
            AttemptStatus::Failed,
            "2026-11-26T21:29:00Z",
        );
        let fallback = decide(
            &israeli_due_now(),
            &plan(),
            &[failed],
            &rules(),
            at(LATE_THURSDAY),
        );
        assert!(matches!(fallback.step, Step::Wait { .. }));
        assert!(
            fallback
                .reasons
                .iter()
                .all(|r| !r.starts_with("falling back")),
            "the fallback is told when it happens: {:?}",
            fallback.reasons
        );
    }

    #[test]
    fn a_notification_whose_next_opening_is_past_its_expiry_expires_unsent() {
        let expiring = NotificationFacts {
            expires_at: Some(at("2026-11-27T06:00:00Z")),
            ..israeli_due_now()
        };
        let decision = decide(&expiring, &plan(), &[], &rules(), at(LATE_THURSDAY));
        assert_eq!(decision.step, finish(NotificationStatus::Expired));
        assert_eq!(
            decision.reasons,
            [
                "expired: it could go no earlier than 2026-11-27T09:00+02:00[Asia/Jerusalem] \
                 (outside clinic hours (Thursday 09:00–18:00); patient's quiet hours 21:00–08:00 \
                 (Asia/Jerusalem)), after it expires at 2026-11-27T08:00+02:00[Asia/Jerusalem]"
            ]
        );
    }
}
