//! `GET /v1/patients/{id}/transcript`: every message to and from the patient over a period,
//! oldest first, with channel, time in the clinic's zone, status, who sent it and what a
//! sensitive topic kept off a chat channel; for the clinic's staff only, as HTML or PDF.

use std::sync::Arc;
use std::time::Duration;

use medrelay::clock::AdjustableClock;
use medrelay::store::ApiKeyRole;
use reqwest::header::{ACCEPT, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::hours::at;

const DANA_PHONE: &str = "+972541234567";
/// Monday 2 November 2026, 10:00 in Jerusalem (08:00 UTC).
const MONDAY_10_00: &str = "2026-11-02T10:00:00+02:00";

/// A transcript as a client gets it.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub(crate) fn html(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8")
    }

    fn problem(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The transcript of patient `p-1` as the holder of `key` gets it, with `query` and `Accept`.
pub(crate) async fn transcript(
    app: &TestApp,
    key: &str,
    query: &str,
    accept: Option<&str>,
) -> Answer {
    let mut request = app
        .client()
        .get(format!("{}/v1/patients/p-1/transcript{query}", app.base))
        .bearer_auth(key);
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    let response = request.send().await.expect("request sent");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("body").to_vec(),
    }
}

/// Each entry of the page (`<article>`) as the words it shows: tags dropped, entities read,
/// spaces (the times' no-break ones too) made single.
pub(crate) fn entries(html: &str) -> Vec<String> {
    html.split("<article")
        .skip(1)
        .map(|article| words(article.split("</article>").next().unwrap_or_default()))
        .collect()
}

fn words(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = true;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    decoded(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` with its character references read (`&#60;`, `&lt;`, …).
fn decoded(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find(';') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        let named = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix('#')
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(char::from_u32),
        };
        match named {
            Some(c) => out.push(c),
            None => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &after[end + 1..];
    }
    out + rest
}

/// A gateway on a clock set to Monday 10:00 in Jerusalem, whose clinic speaks `language`, with
/// patient `p-1` (Dana) on WhatsApp and email; returns it with its clock and a staff key.
pub(crate) async fn clinic_speaking(language: &str) -> (TestApp, Arc<AdjustableClock>, String) {
    let clock = Arc::new(AdjustableClock::default());
    clock.set(at(MONDAY_10_00));
    let app = TestApp::spawn_with_clock(
        |config| {
            config.api.key_rate_per_second = 1000;
            config.api.key_burst = 1000;
        },
        clock.clone(),
    )
    .await;
    let admin = app.admin_key().await;
    let response = app
        .request(
            Method::PATCH,
            "/v1/clinic",
            &admin,
            Some(json!({ "language": language })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "language": "he", "phone": DANA_PHONE, "whatsapp": true,
                "email": "dana@example.org", "channels": ["whatsapp", "email"] }),
    )
    .await;
    let staff = app.staff_key().await;
    (app, clock, staff)
}

/// Sends `body` to `p-1` on `topic` with `key`, and waits until it is one of `statuses`.
pub(crate) async fn sent(app: &TestApp, key: &str, topic: &str, body: &str, statuses: &[&str]) {
    let id = app
        .notify_as(
            key,
            json!({ "patient_id": "p-1", "topic": topic, "body": body }),
        )
        .await;
    app.drain_dispatcher().await;
    app.wait_for(&id, statuses).await;
}

/// The entry that contains `part`.
fn entry<'e>(entries: &'e [String], part: &str) -> &'e str {
    entries
        .iter()
        .find(|e| e.contains(part))
        .unwrap_or_else(|| panic!("no entry with {part}: {entries:#?}"))
}

/// Whether the entries `wanted` appear in `entries` in this order, each matched by a part of it.
fn in_order(entries: &[String], wanted: &[&str]) -> bool {
    let mut rest = entries.iter();
    wanted
        .iter()
        .all(|w| rest.by_ref().any(|entry| entry.contains(w)))
}

#[tokio::test]
async fn every_message_both_ways_is_in_the_order_it_happened_with_jerusalem_times() {
    let (app, _clock, staff) = clinic_speaking("en").await;
    app.patient_writes_on_whatsapp(DANA_PHONE).await;
    sent(
        &app,
        &staff,
        "general",
        "Please bring your referral",
        &["read"],
    )
    .await;
    app.patient_sends(json!({ "channel": "whatsapp", "from": DANA_PHONE, "text": "שלום, אגיע" }))
        .await;
    app.patient_sends(json!({
        "channel": "whatsapp", "from": DANA_PHONE, "image": { "caption": "the referral" }
    }))
    .await;
    let response = app
        .request(
            Method::POST,
            "/v1/conversations/p-1/reply",
            &staff,
            Some(json!({ "by": "Dr. Cohen", "text": "Thank you, see you then" })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let reply: Value = response.json().await.expect("reply");
    app.drain_dispatcher().await;
    app.wait_for(reply["id"].as_str().expect("id"), &["read"])
        .await;

    let answer = transcript(&app, &staff, "", None).await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), "text/html; charset=utf-8");
    let entries = entries(&answer.html());
    assert!(
        in_order(
            &entries,
            &[
                "From the patient · WhatsApp hello",
                "Please bring your referral",
                "From the patient · WhatsApp שלום, אגיע",
                "From the patient · WhatsApp the referral photo (image/png)",
                "Thank you, see you then",
            ]
        ),
        "{entries:#?}"
    );
    let ours = entry(&entries, "Please bring your referral");
    assert!(
        ours.starts_with("2026-11-02 10:0") && ours.contains("To the patient · WhatsApp"),
        "sent on WhatsApp at 10:0x in Jerusalem: {ours}"
    );
    for fact in [
        "Status: read",
        "Delivered: 2026-11-02 10:0",
        "Read: 2026-11-02 10:0",
    ] {
        assert!(ours.contains(fact), "{fact}: {ours}");
    }
    assert!(
        ours.contains("Sent by: API key key_") && ours.contains("(staff)"),
        "{ours}"
    );
    let reply = entry(&entries, "Thank you, see you then");
    assert!(reply.contains("Sent by: Dr. Cohen (staff)"), "{reply}");
    app.stop().await;
}

#[tokio::test]
async fn a_sensitive_result_shows_on_email_and_its_whatsapp_notice_says_what_was_withheld() {
    let (app, _clock, staff) = clinic_speaking("en").await;
    app.patient_writes_on_whatsapp(DANA_PHONE).await;

    sent(
        &app,
        &staff,
        "test_result_ready",
        "Your HbA1c is 9.1%",
        &["delivered", "read"],
    )
    .await;

    let entries = entries(&transcript(&app, &staff, "", None).await.html());
    let email = entry(&entries, "To the patient · Email");
    assert!(email.contains("Your HbA1c is 9.1%"), "{email}");
    assert!(!email.contains("Not sent on"), "{email}");
    let whatsapp = entries
        .iter()
        .find(|e| e.contains("To the patient · WhatsApp") && e.contains("Not sent on"))
        .unwrap_or_else(|| panic!("a notice on WhatsApp: {entries:#?}"));
    assert!(
        whatsapp.contains(
            "Not sent on WhatsApp: the topic “test_result_ready” is sensitive, so the patient got \
             this content-free notice instead."
        ),
        "{whatsapp}"
    );
    assert!(!whatsapp.contains("HbA1c"), "{whatsapp}");
    app.stop().await;
}

#[tokio::test]
async fn the_period_holds_only_what_happened_within_it_in_the_clinic_s_days() {
    let (app, clock, staff) = clinic_speaking("en").await;
    sent(&app, &staff, "general", "Monday's message", &["sent"]).await;
    clock.advance(Duration::from_secs(24 * 3600));
    sent(&app, &staff, "general", "Tuesday's message", &["sent"]).await;

    let texts = async |query: &str| {
        let answer = transcript(&app, &staff, query, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{query}");
        let entries = entries(&answer.html());
        ["Monday's message", "Tuesday's message"]
            .into_iter()
            .filter(|text| entries.iter().any(|e| e.contains(text)))
            .collect::<Vec<_>>()
    };

    assert_eq!(texts("?from=2026-11-03").await, ["Tuesday's message"]);
    assert_eq!(texts("?to=2026-11-03").await, ["Monday's message"]);
    assert_eq!(
        texts("?from=2026-11-02&to=2026-11-04").await,
        ["Monday's message", "Tuesday's message"]
    );
    assert!(texts("?to=2026-11-02").await.is_empty());
    let backwards = transcript(&app, &staff, "?from=2026-11-04&to=2026-11-03", None).await;
    assert_eq!(backwards.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(backwards.problem()["errors"][0]["field"], "to");
    app.stop().await;
}

#[tokio::test]
async fn a_transcript_is_for_the_clinic_s_staff_and_its_own_patients() {
    let (app, _clock, staff) = clinic_speaking("en").await;
    sent(&app, &staff, "general", "Hadar's message", &["sent"]).await;
    let other_booking = app.other_clinic_key().await;
    let other = app.store.clinic_by_slug("other").await.expect("clinic");
    let other_staff = app
        .store
        .create_api_key(&other.id, ApiKeyRole::Staff, jiff::Timestamp::now())
        .await
        .expect("key");
    let response = app
        .request(
            Method::PUT,
            "/v1/patients/p-1",
            &other_booking,
            Some(json!({ "name": "Another patient" })),
        )
        .await;
    assert!(response.status().is_success());

    let booking = transcript(&app, &app.key, "", None).await;
    let elsewhere = transcript(&app, &other_staff, "", None).await;
    let unknown = app
        .request(Method::GET, "/v1/patients/p-404/transcript", &staff, None)
        .await;

    assert_eq!(booking.status, StatusCode::FORBIDDEN);
    assert_eq!(elsewhere.status, StatusCode::OK);
    let html = elsewhere.html();
    assert!(!html.contains("Hadar's message"), "{html}");
    assert!(html.contains("Another patient"), "{html}");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn a_pdf_comes_by_accept_or_format_and_a_format_neither_is_refused() {
    let (app, _clock, staff) = clinic_speaking("en").await;

    let by_accept = transcript(&app, &staff, "", Some("application/pdf")).await;
    let by_format = transcript(&app, &staff, "?format=pdf", Some("text/html")).await;
    let json = transcript(&app, &staff, "", Some("application/json")).await;
    let unknown = transcript(&app, &staff, "?format=docx", None).await;

    for pdf in [&by_accept, &by_format] {
        assert_eq!(pdf.status, StatusCode::OK);
        assert_eq!(pdf.header("content-type"), "application/pdf");
        assert!(pdf.body.starts_with(b"%PDF-"));
        assert!(
            pdf.header("content-disposition")
                .starts_with("inline; filename=\"transcript-")
        );
    }
    assert_eq!(json.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(json.header("content-type"), "application/problem+json");
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.problem()["errors"][0]["field"], "format");
    app.stop().await;
}

#[tokio::test]
async fn the_page_loads_nothing_from_anywhere_and_is_not_kept() {
    let (app, _clock, staff) = clinic_speaking("en").await;

    let page = transcript(&app, &staff, "", None).await;

    let policy = page.header("content-security-policy");
    assert!(
        policy.starts_with("default-src 'none'; style-src 'sha256-"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(!page.html().contains("http://") && !page.html().contains("https://"));
    app.stop().await;
}

#[tokio::test]
async fn a_hebrew_clinic_s_transcript_reads_right_to_left_with_hebrew_labels() {
    let (app, _clock, staff) = clinic_speaking("he").await;
    sent(
        &app,
        &staff,
        "general",
        "Please bring your referral",
        &["sent"],
    )
    .await;

    let html = transcript(&app, &staff, "", None).await.html();

    assert!(html.contains("<html lang=\"he\" dir=\"rtl\">"), "{html}");
    let entries = entries(&html);
    assert!(
        entries[0].contains("אל המטופל · דואר אלקטרוני"),
        "{entries:#?}"
    );
    assert!(
        entries[0].contains("Please bring your referral"),
        "{entries:#?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn after_erasure_the_transcript_keeps_what_was_sent_and_says_the_text_was_erased() {
    let (app, _clock, staff) = clinic_speaking("en").await;
    sent(
        &app,
        &staff,
        "general",
        "Please bring your referral",
        &["sent"],
    )
    .await;
    let admin = app.admin_key().await;
    let erased = app
        .request(Method::DELETE, "/v1/patients/p-1", &admin, None)
        .await;
    assert!(erased.status().is_success(), "{}", erased.status());

    let html = transcript(&app, &staff, "", None).await.html();

    assert!(!html.contains("Please bring your referral"), "{html}");
    let entries = entries(&html);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert!(
        entries[0].contains("To the patient · Email Status: accepted by the provider"),
        "{entries:#?}"
    );
    assert!(
        entries[0].contains("Text erased at the patient's request."),
        "{entries:#?}"
    );
    app.stop().await;
}
