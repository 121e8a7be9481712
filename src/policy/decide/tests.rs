use std::time::Duration;

use medrelay_channels::Recipient;

use super::*;
use crate::config::DeliveryTimeouts;
use crate::domain::{ClinicHours, Priority};
use crate::policy::channel_plan::tests::{clinic, default_plan, patient, texts};
use crate::policy::{MessagingHours, WhatsAppContent, channel_plan};

pub(super) fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

pub(super) fn rules() -> DeliveryRules {
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

pub(super) fn due_now() -> NotificationFacts {
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
pub(super) fn israeli_due_now() -> NotificationFacts {
    NotificationFacts {
        hours: hours(ClinicHours::israeli_default()),
        ..due_now()
    }
}

pub(super) fn attempt(channel: ChannelKind, status: AttemptStatus, created: &str) -> AttemptFacts {
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

pub(super) const NOW: &str = "2026-11-26T10:00:00Z";

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
        texts(&decision.reasons),
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
        texts(&decision.reasons),
        ["falling back to sms after whatsapp failed (131026: recipient is not a WhatsApp user)"]
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
        texts(&decision.reasons),
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
        texts(&fallback.reasons),
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
        texts(&decision.reasons),
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
        texts(&decision.reasons),
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
        decision.reasons.last().map(ToString::to_string).as_deref(),
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
        texts(&decision.reasons),
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
        texts(&at_opening.reasons),
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
        texts(&decision.reasons),
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
            .all(|r| !matches!(r, Reason::FallingBack { .. })),
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
        texts(&decision.reasons),
        [
            "expired: it could go no earlier than 2026-11-27T09:00+02:00[Asia/Jerusalem] \
             (outside clinic hours (Thursday 09:00–18:00); patient's quiet hours 21:00–08:00 \
             (Asia/Jerusalem)), after it expires at 2026-11-27T08:00+02:00[Asia/Jerusalem]"
        ]
    );
}
