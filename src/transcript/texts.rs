//! What a transcript says around the messages, in Hebrew, Arabic, Russian and English: one table
//! per language, the clinic's language chosen (others get English). `{…}` are filled in.

use medrelay_channels::ChannelKind;

use crate::domain::{AttemptStatus, CallbackOutcome};
use crate::store::ApiKeyRole;

/// `Debug` names the table only.
pub(super) struct Texts {
    pub(super) title: &'static str,
    pub(super) clinic: &'static str,
    pub(super) patient: &'static str,
    pub(super) period: &'static str,
    /// `{to}`: the period has no start.
    pub(super) until: &'static str,
    pub(super) times_in: &'static str,
    pub(super) generated: &'static str,
    pub(super) to_patient: &'static str,
    pub(super) from_patient: &'static str,
    pub(super) callback: &'static str,
    pub(super) status: &'static str,
    pub(super) delivered: &'static str,
    pub(super) read: &'static str,
    pub(super) sent_by: &'static str,
    /// Said of a message the sandbox took instead of a provider.
    pub(super) sandbox: &'static str,
    pub(super) subject: &'static str,
    pub(super) no_messages: &'static str,
    /// `{n}`, `{m}`.
    pub(super) page: &'static str,
    /// WhatsApp, SMS, email, voice.
    channels: [&'static str; 4],
    /// Handed over with the outcome unknown, accepted, sent, delivered, read, not delivered, no
    /// receipt.
    statuses: [&'static str; 7],
    /// Booking system, staff, admin.
    roles: [&'static str; 3],
    /// `{id}`, `{role}`.
    key: &'static str,
    /// `{name}`.
    staff: &'static str,
    pub(super) auto_reply: &'static str,
    /// `{channel}`, `{topic}`.
    withheld_sensitive: &'static str,
    withheld_restricted: &'static str,
    pub(super) redacted: &'static str,
    pub(super) erased: &'static str,
    /// Photo, document, audio, video, sticker, location, any other attachment.
    media: [&'static str; 7],
    /// `{reason}`.
    callback_opened: &'static str,
    /// `{who}`, `{time}`.
    callback_claimed: &'static str,
    /// `{time}`, `{who}`, `{outcome}`.
    callback_closed: &'static str,
    /// Reached, unreachable, wrong number.
    outcomes: [&'static str; 3],
    pub(super) callback_open: &'static str,
    pub(super) note: &'static str,
}

/// What a patient's message came with, as the transcript names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaKind {
    Photo,
    Document,
    Audio,
    Video,
    Sticker,
    Location,
    Other,
}

impl MediaKind {
    /// The kind of a message WhatsApp (or an MMS) called `kind`.
    pub(super) fn of(kind: &str) -> Self {
        match kind {
            "image" => Self::Photo,
            "document" => Self::Document,
            "audio" | "voice" => Self::Audio,
            "video" => Self::Video,
            "sticker" => Self::Sticker,
            "location" => Self::Location,
            _ => Self::Other,
        }
    }
}

impl std::fmt::Debug for Texts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Texts").field("title", &self.title).finish()
    }
}

impl Texts {
    pub(super) fn channel(&self, channel: ChannelKind) -> &'static str {
        self.channels[match channel {
            ChannelKind::Whatsapp => 0,
            ChannelKind::Sms => 1,
            ChannelKind::Email => 2,
            ChannelKind::Voice => 3,
        }]
    }

    pub(super) fn status(&self, status: AttemptStatus) -> &'static str {
        self.statuses[match status {
            AttemptStatus::Sending
            | AttemptStatus::Ambiguous
            | AttemptStatus::Unsent
            | AttemptStatus::RateLimited
            | AttemptStatus::Errored => 0,
            AttemptStatus::Accepted => 1,
            AttemptStatus::Sent => 2,
            AttemptStatus::Delivered => 3,
            AttemptStatus::Read => 4,
            AttemptStatus::Failed => 5,
            AttemptStatus::TimedOut => 6,
        }]
    }

    pub(super) fn key(&self, id: &str, role: &str) -> String {
        let role = match ApiKeyRole::parse(role) {
            Some(ApiKeyRole::Booking) => self.roles[0],
            Some(ApiKeyRole::Staff) => self.roles[1],
            Some(ApiKeyRole::Admin) => self.roles[2],
            None => role,
        };
        self.key.replace("{id}", id).replace("{role}", role)
    }

    pub(super) fn staff(&self, name: &str) -> String {
        self.staff.replace("{name}", name)
    }

    /// Why a notice went on `channel` instead of the message: its topic is sensitive (or, if
    /// not, restricted).
    pub(super) fn withheld(&self, channel: ChannelKind, topic: &str, sensitive: bool) -> String {
        let sentence = if sensitive {
            self.withheld_sensitive
        } else {
            self.withheld_restricted
        };
        sentence
            .replace("{channel}", self.channel(channel))
            .replace("{topic}", topic)
    }

    pub(super) fn media(&self, kind: MediaKind) -> &'static str {
        self.media[kind as usize]
    }

    pub(super) fn callback_opened(&self, reason: &str) -> String {
        self.callback_opened.replace("{reason}", reason)
    }

    pub(super) fn callback_claimed(&self, who: &str, time: &str) -> String {
        self.callback_claimed
            .replace("{who}", who)
            .replace("{time}", time)
    }

    pub(super) fn callback_closed(
        &self,
        who: &str,
        time: &str,
        outcome: CallbackOutcome,
    ) -> String {
        let outcome = self.outcomes[match outcome {
            CallbackOutcome::Reached => 0,
            CallbackOutcome::Unreachable => 1,
            CallbackOutcome::WrongNumber => 2,
        }];
        self.callback_closed
            .replace("{who}", who)
            .replace("{time}", time)
            .replace("{outcome}", outcome)
    }

    pub(super) fn until(&self, to: &str) -> String {
        self.until.replace("{to}", to)
    }

    pub(super) fn page(&self, n: usize, m: usize) -> String {
        self.page
            .replace("{n}", &n.to_string())
            .replace("{m}", &m.to_string())
    }
}

/// The table of `language`, and the language it is in: English for one without its own.
pub(super) fn for_language(language: &str) -> (&'static str, &'static Texts) {
    match language {
        "he" => ("he", &HEBREW),
        "ar" => ("ar", &ARABIC),
        "ru" => ("ru", &RUSSIAN),
        _ => ("en", &ENGLISH),
    }
}

static ENGLISH: Texts = Texts {
    title: "Message transcript",
    clinic: "Clinic",
    patient: "Patient",
    period: "Period",
    until: "everything until {to}",
    times_in: "Times in",
    generated: "Generated",
    to_patient: "To the patient",
    from_patient: "From the patient",
    callback: "Callback task",
    status: "Status",
    delivered: "Delivered",
    read: "Read",
    sent_by: "Sent by",
    sandbox: "Sandbox: no real patient received this",
    subject: "Subject",
    no_messages: "No messages in this period.",
    page: "Page {n} of {m}",
    channels: ["WhatsApp", "SMS", "Email", "Voice call"],
    statuses: [
        "handed to the provider, outcome unknown",
        "accepted by the provider",
        "sent",
        "delivered",
        "read",
        "not delivered",
        "no delivery receipt",
    ],
    roles: ["booking system", "staff", "admin"],
    key: "API key {id} ({role})",
    staff: "{name} (staff)",
    auto_reply: "medrelay, automatic reply",
    withheld_sensitive: "Not sent on {channel}: the topic “{topic}” is sensitive, so the patient got this content-free notice instead.",
    withheld_restricted: "Not sent on {channel}: the topic “{topic}” is restricted and is discussed in person, so the patient got this notice instead.",
    redacted: "Text removed under the clinic's retention policy.",
    erased: "Text erased at the patient's request.",
    media: [
        "photo",
        "document",
        "voice message",
        "video",
        "sticker",
        "location",
        "attachment",
    ],
    callback_opened: "Opened: {reason}",
    callback_claimed: "Taken by {who} at {time}",
    callback_closed: "Closed at {time} by {who}: {outcome}",
    outcomes: ["reached the patient", "no answer", "wrong number"],
    callback_open: "Still open",
    note: "Note",
};

static HEBREW: Texts = Texts {
    title: "תמליל הודעות",
    clinic: "מרפאה",
    patient: "מטופל",
    period: "תקופה",
    until: "כל ההודעות עד {to}",
    times_in: "השעות לפי",
    generated: "הופק",
    to_patient: "אל המטופל",
    from_patient: "מהמטופל",
    callback: "משימת חזרה טלפונית",
    status: "מצב",
    delivered: "נמסרה",
    read: "נקראה",
    sent_by: "נשלחה על ידי",
    sandbox: "ארגז חול: ההודעה לא נשלחה למטופל אמיתי",
    subject: "נושא",
    no_messages: "אין הודעות בתקופה זו.",
    page: "עמוד {n} מתוך {m}",
    channels: ["WhatsApp", "SMS", "דואר אלקטרוני", "שיחה קולית"],
    statuses: [
        "נמסרה לספק, התוצאה לא ידועה",
        "התקבלה אצל הספק",
        "נשלחה",
        "נמסרה",
        "נקראה",
        "לא נמסרה",
        "לא התקבל אישור מסירה",
    ],
    roles: ["מערכת זימון התורים", "צוות", "מנהל"],
    key: "מפתח API {id} ({role})",
    staff: "{name} (צוות)",
    auto_reply: "medrelay, מענה אוטומטי",
    withheld_sensitive: "לא נשלח בערוץ {channel}: הנושא „{topic}” רגיש, ולכן המטופל קיבל במקומו הודעה זו, ללא תוכן.",
    withheld_restricted: "לא נשלח בערוץ {channel}: הנושא „{topic}” מוגבל ונמסר בשיחה אישית, ולכן המטופל קיבל במקומו הודעה זו.",
    redacted: "הטקסט הוסר לפי מדיניות שמירת המידע של המרפאה.",
    erased: "הטקסט נמחק לבקשת המטופל.",
    media: [
        "תמונה",
        "מסמך",
        "הודעה קולית",
        "סרטון",
        "מדבקה",
        "מיקום",
        "קובץ מצורף",
    ],
    callback_opened: "נפתחה: {reason}",
    callback_claimed: "נלקחה על ידי {who} ב-{time}",
    callback_closed: "נסגרה ב-{time} על ידי {who}: {outcome}",
    outcomes: ["המטופל הושג", "אין מענה", "מספר שגוי"],
    callback_open: "עדיין פתוחה",
    note: "הערה",
};

static ARABIC: Texts = Texts {
    title: "سجل الرسائل",
    clinic: "العيادة",
    patient: "المريض",
    period: "الفترة",
    until: "كل الرسائل حتى {to}",
    times_in: "الأوقات بتوقيت",
    generated: "أُنشئ في",
    to_patient: "إلى المريض",
    from_patient: "من المريض",
    callback: "مهمة معاودة الاتصال",
    status: "الحالة",
    delivered: "سُلّمت",
    read: "قُرئت",
    sent_by: "أرسلها",
    sandbox: "بيئة تجريبية: لم تصل هذه الرسالة إلى مريض حقيقي",
    subject: "الموضوع",
    no_messages: "لا توجد رسائل في هذه الفترة.",
    page: "صفحة {n} من {m}",
    channels: ["واتساب", "رسالة نصية", "البريد الإلكتروني", "مكالمة صوتية"],
    statuses: [
        "سُلّمت للمزوّد، النتيجة غير معروفة",
        "قبلها المزوّد",
        "أُرسلت",
        "سُلّمت",
        "قُرئت",
        "لم تُسلَّم",
        "لم يصل إشعار التسليم",
    ],
    roles: ["نظام حجز المواعيد", "الطاقم", "المسؤول"],
    key: "مفتاح API {id} ({role})",
    staff: "{name} (الطاقم)",
    auto_reply: "medrelay، رد تلقائي",
    withheld_sensitive: "لم تُرسل عبر {channel}: الموضوع «{topic}» حساس، لذلك تلقى المريض بدلاً منها هذا الإشعار الخالي من المحتوى.",
    withheld_restricted: "لم تُرسل عبر {channel}: الموضوع «{topic}» مقيّد ويُناقش شخصياً، لذلك تلقى المريض بدلاً منها هذا الإشعار.",
    redacted: "أُزيل النص وفق سياسة الاحتفاظ بالبيانات في العيادة.",
    erased: "حُذف النص بناءً على طلب المريض.",
    media: [
        "صورة",
        "مستند",
        "رسالة صوتية",
        "فيديو",
        "ملصق",
        "موقع",
        "مرفق",
    ],
    callback_opened: "فُتحت: {reason}",
    callback_claimed: "تولاها {who} في {time}",
    callback_closed: "أُغلقت في {time} بواسطة {who}: {outcome}",
    outcomes: ["تم الوصول إلى المريض", "لا رد", "رقم خاطئ"],
    callback_open: "ما زالت مفتوحة",
    note: "ملاحظة",
};

static RUSSIAN: Texts = Texts {
    title: "Журнал сообщений",
    clinic: "Клиника",
    patient: "Пациент",
    period: "Период",
    until: "все сообщения до {to}",
    times_in: "Время по",
    generated: "Сформирован",
    to_patient: "Пациенту",
    from_patient: "От пациента",
    callback: "Обратный звонок",
    status: "Статус",
    delivered: "Доставлено",
    read: "Прочитано",
    sent_by: "Отправитель",
    sandbox: "Песочница: реальный пациент это не получил",
    subject: "Тема",
    no_messages: "В этот период сообщений нет.",
    page: "Страница {n} из {m}",
    channels: ["WhatsApp", "SMS", "электронная почта", "голосовой звонок"],
    statuses: [
        "передано провайдеру, результат неизвестен",
        "принято провайдером",
        "отправлено",
        "доставлено",
        "прочитано",
        "не доставлено",
        "нет подтверждения доставки",
    ],
    roles: ["система записи", "персонал", "администратор"],
    key: "API-ключ {id} ({role})",
    staff: "{name} (персонал)",
    auto_reply: "medrelay, автоответ",
    withheld_sensitive: "Не отправлено через {channel}: тема «{topic}» конфиденциальна, поэтому пациент получил вместо сообщения это уведомление без содержания.",
    withheld_restricted: "Не отправлено через {channel}: тема «{topic}» ограничена и обсуждается лично, поэтому пациент получил вместо сообщения это уведомление.",
    redacted: "Текст удалён по правилам хранения данных клиники.",
    erased: "Текст удалён по просьбе пациента.",
    media: [
        "фото",
        "документ",
        "голосовое сообщение",
        "видео",
        "стикер",
        "геопозиция",
        "вложение",
    ],
    callback_opened: "Открыта: {reason}",
    callback_claimed: "Взята: {who}, {time}",
    callback_closed: "Закрыта {time}, {who}: {outcome}",
    outcomes: ["пациент получил сообщение", "нет ответа", "неверный номер"],
    callback_open: "Ещё открыта",
    note: "Заметка",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_without_a_table_reads_english() {
        assert_eq!(for_language("fr").0, "en");
        assert_eq!(for_language("he").1.title, "תמליל הודעות");
    }

    #[test]
    fn the_withheld_note_names_the_channel_and_the_topic() {
        let (_, en) = for_language("en");
        assert_eq!(
            en.withheld(ChannelKind::Whatsapp, "test_result_ready", true),
            "Not sent on WhatsApp: the topic “test_result_ready” is sensitive, so the patient \
             got this content-free notice instead."
        );
        let (_, he) = for_language("he");
        assert!(
            he.withheld(ChannelKind::Sms, "oncology", false)
                .contains("„oncology”")
        );
    }
}
