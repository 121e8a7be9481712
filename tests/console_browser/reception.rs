//! A receptionist at the console in Chromium: the gateway with a few patients, a staff member
//! of the clinic whose console speaks English or Hebrew, signed in through the sign-in form.

use std::time::Duration;

use medrelay::domain::UiLanguage;
use medrelay::store::ApiKeyRole;
use medrelay_testkit::browser::Browser;
use medrelay_testkit::wait;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::console_harness::PASSWORD;
use crate::harness::TestApp;
use crate::screenshot_path;

/// A phone's width, CSS pixels (an iPhone SE / mini): every page must work at it.
pub const PHONE_WIDTH: u32 = 375;
const DESKTOP: (u32, u32) = (1280, 900);

/// The innermost elements reaching past the window's sides (not inside a box that scrolls or
/// clips them): what makes a page scroll sideways.
const TOO_WIDE: &str = "
    const width = document.documentElement.clientWidth;
    const clipped = (e) => {
      for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
        if (getComputedStyle(p).overflowX !== 'visible') return true;
      }
      return false;
    };
    const wide = Array.from(document.querySelectorAll('body *')).filter((e) => {
      const r = e.getBoundingClientRect();
      // Wholly off-screen is on purpose (the skip link until focused).
      const rtl = getComputedStyle(document.documentElement).direction === 'rtl';
      const offscreen = rtl ? r.left >= width : r.right <= 0;
      return (r.right > width + 1 || r.left < -1) && !offscreen && !clipped(e);
    });
    const all = Array.from(document.querySelectorAll('body *')).filter((e) => {
      const r = e.getBoundingClientRect();
      return r.right > width + 1 || r.left < -1;
    });
    // Nothing unclipped: name what reaches past the sides at all.
    const found = wide.length ? wide : all;
    return found.filter((e) => !found.some((o) => o !== e && e.contains(o))).slice(0, 3)
      .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
        (typeof e.className === 'string' && e.className ? '.' + e.className.split(' ').join('.') : '') +
        ' ' + Math.round(e.getBoundingClientRect().width) + 'px wide');
";

/// Dana Levi (Hebrew), John Smith (English) and Avi, whom WhatsApp does not know (the sandbox's
/// magic recipient that fails on WhatsApp and falls back to SMS).
pub const HEBREW_PATIENT: (&str, &str, &str) = ("p-he", "דנה לוי", "+972541234567");
pub const ENGLISH_PATIENT: (&str, &str, &str) = ("p-en", "John Smith", "+972541234568");
pub const NOT_ON_WHATSAPP: (&str, &str, &str) = ("p-magic", "אבי כהן", "+972500000001");

pub struct Reception {
    pub app: TestApp,
    pub browser: Browser,
    /// `en` or `he`: the console's language, and the screenshots' folder.
    pub lang: &'static str,
    email: String,
}

impl Reception {
    /// The gateway with its patients, and a browser at the sign-in page (not signed in yet).
    pub async fn open(language: UiLanguage) -> Self {
        let app = TestApp::spawn().await;
        for (id, name, phone) in [HEBREW_PATIENT, ENGLISH_PATIENT, NOT_ON_WHATSAPP] {
            let language = if id == "p-en" { "en" } else { "he" };
            let email = format!("{id}@patients.example");
            app.patient(
                id,
                json!({ "name": name, "phone": phone, "email": email, "language": language }),
            )
            .await;
        }
        let email = "dana@hadar.example".to_owned();
        app.staff_member_of("hadar", &email, ApiKeyRole::Admin, language)
            .await;
        let browser = Browser::start().await;
        browser.set_window_size(DESKTOP.0, DESKTOP.1).await;
        Self {
            app,
            browser,
            lang: language.as_str(),
            email,
        }
    }

    /// [`Reception::open`], signed in.
    pub async fn signed_in(language: UiLanguage) -> Self {
        let reception = Self::open(language).await;
        reception.sign_in().await;
        reception
    }

    /// A little of a day's traffic, so pages have something to show: a Hebrew message to Dana on
    /// WhatsApp, a reminder to Avi that falls back from WhatsApp to SMS, and John writing in
    /// (unanswered). Returns once each notification is finished.
    pub async fn traffic(&self) {
        let app = &self.app;
        let (english, _, english_phone) = ENGLISH_PATIENT;
        let (hebrew, _, hebrew_phone) = HEBREW_PATIENT;
        app.patient_writes_on_whatsapp(hebrew_phone).await;
        let sent = [
            json!({ "patient_id": hebrew, "topic": "general", "channel": "whatsapp",
                    "body": "שלום דנה, התוצאות שלך מוכנות" }),
            crate::harness::reminder_for(NOT_ON_WHATSAPP.0),
            crate::harness::reminder_for(english),
        ];
        for body in sent {
            let id = app.notify(body).await;
            app.wait_until_finished(&id).await;
        }
        let question = "Can I come at 10 instead?";
        app.patient_sends(json!({ "channel": "sms", "from": english_phone, "text": question }))
            .await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.base)
    }

    /// Signs in through the form, in the console's language; waits for the first page.
    pub async fn sign_in(&self) {
        let page = self.url(&format!("/console/sign-in?lang={}", self.lang));
        self.browser.open(&page).await;
        self.browser.type_into("#email", &self.email).await;
        self.browser.type_into("#password", PASSWORD).await;
        self.browser
            .click("form[action='/console/sign-in'] button[type=submit]")
            .await;
        self.browser
            .wait_for_url(|url| url.contains("/console/") && !url.contains("/sign-in"))
            .await;
    }

    /// Opens a console page and waits for its frame (a page, not an error page).
    pub async fn visit(&self, path: &str) {
        self.browser.open(&self.url(path)).await;
        self.browser.wait_for("main#content h1").await;
    }

    /// The session cookie the browser holds, as a `Cookie` header's value.
    pub async fn cookie_header(&self) -> String {
        self.browser
            .cookies()
            .await
            .iter()
            .map(|c| {
                format!(
                    "{}={}",
                    c["name"].as_str().unwrap_or(""),
                    c["value"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The status a `GET` of `path` answers with the browser's session (the browser itself
    /// does not say).
    pub async fn status_of(&self, path: &str) -> StatusCode {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(self.url(path))
            .header(reqwest::header::COOKIE, self.cookie_header().await)
            .send()
            .await
            .expect("page requested")
            .status()
    }

    /// The page open now, checked as a person and a screen reader meet it, at a desktop's and
    /// a phone's width, each screenshotted as `<lang>/<name>.png` and `<lang>/<name>-phone.png`:
    /// in the console's language and direction, without accessibility faults, and at 375 px
    /// without sideways scrolling. Returns what failed, naming the page.
    pub async fn check_page(&self, name: &str) -> Vec<String> {
        let browser = &self.browser;
        let mut faults = Vec::new();
        let document = browser
            .run("const h = document.documentElement; return [h.lang, h.dir];")
            .await;
        let dir = if self.lang == "he" { "rtl" } else { "ltr" };
        if document != json!([self.lang, dir]) {
            faults.push(format!("lang/dir {document}, not {}/{dir}", self.lang));
        }
        faults.extend(browser.accessibility_violations().await);
        browser
            .full_page_screenshot(&screenshot_path(self.lang, name))
            .await;
        browser.set_window_size(PHONE_WIDTH, 800).await;
        // The layout follows the new width on the next frame: wait for it, not a guessed time.
        wait::within(Duration::from_secs(10))
            .until(async || {
                let width = browser.run("return window.innerWidth;").await;
                if width.as_u64() <= Some(u64::from(PHONE_WIDTH)) {
                    Ok(())
                } else {
                    Err(format!("{width}"))
                }
            })
            .await;
        let overflow = browser
            .run("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
            .await;
        if overflow.as_i64().unwrap_or(0) > 0 {
            let culprits = browser.run(TOO_WIDE).await;
            faults.push(format!(
                "at {PHONE_WIDTH} px the page scrolls sideways by {overflow} px: {culprits}"
            ));
        }
        faults.extend(browser.accessibility_violations().await);
        let phone = format!("{name}-phone");
        browser
            .full_page_screenshot(&screenshot_path(self.lang, &phone))
            .await;
        browser.set_window_size(DESKTOP.0, DESKTOP.1).await;
        faults.sort();
        faults.dedup();
        faults
            .into_iter()
            .map(|f| format!("{}/{name}: {f}", self.lang))
            .collect()
    }

    /// The console's own links in the navigation and the header (sections, the sandbox's
    /// phone, the account), as the page open now lists them.
    pub async fn console_links(&self) -> Vec<String> {
        let links = self
            .browser
            .run(
                "return Array.from(document.querySelectorAll('header a[href^=\"/console/\"]'))
                   .map(a => a.getAttribute('href'));",
            )
            .await;
        let mut links: Vec<String> = links
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        links.dedup();
        links
    }

    /// The console pages the open page's content links to, without their queries.
    pub async fn content_links(&self) -> Vec<String> {
        let links = self
            .browser
            .run(
                "return Array.from(document.querySelectorAll('main a[href^=\"/console/\"]'))
                   .map(a => a.getAttribute('href').split(/[?#]/)[0]);",
            )
            .await;
        let mut links: Vec<String> = links
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        links.sort();
        links.dedup();
        links
    }

    pub async fn close(self) {
        self.browser.close().await;
        self.app.stop().await;
    }
}

/// A page's short name for its screenshot: `/console/sandbox/phone` → `sandbox-phone`, and
/// an id in the path stands for any (`/console/patients/p-he` → `patients-one`).
pub fn page_name(path: &str) -> String {
    path.trim_start_matches("/console/")
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .split('/')
        .enumerate()
        .map(|(at, part)| {
            let id = part.contains('_') || part.starts_with("p-") || part.contains('@');
            if at > 0 && id { "one" } else { part }
        })
        .collect::<Vec<_>>()
        .join("-")
}
