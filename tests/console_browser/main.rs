//! The staff console in a real headless Chromium (Debian's `chromium` and `chromium-driver`):
//! what reception does, page by page and flow by flow, in English and in Hebrew, each page
//! screenshotted (`target/console-screenshots/<lang>/<page>.png`) and checked for the
//! accessibility basics (labels, names, alt, contrast, `lang`/`dir`, one `<h1>`).
//!
//! The gateway runs in-process on port 0 with a fresh database (the API tests' `TestApp`), built
//! as `cargo test` builds it (debug), not the release binary: the same code, faster to build on
//! a shared machine, and the test can make staff accounts and patients directly.
//!
//! Without Chromium and chromedriver on `PATH` when built, every test here is ignored, by name
//! (build.rs sets `cfg(browser)` when both are found).

/// One flow as two tests, `$english` and `$hebrew`, each running `$flow` in its language; without
/// Chromium both are ignored, by name.
macro_rules! in_both_languages {
    ($flow:ident: $english:ident, $hebrew:ident) => {
        #[tokio::test]
        #[cfg_attr(
            not(browser),
            ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
        )]
        async fn $english() {
            $flow(UiLanguage::En).await;
        }

        #[tokio::test]
        #[cfg_attr(
            not(browser),
            ignore = "needs chromium and chromedriver: apt-get install chromium chromium-driver"
        )]
        async fn $hebrew() {
            $flow(UiLanguage::He).await;
        }
    };
}

// The API tests' harness, shared as a file: this binary uses part of it.
#[allow(dead_code)]
#[path = "../api/harness.rs"]
mod harness;

// The console tests' sign-in helpers (staff accounts, the password).
#[allow(dead_code)]
#[path = "../api/console_harness.rs"]
mod console_harness;

mod checks;
mod flows;
mod inbox;
mod pages;
mod reception;
mod reception_flows;
mod sandbox_phone;
mod send_flow;

use std::path::PathBuf;

/// Where the screenshot of `page` in `lang` goes: `<target>/console-screenshots/<lang>/<page>.png`.
pub fn screenshot_path(lang: &str, page: &str) -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    target
        .parent()
        .unwrap_or(&target)
        .join("console-screenshots")
        .join(lang)
        .join(format!("{page}.png"))
}
