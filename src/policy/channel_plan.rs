use std::borrow::Cow;

use jiff::Timestamp;
use medrelay_channels::{ChannelKind, Recipient, RecipientFact, twilio};

use crate::domain::{AutoReply, Clinic, Origin, Patient, Phone, Reason, RouteSource, SkipReason};

/// A channel that can carry the notification, with the address it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChannel {
    pub channel: ChannelKind,
    pub to: Recipient,
}

/// What a provider said about one of the patient's addresses on one channel, still trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFact {
    pub channel: ChannelKind,
    pub fact: RecipientFact,
    pub learned_at: Timestamp,
}

/// A clinic's channel paused because its provider account is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSuspension {
    pub channel: ChannelKind,
    pub reason: String,
    pub until: Timestamp,
}

/// How long after a patient's last WhatsApp message the business may answer in free text.
pub const WHATSAPP_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// What this message would be on WhatsApp. Meta lets a business send free text only within 24
/// hours of the patient's last message to it (the customer service window); outside it only an
/// approved template can start the conversation, and free text is refused (131047).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhatsAppContent {
    Template,
    FreeTextInWindow,
    FreeTextOutsideWindow,
}

/// The channels to try in order, and a reason for each one left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPlan {
    pub channels: Vec<PlannedChannel>,
    /// Where the order came from: staff's choice, the patient's preference or the clinic default.
    pub source: RouteSource,
    /// Each channel left out, as a [`Reason::Skipped`].
    pub skipped: Vec<Reason>,
    /// Staff can call the patient back when every channel fails: there is a number to call.
    pub callback_possible: bool,
    /// When the first channel skipped for a suspension comes back.
    pub suspended_until: Option<Timestamp>,
}

/// Staff's choice for this message wins; then the patient's preference; then the clinic's order.
/// A channel is dropped when the clinic has not set it up, the patient opted out of it, the
/// patient has no contact for it, or a provider told us it cannot reach the patient (`facts`).
/// A landline (by its number range, or as a provider said) takes no SMS, nor WhatsApp unless the
/// clinic says the number is on it, and is called where a text was planned. A channel the clinic's
/// provider account cannot serve right now (`suspended`) is skipped, and so is WhatsApp for free
/// text outside the patient's 24-hour window.
pub fn channel_plan(
    requested: Option<ChannelKind>,
    patient: &Patient,
    clinic: &Clinic,
    facts: &[KnownFact],
    suspended: &[ChannelSuspension],
    whatsapp: WhatsAppContent,
) -> ChannelPlan {
    let (order, source) = match requested {
        Some(channel) => (vec![channel], RouteSource::StaffChose { channel }),
        None if !patient.channels.is_empty() => (
            patient.channels.clone(),
            RouteSource::PatientPreference {
                channels: patient.channels.clone(),
            },
        ),
        None => (
            clinic.default_channels.clone(),
            RouteSource::ClinicDefault {
                channels: clinic.default_channels.clone(),
            },
        ),
    };
    let mut plan = ChannelPlan {
        channels: Vec::new(),
        source,
        skipped: Vec::new(),
        callback_possible: patient.phone.is_some(),
        suspended_until: None,
    };
    let order: Vec<ChannelKind> = match landline(patient, facts) {
        Some(why)
            if requested.is_none()
                && order.contains(&ChannelKind::Sms)
                && !order.contains(&ChannelKind::Voice) =>
        {
            plan.skipped.push(Reason::Skipped {
                channel: ChannelKind::Sms,
                reason: why,
            });
            order
                .into_iter()
                .map(|c| {
                    if c == ChannelKind::Sms {
                        ChannelKind::Voice
                    } else {
                        c
                    }
                })
                .collect()
        }
        _ => order,
    };

    for channel in order {
        let skip = |reason| Reason::Skipped { channel, reason };
        if let Some(suspension) = suspended.iter().find(|s| s.channel == channel) {
            plan.suspended_until = Some(
                plan.suspended_until
                    .map_or(suspension.until, |u| u.min(suspension.until)),
            );
            plan.skipped.push(skip(SkipReason::Suspended {
                until: suspension.until,
                cause: suspension.reason.clone(),
            }));
            continue;
        }
        if channel == ChannelKind::Whatsapp && whatsapp == WhatsAppContent::FreeTextOutsideWindow {
            plan.skipped.push(skip(SkipReason::OutsideWhatsAppWindow));
            continue;
        }
        if let Some(known) = facts.iter().find(|f| f.channel == channel) {
            plan.skipped.push(skip(fact_reason(known)));
            continue;
        }
        match usable(channel, patient, clinic) {
            Ok(to) => plan.channels.push(PlannedChannel { channel, to }),
            Err(why) => plan.skipped.push(skip(why)),
        }
    }
    plan
}

/// The patient as the channel plan of a notification from `origin`, pinned to `requested`, sees
/// them. The confirmation of an opt-out may go on the channel it confirms, although the patient
/// just closed it (they must hear that it worked, where they asked); every other notification
/// honours every opt-out. An auto reply on WhatsApp answers a WhatsApp message from the
/// patient's number, so that number is on WhatsApp whatever the clinic recorded.
pub fn patient_for_plan(
    origin: Origin,
    requested: Option<ChannelKind>,
    patient: &Patient,
) -> Cow<'_, Patient> {
    let (Origin::Auto(reply), Some(channel)) = (origin, requested) else {
        return Cow::Borrowed(patient);
    };
    let confirms_opt_out = reply == AutoReply::OptOut && patient.opted_out.contains(&channel);
    let wrote_on_whatsapp = channel == ChannelKind::Whatsapp && !patient.whatsapp;
    if !confirms_opt_out && !wrote_on_whatsapp {
        return Cow::Borrowed(patient);
    }
    let mut seen = patient.clone();
    if confirms_opt_out {
        seen.opted_out.retain(|c| *c != channel);
    }
    seen.whatsapp |= wrote_on_whatsapp;
    Cow::Owned(seen)
}

/// Whether staff get a callback task when nothing carries a notification from `origin`. An
/// automatic acknowledgement (a receipt, the away message, a keyword's confirmation) is not worth
/// a call; the answer to an urgent message is, and so is everything the clinic or its staff wrote.
pub fn callback_when_unreached(origin: Origin) -> bool {
    !matches!(origin, Origin::Auto(reply) if reply != AutoReply::Urgent)
}

/// How we know the patient's number is a landline, if we do: its number range, or a provider's
/// refusal of a text to it.
fn landline(patient: &Patient, facts: &[KnownFact]) -> Option<SkipReason> {
    if patient.phone.as_ref().is_some_and(Phone::is_landline) {
        return Some(SkipReason::Landline);
    }
    facts
        .iter()
        .find(|f| f.fact == RecipientFact::Landline)
        .map(fact_reason)
}

/// Leaves SMS out of `plan` when `sms_text`, the content it would carry, is longer than Twilio
/// takes (it would refuse it with 21617): the patient gets it on the next channel instead.
pub fn skip_sms_for_overlong_text(plan: &mut ChannelPlan, sms_text: &str) {
    let length = twilio::body_units(sms_text);
    if length <= twilio::MAX_BODY_UNITS
        || !plan.channels.iter().any(|c| c.channel == ChannelKind::Sms)
    {
        return;
    }
    plan.channels.retain(|c| c.channel != ChannelKind::Sms);
    plan.skipped.push(Reason::Skipped {
        channel: ChannelKind::Sms,
        reason: SkipReason::TooLongForSms {
            length,
            max: twilio::MAX_BODY_UNITS,
        },
    });
}

fn fact_reason(known: &KnownFact) -> SkipReason {
    let learned_at = known.learned_at;
    match known.fact {
        RecipientFact::NotOnWhatsapp => SkipReason::NotOnWhatsAppSaysProvider { learned_at },
        RecipientFact::OptedOut => SkipReason::UnsubscribedAtProvider { learned_at },
        RecipientFact::Landline => SkipReason::LandlineSaysProvider { learned_at },
    }
}

fn usable(
    channel: ChannelKind,
    patient: &Patient,
    clinic: &Clinic,
) -> Result<Recipient, SkipReason> {
    if !clinic.default_channels.contains(&channel) {
        return Err(SkipReason::NotConfigured);
    }
    if patient.opted_out.contains(&channel) {
        return Err(SkipReason::OptedOut);
    }
    let phone = || {
        patient
            .phone
            .as_ref()
            .map(|p| Recipient::Phone(p.as_str().to_owned()))
            .ok_or(SkipReason::NoPhone)
    };
    let is_landline = patient.phone.as_ref().is_some_and(Phone::is_landline);
    match channel {
        ChannelKind::Sms if is_landline => Err(SkipReason::Landline),
        ChannelKind::Whatsapp if is_landline && !patient.whatsapp => Err(SkipReason::Landline),
        ChannelKind::Whatsapp if patient.phone.is_some() && !patient.whatsapp => {
            Err(SkipReason::NotOnWhatsApp)
        }
        ChannelKind::Whatsapp | ChannelKind::Sms | ChannelKind::Voice => phone(),
        ChannelKind::Email => patient
            .email
            .as_ref()
            .map(|e| Recipient::Email(e.as_str().to_owned()))
            .ok_or(SkipReason::NoEmail),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn texts(reasons: &[Reason]) -> Vec<String> {
        reasons.iter().map(ToString::to_string).collect()
    }
    use crate::domain::{ClinicId, EmailAddress, Language, PatientId, PhoneRegion, TimeZoneName};

    /// The plan for `patient` at the test clinic, with nothing known about their addresses.
    pub(crate) fn default_plan(patient: &Patient) -> ChannelPlan {
        channel_plan(
            None,
            patient,
            &clinic(),
            &[],
            &[],
            WhatsAppContent::Template,
        )
    }

    pub(crate) fn clinic() -> Clinic {
        Clinic {
            id: ClinicId::generate(),
            slug: "demo".into(),
            name: "Demo Clinic".into(),
            timezone: TimeZoneName::parse("Asia/Jerusalem").expect("zone"),
            default_language: Language::parse("he").expect("language"),
            default_channels: vec![ChannelKind::Whatsapp, ChannelKind::Sms, ChannelKind::Email],
            phone: None,
            phone_region: PhoneRegion::ISRAEL,
        }
    }

    pub(crate) fn patient() -> Patient {
        Patient {
            id: PatientId::generate(),
            clinic_id: ClinicId::generate(),
            external_id: "p-1".into(),
            name: "Dana".into(),
            language: Language::parse("he").expect("language"),
            timezone: TimeZoneName::parse("Asia/Jerusalem").expect("zone"),
            phone: Phone::parse("054-1234567", PhoneRegion::ISRAEL).ok(),
            whatsapp: true,
            email: EmailAddress::parse("dana@example.org"),
            channels: Vec::new(),
            opted_out: Vec::new(),
            quiet_hours: None,
            birth_date: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
            erased_at: None,
        }
    }

    fn kinds(plan: &ChannelPlan) -> Vec<ChannelKind> {
        plan.channels.iter().map(|c| c.channel).collect()
    }

    #[test]
    fn without_preferences_the_clinic_order_is_used() {
        let plan = default_plan(&patient());
        assert_eq!(
            kinds(&plan),
            [ChannelKind::Whatsapp, ChannelKind::Sms, ChannelKind::Email]
        );
        assert_eq!(
            plan.source.to_string(),
            "clinic default order: whatsapp, sms, email"
        );
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn the_patients_preference_beats_the_clinic_order() {
        let mut patient = patient();
        patient.channels = vec![ChannelKind::Email, ChannelKind::Sms];
        let plan = default_plan(&patient);
        assert_eq!(kinds(&plan), [ChannelKind::Email, ChannelKind::Sms]);
    }

    #[test]
    fn staffs_choice_beats_the_patients_preference() {
        let mut patient = patient();
        patient.channels = vec![ChannelKind::Email];
        let plan = channel_plan(
            Some(ChannelKind::Sms),
            &patient,
            &clinic(),
            &[],
            &[],
            WhatsAppContent::Template,
        );
        assert_eq!(kinds(&plan), [ChannelKind::Sms]);
        assert_eq!(plan.source.to_string(), "staff chose sms");
    }

    #[test]
    fn each_unusable_channel_is_skipped_with_its_reason() {
        let mut patient = patient();
        patient.channels = vec![
            ChannelKind::Whatsapp,
            ChannelKind::Sms,
            ChannelKind::Email,
            ChannelKind::Voice,
        ];
        patient.opted_out = vec![ChannelKind::Whatsapp];
        patient.email = None;
        let plan = default_plan(&patient);
        assert_eq!(kinds(&plan), [ChannelKind::Sms]);
        assert_eq!(
            texts(&plan.skipped),
            [
                "whatsapp skipped: patient opted out",
                "email skipped: no email address on record",
                "voice skipped: not configured for this clinic",
            ]
        );
    }

    #[test]
    fn free_text_skips_whatsapp_outside_the_patients_24_hour_window_but_a_template_does_not() {
        let outside = channel_plan(
            None,
            &patient(),
            &clinic(),
            &[],
            &[],
            WhatsAppContent::FreeTextOutsideWindow,
        );
        assert_eq!(kinds(&outside), [ChannelKind::Sms, ChannelKind::Email]);
        assert!(
            outside.skipped[0]
                .to_string()
                .starts_with("whatsapp skipped: free text goes on WhatsApp only within 24 hours")
        );
        for content in [WhatsAppContent::FreeTextInWindow, WhatsAppContent::Template] {
            let plan = channel_plan(None, &patient(), &clinic(), &[], &[], content);
            assert_eq!(kinds(&plan)[0], ChannelKind::Whatsapp, "{content:?}");
        }
    }

    #[test]
    fn a_patient_not_on_whatsapp_is_not_sent_whatsapp() {
        let mut patient = patient();
        patient.whatsapp = false;
        let plan = default_plan(&patient);
        assert_eq!(kinds(&plan), [ChannelKind::Sms, ChannelKind::Email]);
        assert_eq!(
            texts(&plan.skipped),
            ["whatsapp skipped: patient is not on WhatsApp"]
        );
    }

    fn learned(channel: ChannelKind, fact: RecipientFact) -> KnownFact {
        KnownFact {
            channel,
            fact,
            learned_at: "2026-11-20T10:00:00Z".parse().expect("time"),
        }
    }

    #[test]
    fn a_number_the_provider_said_is_not_on_whatsapp_skips_whatsapp() {
        let facts = [learned(ChannelKind::Whatsapp, RecipientFact::NotOnWhatsapp)];
        let plan = channel_plan(
            None,
            &patient(),
            &clinic(),
            &facts,
            &[],
            WhatsAppContent::Template,
        );
        assert_eq!(kinds(&plan), [ChannelKind::Sms, ChannelKind::Email]);
        assert_eq!(
            texts(&plan.skipped),
            ["whatsapp skipped: the number is not on WhatsApp (provider, 2026-11-20)"]
        );
    }

    #[test]
    fn a_landline_is_called_where_a_text_was_planned() {
        let mut clinic = clinic();
        clinic.default_channels.push(ChannelKind::Voice);
        let mut patient = patient();
        patient.channels = vec![ChannelKind::Sms, ChannelKind::Email];
        let facts = [learned(ChannelKind::Sms, RecipientFact::Landline)];
        let plan = channel_plan(
            None,
            &patient,
            &clinic,
            &facts,
            &[],
            WhatsAppContent::Template,
        );
        assert_eq!(kinds(&plan), [ChannelKind::Voice, ChannelKind::Email]);
        assert_eq!(
            texts(&plan.skipped),
            ["sms skipped: the number is a landline (provider, 2026-11-20); calling instead"]
        );
    }

    /// Dana's number, 02-6234567, is a Jerusalem landline.
    fn patient_on_a_landline(whatsapp: bool) -> Patient {
        let mut patient = patient();
        patient.phone = Phone::parse("02-6234567", PhoneRegion::ISRAEL).ok();
        patient.whatsapp = whatsapp;
        patient
    }

    #[test]
    fn a_landline_by_its_number_range_is_called_from_the_first_message() {
        let mut clinic = clinic();
        clinic.default_channels = vec![ChannelKind::Whatsapp, ChannelKind::Sms, ChannelKind::Voice];
        let plan = channel_plan(
            None,
            &patient_on_a_landline(false),
            &clinic,
            &[],
            &[],
            WhatsAppContent::Template,
        );
        assert_eq!(kinds(&plan), [ChannelKind::Voice]);
        assert_eq!(
            texts(&plan.skipped),
            [
                "whatsapp skipped: the number is a landline (its number range says so)",
                "sms skipped: the number is a landline (its number range says so)",
            ]
        );
    }

    #[test]
    fn a_landline_is_called_in_place_of_sms_when_voice_is_not_in_the_order() {
        let mut clinic = clinic();
        clinic.default_channels.push(ChannelKind::Voice);
        let mut patient = patient_on_a_landline(false);
        patient.channels = vec![ChannelKind::Sms, ChannelKind::Email];
        let plan = channel_plan(None, &patient, &clinic, &[], &[], WhatsAppContent::Template);
        assert_eq!(kinds(&plan), [ChannelKind::Voice, ChannelKind::Email]);
        assert_eq!(
            texts(&plan.skipped),
            ["sms skipped: the number is a landline (its number range says so)"]
        );
    }

    #[test]
    fn a_landline_the_clinic_says_is_on_whatsapp_keeps_whatsapp_but_takes_no_sms() {
        let plan = channel_plan(
            Some(ChannelKind::Sms),
            &patient_on_a_landline(true),
            &clinic(),
            &[],
            &[],
            WhatsAppContent::Template,
        );
        assert!(
            plan.channels.is_empty(),
            "staff's sms cannot reach a landline"
        );
        let plan = default_plan(&patient_on_a_landline(true));
        assert_eq!(kinds(&plan), [ChannelKind::Whatsapp, ChannelKind::Email]);
    }

    #[test]
    fn an_unsubscribe_at_the_provider_closes_that_channel() {
        let facts = [learned(ChannelKind::Sms, RecipientFact::OptedOut)];
        let plan = channel_plan(
            Some(ChannelKind::Sms),
            &patient(),
            &clinic(),
            &facts,
            &[],
            WhatsAppContent::Template,
        );
        assert!(plan.channels.is_empty());
        assert_eq!(
            texts(&plan.skipped),
            ["sms skipped: the patient unsubscribed at the provider (2026-11-20)"]
        );
    }

    #[test]
    fn a_suspended_channel_is_skipped_with_the_operators_reason() {
        let suspended = [ChannelSuspension {
            channel: ChannelKind::Whatsapp,
            reason: "190: access token expired".into(),
            until: "2026-11-26T10:15:00Z".parse().expect("time"),
        }];
        let plan = channel_plan(
            None,
            &patient(),
            &clinic(),
            &[],
            &suspended,
            WhatsAppContent::Template,
        );
        assert_eq!(kinds(&plan), [ChannelKind::Sms, ChannelKind::Email]);
        assert_eq!(
            texts(&plan.skipped),
            [
                "whatsapp skipped: suspended for this clinic until 2026-11-26T10:15:00Z (190: access token expired)"
            ]
        );
    }

    #[test]
    fn sms_is_skipped_with_the_reason_for_a_text_longer_than_twilio_takes() {
        let planned = |plan: &ChannelPlan| -> Vec<ChannelKind> {
            plan.channels.iter().map(|c| c.channel).collect()
        };
        // Twilio counts UTF-16 code units: each emoji two.
        let at_the_limit = format!("{}{}", "👍".repeat(799), "ab");
        let one_over = format!("{at_the_limit}c");

        let mut fits = default_plan(&patient());
        let before = planned(&fits);
        skip_sms_for_overlong_text(&mut fits, &at_the_limit);
        assert_eq!(planned(&fits), before);

        let mut too_long = default_plan(&patient());
        skip_sms_for_overlong_text(&mut too_long, &one_over);
        assert!(!planned(&too_long).contains(&ChannelKind::Sms));
        assert_eq!(
            texts(&too_long.skipped).last().map(String::as_str),
            Some("sms skipped: the text is 1601 characters, longer than the 1600 an SMS may carry")
        );
    }
    #[test]
    fn only_an_opt_outs_confirmation_goes_on_the_channel_just_closed() {
        let mut dana = patient();
        dana.opted_out = vec![ChannelKind::Sms];
        let cases = [
            (
                Origin::Auto(AutoReply::OptOut),
                Some(ChannelKind::Sms),
                vec![],
            ),
            (
                Origin::Auto(AutoReply::OptOut),
                Some(ChannelKind::Whatsapp),
                vec![ChannelKind::Sms],
            ),
            (
                Origin::Auto(AutoReply::OptOut),
                None,
                vec![ChannelKind::Sms],
            ),
            (
                Origin::Auto(AutoReply::Receipt),
                Some(ChannelKind::Sms),
                vec![ChannelKind::Sms],
            ),
            (Origin::Api, Some(ChannelKind::Sms), vec![ChannelKind::Sms]),
        ];
        for (origin, requested, honoured) in cases {
            assert_eq!(
                patient_for_plan(origin, requested, &dana).opted_out,
                honoured,
                "{origin:?} on {requested:?}"
            );
        }
    }

    #[test]
    fn an_auto_reply_on_whatsapp_takes_the_number_for_a_whatsapp_one() {
        let mut dana = patient();
        dana.whatsapp = false;
        let on = |origin| patient_for_plan(origin, Some(ChannelKind::Whatsapp), &dana).whatsapp;

        assert!(on(Origin::Auto(AutoReply::Receipt)));
        assert!(!on(Origin::Api));
    }

    #[test]
    fn an_unreached_receipt_makes_no_callback_task_but_an_unreached_urgent_answer_does() {
        assert!(!callback_when_unreached(Origin::Auto(AutoReply::Receipt)));
        assert!(!callback_when_unreached(Origin::Auto(AutoReply::Away)));
        assert!(!callback_when_unreached(Origin::Auto(AutoReply::OptOut)));
        assert!(callback_when_unreached(Origin::Auto(AutoReply::Urgent)));
        assert!(callback_when_unreached(Origin::Api));
        assert!(callback_when_unreached(Origin::StaffReply));
    }
}
