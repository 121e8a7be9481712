//! The transcript as people and other programs see it, not as bytes: headless Chromium lays the
//! Hebrew page out right to left (screenshot kept as a test artifact), and poppler, a PDF reader
//! we did not write, reads the PDF's Hebrew and Arabic back in logical order and renders its pages.
//! Both need programs outside Rust, so they are ignored unless asked for; `.ci/run` installs the
//! programs and runs them.

use std::path::PathBuf;
use std::process::Command;

use medrelay_testkit::browser::{Browser, KeyedProxy};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::transcript::{Answer, clinic_speaking, sent, transcript};

const DANA_PHONE: &str = "+972541234567";
const HEBREW_SENT: &str = "נא להביא הפניה לתור ביום שני";
const HEBREW_RECEIVED: &str = "שלום, יש לי שאלה לגבי התור";
const ARABIC_RECEIVED: &str = "مرحبا، عندي سؤال عن الموعد";
const ENGLISH_SENT: &str = "Please bring your referral";

/// Where tests leave what a person may want to look at: `target/test-artifacts/`.
fn artifact(name: &str) -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = target.parent().unwrap_or(&target).join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("the artifact folder");
    dir.join(name)
}

/// A Hebrew-speaking clinic whose patient wrote in Hebrew and Arabic and was answered in Hebrew
/// and English; returns it with a staff key.
async fn hebrew_conversation() -> (TestApp, String) {
    let (app, _clock, staff) = clinic_speaking("he").await;
    for text in [HEBREW_RECEIVED, ARABIC_RECEIVED] {
        app.patient_sends(json!({ "channel": "whatsapp", "from": DANA_PHONE, "text": text }))
            .await;
    }
    sent(&app, &staff, "general", HEBREW_SENT, &["read"]).await;
    sent(&app, &staff, "general", ENGLISH_SENT, &["read"]).await;
    (app, staff)
}

/// Where each paragraph's box and its text sit on the page, and the directions the browser
/// computed.
const LAYOUT: &str = r#"
const content = el => {
  const r = el.getBoundingClientRect(), s = getComputedStyle(el);
  return { left: r.left + parseFloat(s.paddingLeft) + parseFloat(s.borderLeftWidth),
           right: r.right - parseFloat(s.paddingRight) - parseFloat(s.borderRightWidth) };
};
const ink = el => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const r = range.getBoundingClientRect();
  return { left: r.left, right: r.right };
};
const line = el => ({ text: el.textContent, direction: getComputedStyle(el).direction,
                      box: content(el), ink: ink(el) });
return {
  direction: getComputedStyle(document.documentElement).direction,
  startBorder: getComputedStyle(document.querySelector('article')).borderRightWidth,
  texts: [...document.querySelectorAll('p.text')].map(line),
  headings: [...document.querySelectorAll('h2')].map(line),
};
"#;

fn number(value: &Value) -> f64 {
    value.as_f64().expect("a number")
}

/// Whether `line`'s text ends at its box's right edge and stops well short of its left one.
fn right_aligned(line: &Value) -> bool {
    let (ink, content) = (&line["ink"], &line["box"]);
    (number(&content["right"]) - number(&ink["right"])).abs() <= 2.0
        && number(&ink["left"]) - number(&content["left"]) > 20.0
}

fn left_aligned(line: &Value) -> bool {
    let (ink, content) = (&line["ink"], &line["box"]);
    (number(&ink["left"]) - number(&content["left"])).abs() <= 2.0
        && number(&content["right"]) - number(&ink["right"]) > 20.0
}

fn line_with<'l>(lines: &'l Value, text: &str) -> &'l Value {
    lines
        .as_array()
        .and_then(|all| all.iter().find(|l| l["text"] == text))
        .unwrap_or_else(|| panic!("no line {text} in {lines:#}"))
}

#[tokio::test]
#[ignore = "needs Chromium and chromedriver: .ci/run installs them (apt chromium chromium-driver)"]
async fn the_hebrew_transcript_reads_right_to_left_in_chromium() {
    let (app, staff) = hebrew_conversation().await;
    let proxy = KeyedProxy::start(&app.base, &staff).await;
    let browser = Browser::start().await;

    browser
        .open(&format!("{}/v1/patients/p-1/transcript", proxy.base))
        .await;
    let layout = browser.run(LAYOUT).await;
    let png = browser.screenshot(&artifact("transcript-he.png")).await;
    browser.close().await;

    assert_eq!(layout["direction"], "rtl", "{layout:#}");
    assert_eq!(
        layout["startBorder"], "4px",
        "the page's own style applies under its policy: {layout:#}"
    );
    for hebrew in [HEBREW_SENT, HEBREW_RECEIVED] {
        let line = line_with(&layout["texts"], hebrew);
        assert_eq!(line["direction"], "rtl", "{line:#}");
        assert!(right_aligned(line), "{line:#}");
    }
    let english = line_with(&layout["texts"], ENGLISH_SENT);
    assert_eq!(english["direction"], "ltr", "{english:#}");
    assert!(left_aligned(english), "{english:#}");
    let headings = layout["headings"].as_array().expect("headings");
    assert!(!headings.is_empty());
    assert!(headings.iter().all(right_aligned), "{headings:#?}");
    assert!(png.starts_with(b"\x89PNG"));
    app.stop().await;
}

/// `program` run with `args`, which must succeed; its standard output.
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (apt-get install poppler-utils): {e}"));
    assert!(
        output.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// The words of `text` in the order it gives them, without punctuation. A reader puts the
/// punctuation between right-to-left words as it finds it on the page (poppler reads
/// "שלום, יש" back as "שלום ,יש", from Chromium's PDFs too), so only the words' order and
/// their letters' order are what it reads of the text's order.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

fn pdf_of(answer: &Answer, name: &str) -> PathBuf {
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), "application/pdf");
    let path = artifact(name);
    std::fs::write(&path, &answer.body).expect("the PDF written");
    path
}

#[tokio::test]
#[ignore = "needs pdftotext and pdftoppm: .ci/run installs them (apt poppler-utils)"]
async fn poppler_reads_the_pdf_s_hebrew_and_arabic_in_logical_order_and_renders_it() {
    let (app, staff) = hebrew_conversation().await;

    let answer = transcript(&app, &staff, "?format=pdf", None).await;
    let pdf = pdf_of(&answer, "transcript-he.pdf");
    let path = pdf.to_str().expect("a UTF-8 path");
    let text = run("pdftotext", &["-enc", "UTF-8", path, "-"]);
    let prefix = artifact("transcript-he-pdf");
    run(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "60",
            path,
            prefix.to_str().expect("a UTF-8 path"),
        ],
    );

    let read = words(&text);
    for phrase in [
        "תמליל הודעות",
        "אל המטופל",
        "מהמטופל",
        HEBREW_SENT,
        HEBREW_RECEIVED,
        ARABIC_RECEIVED,
        ENGLISH_SENT,
        "עמוד 1 מתוך 1",
    ] {
        let wanted = words(phrase);
        assert!(
            read.windows(wanted.len()).any(|w| w == wanted),
            "{phrase} in:\n{text}"
        );
    }
    let page = std::fs::read(artifact("transcript-he-pdf-1.png")).expect("page 1 rendered");
    assert!(
        page.starts_with(b"\x89PNG") && page.len() > 10_000,
        "{}",
        page.len()
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs pdftotext and pdfinfo: .ci/run installs them (apt poppler-utils)"]
async fn a_long_transcript_runs_over_numbered_pages_with_the_header_on_each() {
    let (app, _clock, staff) = clinic_speaking("en").await;
    for n in 1..=40 {
        let text = format!("Message number {n} from the patient");
        app.patient_sends(json!({ "channel": "whatsapp", "from": DANA_PHONE, "text": text }))
            .await;
    }

    let answer = transcript(&app, &staff, "?format=pdf", None).await;
    let pdf = pdf_of(&answer, "transcript-long.pdf");
    let path = pdf.to_str().expect("a UTF-8 path");
    let info = run("pdfinfo", &[path]);
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{info}"));
    let text = run("pdftotext", &["-enc", "UTF-8", path, "-"]);

    assert!(pages >= 2, "{pages} pages");
    for page in 1..=pages {
        assert!(text.contains(&format!("Page {page} of {pages}")), "{text}");
    }
    assert_eq!(
        text.matches("Patient: Dana Levi (p-1)").count(),
        pages,
        "{text}"
    );
    for n in 1..=40 {
        assert!(
            text.contains(&format!("Message number {n} from the patient")),
            "{n}:\n{text}"
        );
    }
    app.stop().await;
}
