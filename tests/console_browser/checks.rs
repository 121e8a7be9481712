//! The accessibility check itself, on pages made to pass and to fail it: each fault it claims
//! to find, it finds, and a sound page (left-to-right and right-to-left) has none.

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use medrelay_testkit::browser::Browser;

/// Serves `page` at `/` on a port of its own; its address.
async fn serve(page: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new().route("/", get(move || async move { Html(page) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("its address");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/"), server)
}

async fn violations_of(page: &'static str) -> Vec<String> {
    let (url, server) = serve(page).await;
    let browser = Browser::start().await;
    browser.open(&url).await;
    let found = browser.accessibility_violations().await;
    browser.close().await;
    server.abort();
    found
}

const SOUND_HEBREW: &str = r#"<!doctype html>
<html lang="he" dir="rtl"><head><meta charset="utf-8"><title>מטופלים</title>
<style>body { color: #1a1a1a; background: #fff } .muted { color: #595959 }
.badge { background: #0b5394; color: #fff; padding-inline: 4px } .big { font-size: 30px; color: #767676 }</style>
</head><body><h1>מטופלים</h1>
<form><label for="q">חיפוש</label><input id="q" name="q">
<label>שפה <select name="lang"><option>עברית</option></select></label>
<textarea aria-label="הודעה"></textarea><input type="hidden" name="csrf" value="x">
<button type="submit">חיפוש</button><input type="submit" value="שליחה"></form>
<p class="muted">טקסט משני</p><span class="badge">חדש</span><p class="big">כותרת גדולה</p>
<a href="/x"><img src="data:," alt="לוח"></a><img src="data:," alt="">
<svg role="img" aria-label="תרשים"><rect width="10" height="10"/></svg>
<button aria-label="סגירה">×</button><div hidden><input name="not-seen"></div>
</body></html>"#;

#[tokio::test]
#[cfg_attr(
    not(browser),
    ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
)]
async fn a_sound_right_to_left_page_has_no_accessibility_faults() {
    let found = violations_of(SOUND_HEBREW).await;
    assert!(found.is_empty(), "{found:#?}");
}

const FAULTY: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>faulty</title>
<style>.pale { color: #aaa; background: #fff } .on-dark { color: #333; background: #222 }</style>
</head><body><h1>One</h1><h1>Two</h1>
<input name="unlabelled" placeholder="a placeholder is no label">
<select name="no-label"><option>a</option></select>
<img src="data:,">
<button type="button"></button><a href="/somewhere"></a>
<p class="pale">too pale</p><div class="on-dark">dark on dark</div>
</body></html>"#;

#[tokio::test]
#[cfg_attr(
    not(browser),
    ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
)]
async fn the_accessibility_check_finds_each_fault_it_names() {
    let found = violations_of(FAULTY).await;
    let expected = [
        "<html> has no lang",
        "<html> has no dir",
        "the page has 2 <h1>",
        "form field without a label: input[name=unlabelled]",
        "form field without a label: select[name=no-label]",
        "image without alt",
        "button without a name",
        "a without a name",
        "contrast 2.32:1 < 4.5:1",
        "contrast 1.26:1 < 4.5:1",
    ];
    for fault in expected {
        assert!(
            found.iter().any(|f| f.starts_with(fault)),
            "{fault:?} not found in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}
