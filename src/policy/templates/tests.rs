use std::collections::BTreeMap;

use medrelay_channels::{ChannelKind, ProviderTemplate};

use super::builtin::TEMPLATES;
use super::*;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn text(text: &str) -> TextCopy {
    TextCopy {
        text: text.to_owned(),
    }
}

/// A clinic's own Hebrew reminder with a room number.
fn hebrew_reminder_with_room() -> TemplateCopy {
    TemplateCopy {
        params: vec!["date".into(), "time".into(), "room".into()],
        whatsapp: WhatsAppCopy {
            name: "hadar_reminder".into(),
            parameters: vec!["patient".into(), "date".into(), "room".into()],
            text: "{{patient}}, נתראה ב-{{date}} בחדר {{room}}".into(),
        },
        sms: text("תזכורת: {{date}} {{time}} חדר {{room}}"),
        email: EmailCopy {
            subject: "תזכורת מ{{clinic}}".into(),
            text: "שלום {{patient}}, התור ב-{{date}} {{time}}, חדר {{room}}.".into(),
        },
        voice: text("תזכורת לתור ב-{{date}} בשעה {{time}}"),
    }
}

fn own(name: &str, language: &str, content: TemplateCopy) -> OwnTemplate<TemplateCopy> {
    OwnTemplate {
        name: name.into(),
        language: language.into(),
        content,
    }
}

/// (template, the clinic's own copies, [patient's language, clinic's], expected language and
/// source)
type ChoiceCase<'a> = (
    &'a str,
    &'a [OwnTemplate<TemplateCopy>],
    [&'a str; 2],
    Option<(&'a str, Source)>,
);

/// (a change to a good template, the fields it breaks)
type FlawCase = (fn(&mut TemplateCopy), &'static [&'static str]);

#[test]
fn the_patients_language_then_the_clinics_then_english_picks_the_copy() {
    let clinic_hebrew = [own(
        "appointment_reminder",
        "he",
        hebrew_reminder_with_room(),
    )];
    let clinic_only_template = [own("lab_prep", "he", hebrew_reminder_with_room())];
    let cases: &[ChoiceCase] = &[
        (
            "appointment_reminder",
            &[],
            ["he", "en"],
            Some(("he", Source::Builtin)),
        ),
        (
            "appointment_reminder",
            &clinic_hebrew,
            ["he", "en"],
            Some(("he", Source::Clinic)),
        ),
        (
            "appointment_reminder",
            &clinic_hebrew,
            ["ru", "he"],
            Some(("ru", Source::Builtin)),
        ),
        (
            "appointment_reminder",
            &clinic_hebrew,
            ["fr", "he"],
            Some(("he", Source::Clinic)),
        ),
        (
            "appointment_reminder",
            &[],
            ["fr", "de"],
            Some(("en", Source::Builtin)),
        ),
        (
            "lab_prep",
            &clinic_only_template,
            ["ar", "he"],
            Some(("he", Source::Clinic)),
        ),
        ("lab_prep", &clinic_only_template, ["ar", "ru"], None),
        ("birthday", &[], ["he", "en"], None),
    ];
    for (name, own, languages, expected) in cases {
        let chosen = choose(name, own, *languages);
        assert_eq!(
            chosen.as_ref().map(|c| (c.language.as_str(), c.source)),
            *expected,
            "{name} for {languages:?}"
        );
    }
}

#[test]
fn a_clinic_without_its_own_copy_gets_the_builtin_approved_with_patient_and_clinic_first() {
    let chosen = choose("appointment_reminder", &[], ["he", "he"]).expect("builtin");
    assert_eq!(chosen.source, Source::Builtin);
    assert_eq!(
        chosen.copy.whatsapp.parameters,
        ["patient", "clinic", "date", "time"]
    );
}

#[test]
fn a_reminder_renders_in_the_patients_language() {
    let p = params(&[("date", "01.12"), ("time", "09:30")]);
    let chosen = choose("appointment_reminder", &[], ["he", "en"]).expect("chosen");
    let sms = render(&chosen, ChannelKind::Sms, &p, "מרפאת הדר", "דנה").expect("render");
    assert_eq!(
        sms.body,
        "שלום דנה, תזכורת לתור שלך אצל מרפאת הדר בתאריך 01.12 בשעה 09:30. נא להשיב 1 לאישור או 2 לביטול."
    );
    let email = render(&chosen, ChannelKind::Email, &p, "מרפאת הדר", "דנה").expect("render");
    assert_eq!(email.subject.as_deref(), Some("הודעה מאת מרפאת הדר"));
}

#[test]
fn each_channel_gets_its_own_rendering_and_whatsapp_the_approved_parameters_in_order() {
    let p = params(&[("date", "01.12"), ("time", "09:30"), ("room", "3")]);
    let chosen = Chosen {
        language: "he".into(),
        source: Source::Clinic,
        copy: hebrew_reminder_with_room(),
    };
    let render_on = |channel| render(&chosen, channel, &p, "הדר", "דנה").expect("render");
    let whatsapp = render_on(ChannelKind::Whatsapp);
    assert_eq!(whatsapp.body, "דנה, נתראה ב-01.12 בחדר 3");
    assert_eq!(
        whatsapp.provider_template,
        Some(ProviderTemplate {
            name: "hadar_reminder".into(),
            language_code: "he".into(),
            parameters: vec!["דנה".into(), "01.12".into(), "3".into()],
        })
    );
    assert_eq!(
        render_on(ChannelKind::Sms).body,
        "תזכורת: 01.12 09:30 חדר 3"
    );
    assert_eq!(
        render_on(ChannelKind::Email).subject.as_deref(),
        Some("תזכורת מהדר")
    );
    assert_eq!(
        render_on(ChannelKind::Voice).body,
        "תזכורת לתור ב-01.12 בשעה 09:30"
    );
    assert_eq!(
        render(
            &chosen,
            ChannelKind::Sms,
            &params(&[("date", "x")]),
            "c",
            "p"
        ),
        Err(TemplateError::MissingParam("time".into()))
    );
}

#[test]
fn meta_renders_an_approved_copy_from_its_positional_parameters() {
    let approved = hebrew_reminder_with_room().whatsapp;
    assert_eq!(
        render_approved(&approved, &["דנה", "01.12", "3"]).as_deref(),
        Some("דנה, נתראה ב-01.12 בחדר 3")
    );
    assert_eq!(render_approved(&approved, &["דנה"]), None);
    let builtin = builtin_approved("appointment_reminder", "en").expect("approved");
    assert_eq!(
        render_approved(&builtin, &["Anna", "Hadar", "01.12", "09:30"]).as_deref(),
        Some(
            "Hello Anna, a reminder of your appointment at Hadar on 01.12 at 09:30. Reply 1 to confirm or 2 to cancel."
        )
    );
}

#[test]
fn every_builtin_template_exists_in_four_languages_and_passes_the_clinic_checks() {
    for template in TEMPLATES {
        for language in ["he", "ar", "ru", "en"] {
            let copy = builtin(template.name, language).expect("language");
            assert_eq!(check_copy(&copy), [], "{} {language}", template.name);
        }
    }
}

/// Meta does not approve a template whose body starts or ends with a placeholder.
#[test]
fn no_builtin_text_starts_or_ends_with_a_placeholder() {
    for template in TEMPLATES {
        for (language, text) in template.texts {
            assert!(
                !text.starts_with("{{") && !text.ends_with("}}"),
                "{} {language}",
                template.name
            );
        }
    }
}

#[test]
fn parameters_are_checked_against_the_chosen_copy() {
    let copy = builtin("appointment_reminder", "en").expect("builtin");
    assert_eq!(
        check_params(&copy, &params(&[("date", "x")])),
        Err(TemplateError::MissingParam("time".into()))
    );
    assert_eq!(
        check_params(
            &copy,
            &params(&[("date", "x"), ("time", "y"), ("room", "3")])
        ),
        Err(TemplateError::UnknownParam("room".into()))
    );
    let own = hebrew_reminder_with_room();
    assert_eq!(
        check_params(
            &own,
            &params(&[("date", "x"), ("time", "y"), ("room", "3")])
        ),
        Ok(())
    );
}

#[test]
fn a_clinic_template_breaking_a_rule_is_refused_field_by_field() {
    let with = |change: fn(&mut TemplateCopy)| {
        let mut copy = hebrew_reminder_with_room();
        change(&mut copy);
        check_copy(&copy)
    };
    let fields = |flaws: Vec<Flaw>| -> Vec<String> { flaws.into_iter().map(|f| f.field).collect() };
    assert_eq!(check_copy(&hebrew_reminder_with_room()), []);
    let cases: &[FlawCase] = &[
        (|c| c.sms.text = "{{date}} {{doctor}}".into(), &["sms.text"]),
        (|c| c.voice.text = "{{ date }}".into(), &["voice.text"]),
        (|c| c.email.text = "{{date".into(), &["email.text"]),
        (|c| c.sms.text = " ".into(), &["sms.text"]),
        (|c| c.email.subject = "a\nb".into(), &["email.subject"]),
        (|c| c.params.push("clinic".into()), &["params[3]"]),
        (|c| c.params.push("date".into()), &["params[3]"]),
        (|c| c.params.push("floor".into()), &["params[3]"]),
        (
            |c| c.whatsapp.name = "Hadar Reminder".into(),
            &["whatsapp.name"],
        ),
        (
            |c| c.whatsapp.parameters.push("doctor".into()),
            &["whatsapp.parameters[3]"],
        ),
        (
            |c| c.whatsapp.parameters.pop().map(drop).unwrap_or_default(),
            &["whatsapp.text"],
        ),
        (
            |c| c.whatsapp.parameters.push("time".into()),
            &["whatsapp.parameters[3]"],
        ),
        (|c| c.sms.text = "x".repeat(1601), &["sms.text"]),
    ];
    for (change, expected) in cases {
        assert_eq!(fields(with(*change)), *expected);
    }
}

#[test]
fn a_quick_reply_may_use_only_the_clinic_and_the_patient() {
    let reply = |text: &str| QuickReply { text: text.into() };
    assert_eq!(
        check_quick_reply(
            "texts.en",
            &reply("{{patient}}, {{clinic}} is at 5 Herzl St."),
            100
        ),
        []
    );
    let flaws = check_quick_reply("texts.en", &reply("Come at {{time}}"), 100);
    assert_eq!(flaws.len(), 1);
    assert_eq!(flaws[0].field, "texts.en");
    assert_eq!(
        render_quick_reply(
            &reply("{{patient}}: {{clinic}}, 5 Herzl St."),
            "Hadar",
            "Dana"
        ),
        Ok("Dana: Hadar, 5 Herzl St.".into())
    );
    let own = [
        OwnTemplate {
            name: "directions".into(),
            language: "ru".into(),
            content: reply("ru"),
        },
        OwnTemplate {
            name: "directions".into(),
            language: "en".into(),
            content: reply("en"),
        },
    ];
    let language = |languages| choose_quick_reply(&own, languages).map(|(l, _)| l);
    assert_eq!(language(["ru", "he"]).as_deref(), Some("ru"));
    assert_eq!(language(["ar", "he"]).as_deref(), Some("en"));
    assert_eq!(choose_quick_reply(&[], ["he", "he"]), None);
}

#[test]
fn the_sms_sample_fills_parameters_with_their_names_and_the_clinic_with_its_own() {
    let copy = hebrew_reminder_with_room();
    assert_eq!(sms_sample(&copy, "הדר"), "תזכורת: date time חדר room");
}

/// A reminder tells the patient how to answer it: by text, 1 confirms and 2 cancels (the digit
/// words `policy::inbound` reads); on a call only the key 1 is read; an email answer is not read.
#[test]
fn the_reminder_asks_for_1_or_2_by_text_and_the_key_1_on_a_call_in_every_language() {
    let asks = [
        (
            "he",
            "נא להשיב 1 לאישור או 2 לביטול.",
            "לאישור התור נא להקיש 1.",
        ),
        (
            "ar",
            "يرجى الرد بـ 1 للتأكيد أو 2 للإلغاء.",
            "لتأكيد الموعد يرجى الضغط على 1.",
        ),
        (
            "ru",
            "Ответьте 1, чтобы подтвердить, или 2, чтобы отменить.",
            "Чтобы подтвердить приём, нажмите 1.",
        ),
        (
            "en",
            "Reply 1 to confirm or 2 to cancel.",
            "Press 1 to confirm.",
        ),
    ];
    for (language, by_text, by_key) in asks {
        let copy = builtin("appointment_reminder", language).expect("builtin");
        assert!(copy.sms.text.ends_with(by_text), "{language}");
        assert!(copy.whatsapp.text.ends_with(by_text), "{language}");
        assert!(copy.voice.text.ends_with(by_key), "{language}");
        assert!(!copy.email.text.contains('1'), "{language}");
    }
    let other = builtin("appointment_confirmation", "en").expect("builtin");
    assert!(!other.sms.text.contains("Reply"));
}

/// A clinic's name is often Latin ("Demo Clinic"): a Hebrew one-letter prefix glued to it
/// ("לDemo Clinic") reads wrong, so every built-in text puts a word of its own before the name
/// ("אל", "אצל", "מאת", "של").
#[test]
fn no_builtin_text_glues_a_letter_to_the_clinics_name() {
    for template in TEMPLATES {
        for (language, text) in template.texts {
            let glued = text
                .match_indices("{{clinic}}")
                .any(|(at, _)| text[..at].chars().last().is_some_and(char::is_alphabetic));
            assert!(!glued, "{} {language}: {text}", template.name);
        }
    }
    for language in ["he", "ar", "ru", "en"] {
        let subject = email_subject(language, "Demo Clinic");
        assert!(subject.contains(" Demo Clinic"), "{subject}");
    }
}
