//! Built-in message templates, so a new clinic can send appointment messages in Hebrew, Arabic,
//! Russian and English at once. Placeholders are `{{name}}`; `{{clinic}}` and `{{patient}}` are
//! filled by medrelay, the others come from the notification's `params`.

use std::collections::BTreeMap;

pub struct Template {
    pub name: &'static str,
    /// Parameters the caller must give.
    pub params: &'static [&'static str],
    /// (language, text) pairs.
    pub texts: &'static [(&'static str, &'static str)],
}

const FILLED_BY_MEDRELAY: [&str; 2] = ["clinic", "patient"];

pub const TEMPLATES: &[Template] = &[
    Template {
        name: "appointment_reminder",
        params: &["date", "time"],
        texts: &[
            (
                "he",
                "שלום {{patient}}, תזכורת לתור שלך ב{{clinic}} בתאריך {{date}} בשעה {{time}}.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، تذكير بموعدك في {{clinic}} بتاريخ {{date}} الساعة {{time}}.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! Напоминаем о вашем приёме в {{clinic}} {{date}} в {{time}}.",
            ),
            (
                "en",
                "Hello {{patient}}, a reminder of your appointment at {{clinic}} on {{date}} at {{time}}.",
            ),
        ],
    },
    Template {
        name: "appointment_confirmation",
        params: &["date", "time"],
        texts: &[
            (
                "he",
                "שלום {{patient}}, התור שלך ב{{clinic}} נקבע לתאריך {{date}} בשעה {{time}}.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، تم تأكيد موعدك في {{clinic}} بتاريخ {{date}} الساعة {{time}}.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! Ваш приём в {{clinic}} назначен на {{date}} в {{time}}.",
            ),
            (
                "en",
                "Hello {{patient}}, your appointment at {{clinic}} is booked for {{date}} at {{time}}.",
            ),
        ],
    },
    Template {
        name: "appointment_cancellation",
        params: &["date", "time"],
        texts: &[
            (
                "he",
                "שלום {{patient}}, התור שלך ב{{clinic}} בתאריך {{date}} בשעה {{time}} בוטל.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، تم إلغاء موعدك في {{clinic}} بتاريخ {{date}} الساعة {{time}}.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! Ваш приём в {{clinic}} {{date}} в {{time}} отменён.",
            ),
            (
                "en",
                "Hello {{patient}}, your appointment at {{clinic}} on {{date}} at {{time}} is cancelled.",
            ),
        ],
    },
    // Content-free notices (see `policy::privacy`): what WhatsApp and SMS carry for a sensitive
    // topic, and every channel for a restricted one. The phone-less ones are for clinics that
    // have not set a phone number.
    Template {
        name: "content_free_notice",
        params: &["phone"],
        texts: &[
            (
                "he",
                "שלום {{patient}}, יש לך הודעה חדשה מ{{clinic}}; נא להתקשר ל-{{phone}} או לבדוק את הדוא״ל שלך.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، لديك رسالة جديدة من {{clinic}}؛ يرجى الاتصال على {{phone}} أو مراجعة بريدك الإلكتروني.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! У вас новое сообщение от {{clinic}}; пожалуйста, позвоните по номеру {{phone}} или проверьте электронную почту.",
            ),
            (
                "en",
                "Hello {{patient}}, you have a new message from {{clinic}}; please call {{phone}} or check your email.",
            ),
        ],
    },
    Template {
        name: "content_free_notice_check_email",
        params: &[],
        texts: &[
            (
                "he",
                "שלום {{patient}}, יש לך הודעה חדשה מ{{clinic}}; נא לבדוק את הדוא״ל שלך.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، لديك رسالة جديدة من {{clinic}}؛ يرجى مراجعة بريدك الإلكتروني.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! У вас новое сообщение от {{clinic}}; пожалуйста, проверьте электронную почту.",
            ),
            (
                "en",
                "Hello {{patient}}, you have a new message from {{clinic}}; please check your email.",
            ),
        ],
    },
    Template {
        name: "content_free_notice_call",
        params: &["phone"],
        texts: &[
            (
                "he",
                "שלום {{patient}}, יש לך הודעה חדשה מ{{clinic}}; נא להתקשר למרפאה בטלפון {{phone}}.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، لديك رسالة جديدة من {{clinic}}؛ يرجى الاتصال بالعيادة على {{phone}}.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! У вас новое сообщение от {{clinic}}; пожалуйста, позвоните в клинику по номеру {{phone}}.",
            ),
            (
                "en",
                "Hello {{patient}}, you have a new message from {{clinic}}; please call the clinic at {{phone}}.",
            ),
        ],
    },
    Template {
        name: "content_free_notice_call_clinic",
        params: &[],
        texts: &[
            (
                "he",
                "שלום {{patient}}, יש לך הודעה חדשה מ{{clinic}}; נא להתקשר למרפאה.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، لديك رسالة جديدة من {{clinic}}؛ يرجى الاتصال بالعيادة.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! У вас новое сообщение от {{clinic}}; пожалуйста, позвоните в клинику.",
            ),
            (
                "en",
                "Hello {{patient}}, you have a new message from {{clinic}}; please call the clinic.",
            ),
        ],
    },
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown template `{0}`")]
    Unknown(String),
    #[error("missing parameter `{0}`")]
    MissingParam(String),
    #[error("unknown parameter `{0}`")]
    UnknownParam(String),
}

pub fn find(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

pub fn names() -> String {
    TEMPLATES
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a template name and its parameters before a notification is accepted.
pub fn validate(name: &str, params: &BTreeMap<String, String>) -> Result<(), TemplateError> {
    let template = find(name).ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
    if let Some(missing) = template.params.iter().find(|p| !params.contains_key(**p)) {
        return Err(TemplateError::MissingParam((*missing).to_owned()));
    }
    if let Some(extra) = params
        .keys()
        .find(|k| !template.params.contains(&k.as_str()))
    {
        return Err(TemplateError::UnknownParam(extra.clone()));
    }
    Ok(())
}

/// Renders in the patient's language, else the clinic's, else English.
pub fn render(
    name: &str,
    params: &BTreeMap<String, String>,
    languages: [&str; 2],
    clinic: &str,
    patient: &str,
) -> Result<(String, &'static str), TemplateError> {
    let template = find(name).ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
    let (language, text) = languages
        .iter()
        .chain(&["en"])
        .find_map(|lang| template.texts.iter().find(|(l, _)| l == lang))
        .ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
    let mut out = (*text).to_owned();
    for (key, value) in FILLED_BY_MEDRELAY.iter().zip([clinic, patient]) {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    for (key, value) in params {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    Ok((out, language))
}

/// An email's subject line in the message's language.
pub fn email_subject(language: &str, clinic: &str) -> String {
    match language {
        "he" => format!("הודעה מ{clinic}"),
        "ar" => format!("رسالة من {clinic}"),
        "ru" => format!("Сообщение от {clinic}"),
        _ => format!("Message from {clinic}"),
    }
}

/// The order of a template's parameters as approved at the provider (`{{1}}`, `{{2}}`, …): the
/// patient, the clinic, then the template's own.
fn positional_names(template: &Template) -> impl Iterator<Item = &'static str> {
    ["patient", "clinic"]
        .into_iter()
        .chain(template.params.iter().copied())
}

/// The parameters a provider's approved copy of template `name` is sent with, in order.
pub fn provider_parameters(
    name: &str,
    params: &BTreeMap<String, String>,
    clinic: &str,
    patient: &str,
) -> Result<Vec<String>, TemplateError> {
    let template = find(name).ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
    positional_names(template)
        .map(|key| match key {
            "patient" => Ok(patient.to_owned()),
            "clinic" => Ok(clinic.to_owned()),
            key => params
                .get(key)
                .cloned()
                .ok_or_else(|| TemplateError::MissingParam(key.to_owned())),
        })
        .collect()
}

/// The text a patient sees for an approved template sent with positional `parameters` in
/// exactly `language`; `None` when there is no such approved template or the count is wrong.
pub fn render_approved(name: &str, language: &str, parameters: &[&str]) -> Option<String> {
    let template = find(name)?;
    let (_, text) = template.texts.iter().find(|(l, _)| *l == language)?;
    let names: Vec<&str> = positional_names(template).collect();
    if names.len() != parameters.len() {
        return None;
    }
    let mut out = (*text).to_owned();
    for (key, value) in names.iter().zip(parameters) {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_reminder_renders_in_the_patients_language() {
        let p = params(&[("date", "01.12"), ("time", "09:30")]);
        let (text, lang) =
            render("appointment_reminder", &p, ["he", "en"], "מרפאת הדר", "דנה").expect("render");
        assert_eq!(lang, "he");
        assert_eq!(
            text,
            "שלום דנה, תזכורת לתור שלך במרפאת הדר בתאריך 01.12 בשעה 09:30."
        );
    }

    #[test]
    fn an_unknown_language_falls_back_to_the_clinics_then_english() {
        let p = params(&[("date", "01.12"), ("time", "09:30")]);
        let (_, lang) =
            render("appointment_reminder", &p, ["fr", "ru"], "Clinic", "Anna").expect("render");
        assert_eq!(lang, "ru");
        let (_, lang) =
            render("appointment_reminder", &p, ["fr", "de"], "Clinic", "Anna").expect("render");
        assert_eq!(lang, "en");
    }

    #[test]
    fn every_builtin_template_exists_in_four_languages_with_only_known_placeholders() {
        for template in TEMPLATES {
            for lang in ["he", "ar", "ru", "en"] {
                let (_, text) = template
                    .texts
                    .iter()
                    .find(|(l, _)| *l == lang)
                    .expect("language");
                let mut rest = *text;
                while let Some(start) = rest.find("{{") {
                    let end = rest[start..].find("}}").expect("closed placeholder") + start;
                    let name = &rest[start + 2..end];
                    assert!(
                        template.params.contains(&name) || FILLED_BY_MEDRELAY.contains(&name),
                        "{} {lang}: {name}",
                        template.name
                    );
                    rest = &rest[end + 2..];
                }
            }
        }
    }

    #[test]
    fn parameters_are_checked() {
        assert_eq!(
            validate("appointment_reminder", &params(&[("date", "x")])),
            Err(TemplateError::MissingParam("time".into()))
        );
        assert_eq!(
            validate(
                "appointment_reminder",
                &params(&[("date", "x"), ("time", "y"), ("room", "3")])
            ),
            Err(TemplateError::UnknownParam("room".into()))
        );
        assert_eq!(
            validate("birthday", &params(&[])),
            Err(TemplateError::Unknown("birthday".into()))
        );
    }
}
