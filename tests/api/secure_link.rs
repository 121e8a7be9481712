//! Secure message links: a sensitive notice points to a page where the patient proves who they
//! are (a code sent by SMS, or the date of birth) and reads the message; the chat never holds it.
//! The clinic keeps its default Israeli hours and the clock is Sunday 10:00 in Jerusalem.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use medrelay::clock::AdjustableClock;
use medrelay::domain::{ClinicHours, Phone, PhoneRegion};
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestApp, event_details};

/// Sunday 6 December 2026, 10:00 in Jerusalem (UTC+2): the clinic is open.
const SUNDAY_10_00: &str = "2026-12-06T08:00:00Z";
const CLINIC_PHONE: &str = "+97231234567";
const PATIENT_PHONE: &str = "+972541234567";
const RESULT: &str = "Your biopsy result is benign; no further treatment is needed.";

/// A clinic with links on for test results, a result sent to its patient, and its link.
struct Linked {
    app: TestApp,
    clock: Arc<AdjustableClock>,
    notification: String,
    url: String,
}

fn dana() -> Value {
    json!({ "name": "Dana", "language": "he", "phone": PATIENT_PHONE, "whatsapp": true,
            "channels": ["whatsapp"], "birth_date": "1984-03-09" })
}

/// The clinic on its default Israeli hours at Sunday 10:00, with its phone and links on, and
/// test results carrying a link when `topic_link`.
async fn clinic_with_links(topic_link: bool) -> (TestApp, Arc<AdjustableClock>) {
    let clock = Arc::new(AdjustableClock::default());
    clock.set(SUNDAY_10_00.parse().expect("time"));
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    let clinic = app.store.clinic_by_slug("hadar").await.expect("clinic");
    let phone = Phone::parse(CLINIC_PHONE, PhoneRegion::ISRAEL).expect("phone");
    let store = &app.store;
    store
        .set_clinic_phone(&clinic.id, &phone)
        .await
        .expect("phone");
    let hours = ClinicHours::israeli_default();
    store
        .set_clinic_hours(&clinic.id, &hours)
        .await
        .expect("hours");
    let admin = app.admin_key().await;
    for (path, body) in [
        ("/v1/clinic/secure-links", json!({ "enabled": true })),
        (
            "/v1/topics/test_result_ready",
            json!({ "sensitivity": "sensitive", "secure_link": topic_link }),
        ),
    ] {
        let response = app.request(Method::PUT, path, &admin, Some(body)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    (app, clock)
}

/// A test result sent to `patient` at a clinic with links on, and the link its notice carries.
async fn result_with_link(patient: Value) -> Linked {
    let (app, clock) = clinic_with_links(true).await;
    app.patient("p-1", patient).await;
    let body = json!({ "patient_id": "p-1", "topic": "test_result_ready", "body": RESULT });
    let notification = app.notify(body).await;
    app.wait_until_finished(&notification).await;
    let notice = app.outbox_holding(&app.key, PATIENT_PHONE, 1).await;
    let text = notice[0]["body"].as_str().expect("the notice");
    let from_link = &text[text.find("http").expect("a link in the notice")..];
    let url = from_link.split_whitespace().next().expect("the link");
    Linked {
        app,
        clock,
        notification,
        url: url.to_owned(),
    }
}

/// One browser: keeps its cookies, follows no redirects by itself.
struct Browser {
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

/// What a page answered.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl Page {
    fn form_token(&self) -> String {
        let marker = "name=\"form_token\" value=\"";
        let start = self.html.find(marker).expect("a form") + marker.len();
        let end = self.html[start..].find('"').expect("value ends") + start;
        self.html[start..end].to_owned()
    }
}

impl Browser {
    fn new() -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            client,
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let response = request
            .header("cookie", cookie.join("; "))
            .send()
            .await
            .expect("answered");
        for set in response.headers().get_all(SET_COOKIE) {
            let pair = set
                .to_str()
                .expect("ascii")
                .split(';')
                .next()
                .expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            html: response.text().await.expect("html"),
        }
    }

    async fn open(&mut self, url: &str) -> Page {
        let request = self.client.get(url);
        self.send(request).await
    }

    /// Posts the page's form `action` with `fields`, as the page itself would.
    async fn post(
        &mut self,
        url: &str,
        page: &Page,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let token = page.form_token();
        let mut form = vec![("form_token", token.as_str()), ("action", action)];
        form.extend_from_slice(fields);
        let request = self.client.post(url).form(&form);
        self.send(request).await
    }

    async fn answer_birth_date(&mut self, url: &str, page: &Page, date: &str) -> Page {
        self.post(url, page, "birth_date", &[("birth_date", date)])
            .await
    }

    /// Sends a code, reads it from the sandbox's outbox, answers it and follows the redirect.
    async fn prove_by_sms(&mut self, linked: &Linked) -> Page {
        let page = self.open(&linked.url).await;
        let sent = self.post(&linked.url, &page, "send_code", &[]).await;
        assert!(sent.html.contains("SMS"), "{}", sent.html);
        let code = sms_code(&linked.app).await;
        let proven = self
            .post(&linked.url, &sent, "code", &[("code", &code)])
            .await;
        assert_eq!(proven.status, StatusCode::SEE_OTHER, "{}", proven.html);
        let location = proven.headers["location"].to_str().expect("location");
        self.open(&format!("{}{location}", linked.app.base)).await
    }
}

/// The newest SMS code the sandbox took for the patient's phone (the outbox is newest first).
async fn sms_code(app: &TestApp) -> String {
    let outbox = app.outbox_holding(&app.key, PATIENT_PHONE, 2).await;
    let text = outbox
        .iter()
        .filter(|m| m["channel"] == "sms")
        .find_map(|m| m["body"].as_str())
        .expect("an sms with the code");
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .expect("a six-digit code")
        .to_owned()
}

async fn events(linked: &Linked) -> Vec<String> {
    event_details(&linked.app.notification(&linked.notification).await)
}

#[tokio::test]
async fn a_link_opens_to_a_private_page_that_asks_for_proof_and_shows_nothing_of_the_message() {
    let linked = result_with_link(dana()).await;

    let page = Browser::new().open(&linked.url).await;

    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.html.contains("biopsy"), "{}", page.html);
    assert!(
        page.html.contains("<html lang=\"he\" dir=\"rtl\">"),
        "{}",
        page.html
    );
    assert!(page.html.contains("***567") && page.html.contains("type=\"date\""));
    for (header, value) in [
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("x-robots-tag", "noindex, nofollow"),
        ("content-type", "text/html; charset=utf-8"),
    ] {
        assert_eq!(page.headers[header], value, "{header}");
    }
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(
        events(&linked)
            .await
            .contains(&"secure link opened; proof of identity asked".to_owned())
    );
    linked.app.stop().await;
}

#[tokio::test]
async fn the_whatsapp_notice_carries_the_link_and_the_record_keeps_it_without_its_token() {
    let linked = result_with_link(dana()).await;
    let admin = linked.app.admin_key().await;

    let path = format!("/v1/notifications/{}", linked.notification);
    let response = linked.app.request(Method::GET, &path, &admin, None).await;
    let notification: Value = response.json().await.expect("notification");

    let page = format!("{}/s/hadar/", linked.app.base);
    let token = linked
        .url
        .strip_prefix(&page)
        .expect("a link to the clinic's page");
    assert_eq!(token.len(), 43, "256 bits in base64url: {token}");
    let attempts = notification["attempts"].as_array().expect("attempts");
    let notice = attempts
        .iter()
        .find(|a| a["channel"] == "whatsapp")
        .expect("notice");
    let kept = notice["content"]["text"].as_str().expect("kept text");
    assert!(kept.contains(&format!("{page}… ")), "{kept}");
    assert!(
        !notification.to_string().contains(token),
        "{notification:#}"
    );
    let issued = event_details(&notification);
    assert!(
        issued
            .iter()
            .any(|e| e.starts_with("secure link issued; it expires at 2026-12-09T08:00")),
        "{issued:#?}"
    );
    linked.app.stop().await;
}

#[tokio::test]
async fn a_topic_without_secure_link_keeps_the_notice_that_asks_to_call() {
    let (app, _clock) = clinic_with_links(false).await;
    app.patient("p-1", dana()).await;

    let body = json!({ "patient_id": "p-1", "topic": "test_result_ready", "body": RESULT });
    let notification = app.notify(body).await;
    app.wait_until_finished(&notification).await;

    let notice = app.outbox_holding(&app.key, PATIENT_PHONE, 1).await;
    let text = notice[0]["body"].as_str().expect("the notice");
    assert!(
        text.ends_with("נא להתקשר למרפאה בטלפון +97231234567."),
        "{text}"
    );
    assert!(!text.contains("http"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn the_sms_code_goes_to_the_patients_phone_and_the_right_code_shows_the_message() {
    let linked = result_with_link(dana()).await;
    let mut browser = Browser::new();

    let message = browser.prove_by_sms(&linked).await;

    assert_eq!(message.status, StatusCode::OK);
    assert!(message.html.contains(RESULT), "{}", message.html);
    let outbox = linked.app.outbox(PATIENT_PHONE).await;
    let channels: Vec<&str> = outbox
        .iter()
        .filter_map(|m| m["channel"].as_str())
        .collect();
    assert_eq!(
        channels.iter().filter(|c| **c == "sms").count(),
        1,
        "{outbox:#?}"
    );
    assert!(channels.contains(&"whatsapp"), "{outbox:#?}");
    for sent in &outbox {
        let text = sent["body"].as_str().expect("body");
        assert!(
            !text.contains("biopsy"),
            "the chat holds the result: {text}"
        );
    }
    let events = events(&linked).await;
    for step in [
        "secure link code sent by sms to ***567",
        "secure link: identity proven by sms code",
        "secure link: the message was read",
    ] {
        assert!(
            events.contains(&step.to_owned()),
            "{step} missing from {events:#?}"
        );
    }
    linked.app.stop().await;
}

#[tokio::test]
async fn after_the_proof_only_that_browser_reads_again_and_every_reading_is_an_event() {
    let linked = result_with_link(dana()).await;
    let mut reader = Browser::new();
    reader.prove_by_sms(&linked).await;

    let again = reader.open(&linked.url).await;
    let someone_else = Browser::new().open(&linked.url).await;

    assert!(again.html.contains(RESULT));
    assert_eq!(someone_else.status, StatusCode::GONE);
    assert!(!someone_else.html.contains("biopsy"));
    let reads = events(&linked).await;
    let reads = reads
        .iter()
        .filter(|e| *e == "secure link: the message was read");
    assert_eq!(reads.count(), 2);
    linked.app.stop().await;
}

#[tokio::test]
async fn the_right_date_of_birth_shows_the_message() {
    let linked = result_with_link(dana()).await;
    let mut browser = Browser::new();

    let page = browser.open(&linked.url).await;
    let proven = browser
        .answer_birth_date(&linked.url, &page, "1984-03-09")
        .await;
    let message = browser.open(&linked.url).await;

    assert_eq!(proven.status, StatusCode::SEE_OTHER);
    assert!(message.html.contains(RESULT), "{}", message.html);
    let step = "secure link: identity proven by birth date".to_owned();
    assert!(events(&linked).await.contains(&step));
    linked.app.stop().await;
}

#[tokio::test]
async fn a_code_is_good_for_ten_minutes_and_a_link_sends_three_at_most() {
    let linked = result_with_link(dana()).await;
    let mut browser = Browser::new();
    let page = browser.open(&linked.url).await;
    let sent = browser.post(&linked.url, &page, "send_code", &[]).await;
    let code = sms_code(&linked.app).await;
    linked.clock.advance(Duration::from_secs(10 * 60));

    let late = browser
        .post(&linked.url, &sent, "code", &[("code", &code)])
        .await;
    let second = browser.post(&linked.url, &late, "send_code", &[]).await;
    let third = browser.post(&linked.url, &second, "send_code", &[]).await;
    let fourth = browser.post(&linked.url, &third, "send_code", &[]).await;

    assert!(late.html.contains("תוקף הקוד פג"), "{}", late.html);
    assert!(
        fourth.html.contains("לא ניתן לשלוח קודים נוספים"),
        "{}",
        fourth.html
    );
    let outbox = linked.app.outbox(PATIENT_PHONE).await;
    let codes = outbox.iter().filter(|m| m["channel"] == "sms").count();
    assert_eq!(codes, 3, "{outbox:#?}");
    let events = events(&linked).await;
    assert!(!events.iter().any(|e| e.contains("wrong")), "{events:#?}");
    linked.app.stop().await;
}

#[tokio::test]
async fn wrong_answers_are_counted_and_the_fifth_locks_the_link_even_for_the_right_one() {
    let linked = result_with_link(dana()).await;
    let mut browser = Browser::new();
    let mut page = browser.open(&linked.url).await;

    for left in (1..=4).rev() {
        page = browser
            .answer_birth_date(&linked.url, &page, "1990-01-01")
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.html.contains(&format!("נותרו {left} ניסיונות")),
            "{}",
            page.html
        );
    }
    let locked = browser
        .answer_birth_date(&linked.url, &page, "1990-01-01")
        .await;
    let after = browser.open(&linked.url).await;

    assert_eq!(locked.status, StatusCode::GONE);
    assert!(locked.html.contains("tel:+97231234567"), "{}", locked.html);
    assert_eq!(after.status, StatusCode::GONE);
    assert!(!after.html.contains("<form"), "{}", after.html);
    let events = events(&linked).await;
    let wrong = events
        .iter()
        .filter(|e| e.starts_with("secure link: wrong birth date"));
    assert_eq!(wrong.count(), 5, "{events:#?}");
    assert!(events.contains(
        &"secure link locked after 5 wrong answers; the patient must call the clinic".to_owned()
    ));
    linked.app.stop().await;
}

#[tokio::test]
async fn an_unread_link_records_its_expiry_and_then_says_to_call_as_if_it_never_existed() {
    let linked = result_with_link(dana()).await;

    linked.clock.advance(Duration::from_secs(72 * 3600));
    let expired = "secure link expired unread at 2026-12-09T08:00";
    let app = &linked.app;
    let notification = app
        .wait_until(&linked.notification, |n| {
            event_details(n).iter().any(|e| e.starts_with(expired))
        })
        .await;
    let page = Browser::new().open(&linked.url).await;
    let (base, _) = linked.url.rsplit_once('/').expect("token");
    let unknown = Browser::new()
        .open(&format!("{base}/{}", "A".repeat(43)))
        .await;

    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.html.contains("tel:+97231234567"), "{}", page.html);
    assert_eq!(unknown.status, page.status);
    assert_eq!(unknown.html, page.html);
    let events = event_details(&notification);
    let expiries = events.iter().filter(|e| e.starts_with(expired));
    assert_eq!(expiries.count(), 1, "{events:#?}");
    linked.app.stop().await;
}

#[tokio::test]
async fn a_form_posted_without_the_pages_cookie_does_nothing() {
    let linked = result_with_link(dana()).await;
    let page = Browser::new().open(&linked.url).await;

    let mut other_site = Browser::new();
    let forged = other_site.post(&linked.url, &page, "send_code", &[]).await;

    assert_eq!(forged.status, StatusCode::OK);
    assert_eq!(
        linked.app.outbox(PATIENT_PHONE).await.len(),
        1,
        "only the notice"
    );
    assert!(
        !events(&linked)
            .await
            .iter()
            .any(|e| e.contains("code sent"))
    );
    linked.app.stop().await;
}
