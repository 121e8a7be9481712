//! The built-in templates: one text per language, used on every channel until a clinic writes
//! its own copy.

use super::{EmailCopy, TemplateCopy, TextCopy, WhatsAppCopy};

pub struct Template {
    pub name: &'static str,
    /// Parameters the caller must give.
    pub params: &'static [&'static str],
    /// (language, text) pairs.
    pub texts: &'static [(&'static str, &'static str)],
}

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
    // topic, and every channel for a restricted one. Each says only what is true for the patient:
    // the details went to their email, a secure link to read them, or call the clinic (with its
    // number when the clinic has set one). Meta refuses a template whose text starts or ends with
    // a placeholder, so the link is followed by words.
    Template {
        name: "content_free_notice_email_sent",
        params: &[],
        texts: &[
            (
                "he",
                "שלום {{patient}}, יש לך הודעה חדשה מ{{clinic}}; שלחנו את הפרטים לדוא״ל שלך.",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، لديك رسالة جديدة من {{clinic}}؛ أرسلنا التفاصيل إلى بريدك الإلكتروني.",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! У вас новое сообщение от {{clinic}}; мы отправили подробности на вашу электронную почту.",
            ),
            (
                "en",
                "Hello {{patient}}, you have a new message from {{clinic}}; we sent the details to your email.",
            ),
        ],
    },
    Template {
        name: "content_free_notice_link",
        params: &["link"],
        texts: &[
            (
                "he",
                "שלום {{patient}}, יש לך הודעה חדשה מ{{clinic}}; ניתן לקרוא אותה באופן מאובטח כאן: {{link}} (הקישור תקף לזמן מוגבל).",
            ),
            (
                "ar",
                "مرحبًا {{patient}}، لديك رسالة جديدة من {{clinic}}؛ يمكنك قراءتها بأمان هنا: {{link}} (الرابط صالح لفترة محدودة).",
            ),
            (
                "ru",
                "Здравствуйте, {{patient}}! У вас новое сообщение от {{clinic}}; прочитайте его в защищённом режиме здесь: {{link}} (ссылка действует ограниченное время).",
            ),
            (
                "en",
                "Hello {{patient}}, you have a new message from {{clinic}}; read it securely here: {{link}} (the link works for a limited time).",
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

/// Every built-in template as (name, language, copy).
pub fn builtins() -> impl Iterator<Item = (&'static str, &'static str, TemplateCopy)> {
    TEMPLATES.iter().flat_map(|template| {
        template.texts.iter().map(move |(language, text)| {
            (
                template.name,
                *language,
                builtin_copy(template, language, text),
            )
        })
    })
}

/// The built-in template `name` in exactly `language`.
pub fn builtin(name: &str, language: &str) -> Option<TemplateCopy> {
    let template = TEMPLATES.iter().find(|t| t.name == name)?;
    let (language, text) = template.texts.iter().find(|(l, _)| *l == language)?;
    Some(builtin_copy(template, language, text))
}

/// A built-in has one text for every channel; on WhatsApp it is approved under its own name with
/// the patient, the clinic, then its own parameters as `{{1}}`, `{{2}}`, ….
fn builtin_copy(template: &Template, language: &str, text: &str) -> TemplateCopy {
    let params: Vec<String> = template.params.iter().map(|p| (*p).to_owned()).collect();
    TemplateCopy {
        whatsapp: WhatsAppCopy {
            name: template.name.to_owned(),
            parameters: ["patient", "clinic"]
                .iter()
                .map(|p| (*p).to_owned())
                .chain(params.iter().cloned())
                .collect(),
            text: text.to_owned(),
        },
        sms: TextCopy {
            text: text.to_owned(),
        },
        email: EmailCopy {
            subject: email_subject(language, "{{clinic}}"),
            text: text.to_owned(),
        },
        voice: TextCopy {
            text: text.to_owned(),
        },
        params,
    }
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

/// The built-in template `name` as approved at Meta in exactly `language`.
pub fn builtin_approved(name: &str, language: &str) -> Option<WhatsAppCopy> {
    builtin(name, language).map(|copy| copy.whatsapp)
}
