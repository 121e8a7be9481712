//! What a secure link's pages and its SMS code say, in Hebrew, Arabic, Russian and English.
//! `{clinic}`, `{phone}`, `{code}` and `{left}` are filled in; other languages get English.

use super::page::Notice;

pub(super) struct Texts {
    title: &'static str,
    pub(super) prove: &'static str,
    pub(super) send_code: &'static str,
    pub(super) send_again: &'static str,
    pub(super) code_label: &'static str,
    pub(super) birth_date_label: &'static str,
    pub(super) submit: &'static str,
    code_sent: &'static str,
    wrong_answer: &'static str,
    code_expired: &'static str,
    no_more_codes: &'static str,
    code_not_sent: &'static str,
    no_phone: &'static str,
    form_expired: &'static str,
    pub(super) locked: &'static str,
    pub(super) closed: &'static str,
    pub(super) unavailable: &'static str,
    call_at: &'static str,
    call: &'static str,
    code_sms: &'static str,
}

impl Texts {
    pub(super) fn title(&self, clinic: &str) -> String {
        self.title.replace("{clinic}", clinic)
    }

    pub(super) fn call_at(&self, clinic: &str) -> String {
        self.call_at.replace("{clinic}", clinic)
    }

    pub(super) fn call(&self, clinic: &str) -> String {
        self.call.replace("{clinic}", clinic)
    }

    pub(super) fn code_sms(&self, clinic: &str, code: &str) -> String {
        self.code_sms
            .replace("{clinic}", clinic)
            .replace("{code}", code)
    }

    pub(super) fn notice(&self, notice: Notice) -> String {
        match notice {
            Notice::CodeSent => self.code_sent.to_owned(),
            Notice::WrongAnswer { left } => self.wrong_answer.replace("{left}", &left.to_string()),
            Notice::CodeExpired => self.code_expired.to_owned(),
            Notice::NoMoreCodes => self.no_more_codes.to_owned(),
            Notice::CodeNotSent => self.code_not_sent.to_owned(),
            Notice::NoPhone => self.no_phone.to_owned(),
            Notice::FormExpired => self.form_expired.to_owned(),
        }
    }
}

pub(super) fn for_language(language: &str) -> &'static Texts {
    match language {
        "he" => &HEBREW,
        "ar" => &ARABIC,
        "ru" => &RUSSIAN,
        _ => &ENGLISH,
    }
}

static ENGLISH: Texts = Texts {
    title: "A message from {clinic}",
    prove: "To read your message, please confirm that you are the patient.",
    send_code: "Send me a code by SMS to {phone}",
    send_again: "Send a new code to {phone}",
    code_label: "The code we sent you by SMS",
    birth_date_label: "Your date of birth",
    submit: "Continue",
    code_sent: "We sent you a code by SMS. It is valid for 10 minutes.",
    wrong_answer: "That is not right. Tries left: {left}.",
    code_expired: "That code has expired. Please ask for a new one.",
    no_more_codes: "No more codes can be sent for this message.",
    code_not_sent: "We could not send a code just now. Please try again later.",
    no_phone: "We have no phone number to send a code to.",
    form_expired: "This page had expired, so nothing was done. Please try again.",
    locked: "Too many wrong answers: this link is now locked.",
    closed: "This link can no longer be opened.",
    unavailable: "Something went wrong on our side. Please try again in a few minutes.",
    call_at: "To hear your message, please call {clinic} at",
    call: "To hear your message, please call {clinic}.",
    code_sms: "Your code for {clinic}: {code}. It is valid for 10 minutes. Do not share it.",
};

static HEBREW: Texts = Texts {
    title: "הודעה מאת {clinic}",
    prove: "כדי לקרוא את ההודעה, נא לאשר שזה אכן את/ה.",
    send_code: "שלחו לי קוד ב-SMS למספר {phone}",
    send_again: "שלחו קוד חדש למספר {phone}",
    code_label: "הקוד ששלחנו לך ב-SMS",
    birth_date_label: "תאריך הלידה שלך",
    submit: "המשך",
    code_sent: "שלחנו לך קוד ב-SMS. הוא בתוקף ל-10 דקות.",
    wrong_answer: "התשובה שגויה. נותרו {left} ניסיונות.",
    code_expired: "תוקף הקוד פג. נא לבקש קוד חדש.",
    no_more_codes: "לא ניתן לשלוח קודים נוספים להודעה זו.",
    code_not_sent: "לא הצלחנו לשלוח קוד כרגע. נא לנסות שוב מאוחר יותר.",
    no_phone: "אין לנו מספר טלפון לשליחת קוד.",
    form_expired: "תוקף הדף פג ולכן לא בוצעה פעולה. נא לנסות שוב.",
    locked: "יותר מדי תשובות שגויות: הקישור ננעל.",
    closed: "לא ניתן עוד לפתוח את הקישור הזה.",
    unavailable: "משהו השתבש אצלנו. נא לנסות שוב בעוד כמה דקות.",
    call_at: "כדי לשמוע את ההודעה, נא להתקשר ל{clinic} בטלפון",
    call: "כדי לשמוע את ההודעה, נא להתקשר ל{clinic}.",
    code_sms: "הקוד שלך מ{clinic}: {code}. בתוקף ל-10 דקות. אין למסור אותו לאיש.",
};

static ARABIC: Texts = Texts {
    title: "رسالة من {clinic}",
    prove: "لقراءة رسالتك، يرجى تأكيد أنك المريض.",
    send_code: "أرسلوا لي رمزًا برسالة SMS إلى {phone}",
    send_again: "أرسلوا رمزًا جديدًا إلى {phone}",
    code_label: "الرمز الذي أرسلناه إليك برسالة SMS",
    birth_date_label: "تاريخ ميلادك",
    submit: "متابعة",
    code_sent: "أرسلنا إليك رمزًا برسالة SMS. وهو صالح لمدة 10 دقائق.",
    wrong_answer: "الإجابة غير صحيحة. المحاولات المتبقية: {left}.",
    code_expired: "انتهت صلاحية هذا الرمز. يرجى طلب رمز جديد.",
    no_more_codes: "لا يمكن إرسال رموز أخرى لهذه الرسالة.",
    code_not_sent: "تعذر إرسال رمز الآن. يرجى المحاولة لاحقًا.",
    no_phone: "ليس لدينا رقم هاتف لإرسال رمز إليه.",
    form_expired: "انتهت صلاحية هذه الصفحة فلم يتم تنفيذ أي شيء. يرجى المحاولة مرة أخرى.",
    locked: "إجابات خاطئة كثيرة: تم قفل هذا الرابط.",
    closed: "لم يعد من الممكن فتح هذا الرابط.",
    unavailable: "حدث خطأ من جهتنا. يرجى المحاولة مرة أخرى بعد بضع دقائق.",
    call_at: "لسماع رسالتك، يرجى الاتصال بـ{clinic} على الرقم",
    call: "لسماع رسالتك، يرجى الاتصال بـ{clinic}.",
    code_sms: "رمزك من {clinic}: {code}. صالح لمدة 10 دقائق. لا تشاركه مع أحد.",
};

static RUSSIAN: Texts = Texts {
    title: "Сообщение от {clinic}",
    prove: "Чтобы прочитать сообщение, подтвердите, пожалуйста, что вы — пациент.",
    send_code: "Отправить мне код по SMS на {phone}",
    send_again: "Отправить новый код на {phone}",
    code_label: "Код, который мы отправили вам по SMS",
    birth_date_label: "Ваша дата рождения",
    submit: "Продолжить",
    code_sent: "Мы отправили вам код по SMS. Он действует 10 минут.",
    wrong_answer: "Неверно. Осталось попыток: {left}.",
    code_expired: "Срок действия кода истёк. Запросите, пожалуйста, новый.",
    no_more_codes: "Для этого сообщения больше нельзя отправить коды.",
    code_not_sent: "Сейчас не удалось отправить код. Попробуйте, пожалуйста, позже.",
    no_phone: "У нас нет номера телефона, чтобы отправить код.",
    form_expired: "Страница устарела, поэтому ничего не сделано. Попробуйте, пожалуйста, ещё раз.",
    locked: "Слишком много неверных ответов: ссылка заблокирована.",
    closed: "Эту ссылку больше нельзя открыть.",
    unavailable: "У нас что-то пошло не так. Попробуйте, пожалуйста, ещё раз через несколько минут.",
    call_at: "Чтобы узнать содержание сообщения, позвоните, пожалуйста, в {clinic} по номеру",
    call: "Чтобы узнать содержание сообщения, позвоните, пожалуйста, в {clinic}.",
    code_sms: "Ваш код от {clinic}: {code}. Действует 10 минут. Никому его не сообщайте.",
};
