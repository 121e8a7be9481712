use std::sync::Arc;

use jiff::SignedDuration;
use jiff::tz::TimeZone;

use super::*;
use crate::domain::ClinicHours;
use crate::policy::MessagingHours;

/// A patient of a clinic with the Israeli default hours, writing on `channel` at `local` time
/// in Jerusalem; nothing sent to them before, no reminder answered.
struct Scene {
    settings: InboundSettings,
    channel: ChannelKind,
    now: Timestamp,
    opted_out: Vec<ChannelKind>,
    clocks: ConversationClocks,
    reminder: Option<AnsweredReminder>,
}

/// Sunday 2026-12-06 (a working day) at `hh:mm` in Jerusalem.
fn sunday_at(time: &str) -> Timestamp {
    format!("2026-12-06T{time}[Asia/Jerusalem]")
        .parse::<jiff::Zoned>()
        .expect("time")
        .timestamp()
}

fn minutes_before(now: Timestamp, minutes: i64) -> Option<Timestamp> {
    Some(now - SignedDuration::from_mins(minutes))
}

impl Scene {
    fn at(time: &str, channel: ChannelKind) -> Self {
        Self {
            settings: InboundSettings::default(),
            channel,
            now: sunday_at(time),
            opted_out: Vec::new(),
            clocks: ConversationClocks::default(),
            reminder: None,
        }
    }

    fn answering_a_reminder(mut self, status: AppointmentStatus) -> Self {
        self.reminder = Some(AnsweredReminder {
            appointment: AppointmentId::from_stored("apt_1".to_owned()),
            starts_at: self.now + SignedDuration::from_hours(20),
            status,
        });
        self
    }

    /// Whether the clinic's real default hours are open now, as the pipeline asks.
    fn in_messaging_hours(&self) -> bool {
        let hours = MessagingHours {
            clinic: Arc::new(ClinicHours::israeli_default()),
            clinic_zone: TimeZone::get("Asia/Jerusalem").expect("zone"),
            quiet_hours: None,
            patient_zone: TimeZone::get("Asia/Jerusalem").expect("zone"),
        };
        hours.next_allowed(self.now) == Some(self.now)
    }

    fn read(&self, text: &str) -> InboundPlan {
        self.read_with(Some(text), None)
    }

    fn read_with(&self, text: Option<&str>, payload: Option<&str>) -> InboundPlan {
        read_inbound(&InboundFacts {
            channel: self.channel,
            text,
            reply_payload: payload,
            opted_out: &self.opted_out,
            now: self.now,
            in_messaging_hours: self.in_messaging_hours(),
            clocks: self.clocks,
            reminder: self.reminder.clone(),
            settings: &self.settings,
        })
    }
}

const WHATSAPP: ChannelKind = ChannelKind::Whatsapp;
const SMS: ChannelKind = ChannelKind::Sms;

fn held(plan: &InboundPlan) -> Vec<(AutoReply, String)> {
    let told = |(reply, why): &(AutoReply, HeldBack)| (*reply, why.to_string());
    plan.held_back.iter().map(told).collect()
}

#[test]
fn a_patient_writing_at_22_00_gets_the_away_message_and_ten_minutes_later_none() {
    let mut scene = Scene::at("22:00", WHATSAPP);

    let first = scene.read("Can I move my appointment?");
    scene.clocks.last_away_at = Some(scene.now);
    scene.now += SignedDuration::from_mins(10);
    let second = scene.read("Hello?");

    assert_eq!(first.intent, Intent::None);
    assert_eq!(first.replies, [AutoReply::Away]);
    assert_eq!(second.replies, []);
    assert_eq!(
        held(&second),
        [(AutoReply::Away, "one went 10 min ago".into())]
    );
}

#[test]
fn a_patient_writing_at_10_00_gets_a_receipt() {
    let plan = Scene::at("10:00", SMS).read("שלום, אפשר לקבל הפניה?");

    assert_eq!(plan.replies, [AutoReply::Receipt]);
    assert_eq!(plan.held_back, []);
}

#[test]
fn a_receipt_goes_again_once_the_period_has_passed() {
    let mut scene = Scene::at("10:00", WHATSAPP);
    scene.clocks.last_receipt_at = minutes_before(scene.now, 11 * 60);
    assert_eq!(scene.read("again").replies, []);

    scene.clocks.last_receipt_at = minutes_before(scene.now, 12 * 60);
    assert_eq!(scene.read("again").replies, [AutoReply::Receipt]);
}

#[test]
fn receipt_and_away_are_counted_apart() {
    let mut scene = Scene::at("18:30", WHATSAPP);
    scene.clocks.last_receipt_at = minutes_before(scene.now, 45);

    assert_eq!(scene.read("one more thing").replies, [AutoReply::Away]);
}

#[test]
fn no_automatic_answer_while_staff_are_talking_with_the_patient() {
    let mut scene = Scene::at("10:00", WHATSAPP);
    scene.clocks.last_staff_reply_at = minutes_before(scene.now, 4);

    let plan = scene.read("thanks, and one more question");

    assert_eq!(plan.replies, []);
    assert_eq!(
        held(&plan),
        [(AutoReply::Receipt, "staff answered 4 min ago".into())]
    );
}

#[test]
fn nothing_automatic_goes_to_a_channel_the_patient_left() {
    let mut scene = Scene::at("10:00", SMS);
    scene.opted_out = vec![SMS];

    let plan = scene.read("hello");

    assert_eq!(plan.replies, []);
    assert_eq!(
        held(&plan),
        [(AutoReply::Receipt, "the patient opted out of sms".into())]
    );
}

#[test]
fn stop_in_any_case_and_with_punctuation_opts_out_of_the_channel_it_came_on() {
    for written in [
        "STOP",
        " stop ",
        "Stop!",
        "הסר",
        "הָסֵר",
        "стоп",
        "إلغاء الاشتراك",
    ] {
        let plan = Scene::at("22:00", WHATSAPP).read(written);

        assert_eq!(plan.intent, Intent::OptOut, "{written}");
        assert_eq!(plan.opt_out, Some(WHATSAPP), "{written}");
        assert_eq!(plan.replies, [AutoReply::OptOut], "{written}");
        assert_eq!(
            held(&plan),
            [(AutoReply::Away, "the opt_out answer went instead".into())]
        );
    }
}

#[test]
fn a_stop_is_confirmed_once() {
    let mut scene = Scene::at("10:00", WHATSAPP);
    scene.opted_out = vec![WHATSAPP];

    let plan = scene.read("stop");

    assert_eq!(plan.opt_out, None);
    assert_eq!(plan.replies, []);
    assert_eq!(plan.held_back[0].0, AutoReply::OptOut);
}

#[test]
fn a_sentence_with_stop_in_it_goes_to_staff() {
    let plan = Scene::at("10:00", WHATSAPP).read("please stop calling me at night");

    assert_eq!(plan.intent, Intent::None);
    assert_eq!(plan.opt_out, None);
    assert_eq!(plan.replies, [AutoReply::Receipt]);
}

#[test]
fn remove_in_hebrew_by_sms_opts_out_of_sms_and_we_confirm_it() {
    let plan = Scene::at("10:00", SMS).read("הסר");

    assert_eq!(plan.opt_out, Some(SMS));
    assert_eq!(plan.replies, [AutoReply::OptOut]);
}

#[test]
fn stop_by_sms_is_confirmed_by_twilio_not_by_us() {
    let plan = Scene::at("10:00", SMS).read("STOP");

    assert_eq!(plan.opt_out, Some(SMS));
    assert_eq!(plan.replies, []);
    assert!(held(&plan).contains(&(AutoReply::OptOut, HeldBack::TwilioStopped.to_string())));
}

#[test]
fn start_opens_the_channel_again_and_says_so() {
    let mut scene = Scene::at("10:00", WHATSAPP);
    scene.opted_out = vec![WHATSAPP, SMS];

    let plan = scene.read("התחל");

    assert_eq!(plan.intent, Intent::OptIn);
    assert_eq!(plan.opt_in, Some(WHATSAPP));
    assert_eq!(plan.replies, [AutoReply::OptIn]);
}

#[test]
fn start_by_sms_is_confirmed_by_twilio() {
    let mut scene = Scene::at("10:00", SMS);
    scene.opted_out = vec![SMS];

    let plan = scene.read("Start");

    assert_eq!(plan.opt_in, Some(SMS));
    assert_eq!(plan.replies, []);
    assert!(held(&plan).contains(&(AutoReply::OptIn, HeldBack::TwilioAnswers.to_string())));
}

#[test]
fn replying_1_or_yes_to_a_reminder_confirms_the_appointment() {
    for written in ["1", "1️⃣", "כן", "Yes!", "да", "نعم", "ok"] {
        let scene = Scene::at("19:30", WHATSAPP).answering_a_reminder(AppointmentStatus::Booked);

        let plan = scene.read(written);

        assert_eq!(plan.intent, Intent::Confirm, "{written}");
        let confirmed = (
            AppointmentId::from_stored("apt_1".into()),
            AppointmentAnswer::Confirmed,
        );
        assert_eq!(plan.appointment, Some(confirmed), "{written}");
        assert_eq!(plan.replies, [AutoReply::Confirmed], "{written}");
    }
}

#[test]
fn confirming_a_confirmed_appointment_changes_nothing_but_is_answered() {
    let scene = Scene::at("10:00", WHATSAPP).answering_a_reminder(AppointmentStatus::Confirmed);

    let plan = scene.read("1");

    assert_eq!(plan.appointment, None);
    assert_eq!(plan.replies, [AutoReply::Confirmed]);
}

#[test]
fn the_reminders_button_answers_its_own_appointment_only() {
    let scene = Scene::at("10:00", WHATSAPP).answering_a_reminder(AppointmentStatus::Booked);

    let confirm = scene.read_with(Some("Confirm"), Some("CONFIRM:apt_1"));
    let cancel = scene.read_with(Some("Cancel"), Some("CANCEL:apt_1"));
    let older = scene.read_with(Some("Confirm"), Some("CONFIRM:apt_0"));

    assert_eq!(confirm.intent, Intent::Confirm);
    assert_eq!(cancel.intent, Intent::Cancel);
    assert_eq!(older.intent, Intent::AmbiguousReply);
    assert_eq!(older.appointment, None);
}

#[test]
fn no_2_or_cancel_asks_to_cancel_and_the_booking_system_decides() {
    for written in ["2", "לא", "ביטול", "cancel", "нет", "لا", "إلغاء"] {
        let scene = Scene::at("10:00", WHATSAPP).answering_a_reminder(AppointmentStatus::Booked);

        let plan = scene.read(written);

        let requested = AppointmentAnswer::CancellationRequested;
        assert_eq!(plan.intent, Intent::Cancel, "{written}");
        assert_eq!(plan.appointment.map(|(_, answer)| answer), Some(requested));
        assert_eq!(plan.opt_out, None, "{written}: a cancel is not a stop");
        assert_eq!(plan.replies, [AutoReply::CancellationRequested]);
    }
}

#[test]
fn cancel_by_sms_also_stops_sms_at_twilio_which_we_record() {
    let scene = Scene::at("10:00", SMS).answering_a_reminder(AppointmentStatus::Booked);

    let plan = scene.read("Cancel");

    assert_eq!(plan.intent, Intent::Cancel);
    assert!(plan.appointment.is_some());
    assert_eq!(plan.opt_out, Some(SMS));
    assert_eq!(plan.replies, []);
}

#[test]
fn yes_without_a_reminder_to_answer_is_a_message_for_staff() {
    let plan = Scene::at("10:00", WHATSAPP).read("yes");

    assert_eq!(plan.intent, Intent::None);
    assert_eq!(plan.appointment, None);
    assert_eq!(plan.replies, [AutoReply::Receipt]);
}

#[test]
fn a_short_unclear_reply_to_a_reminder_goes_to_staff_with_a_receipt() {
    let scene = Scene::at("10:00", WHATSAPP).answering_a_reminder(AppointmentStatus::Booked);

    let short = scene.read("maybe, not sure");
    let long = scene.read("I am not sure I can come, my son is sick");

    assert_eq!(short.intent, Intent::AmbiguousReply);
    assert_eq!(short.appointment, None);
    assert_eq!(short.replies, [AutoReply::Receipt]);
    assert_eq!(long.intent, Intent::None);
}

#[test]
fn an_urgent_message_in_hours_gets_the_urgent_answer_instead_of_a_receipt() {
    let plan = Scene::at("10:00", WHATSAPP).read("Doctor, I have chest pain, what do I do?");

    assert_eq!(plan.intent, Intent::Urgent);
    assert!(plan.urgent);
    assert_eq!(plan.replies, [AutoReply::Urgent]);
    assert_eq!(
        held(&plan),
        [(AutoReply::Receipt, "the urgent answer went instead".into())]
    );
}

#[test]
fn an_urgent_message_at_night_gets_the_urgent_answer_then_the_away_message() {
    let plan = Scene::at("23:10", SMS).read("יש לי כאב בחזה");

    assert_eq!(plan.replies, [AutoReply::Urgent, AutoReply::Away]);
}

#[test]
fn urgent_phrases_of_every_language_are_looked_for() {
    let scene = Scene::at("10:00", WHATSAPP);
    for written in [
        "אני לא מצליח לנשום",
        "ضيق في التنفس منذ الصباح",
        "Не могу дышать",
        "I think I'm going to kill myself",
        "אני רוצה למות",
    ] {
        assert!(scene.read(written).urgent, "{written}");
    }
    assert!(!scene.read("my chest x-ray results?").urgent);
}

#[test]
fn a_photo_without_words_gets_a_receipt() {
    let scene = Scene::at("10:00", WHATSAPP).answering_a_reminder(AppointmentStatus::Booked);

    let plan = scene.read_with(None, None);

    assert_eq!(plan.intent, Intent::None);
    assert_eq!(plan.replies, [AutoReply::Receipt]);
}

#[test]
fn a_clinics_own_words_replace_the_defaults() {
    let mut scene = Scene::at("10:00", WHATSAPP).answering_a_reminder(AppointmentStatus::Booked);
    scene.settings.keywords.confirm = vec!["מגיע בעזרת השם".to_owned()];

    assert_eq!(scene.read("מגיע בעזרת השם").intent, Intent::Confirm);
    assert_eq!(scene.read("1").intent, Intent::AmbiguousReply);
}

#[test]
fn every_auto_reply_has_a_builtin_in_four_languages_that_reply_params_fill() {
    use crate::domain::Language;
    use crate::policy::templates::{choose, render};

    for reply in AutoReply::ALL {
        for language in ["he", "ar", "ru", "en"] {
            let name = reply_template(*reply);
            let chosen = choose(name, &[], [language, language]).expect("builtin");
            let params = reply_params(
                &InboundSettings::default(),
                &ClinicHours::israeli_default(),
                &Language::parse(language).expect("language"),
                None,
            );

            assert_eq!(chosen.language, language, "{name}");
            assert!(
                !chosen.copy.sms.text.contains("{{patient}}"),
                "{name} {language}"
            );
            for channel in [WHATSAPP, SMS] {
                let rendering = render(&chosen, channel, &params, "Clinic", "");
                assert!(rendering.is_ok(), "{name} {language} {channel}");
            }
        }
    }
}

#[test]
fn the_urgent_answer_and_the_away_message_give_the_emergency_number() {
    use crate::domain::Language;
    use crate::policy::templates::{choose, render};

    for reply in [AutoReply::Urgent, AutoReply::Away] {
        let chosen = choose(reply_template(reply), &[], ["he", "he"]).expect("builtin");
        let params = reply_params(
            &InboundSettings::default(),
            &ClinicHours::israeli_default(),
            &Language::parse("he").expect("language"),
            None,
        );
        let body = render(&chosen, SMS, &params, "מרפאת הדר", "")
            .expect("render")
            .body;
        assert!(body.contains("101"), "{body}");
    }
}

/// A receipt or an away message held back for a keyword says the keyword's answer went only
/// when it did: a second stop, or a stop Twilio answers, got no answer from us.
#[test]
fn a_receipt_held_back_for_a_keyword_whose_answer_was_held_back_too_does_not_claim_it_went() {
    let unanswered = |intent| HeldBack::KeywordUnanswered(intent).to_string();
    let mut again = Scene::at("22:00", SMS);
    again.opted_out = vec![SMS];
    let plan = again.read("הסר");
    assert_eq!(plan.replies, []);
    assert!(held(&plan).contains(&(AutoReply::Away, unanswered(Intent::OptOut))));

    let plan = Scene::at("10:00", SMS).read("STOP");
    assert!(held(&plan).contains(&(AutoReply::Receipt, unanswered(Intent::OptOut))));

    let plan = Scene::at("22:00", WHATSAPP).read("הסר");
    assert_eq!(plan.replies, [AutoReply::OptOut]);
    assert_eq!(
        held(&plan),
        [(AutoReply::Away, "the opt_out answer went instead".into())]
    );
    assert_eq!(
        unanswered(Intent::OptOut),
        "the message was read as the opt_out keyword; no receipt or away message answers a keyword"
    );
}

#[test]
fn a_confirmation_or_a_stop_word_is_done_by_medrelay_while_a_question_or_a_cancel_waits_for_staff()
{
    assert!(!waits_for_staff(Intent::Confirm));
    assert!(!waits_for_staff(Intent::OptOut));
    assert!(!waits_for_staff(Intent::OptIn));
    assert!(waits_for_staff(Intent::None));
    assert!(waits_for_staff(Intent::Urgent));
    assert!(waits_for_staff(Intent::Cancel));
    assert!(waits_for_staff(Intent::AmbiguousReply));
}
