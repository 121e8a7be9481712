//! The built-in words: what a new clinic's patients may write to stop, start, confirm or cancel,
//! and the phrases that make a message urgent. One table per language; a clinic replaces any list
//! through `PUT /v1/clinic/inbound`.
//!
//! Keywords match a whole message, so they are the short things people actually send back. Every
//! list is written as a patient types it; matching normalises both sides (see `keywords`), so case,
//! niqqud, tashkeel, hamza on alef and `ё` need no variants here.

/// One language's words.
pub(super) struct LanguageWords {
    pub language: &'static str,
    pub opt_out: &'static [&'static str],
    pub opt_in: &'static [&'static str],
    pub confirm: &'static [&'static str],
    pub cancel: &'static [&'static str],
    pub urgent: &'static [&'static str],
}

/// The reminder asks "reply 1 to confirm, 2 to cancel" in every language.
pub(super) const DIGITS: LanguageWords = LanguageWords {
    language: "",
    opt_out: &[],
    opt_in: &[],
    confirm: &["1"],
    cancel: &["2"],
    urgent: &[],
};

// "cancel", "ביטול", "إلغاء" and "отмена" answer a reminder (cancel the appointment); they are
// not stop words: a patient who cancels one visit still wants the next reminder. Twilio does take
// an SMS "cancel" as a stop, which `read_inbound` mirrors on SMS only (see `TWILIO_STOP_WORDS`).
// "yes"/"כן" confirm and are not start words for the same reason.

pub(super) const HEBREW: LanguageWords = LanguageWords {
    language: "he",
    // Communications Law §30A: "הסר" must always work; the rest are what Israelis write to stop.
    opt_out: &[
        "הסר",
        "הסרה",
        "הסירו",
        "הסר אותי",
        "הפסק",
        "הפסיקו",
        "די",
        "עצור",
    ],
    opt_in: &["התחל", "התחילו", "חידוש"],
    confirm: &["כן", "מאשר", "מאשרת", "אישור", "מגיע", "מגיעה"],
    // "לא" to "will you come?" is "I won't": the booking system hears a cancellation request and
    // decides; nothing is cancelled on our side.
    cancel: &[
        "לא",
        "ביטול",
        "בטל",
        "בטלו",
        "לא מגיע",
        "לא מגיעה",
        "לא אגיע",
    ],
    // Hebrew attaches prefixes (ו, ה, ש, ב…), so these match inside words: "והתעלפתי" is fainting.
    urgent: &[
        "כאב בחזה",
        "כאבים בחזה",
        "לחץ בחזה",
        "קוצר נשימה",
        "לא מצליח לנשום",
        "לא מצליחה לנשום",
        "קשה לי לנשום",
        "התעלף",
        "התעלפה",
        "התעלפתי",
        "איבד הכרה",
        "איבדה הכרה",
        "שבץ",
        "דימום חזק",
        "דימום כבד",
        "דמום חזק",
        "רוצה למות",
        "להתאבד",
        "התאבדות",
        "לשים קץ לחיי",
    ],
};

pub(super) const ARABIC: LanguageWords = LanguageWords {
    language: "ar",
    opt_out: &["إلغاء الاشتراك", "إيقاف", "توقف", "أوقف"],
    opt_in: &["ابدأ", "استئناف"],
    confirm: &["نعم", "أكيد", "موافق", "تأكيد"],
    cancel: &["لا", "إلغاء", "إلغاء الموعد", "لن أحضر"],
    // Arabic attaches ال, و, ب…, so these match inside words too.
    urgent: &[
        "ألم في الصدر",
        "ألم في صدري",
        "ألم بالصدر",
        "ضيق في التنفس",
        "ضيق تنفس",
        "لا أستطيع التنفس",
        "صعوبة في التنفس",
        "إغماء",
        "أغمي علي",
        "جلطة",
        "سكتة دماغية",
        "نزيف حاد",
        "نزيف شديد",
        "انتحار",
        "أريد أن أموت",
        "أقتل نفسي",
    ],
};

pub(super) const RUSSIAN: LanguageWords = LanguageWords {
    language: "ru",
    opt_out: &["стоп", "отписаться", "отписка", "хватит"],
    opt_in: &["старт", "возобновить"],
    confirm: &["да", "подтверждаю", "приду", "ок"],
    cancel: &["нет", "отмена", "отменить", "не приду"],
    urgent: &[
        "боль в груди",
        "болит грудь",
        "давит в груди",
        "не могу дышать",
        "трудно дышать",
        "задыхаюсь",
        "потерял сознание",
        "потеряла сознание",
        "обморок",
        "инсульт",
        "инфаркт",
        "сильное кровотечение",
        "покончить с собой",
        "суицид",
        "хочу умереть",
        "убить себя",
    ],
};

pub(super) const ENGLISH: LanguageWords = LanguageWords {
    language: "en",
    // The words carriers and Twilio honour (less "cancel", see above), and "remove", the word
    // Israelis translate "הסר" to.
    opt_out: &[
        "stop",
        "stopall",
        "unsubscribe",
        "end",
        "quit",
        "opt out",
        "remove",
    ],
    opt_in: &["start", "unstop"],
    // "ok" to "reply 1 to confirm" is a yes; anything longer goes to staff.
    confirm: &["yes", "y", "yep", "ok", "okay", "confirm", "confirmed"],
    cancel: &[
        "no",
        "n",
        "cancel",
        "cancel appointment",
        "can't come",
        "can't make it",
    ],
    urgent: &[
        "chest pain",
        "pain in my chest",
        "can't breathe",
        "cannot breathe",
        "can not breathe",
        "short of breath",
        "shortness of breath",
        "trouble breathing",
        "difficulty breathing",
        "fainted",
        "fainting",
        "passed out",
        "unconscious",
        "stroke",
        "heart attack",
        "heavy bleeding",
        "bleeding heavily",
        "won't stop bleeding",
        "suicide",
        "suicidal",
        "kill myself",
        "end my life",
        "want to die",
    ],
};

pub(super) const LANGUAGES: [&LanguageWords; 5] = [&DIGITS, &HEBREW, &ARABIC, &RUSSIAN, &ENGLISH];

/// What Twilio's Advanced Opt-Out takes as a stop on SMS, whatever our lists say: Twilio
/// unsubscribes the patient from the clinic's number, answers them itself and refuses our
/// messages (21610) until they send START.
pub(super) const TWILIO_STOP_WORDS: [&str; 6] =
    ["stop", "stopall", "unsubscribe", "cancel", "end", "quit"];

/// What Twilio takes as a start on SMS and answers itself.
pub(super) const TWILIO_START_WORDS: [&str; 3] = ["start", "unstop", "yes"];

/// The button payloads of the reminder template's quick replies: `CONFIRM:apt_…`,
/// `CANCEL:apt_…`.
pub(super) const CONFIRM_PAYLOAD: &str = "CONFIRM";
pub(super) const CANCEL_PAYLOAD: &str = "CANCEL";

/// Magen David Adom, Israel's ambulance service.
pub(super) const EMERGENCY_NUMBER: &str = "101";
