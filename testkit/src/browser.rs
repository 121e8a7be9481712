//! A headless Chromium, for tests that must see a page as a person does (its layout, not its
//! bytes): chromedriver started on port 0, driven over W3C WebDriver. Each browser has a fresh
//! profile and none of the traffic Chromium makes on its own (updates, sync, QUIC, first-run
//! pages), so it talks to nothing but the pages a test opens.
//!
//! The few WebDriver commands used (new session, navigate, execute script, screenshot, delete
//! session) are JSON over HTTP, sent with reqwest. fantoccini would add a second HTTP client
//! stack and Mozilla's `webdriver` crate, whose MPL-2.0 license deny.toml does not allow.
//!
//! A browser sends no API key, so [`KeyedProxy`] stands between it and the gateway: a local
//! address that forwards each request with the key, and the answer (headers and all) back.

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use crate::process::Process;

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
        let mut command = Command::new(driver);
        command.arg("--port=0");
        let driver = Process::spawn(command, "chromedriver", None);
        let port = driver.line_after("ChromeDriver was started successfully on port ");
        let port = port.trim().trim_end_matches('.');
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
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("a base64 PNG"))
            .expect("base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the artifact folder");
        }
        std::fs::write(path, &png).expect("the screenshot written");
        png
    }

    /// Ends the session (the browser quits); the driver stops when dropped.
    pub async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

/// The `value` of a WebDriver command's answer; fails with the driver's error.
async fn command_answer(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("chromedriver answers");
    let status = response.status();
    let mut answer: Value = response.json().await.expect("a WebDriver answer");
    assert!(status.is_success(), "WebDriver: {status}: {answer:#}");
    answer["value"].take()
}

/// A local address in front of the gateway at `base` that adds `Authorization: Bearer <key>` to
/// every request, for a browser to open API pages with; stops when dropped.
pub struct KeyedProxy {
    pub base: String,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Upstream {
    base: String,
    key: String,
    client: reqwest::Client,
}

impl KeyedProxy {
    pub async fn start(base: &str, key: &str) -> Self {
        let upstream = Upstream {
            base: base.to_owned(),
            key: key.to_owned(),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new().fallback(forward).with_state(upstream);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let address = listener.local_addr().expect("its address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://{address}"),
            server,
        }
    }
}

impl Drop for KeyedProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The browser's `GET` sent on with the key; the answer passed back as it came.
async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut sent = upstream
        .client
        .get(format!("{}{path}", upstream.base))
        .bearer_auth(&upstream.key);
    if let Some(accept) = request.headers().get(header::ACCEPT) {
        sent = sent.header(header::ACCEPT, accept);
    }
    let Ok(answer) = sent.send().await else {
        return Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::empty())
            .unwrap_or_default();
    };
    let status = answer.status();
    let headers: HeaderMap = answer.headers().clone();
    let body = answer.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in &headers {
        // The body is whole here: its length is axum's to set.
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}
