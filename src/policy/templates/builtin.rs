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
                "שלום {{patient}}, תזכורת לתור שלך אצל {{clinic}} בתאריך {{date}} בשעה {{time}}.",
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
                "שלום {{patient}}, התור שלך אצל {{clinic}} נקבע לתאריך {{date}} בשעה {{time}}.",
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
                "שלום {{patient}}, התור שלך אצל {{clinic}} בתאריך {{date}} בשעה {{time}} בוטל.",
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
                "שלום {{patient}}, יש לך הודעה חדשה מאת {{clinic}}; שלחנו את הפרטים לדוא״ל שלך.",
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
                "שלום {{patient}}, יש לך הודעה חדשה מאת {{clinic}}; ניתן לקרוא אותה באופן מאובטח כאן: {{link}} (הקישור תקף לזמן מוגבל).",
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
                "שלום {{patient}}, יש לך הודעה חדשה מאת {{clinic}}; נא להתקשר למרפאה בטלפון {{phone}}.",
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
                "שלום {{patient}}, יש לך הודעה חדשה מאת {{clinic}}; נא להתקשר למרפאה.",
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
    // Automatic answers to a patient who wrote (`policy::inbound`). They go as free text inside
    // the conversation the patient opened, so Meta approves none of them, and they name no
    // patient: an unknown number has no name. `response_time`, `hours`, `emergency_number` (and
    // `clinic_phone` when the clinic has one) are filled by medrelay.
    Template {
        name: "auto_receipt",
        params: &["response_time"],
        texts: &[
            (
                "he",
                "תודה על פנייתך אל {{clinic}}. קיבלנו את ההודעה ונחזור אליך בתוך {{response_time}} בשעות הפעילות.",
            ),
            (
                "ar",
                "شكرًا لتواصلك مع {{clinic}}. وصلتنا رسالتك وسنرد عليك خلال {{response_time}} في ساعات العمل.",
            ),
            (
                "ru",
                "Спасибо, что написали в {{clinic}}. Мы получили ваше сообщение; срок ответа в рабочее время: {{response_time}}.",
            ),
            (
                "en",
                "Thank you for writing to {{clinic}}. We received your message and will answer within {{response_time}} during our opening hours.",
            ),
        ],
    },
    Template {
        name: "auto_away",
        params: &["hours", "emergency_number"],
        texts: &[
            (
                "he",
                "תודה על פנייתך אל {{clinic}}. המרפאה סגורה כעת; שעות הפעילות: {{hours}}. נחזור אליך כשנפתח. במקרה חירום יש להתקשר ל-{{emergency_number}} (מד״א) או לפנות לחדר המיון הקרוב.",
            ),
            (
                "ar",
                "شكرًا لتواصلك مع {{clinic}}. العيادة مغلقة الآن؛ ساعات العمل: {{hours}}. سنرد عليك عند الافتتاح. في حالة الطوارئ اتصل بـ {{emergency_number}} (نجمة داود الحمراء) أو توجّه إلى أقرب قسم طوارئ.",
            ),
            (
                "ru",
                "Спасибо, что написали в {{clinic}}. Сейчас мы закрыты; часы работы: {{hours}}. Мы ответим, когда откроемся. В экстренном случае звоните {{emergency_number}} (Маген Давид Адом) или обратитесь в ближайший приёмный покой.",
            ),
            (
                "en",
                "Thank you for writing to {{clinic}}. We are closed now; our hours are {{hours}}. We will answer when we open. In an emergency call {{emergency_number}} (Magen David Adom) or go to the nearest emergency room.",
            ),
        ],
    },
    Template {
        name: "auto_urgent",
        params: &["emergency_number"],
        texts: &[
            (
                "he",
                "אם מדובר במצב חירום, יש להתקשר מיד ל-{{emergency_number}} (מד״א) או לפנות לחדר המיון הקרוב. צוות {{clinic}} יראה את ההודעה, אך ערוץ זה אינו מיועד למקרי חירום.",
            ),
            (
                "ar",
                "إذا كانت هذه حالة طارئة، اتصل فورًا بـ {{emergency_number}} (نجمة داود الحمراء) أو توجّه إلى أقرب قسم طوارئ. سيطّلع طاقم {{clinic}} على رسالتك، لكن هذه القناة ليست للحالات الطارئة.",
            ),
            (
                "ru",
                "Если это экстренный случай, немедленно звоните {{emergency_number}} (Маген Давид Адом) или обратитесь в ближайший приёмный покой. Сотрудники {{clinic}} увидят ваше сообщение, но этот канал не предназначен для экстренных случаев.",
            ),
            (
                "en",
                "If this is an emergency, call {{emergency_number}} (Magen David Adom) now or go to the nearest emergency room. The staff of {{clinic}} will see your message, but this chat is not for emergencies.",
            ),
        ],
    },
    // The stop and start confirmations name the word that undoes them in the same language.
    Template {
        name: "auto_opt_out",
        params: &[],
        texts: &[
            (
                "he",
                "הוסרת מרשימת ההודעות של {{clinic}} בערוץ זה. לחידוש ההודעות יש להשיב התחל.",
            ),
            (
                "ar",
                "لن تصلك بعد الآن رسائل من {{clinic}} هنا. لاستئناف الرسائل أرسل ابدأ.",
            ),
            (
                "ru",
                "Вы больше не будете получать здесь сообщения от {{clinic}}. Чтобы снова получать их, ответьте СТАРТ.",
            ),
            (
                "en",
                "You will no longer get messages from {{clinic}} here. To get them again, reply START.",
            ),
        ],
    },
    Template {
        name: "auto_opt_in",
        params: &[],
        texts: &[
            (
                "he",
                "ההודעות מאת {{clinic}} בערוץ זה חודשו. להסרה יש להשיב הסר.",
            ),
            (
                "ar",
                "ستصلك رسائل {{clinic}} هنا من جديد. لإيقافها أرسل إيقاف.",
            ),
            (
                "ru",
                "Вы снова будете получать здесь сообщения от {{clinic}}. Чтобы отписаться, ответьте СТОП.",
            ),
            (
                "en",
                "You will get messages from {{clinic}} here again. To stop them, reply STOP.",
            ),
        ],
    },
    Template {
        name: "auto_confirmed",
        params: &[],
        texts: &[
            ("he", "תודה, התור שלך אצל {{clinic}} אושר. נתראה!"),
            ("ar", "شكرًا، تم تأكيد موعدك في {{clinic}}. نراك قريبًا!"),
            (
                "ru",
                "Спасибо, ваш приём в {{clinic}} подтверждён. До встречи!",
            ),
            (
                "en",
                "Thank you, your appointment at {{clinic}} is confirmed. See you soon!",
            ),
        ],
    },
    // The booking system decides on a cancellation, so the patient hears it was passed on.
    Template {
        name: "auto_cancellation_requested",
        params: &[],
        texts: &[
            (
                "he",
                "תודה, העברנו את בקשתך לבטל את התור אצל {{clinic}}. נעדכן אותך כשהביטול יאושר.",
            ),
            (
                "ar",
                "شكرًا، أرسلنا طلبك لإلغاء موعدك في {{clinic}}. سنبلغك عند تأكيد الإلغاء.",
            ),
            (
                "ru",
                "Спасибо, мы передали вашу просьбу отменить приём в {{clinic}}. Мы сообщим, когда отмена будет подтверждена.",
            ),
            (
                "en",
                "Thank you, we passed on your request to cancel your appointment at {{clinic}}. We will let you know once it is cancelled.",
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
/// the patient and the clinic (those its text uses: auto replies name no patient), then its own
/// parameters as `{{1}}`, `{{2}}`, ….
fn builtin_copy(template: &Template, language: &str, text: &str) -> TemplateCopy {
    let params: Vec<String> = template.params.iter().map(|p| (*p).to_owned()).collect();
    let (texted, spoken) = match answer_invitation(template.name, language) {
        Some((reply, press)) => (format!("{text} {reply}"), format!("{text} {press}")),
        None => (text.to_owned(), text.to_owned()),
    };
    TemplateCopy {
        whatsapp: WhatsAppCopy {
            name: template.name.to_owned(),
            parameters: ["patient", "clinic"]
                .iter()
                .filter(|p| text.contains(&format!("{{{{{p}}}}}")))
                .map(|p| (*p).to_owned())
                .chain(params.iter().cloned())
                .collect(),
            text: texted.clone(),
        },
        sms: TextCopy { text: texted },
        email: EmailCopy {
            subject: email_subject(language, "{{clinic}}"),
            text: text.to_owned(),
        },
        voice: TextCopy { text: spoken },
        params,
    }
}

/// How a reminder tells the patient they can answer it, as (language, by a text reply, by a key
/// on the call). A text reply of 1 or 2 confirms or cancels (`policy::inbound`'s digit words);
/// a call takes only 1. An email answer is not read, so the email asks for nothing.
const REMINDER_ANSWERS: &[(&str, &str, &str)] = &[
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

/// The built-in template that asks for an answer: the one reminders send.
const ASKS_FOR_AN_ANSWER: &str = "appointment_reminder";

/// (by a text reply, by a key) for the built-in `name` in `language`, if it asks for an answer.
fn answer_invitation(name: &str, language: &str) -> Option<(&'static str, &'static str)> {
    (name == ASKS_FOR_AN_ANSWER)
        .then(|| REMINDER_ANSWERS.iter().find(|(l, _, _)| *l == language))
        .flatten()
        .map(|(_, reply, press)| (*reply, *press))
}

/// An email's subject line in the message's language.
pub fn email_subject(language: &str, clinic: &str) -> String {
    match language {
        "he" => format!("הודעה מאת {clinic}"),
        "ar" => format!("رسالة من {clinic}"),
        "ru" => format!("Сообщение от {clinic}"),
        _ => format!("Message from {clinic}"),
    }
}

/// The built-in template `name` as approved at Meta in exactly `language`.
pub fn builtin_approved(name: &str, language: &str) -> Option<WhatsAppCopy> {
    builtin(name, language).map(|copy| copy.whatsapp)
}
