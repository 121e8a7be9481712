//! A headless Chromium, for tests that must see a page as a person does (its layout, not its
//! bytes): chromedriver started on port 0, driven over W3C WebDriver. Each browser has a fresh
//! profile and none of the traffic Chromium makes on its own (updates, sync, QUIC, first-run
//! pages), so it talks to nothing but the pages a test opens.
//!
//! The WebDriver commands used (session, navigate, find, click, send keys, execute script,
//! cookies, window size, screenshot) are JSON over HTTP, sent with reqwest. fantoccini would add
//! a second HTTP client stack and Mozilla's `webdriver` crate, whose MPL-2.0 license deny.toml
//! does not allow. A full-page screenshot goes through chromedriver's DevTools pass-through.
//!
//! Whatever a test waits for (an element, a text, a URL) is polled with a deadline
//! ([`crate::wait`]), never slept for.
//!
//! A browser sends no API key, so [`KeyedProxy`] stands between it and the gateway: a local
//! address that forwards each request with the key, and the answer (headers and all) back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::process::Process;
use crate::wait;

mod element;
mod proxy;

pub use element::Element;
pub use proxy::KeyedProxy;

/// The flags a test browser runs with: headless, no sandbox (tests run as root in CI), nothing
/// fetched in the background, a window big enough for an A4-wide page.
const CHROMIUM_FLAGS: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1000,1400",
];

/// The first of `names` found on `PATH`.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The Chromium and chromedriver binaries, if both are installed.
pub fn installed() -> Option<(PathBuf, PathBuf)> {
    let chromium = on_path(&["chromium", "chromium-browser", "google-chrome"])?;
    let driver = on_path(&["chromedriver"])?;
    Some((chromium, driver))
}

/// A headless Chromium; its driver is killed when dropped.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`: where this browser's commands go.
    session: String,
    /// Killed on drop, and the browser with it.
    _driver: Process,
    /// The browser's own profile, removed on drop.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a port of its choosing and a browser through it. Fails, naming
    /// what to install, when Chromium or chromedriver is missing.
    pub async fn start() -> Self {
        let (chromium, driver) = installed().expect(
            "Chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)",
        );
        let (driver, port) = start_driver(&driver);
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let http = reqwest::Client::new();
        let created = command_answer(http.post(format!("http://127.0.0.1:{port}/session")).json(
            &json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "binary": chromium, "args": args },
            }}}),
        ))
        .await;
        let id = created["sessionId"].as_str().expect("a session id");
        Self {
            session: format!("http://127.0.0.1:{port}/session/{id}"),
            http,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn open(&self, url: &str) {
        command_answer(
            self.http
                .post(format!("{}/url", self.session))
                .json(&json!({ "url": url })),
        )
        .await;
    }

    /// Runs `script` in the page (`return` gives its value back).
    pub async fn run(&self, script: &str) -> Value {
        command_answer(
            self.http
                .post(format!("{}/execute/sync", self.session))
                .json(&json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// A PNG of the window, written to `path` (its folder made if need be).
    pub async fn screenshot(&self, path: &Path) -> Vec<u8> {
        let encoded = command_answer(self.http.get(format!("{}/screenshot", self.session))).await;
        write_png(path, encoded.as_str().expect("a base64 PNG"))
    }

    /// Ends the session (the browser quits); the driver stops when dropped.
    pub async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }

    /// Runs `script` with `args` (`arguments[0]`, …; an [`Element`] passes as itself).
    pub async fn run_with(&self, script: &str, args: Value) -> Value {
        command_answer(
            self.http
                .post(format!("{}/execute/sync", self.session))
                .json(&json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The address the page is at now (after redirects).
    pub async fn url(&self) -> String {
        let url = command_answer(self.http.get(format!("{}/url", self.session))).await;
        url.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the page's address satisfies `matches` (e.g. a redirect done); returns it.
    pub async fn wait_for_url(&self, matches: impl Fn(&str) -> bool) -> String {
        wait::within(WAIT)
            .every(POLL)
            .until(async || {
                let url = self.url().await;
                if matches(&url) {
                    Ok(url)
                } else {
                    Err(format!("the page is at {url}"))
                }
            })
            .await
    }

    /// The browser's cookies for the page's site, as WebDriver gives them (`name`, `value`,
    /// `httpOnly`, `secure`, `sameSite`, …).
    pub async fn cookies(&self) -> Vec<Value> {
        let cookies = command_answer(self.http.get(format!("{}/cookie", self.session))).await;
        cookies.as_array().cloned().unwrap_or_default()
    }

    /// Removes every cookie of the page's site: the browser as a new visitor.
    pub async fn delete_cookies(&self) {
        command_answer(self.http.delete(format!("{}/cookie", self.session))).await;
    }

    /// Resizes the window, e.g. to a phone's 375 px width.
    pub async fn set_window_size(&self, width: u32, height: u32) {
        command_answer(
            self.http
                .post(format!("{}/window/rect", self.session))
                .json(&json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// The first element matching the CSS `selector` now, if any.
    pub async fn try_find(&self, selector: &str) -> Option<Element<'_>> {
        let answer = command(
            self.http
                .post(format!("{}/element", self.session))
                .json(&json!({ "using": "css selector", "value": selector })),
        )
        .await;
        // Only "no such element" means not there (yet); anything else is the test's mistake.
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) if error.contains("no such element") => return None,
            Err(error) => panic!("finding {selector:?}: {error}"),
        };
        let Some(id) = answer[ELEMENT].as_str().map(str::to_owned) else {
            panic!("finding {selector:?}: not an element: {answer}");
        };
        Some(Element {
            browser: self,
            id,
            selector: selector.to_owned(),
        })
    }

    /// Every element matching the CSS `selector` now.
    pub async fn find_all(&self, selector: &str) -> Vec<Element<'_>> {
        let answer = command_answer(
            self.http
                .post(format!("{}/elements", self.session))
                .json(&json!({ "using": "css selector", "value": selector })),
        )
        .await;
        answer
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|found| found[ELEMENT].as_str())
            .map(|id| Element {
                browser: self,
                id: id.to_owned(),
                selector: selector.to_owned(),
            })
            .collect()
    }

    /// Waits for an element matching `selector` (the page may still be loading or updating).
    pub async fn find(&self, selector: &str) -> Element<'_> {
        wait::within(WAIT)
            .every(POLL)
            .until(async || match self.try_find(selector).await {
                Some(found) => Ok(found),
                None => Err(format!(
                    "no element matches {selector:?} on {}, which reads: {}",
                    self.url().await,
                    self.run("return document.documentElement.outerHTML;").await
                )),
            })
            .await
    }

    /// [`Browser::find`], named as a wait where the test waits for something to appear.
    pub async fn wait_for(&self, selector: &str) -> Element<'_> {
        self.find(selector).await
    }

    /// Waits until no element matches `selector` (e.g. a dialog closed, a row gone).
    pub async fn wait_for_none(&self, selector: &str) {
        wait::within(WAIT)
            .every(POLL)
            .until(async || match self.try_find(selector).await {
                None => Ok(()),
                Some(_) => Err(format!("{selector:?} is still on the page")),
            })
            .await;
    }

    /// Waits until the page's visible text holds `text`; returns that text.
    pub async fn wait_for_text(&self, text: &str) -> String {
        self.wait_for_text_in("body", text).await
    }

    /// Waits until the visible text of the first element matching `selector` holds `text`.
    pub async fn wait_for_text_in(&self, selector: &str, text: &str) -> String {
        wait::within(WAIT)
            .every(POLL)
            .until(async || {
                let seen = self.page_text(selector).await;
                if seen.contains(text) {
                    Ok(seen)
                } else {
                    Err(format!("{text:?} not in {selector:?}, which reads: {seen}"))
                }
            })
            .await
    }

    /// The visible text of the first element matching `selector` now ("" without one).
    pub async fn page_text(&self, selector: &str) -> String {
        let text = self
            .run_with(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
                json!([selector]),
            )
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks the element matching `selector`, once it is there.
    pub async fn click(&self, selector: &str) {
        self.find(selector).await.click().await;
    }

    /// Replaces what the field matching `selector` holds with `text`, typed key by key (Hebrew
    /// and other scripts too).
    pub async fn type_into(&self, selector: &str, text: &str) {
        let field = self.find(selector).await;
        field.clear().await;
        field.send_keys(text).await;
    }

    /// Submits the form the element matching `selector` is in (or that is that form) as its
    /// submit button would, with the browser's own validation.
    pub async fn submit(&self, selector: &str) {
        let element = self.find(selector).await;
        self.run_with(
            "const e = arguments[0]; const form = e.form || e.closest('form') || e;
             form.requestSubmit();",
            json!([element.reference()]),
        )
        .await;
    }

    /// A PNG of the whole page, not only the window, written to `path` (its folder made).
    pub async fn full_page_screenshot(&self, path: &Path) -> Vec<u8> {
        let metrics = self.devtools("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let clip = json!({
            "x": 0, "y": 0, "scale": 1,
            "width": size["width"].as_f64().unwrap_or(1000.0).ceil(),
            "height": size["height"].as_f64().unwrap_or(1400.0).ceil(),
        });
        let shot = self
            .devtools(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true, "clip": clip }),
            )
            .await;
        write_png(path, shot["data"].as_str().expect("a base64 PNG"))
    }

    /// The page's accessibility faults, in the spirit of Lighthouse's basic audits: `<html>`
    /// without `lang` or `dir`, a form field without a label, an image without `alt`, a button
    /// or link without a name, text below WCAG AA contrast (4.5:1; 3:1 for large text), other
    /// than one `<h1>`. Each names the element. Empty when the page passes.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let found = self.run(ACCESSIBILITY_CHECK).await;
        found
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect()
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    async fn devtools(&self, cmd: &str, params: Value) -> Value {
        command_answer(
            self.http
                .post(format!("{}/goog/cdp/execute", self.session))
                .json(&json!({ "cmd": cmd, "params": params })),
        )
        .await
    }
}

/// How long a test waits for something to show in the browser: only a broken page or a very
/// loaded machine takes that long.
const WAIT: Duration = Duration::from_secs(20);
/// How often it looks.
const POLL: Duration = Duration::from_millis(50);

/// The key under which WebDriver names an element (W3C WebDriver, "web element identifier").
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The accessibility check run in the page; returns a list of faults.
const ACCESSIBILITY_CHECK: &str = include_str!("accessibility.js");

/// `base64` PNG data written to `path`, its folder made if need be; the PNG's bytes.
fn write_png(path: &Path, encoded: &str) -> Vec<u8> {
    let png = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("the artifact folder");
    }
    std::fs::write(path, &png).expect("the screenshot written");
    png
}

/// The `value` of a WebDriver command's answer; fails with the driver's error.
pub(crate) async fn command_answer(request: reqwest::RequestBuilder) -> Value {
    match command(request).await {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}

/// The `value` of a WebDriver command's answer, or the driver's error as text.
pub(crate) async fn command(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request.send().await.expect("chromedriver answers");
    let status = response.status();
    let mut answer: Value = response.json().await.expect("a WebDriver answer");
    if status.is_success() {
        Ok(answer["value"].take())
    } else {
        Err(format!("WebDriver: {status}: {answer:#}"))
    }
}

/// chromedriver on a port of its own, and that port. Given port 0 it picks a free port for IPv6
/// and then binds IPv4 to the same number, which another process (a browser test running beside
/// this one) may hold by then: it says so and exits, and is started again.
fn start_driver(driver: &Path) -> (Process, String) {
    const STARTED: &str = "ChromeDriver was started successfully on port ";
    let mut attempts = Vec::new();
    for _ in 0..5 {
        let mut command = Command::new(driver);
        command.arg("--port=0");
        let process = Process::spawn(command, "chromedriver", None);
        let seen = process.lines_until(
            |line| line.trim().starts_with(STARTED) || line.contains("Exiting"),
            Duration::from_secs(30),
        );
        if let Some(port) = seen.last().and_then(|l| l.trim().strip_prefix(STARTED)) {
            return (process, port.trim().trim_end_matches('.').to_owned());
        }
        attempts.push(seen.join("\n"));
    }
    panic!(
        "chromedriver did not start in 5 tries:\n{}",
        attempts.join("\n---\n")
    )
}
