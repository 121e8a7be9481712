//! A secure link's pages as HTML: self-contained (no scripts, fonts or images from anywhere), in
//! the patient's language and direction, every value escaped. Forms post back to the page's own
//! address with a form token that must match the page's cookie, so another site cannot post them.

use medrelay_channels::markup::escape;

use super::texts::{self, Texts};
use crate::domain::{Clinic, Patient};

/// Why the request-for-proof page says something more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    CodeSent,
    WrongAnswer {
        left: u32,
    },
    CodeExpired,
    NoMoreCodes,
    CodeNotSent,
    NoPhone,
    /// The form came without its token (another site, or an old page): nothing was done.
    FormExpired,
}

/// The message as the patient reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    /// The language the message is written in (it sets the text's direction).
    pub language: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// Asks the holder to prove they are the patient, offering the ways the patient has.
    Prove {
        /// The patient's phone with most of it hidden, when they have one.
        phone: Option<String>,
        code_sent: bool,
        birth_date: bool,
        notice: Option<Notice>,
    },
    Message(MessageView),
    /// The answer just given was the last wrong one allowed.
    Locked,
    /// The same page for a link that expired, was used, was locked or never existed.
    Closed,
    /// Something failed on our side; trying again later may work.
    Unavailable,
}

/// A page with what frames it: the language, the clinic's name and phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageView {
    pub language: String,
    pub clinic: String,
    pub clinic_phone: Option<String>,
    pub page: Page,
}

impl PageView {
    /// In the clinic's language: the patient is not known.
    pub fn for_clinic(clinic: &Clinic, page: Page) -> Self {
        Self::new(clinic, clinic.default_language.as_str(), page)
    }

    /// For a request whose clinic is not known: in English, naming no clinic.
    pub fn unknown_clinic(page: Page) -> Self {
        Self {
            language: "en".to_owned(),
            clinic: "the clinic".to_owned(),
            clinic_phone: None,
            page,
        }
    }

    pub fn for_patient(clinic: &Clinic, patient: &Patient, page: Page) -> Self {
        Self::new(clinic, patient.language.as_str(), page)
    }

    fn new(clinic: &Clinic, language: &str, page: Page) -> Self {
        Self {
            language: language.to_owned(),
            clinic: clinic.name.clone(),
            clinic_phone: clinic.phone.as_ref().map(|p| p.as_str().to_owned()),
            page,
        }
    }

    /// Whether the page has forms (and so needs a form token).
    pub fn has_forms(&self) -> bool {
        matches!(self.page, Page::Prove { .. })
    }

    /// The HTML document; `form_token` goes in every form.
    pub fn html(&self, form_token: &str) -> String {
        let texts = texts::for_language(&self.language);
        let main = match &self.page {
            Page::Prove {
                phone,
                code_sent,
                birth_date,
                notice,
            } => {
                let mut html = format!("<p>{}</p>", escape(texts.prove));
                if let Some(notice) = notice {
                    html += &format!("<p class=\"notice\">{}</p>", escape(&texts.notice(*notice)));
                }
                html += &code_forms(texts, phone.as_deref(), *code_sent, form_token);
                if *birth_date {
                    html += &birth_date_form(texts, form_token);
                }
                html
            }
            Page::Message(message) => message_html(message),
            Page::Locked => self.call_the_clinic(texts, texts.locked),
            Page::Closed => self.call_the_clinic(texts, texts.closed),
            Page::Unavailable => format!("<p>{}</p>", escape(texts.unavailable)),
        };
        document(&self.language, &texts.title(&self.clinic), &main)
    }

    fn call_the_clinic(&self, texts: &Texts, why: &str) -> String {
        let call = match &self.clinic_phone {
            Some(phone) => {
                let phone = escape(phone);
                let call = escape(&texts.call_at(&self.clinic));
                format!("{call} <a href=\"tel:{phone}\" dir=\"ltr\">{phone}</a>")
            }
            None => escape(&texts.call(&self.clinic)),
        };
        format!("<p>{}</p><p>{call}</p>", escape(why))
    }
}

fn code_forms(texts: &Texts, phone: Option<&str>, code_sent: bool, form_token: &str) -> String {
    let Some(phone) = phone else {
        return String::new();
    };
    let mut html = String::new();
    if code_sent {
        html += &form(
            form_token,
            &format!(
                "<label>{}<input name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
                 maxlength=\"6\" required dir=\"ltr\"></label>",
                escape(texts.code_label)
            ),
            "code",
            texts.submit,
        );
    }
    let again = if code_sent {
        texts.send_again
    } else {
        texts.send_code
    };
    html + &form(
        form_token,
        "",
        "send_code",
        &again.replace("{phone}", phone),
    )
}

fn birth_date_form(texts: &Texts, form_token: &str) -> String {
    form(
        form_token,
        &format!(
            "<label>{}<input type=\"date\" name=\"birth_date\" required dir=\"ltr\"></label>",
            escape(texts.birth_date_label)
        ),
        "birth_date",
        texts.submit,
    )
}

/// A form posting back to this page; `fields` is already HTML.
fn form(form_token: &str, fields: &str, action: &str, button: &str) -> String {
    format!(
        "<form method=\"post\"><input type=\"hidden\" name=\"form_token\" value=\"{}\">{fields}\
         <button name=\"action\" value=\"{action}\">{}</button></form>",
        escape(form_token),
        escape(button)
    )
}

fn message_html(message: &MessageView) -> String {
    let dir = direction(&message.language);
    let paragraphs: String = message
        .body
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", escape(p).replace('\n', "<br>")))
        .collect();
    format!(
        "<article lang=\"{lang}\" dir=\"{dir}\"><h2>{}</h2>{paragraphs}</article>",
        escape(&message.subject),
        lang = escape(&message.language),
    )
}

/// Hebrew and Arabic read right to left.
fn direction(language: &str) -> &'static str {
    match language {
        "he" | "ar" => "rtl",
        _ => "ltr",
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;\
padding:0 1rem;line-height:1.5}form{margin:1rem 0}label{display:block;margin-bottom:.5rem}\
input{display:block;font-size:1.2rem;margin-top:.25rem}button{font-size:1rem;padding:.4rem 1rem}\
.notice{font-weight:bold}";

fn document(language: &str, title: &str, main: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{lang}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex, nofollow\"><title>{title}</title>\
         <style>{STYLE}</style></head><body><h1>{title}</h1>{main}</body></html>",
        lang = escape(language),
        dir = direction(language),
        title = escape(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(language: &str, page: Page) -> PageView {
        PageView {
            language: language.to_owned(),
            clinic: "Hadar <Haifa>".to_owned(),
            clinic_phone: Some("+97248123456".to_owned()),
            page,
        }
    }

    #[test]
    fn hebrew_pages_read_right_to_left_and_escape_every_value() {
        let html = view("he", Page::Closed).html("t");
        assert!(html.contains("<html lang=\"he\" dir=\"rtl\">"), "{html}");
        assert!(html.contains("Hadar &lt;Haifa&gt;"), "{html}");
        assert!(!html.contains("<Haifa>"), "{html}");
        assert!(html.contains("tel:+97248123456"), "{html}");
    }

    #[test]
    fn the_message_keeps_its_own_direction_and_its_text_is_escaped() {
        let message = MessageView {
            language: "ar".to_owned(),
            subject: "s".to_owned(),
            body: "<script>x</script>\nline".to_owned(),
        };
        let html = view("en", Page::Message(message)).html("t");
        assert!(html.contains("<html lang=\"en\" dir=\"ltr\">"), "{html}");
        assert!(html.contains("<article lang=\"ar\" dir=\"rtl\">"), "{html}");
        assert!(
            html.contains("&lt;script&gt;x&lt;/script&gt;<br>line"),
            "{html}"
        );
    }

    #[test]
    fn the_proof_page_offers_only_the_ways_the_patient_has() {
        let prove = |phone: Option<&str>, birth_date| Page::Prove {
            phone: phone.map(str::to_owned),
            code_sent: false,
            birth_date,
            notice: None,
        };
        let phone_only = view("en", prove(Some("***567"), false)).html("tok");
        assert!(phone_only.contains("value=\"send_code\""), "{phone_only}");
        assert!(phone_only.contains("***567"), "{phone_only}");
        assert!(!phone_only.contains("birth_date"), "{phone_only}");
        assert!(phone_only.contains("name=\"form_token\" value=\"tok\""));
        let date_only = view("en", prove(None, true)).html("tok");
        assert!(!date_only.contains("send_code"), "{date_only}");
        assert!(date_only.contains("type=\"date\""), "{date_only}");
    }
}
