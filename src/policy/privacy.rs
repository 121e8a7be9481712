//! Privacy by topic: what a message may say on a channel, given how sensitive its topic is.
//!
//! A lock screen, a shared phone or an SMS inbox shows messages to whoever holds the phone, so:
//! - `normal` topics carry their content on every channel;
//! - `sensitive` topics (test results, prescriptions) carry it by email and voice only; WhatsApp
//!   and SMS get a content-free notice saying only what is true for this patient: that the
//!   details went to their email, a secure link to read them, or to call the clinic (the two
//!   parts are decided by `decide::decide_in_parts`);
//! - `restricted` topics (oncology, psychiatry, …) carry it on no message channel: staff get a
//!   callback task for a personal conversation, and the patient a notice asking them to call.

use std::collections::BTreeMap;

use medrelay_channels::ChannelKind;

use super::{Decision, Step};
use crate::domain::{NotificationStatus, Reason, Sensitivity};

/// What a message on one channel may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carries {
    /// The staff's text or the template the notification names.
    Content,
    /// Only a content-free notice (see [`notice`]).
    Notice,
}

pub fn carries(sensitivity: Sensitivity, channel: ChannelKind) -> Carries {
    match (sensitivity, channel) {
        (Sensitivity::Normal, _)
        | (Sensitivity::Sensitive, ChannelKind::Email | ChannelKind::Voice) => Carries::Content,
        (Sensitivity::Sensitive, ChannelKind::Whatsapp | ChannelKind::Sms)
        | (Sensitivity::Restricted, _) => Carries::Notice,
    }
}

/// A content-free notice: a built-in template (in the patient's language, and on WhatsApp the
/// provider's approved copy, so it may start a conversation at any time) and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub template: &'static str,
    pub params: BTreeMap<String, String>,
}

/// Whether a notice is still to go after this topic's content is handed over on `channel`:
/// a sensitive topic's content part ends there when the channel has no receipt to wait for.
pub fn notice_follows(sensitivity: Sensitivity, channel: ChannelKind) -> bool {
    sensitivity == Sensitivity::Sensitive
        && carries(sensitivity, channel) == Carries::Content
        && !channel.reports_delivery()
}

/// What a notice may truthfully tell this patient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoticeFacts<'a> {
    /// The clinic's number to call; without one the notice says "call the clinic".
    pub clinic_phone: Option<&'a str>,
    /// The channel a sensitive notification's content was handed to, if one took it.
    pub content_went_by: Option<ChannelKind>,
    /// A link where the patient reads a sensitive notification's content after proving who they
    /// are, if the clinic gives one.
    pub secure_link: Option<&'a str>,
}

/// The notice to send instead of the content on `channel`, if the content may not go there. For
/// a sensitive topic it carries the secure link when there is one, else says the details went to
/// the patient's email when they did; otherwise (and always for a restricted topic, whose
/// content is for a conversation in person) it asks the patient to call the clinic.
pub fn notice(
    sensitivity: Sensitivity,
    channel: ChannelKind,
    facts: NoticeFacts<'_>,
) -> Option<Notice> {
    if carries(sensitivity, channel) == Carries::Content {
        return None;
    }
    let sensitive = sensitivity == Sensitivity::Sensitive;
    let (template, param) = match (facts.secure_link, facts.content_went_by, facts.clinic_phone) {
        (Some(link), _, _) if sensitive => ("content_free_notice_link", Some(("link", link))),
        (_, Some(ChannelKind::Email), _) if sensitive => ("content_free_notice_email_sent", None),
        (_, _, Some(phone)) => ("content_free_notice_call", Some(("phone", phone))),
        (_, _, None) => ("content_free_notice_call_clinic", None),
    };
    let params = param
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .into_iter()
        .collect();
    Some(Notice { template, params })
}

/// Adds privacy to the dispatcher's decision for a notification on `topic`: why the channel it
/// sends on carries what it carries, and for a restricted topic the staff callback task. That
/// task opens once, the first time the notification is acted on (sent, or failed for want of
/// a channel), when there is a number to call; later rounds leave it be, rather than open the
/// generic "no channel delivered" one.
pub fn apply(
    decision: &mut Decision,
    topic: &str,
    sensitivity: Sensitivity,
    first_round: bool,
    callback_possible: bool,
) {
    if sensitivity == Sensitivity::Normal {
        return;
    }
    if let Step::Send(planned) = &decision.step {
        decision.reasons.push(Reason::TopicContent {
            sensitivity: sensitivity.as_str().to_owned(),
            topic: topic.to_owned(),
            channel: planned.channel,
            content: carries(sensitivity, planned.channel) == Carries::Content,
        });
    }
    if sensitivity != Sensitivity::Restricted {
        return;
    }
    let acted_on = matches!(
        decision.step,
        Step::Send(_)
            | Step::Finish {
                status: NotificationStatus::Failed,
                ..
            }
    );
    decision.callback = None;
    if first_round && acted_on {
        if callback_possible {
            let reason = Reason::CallThePatient {
                topic: topic.to_owned(),
            };
            decision.callback = Some(reason.to_string());
            decision.reasons.push(reason);
        } else {
            decision.reasons.push(Reason::NoNumberToCall {
                topic: topic.to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use medrelay_channels::Recipient;

    use super::*;
    use crate::policy::channel_plan::tests::texts;
    use crate::policy::{PlannedChannel, templates};

    const CHANNELS: [ChannelKind; 4] = [
        ChannelKind::Whatsapp,
        ChannelKind::Sms,
        ChannelKind::Email,
        ChannelKind::Voice,
    ];

    #[test]
    fn what_each_channel_carries_per_sensitivity() {
        use Carries::{Content, Notice};
        let table = [
            (Sensitivity::Normal, [Content, Content, Content, Content]),
            (Sensitivity::Sensitive, [Notice, Notice, Content, Content]),
            (Sensitivity::Restricted, [Notice, Notice, Notice, Notice]),
        ];
        for (sensitivity, expected) in table {
            for (channel, carried) in CHANNELS.into_iter().zip(expected) {
                assert_eq!(
                    carries(sensitivity, channel),
                    carried,
                    "{sensitivity:?} on {channel}"
                );
            }
        }
    }

    #[test]
    fn only_a_sensitive_topics_email_leaves_a_notice_to_follow() {
        for sensitivity in [
            Sensitivity::Normal,
            Sensitivity::Sensitive,
            Sensitivity::Restricted,
        ] {
            for channel in CHANNELS {
                assert_eq!(
                    notice_follows(sensitivity, channel),
                    sensitivity == Sensitivity::Sensitive && channel == ChannelKind::Email,
                    "{sensitivity:?} on {channel}"
                );
            }
        }
    }

    const CLINIC_PHONE: &str = "+97231234567";
    const LINK: &str = "https://clinic.example/m/7Qx2";

    /// The notice that asks the patient to call the clinic at its number.
    const CALL_THE_CLINIC_AT: [(&str, &str); 4] = [
        (
            "he",
            "שלום Dana, יש לך הודעה חדשה מאת Hadar; נא להתקשר למרפאה בטלפון +97231234567.",
        ),
        (
            "ar",
            "مرحبًا Dana، لديك رسالة جديدة من Hadar؛ يرجى الاتصال بالعيادة على +97231234567.",
        ),
        (
            "ru",
            "Здравствуйте, Dana! У вас новое сообщение от Hadar; пожалуйста, позвоните в клинику по номеру +97231234567.",
        ),
        (
            "en",
            "Hello Dana, you have a new message from Hadar; please call the clinic at +97231234567.",
        ),
    ];

    fn with_phone() -> NoticeFacts<'static> {
        NoticeFacts {
            clinic_phone: Some(CLINIC_PHONE),
            ..NoticeFacts::default()
        }
    }

    fn email_went() -> NoticeFacts<'static> {
        NoticeFacts {
            content_went_by: Some(ChannelKind::Email),
            ..with_phone()
        }
    }

    fn with_link() -> NoticeFacts<'static> {
        NoticeFacts {
            secure_link: Some(LINK),
            ..email_went()
        }
    }

    /// What the patient reads, in their language, for a message on `channel`: the notice, or
    /// `None` when the content goes.
    fn patient_reads(
        sensitivity: Sensitivity,
        channel: ChannelKind,
        facts: NoticeFacts<'_>,
        language: &str,
    ) -> Option<String> {
        let notice = notice(sensitivity, channel, facts)?;
        let chosen = templates::choose(notice.template, &[], [language, "he"])
            .expect("the notice is a built-in template");
        assert_eq!(chosen.language, language, "the notice exists in {language}");
        let rendering = templates::render(&chosen, channel, &notice.params, "Hadar", "Dana")
            .expect("notice renders");
        Some(rendering.body)
    }

    /// Checks what a notice on WhatsApp and SMS says in each language, and that email and voice
    /// carry the content instead when `sensitivity` lets them.
    fn assert_notice(sensitivity: Sensitivity, facts: NoticeFacts<'_>, table: [(&str, &str); 4]) {
        for (language, expected) in table {
            for channel in CHANNELS {
                let expected = match carries(sensitivity, channel) {
                    Carries::Notice => Some(expected),
                    Carries::Content => None,
                };
                assert_eq!(
                    patient_reads(sensitivity, channel, facts, language).as_deref(),
                    expected,
                    "{sensitivity:?} on {channel} in {language}"
                );
            }
        }
    }

    #[test]
    fn a_sensitive_notice_says_the_details_went_to_the_email_when_they_did() {
        assert_notice(
            Sensitivity::Sensitive,
            email_went(),
            [
                (
                    "he",
                    "שלום Dana, יש לך הודעה חדשה מאת Hadar; שלחנו את הפרטים לדוא״ל שלך.",
                ),
                (
                    "ar",
                    "مرحبًا Dana، لديك رسالة جديدة من Hadar؛ أرسلنا التفاصيل إلى بريدك الإلكتروني.",
                ),
                (
                    "ru",
                    "Здравствуйте, Dana! У вас новое сообщение от Hadar; мы отправили подробности на вашу электронную почту.",
                ),
                (
                    "en",
                    "Hello Dana, you have a new message from Hadar; we sent the details to your email.",
                ),
            ],
        );
    }

    /// Without an email that went, the notice names no email: the patient is asked to call.
    #[test]
    fn a_sensitive_notice_without_the_email_asks_the_patient_to_call_the_clinic() {
        assert_notice(Sensitivity::Sensitive, with_phone(), CALL_THE_CLINIC_AT);
    }

    #[test]
    fn a_sensitive_notice_with_a_secure_link_carries_the_link() {
        assert_notice(
            Sensitivity::Sensitive,
            with_link(),
            [
                (
                    "he",
                    "שלום Dana, יש לך הודעה חדשה מאת Hadar; ניתן לקרוא אותה באופן מאובטח כאן: https://clinic.example/m/7Qx2 (הקישור תקף לזמן מוגבל).",
                ),
                (
                    "ar",
                    "مرحبًا Dana، لديك رسالة جديدة من Hadar؛ يمكنك قراءتها بأمان هنا: https://clinic.example/m/7Qx2 (الرابط صالح لفترة محدودة).",
                ),
                (
                    "ru",
                    "Здравствуйте, Dana! У вас новое сообщение от Hadar; прочитайте его в защищённом режиме здесь: https://clinic.example/m/7Qx2 (ссылка действует ограниченное время).",
                ),
                (
                    "en",
                    "Hello Dana, you have a new message from Hadar; read it securely here: https://clinic.example/m/7Qx2 (the link works for a limited time).",
                ),
            ],
        );
    }

    /// A restricted topic's content is for a conversation in person: no email, no link.
    #[test]
    fn a_restricted_topic_asks_the_patient_to_call_on_every_channel() {
        assert_notice(Sensitivity::Restricted, with_link(), CALL_THE_CLINIC_AT);
    }

    #[test]
    fn without_a_clinic_phone_the_notice_leaves_the_number_out() {
        let call_the_clinic = [
            (
                "he",
                "שלום Dana, יש לך הודעה חדשה מאת Hadar; נא להתקשר למרפאה.",
            ),
            (
                "ar",
                "مرحبًا Dana، لديك رسالة جديدة من Hadar؛ يرجى الاتصال بالعيادة.",
            ),
            (
                "ru",
                "Здравствуйте, Dana! У вас новое сообщение от Hadar; пожалуйста, позвоните в клинику.",
            ),
            (
                "en",
                "Hello Dana, you have a new message from Hadar; please call the clinic.",
            ),
        ];
        for sensitivity in [Sensitivity::Sensitive, Sensitivity::Restricted] {
            assert_notice(sensitivity, NoticeFacts::default(), call_the_clinic);
        }
    }

    #[test]
    fn a_normal_topic_carries_its_content_in_every_language() {
        for language in ["he", "ar", "ru", "en"] {
            for channel in CHANNELS {
                assert_eq!(
                    patient_reads(Sensitivity::Normal, channel, with_link(), language),
                    None
                );
            }
        }
    }

    #[test]
    fn on_whatsapp_the_notice_is_an_approved_template_with_its_parameters() {
        let table = [
            (
                Sensitivity::Sensitive,
                with_link(),
                "content_free_notice_link",
                3,
            ),
            (
                Sensitivity::Sensitive,
                email_went(),
                "content_free_notice_email_sent",
                2,
            ),
            (
                Sensitivity::Sensitive,
                with_phone(),
                "content_free_notice_call",
                3,
            ),
            (
                Sensitivity::Restricted,
                with_link(),
                "content_free_notice_call",
                3,
            ),
            (
                Sensitivity::Restricted,
                NoticeFacts::default(),
                "content_free_notice_call_clinic",
                2,
            ),
        ];
        for (sensitivity, facts, name, count) in table {
            let notice = notice(sensitivity, ChannelKind::Whatsapp, facts).expect("notice");
            assert_eq!(notice.template, name);
            for language in ["he", "ar", "ru", "en"] {
                let chosen =
                    templates::choose(notice.template, &[], [language, language]).expect("notice");
                let sent = templates::render(
                    &chosen,
                    ChannelKind::Whatsapp,
                    &notice.params,
                    "Hadar",
                    "Dana",
                )
                .expect("renders")
                .provider_template
                .expect("goes as a template");
                assert_eq!(sent.name, name);
                assert_eq!(sent.parameters.len(), count);
                let parameters: Vec<&str> = sent.parameters.iter().map(String::as_str).collect();
                let approved = templates::builtin_approved(notice.template, language)
                    .expect("the provider knows the notice");
                assert_eq!(
                    templates::render_approved(&approved, &parameters),
                    patient_reads(sensitivity, ChannelKind::Whatsapp, facts, language)
                );
            }
        }
    }

    fn send_on(channel: ChannelKind) -> Decision {
        Decision {
            step: Step::Send(PlannedChannel {
                channel,
                to: Recipient::Phone("+972541234567".into()),
            }),
            verdicts: Vec::new(),
            reasons: vec![Reason::Route {
                source: crate::domain::RouteSource::PatientPreference {
                    channels: vec![ChannelKind::Whatsapp],
                },
            }],
            callback: None,
            content_went_by: None,
        }
    }

    fn failed(callback: Option<&str>) -> Decision {
        Decision {
            step: Step::Finish {
                status: NotificationStatus::Failed,
                channel: None,
            },
            verdicts: Vec::new(),
            reasons: vec![Reason::NoChannelLeft { story: Vec::new() }],
            callback: callback.map(str::to_owned),
            content_went_by: None,
        }
    }

    #[test]
    fn the_routing_event_says_what_the_channel_carries() {
        let table = [
            (Sensitivity::Normal, ChannelKind::Whatsapp, None),
            (
                Sensitivity::Sensitive,
                ChannelKind::Whatsapp,
                Some(
                    "sensitive topic test_result_ready: whatsapp carries a notice without content",
                ),
            ),
            (
                Sensitivity::Sensitive,
                ChannelKind::Sms,
                Some("sensitive topic test_result_ready: sms carries a notice without content"),
            ),
            (
                Sensitivity::Sensitive,
                ChannelKind::Email,
                Some("sensitive topic test_result_ready: email carries the content"),
            ),
            (
                Sensitivity::Sensitive,
                ChannelKind::Voice,
                Some("sensitive topic test_result_ready: voice carries the content"),
            ),
        ];
        for (sensitivity, channel, expected) in table {
            let mut decision = send_on(channel);
            apply(&mut decision, "test_result_ready", sensitivity, true, true);
            assert_eq!(
                decision.reasons.get(1).map(ToString::to_string).as_deref(),
                expected,
                "{sensitivity:?} on {channel}"
            );
            assert_eq!(decision.callback, None);
        }
    }

    #[test]
    fn a_restricted_topic_opens_one_callback_task_when_first_acted_on() {
        let mut first = send_on(ChannelKind::Sms);
        apply(&mut first, "oncology", Sensitivity::Restricted, true, true);
        assert_eq!(
            texts(&first.reasons[1..]),
            [
                "restricted topic oncology: sms carries a notice without content",
                "restricted topic oncology: call the patient"
            ]
        );
        assert_eq!(
            first.callback.as_deref(),
            Some("restricted topic oncology: call the patient")
        );

        let mut nothing_to_send_on = failed(Some("no channel left to try"));
        apply(
            &mut nothing_to_send_on,
            "oncology",
            Sensitivity::Restricted,
            true,
            true,
        );
        assert_eq!(
            nothing_to_send_on.callback.as_deref(),
            Some("restricted topic oncology: call the patient")
        );

        let mut fallback = send_on(ChannelKind::Email);
        apply(
            &mut fallback,
            "oncology",
            Sensitivity::Restricted,
            false,
            true,
        );
        assert_eq!(
            fallback.callback, None,
            "already open since the first round"
        );

        let mut all_failed_later = failed(Some("no channel left to try"));
        apply(
            &mut all_failed_later,
            "oncology",
            Sensitivity::Restricted,
            false,
            true,
        );
        assert_eq!(all_failed_later.callback, None, "already open");
    }

    #[test]
    fn a_restricted_topic_waiting_for_its_time_opens_no_task_yet() {
        let mut waiting = Decision {
            step: Step::Wait {
                until: jiff::Timestamp::from_second(1_800_000_000).expect("time"),
                status: NotificationStatus::Scheduled,
            },
            verdicts: Vec::new(),
            reasons: Vec::new(),
            callback: None,
            content_went_by: None,
        };
        apply(
            &mut waiting,
            "oncology",
            Sensitivity::Restricted,
            true,
            true,
        );
        assert_eq!(waiting.callback, None);
        assert!(waiting.reasons.is_empty());
    }

    #[test]
    fn a_restricted_topic_without_a_number_to_call_says_so() {
        let mut decision = send_on(ChannelKind::Email);
        apply(
            &mut decision,
            "oncology",
            Sensitivity::Restricted,
            true,
            false,
        );
        assert_eq!(decision.callback, None);
        assert_eq!(
            decision.reasons.last().map(ToString::to_string).as_deref(),
            Some("restricted topic oncology: no phone number to call the patient back")
        );
    }
}
