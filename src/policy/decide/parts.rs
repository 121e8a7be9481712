//! A sensitive notification goes in two parts. First its content, over the channels of its plan
//! allowed to carry it (email, voice), falling back among them; then a content-free notice over
//! the message channels (WhatsApp, SMS), falling back among them, which says only what is true
//! for this patient: that the details went to their email, or to call the clinic. Each part is
//! decided by the rules for a whole notification over its own channels and stored attempts, so
//! both resume after a crash like any send, and both wait for the messaging hours.
//!
//! The notification is delivered (or read) when its notice is, or when a call carried the content
//! (the patient heard it, so no notice follows); it is `sent` on email when the email went and no
//! notice reached the patient; it fails only when neither part did. When no channel carried the
//! content, staff get a callback task to tell the patient in person.

use jiff::Timestamp;
use medrelay_channels::ChannelKind;

use super::{AttemptFacts, Decision, DeliveryRules, NotificationFacts, Step, decide_part};
use crate::domain::{ContentKind, NotificationStatus, Reason, Sensitivity, SkipReason};
use crate::policy::ChannelPlan;
use crate::policy::privacy::{Carries, carries};

/// The next step for a notification on a sensitive `topic`: its content part while that goes on,
/// then its notice part.
pub fn decide_in_parts(
    notification: &NotificationFacts,
    plan: &ChannelPlan,
    attempts: &[AttemptFacts],
    rules: &DeliveryRules,
    now: Timestamp,
    topic: &str,
) -> Decision {
    let (content_attempts, notice_attempts): (Vec<AttemptFacts>, Vec<AttemptFacts>) = attempts
        .iter()
        .cloned()
        .partition(|a| part_carried_on(a.channel) == ContentKind::Content);
    let content = decide_part(
        notification,
        &part_of(plan, ContentKind::Content),
        &content_attempts,
        rules,
        now,
        content_attempts.is_empty(),
    );
    let went_by = match content.step {
        // Email has no receipt: handed over is as far as it goes.
        Step::Finish {
            status: NotificationStatus::Sent,
            channel,
        } => channel,
        Step::Finish {
            status: NotificationStatus::Failed,
            ..
        } if matches!(content.reasons.last(), Some(Reason::NoChannelLeft { .. })) => None,
        // Still going or waiting; or over for the whole notification: expired, already final,
        // or heard on a call.
        _ => return content,
    };
    let notice = decide_part(
        notification,
        &part_of(plan, ContentKind::Notice),
        &notice_attempts,
        rules,
        now,
        false,
    );
    let first_notice = notice_attempts.is_empty();
    let callback_possible = plan.callback_possible;
    combine(
        content,
        went_by,
        notice,
        first_notice,
        topic,
        callback_possible,
    )
}

/// The notice part's decision, with what the content part came to: told once, when the notice
/// part first acts (sends, or finds nothing to send on), together with the staff task when no
/// channel carried the content.
fn combine(
    content: Decision,
    went_by: Option<ChannelKind>,
    notice: Decision,
    first_notice: bool,
    topic: &str,
    callback_possible: bool,
) -> Decision {
    let Decision {
        mut verdicts,
        mut reasons,
        ..
    } = content;
    // The verdicts' reasons come first; the rest is what the content part came to.
    let mut conclusion = reasons.split_off(verdicts.len());
    let mut callback = None;
    if first_notice && !matches!(notice.step, Step::Wait { .. }) {
        match went_by {
            Some(channel) => conclusion.push(Reason::ContentHandedOver { channel }),
            None => {
                undelivered(&mut conclusion, ContentKind::Content);
                if callback_possible {
                    let reason = Reason::CallWithTheContent {
                        topic: topic.to_owned(),
                    };
                    callback = Some(reason.to_string());
                    conclusion.push(reason);
                }
            }
        }
        reasons.extend(conclusion);
    }
    verdicts.extend(notice.verdicts);
    let mut notice_reasons = notice.reasons;
    let step = match notice.step {
        Step::Finish { status, channel } if !is_reached(status) => {
            undelivered(&mut notice_reasons, ContentKind::Notice);
            match went_by {
                Some(email) => Step::Finish {
                    status: NotificationStatus::Sent,
                    channel: Some(email),
                },
                None => Step::Finish { status, channel },
            }
        }
        step => step,
    };
    reasons.extend(notice_reasons);
    Decision {
        step,
        verdicts,
        reasons,
        callback,
        content_went_by: went_by,
    }
}

/// The channels of `plan` that carry `part`. The content part, decided first, tells the route
/// with every channel skipped; the notice part does not tell it again. The task for staff is
/// decided over both parts, not by either.
fn part_of(plan: &ChannelPlan, part: ContentKind) -> ChannelPlan {
    let in_part = |channel: ChannelKind| part_carried_on(channel) == part;
    ChannelPlan {
        channels: plan
            .channels
            .iter()
            .filter(|c| in_part(c.channel))
            .cloned()
            .collect(),
        source: plan.source.clone(),
        skipped: match part {
            ContentKind::Content => plan.skipped.clone(),
            ContentKind::Notice => Vec::new(),
        },
        callback_possible: false,
        suspended_until: plan
            .skipped
            .iter()
            .filter_map(|reason| match reason {
                Reason::Skipped {
                    channel,
                    reason: SkipReason::Suspended { until, .. },
                } if in_part(*channel) => Some(*until),
                _ => None,
            })
            .min(),
    }
}

/// Replaces the part's "no channel left" with the story of that part's own channels.
fn undelivered(reasons: &mut Vec<Reason>, part: ContentKind) {
    if let Some(Reason::NoChannelLeft { story }) =
        reasons.pop_if(|r| matches!(r, Reason::NoChannelLeft { .. }))
    {
        let story = story
            .into_iter()
            .filter(|r| channel_of(r).is_some_and(|c| part_carried_on(c) == part))
            .collect();
        reasons.push(Reason::PartUndelivered { part, story });
    }
}

fn channel_of(reason: &Reason) -> Option<ChannelKind> {
    match reason {
        Reason::Skipped { channel, .. } | Reason::UsedUp { channel, .. } => Some(*channel),
        _ => None,
    }
}

/// The part of a sensitive notification that `channel` carries.
fn part_carried_on(channel: ChannelKind) -> ContentKind {
    match carries(Sensitivity::Sensitive, channel) {
        Carries::Content => ContentKind::Content,
        Carries::Notice => ContentKind::Notice,
    }
}

fn is_reached(status: NotificationStatus) -> bool {
    matches!(
        status,
        NotificationStatus::Delivered | NotificationStatus::Read
    )
}

#[cfg(test)]
mod tests {
    use medrelay_channels::Recipient;

    use super::*;
    use crate::domain::AttemptStatus;
    use crate::domain::Patient;
    use crate::policy::PlannedChannel;
    use crate::policy::channel_plan::tests::{clinic, default_plan, patient, texts};
    use crate::policy::decide::tests::{NOW, at, attempt, israeli_due_now, rules};
    use crate::policy::{WhatsAppContent, channel_plan};

    const TOPIC: &str = "test_result_ready";

    fn decide(patient: &Patient, attempts: &[AttemptFacts], now: &str) -> Decision {
        decide_in_parts(
            &israeli_due_now(),
            &default_plan(patient),
            attempts,
            &rules(),
            at(now),
            TOPIC,
        )
    }

    fn sends_on(decision: &Decision) -> Option<ChannelKind> {
        match &decision.step {
            Step::Send(PlannedChannel { channel, .. }) => Some(*channel),
            _ => None,
        }
    }

    fn finished(status: NotificationStatus, channel: Option<ChannelKind>) -> Step {
        Step::Finish { status, channel }
    }

    /// A notice attempt, made after the content part ended.
    fn notice_on(channel: ChannelKind, status: AttemptStatus) -> AttemptFacts {
        attempt(channel, status, "2026-11-26T09:59:30Z")
    }

    fn email_bounced() -> AttemptFacts {
        let mut bounced = attempt(
            ChannelKind::Email,
            AttemptStatus::Failed,
            "2026-11-26T09:59:00Z",
        );
        bounced.error_code = Some("550".into());
        bounced.error_text = Some("mailbox unavailable".into());
        bounced
    }

    fn email_accepted() -> AttemptFacts {
        attempt(
            ChannelKind::Email,
            AttemptStatus::Accepted,
            "2026-11-26T09:59:00Z",
        )
    }

    #[test]
    fn the_content_goes_first_on_the_channel_allowed_to_carry_it() {
        let decision = decide(&patient(), &[], NOW);

        assert_eq!(
            decision.step,
            Step::Send(PlannedChannel {
                channel: ChannelKind::Email,
                to: Recipient::Email("dana@example.org".into())
            })
        );
        assert_eq!(
            texts(&decision.reasons),
            ["route: clinic default order: whatsapp, sms, email"]
        );
        assert_eq!(decision.callback, None);
    }

    #[test]
    fn once_the_email_is_handed_over_the_notice_goes_and_says_so() {
        let decision = decide(&patient(), &[email_accepted()], NOW);

        assert_eq!(sends_on(&decision), Some(ChannelKind::Whatsapp));
        assert_eq!(decision.content_went_by, Some(ChannelKind::Email));
        assert_eq!(texts(&decision.reasons), ["content: email handed over"]);
        assert_eq!(decision.callback, None);
    }

    #[test]
    fn without_an_email_the_notice_goes_at_once_and_staff_are_to_call() {
        let mut patient = patient();
        patient.email = None;

        let decision = decide(&patient, &[], NOW);

        assert_eq!(sends_on(&decision), Some(ChannelKind::Whatsapp));
        assert_eq!(decision.content_went_by, None);
        assert_eq!(
            texts(&decision.reasons),
            [
                "route: clinic default order: whatsapp, sms, email",
                "email skipped: no email address on record",
                "content: not delivered, no channel left to try (email skipped: no email address on record)",
                "sensitive topic test_result_ready: no channel carried the content; call the patient",
            ]
        );
        assert_eq!(
            decision.callback.as_deref(),
            Some(
                "sensitive topic test_result_ready: no channel carried the content; call the patient"
            )
        );
    }

    #[test]
    fn a_bounced_email_leaves_the_notice_asking_to_call() {
        let decision = decide(&patient(), &[email_bounced()], NOW);

        assert_eq!(sends_on(&decision), Some(ChannelKind::Whatsapp));
        assert_eq!(decision.content_went_by, None);
        assert_eq!(
            texts(&decision.reasons),
            [
                "content: not delivered, no channel left to try (email failed (550: mailbox unavailable))",
                "sensitive topic test_result_ready: no channel carried the content; call the patient",
            ]
        );
        assert!(decision.callback.is_some());
    }

    #[test]
    fn the_content_part_is_told_once_the_notice_under_way_tells_nothing_again() {
        let notice = notice_on(ChannelKind::Whatsapp, AttemptStatus::Accepted);

        let decision = decide(&patient(), &[email_bounced(), notice], NOW);

        assert!(matches!(
            decision.step,
            Step::Wait {
                status: NotificationStatus::Sent,
                ..
            }
        ));
        assert!(
            decision.reasons.is_empty(),
            "{:?}",
            texts(&decision.reasons)
        );
        assert_eq!(decision.callback, None);
    }

    #[test]
    fn a_delivered_notice_delivers_the_notification() {
        let notice = notice_on(ChannelKind::Whatsapp, AttemptStatus::Delivered);

        let decision = decide(&patient(), &[email_accepted(), notice], NOW);

        assert_eq!(
            decision.step,
            finished(NotificationStatus::Delivered, Some(ChannelKind::Whatsapp))
        );
    }

    #[test]
    fn with_the_email_gone_and_no_notice_delivered_the_notification_is_sent_by_email() {
        let mut whatsapp = notice_on(ChannelKind::Whatsapp, AttemptStatus::Failed);
        whatsapp.error_code = Some("131026".into());
        let mut sms = notice_on(ChannelKind::Sms, AttemptStatus::Failed);
        sms.error_code = Some("30006".into());

        let decision = decide(&patient(), &[email_accepted(), whatsapp, sms], NOW);

        assert_eq!(
            decision.step,
            finished(NotificationStatus::Sent, Some(ChannelKind::Email))
        );
        assert_eq!(
            texts(&decision.reasons),
            [
                "notice: not delivered, no channel left to try (whatsapp failed (131026); sms failed (30006))"
            ]
        );
        assert_eq!(decision.callback, None);
    }

    #[test]
    fn a_patient_who_chose_only_email_gets_just_the_email() {
        let mut patient = patient();
        patient.channels = vec![ChannelKind::Email];

        let decision = decide(&patient, &[email_accepted()], NOW);

        assert_eq!(
            decision.step,
            finished(NotificationStatus::Sent, Some(ChannelKind::Email))
        );
    }

    #[test]
    fn neither_part_reaching_the_patient_fails_the_notification_with_one_task() {
        let mut patient = patient();
        patient.channels = vec![ChannelKind::Email];

        let decision = decide(&patient, &[email_bounced()], NOW);

        assert_eq!(decision.step, finished(NotificationStatus::Failed, None));
        assert!(decision.callback.is_some());
    }

    #[test]
    fn a_call_that_carried_the_content_needs_no_notice() {
        let mut clinic = clinic();
        clinic.default_channels.push(ChannelKind::Voice);
        let mut patient = patient();
        patient.email = None;
        let plan = channel_plan(None, &patient, &clinic, &[], &[], WhatsAppContent::Template);
        let answered = attempt(
            ChannelKind::Voice,
            AttemptStatus::Delivered,
            "2026-11-26T09:59:00Z",
        );

        let first = decide_in_parts(&israeli_due_now(), &plan, &[], &rules(), at(NOW), TOPIC);
        let after = decide_in_parts(
            &israeli_due_now(),
            &plan,
            &[answered],
            &rules(),
            at(NOW),
            TOPIC,
        );

        assert_eq!(sends_on(&first), Some(ChannelKind::Voice));
        assert_eq!(
            after.step,
            finished(NotificationStatus::Delivered, Some(ChannelKind::Voice))
        );
    }

    /// A gateway killed during a hand-over leaves the attempt `sending` with its start recorded.
    fn interrupted(channel: ChannelKind) -> AttemptFacts {
        attempt(channel, AttemptStatus::Sending, "2026-11-26T09:59:50Z")
    }

    #[test]
    fn after_a_crash_mid_notice_the_notice_is_waited_for_and_never_sent_again() {
        let decision = decide(
            &patient(),
            &[email_accepted(), interrupted(ChannelKind::Whatsapp)],
            NOW,
        );

        assert!(matches!(decision.step, Step::Wait { .. }), "{decision:?}");
        assert_eq!(
            decision
                .verdicts
                .iter()
                .map(|v| v.status)
                .collect::<Vec<_>>(),
            [AttemptStatus::Ambiguous]
        );
    }

    /// Email has no receipt to settle an interrupted hand-over, so it is not sent again; the
    /// notice cannot say it went.
    #[test]
    fn after_a_crash_mid_email_the_email_is_not_resent_and_the_notice_asks_to_call() {
        let decision = decide(&patient(), &[interrupted(ChannelKind::Email)], NOW);

        assert_eq!(sends_on(&decision), Some(ChannelKind::Whatsapp));
        assert_eq!(decision.content_went_by, None);
        assert_eq!(
            decision
                .verdicts
                .iter()
                .map(|v| v.status)
                .collect::<Vec<_>>(),
            [AttemptStatus::TimedOut]
        );
        assert!(decision.callback.is_some());
    }

    /// Friday 14:00 in Jerusalem, after the clinic's Friday hours (09:00–13:00).
    const FRIDAY_14_00: &str = "2026-11-27T12:00:00Z";
    /// Sunday 09:00 in Jerusalem, when the clinic opens again.
    const SUNDAY_09_00: &str = "2026-11-29T07:00:00Z";

    #[test]
    fn the_notice_waits_for_the_clinics_hours_and_tells_the_content_part_when_it_goes() {
        let late = decide(&patient(), &[email_bounced()], FRIDAY_14_00);
        let sunday = decide(&patient(), &[email_bounced()], SUNDAY_09_00);

        assert_eq!(
            late.step,
            Step::Wait {
                until: at(SUNDAY_09_00),
                status: NotificationStatus::Scheduled
            }
        );
        assert_eq!(late.callback, None, "told when the notice goes");
        assert!(
            texts(&late.reasons)
                .iter()
                .all(|r| r.starts_with("deferred to 2026-11-29T09:00+02:00")),
            "{:?}",
            texts(&late.reasons)
        );
        assert_eq!(sends_on(&sunday), Some(ChannelKind::Whatsapp));
        assert!(sunday.callback.is_some());
    }
}
