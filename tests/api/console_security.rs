//! The console's security rules, checked on every route it has, not on a sample: the list of
//! routes is read from the files under `src/console/`, so a page added later is covered
//! without a line here. No page opens without a session; no state changes without the
//! session's form token from the console's own site, and a refused form leaves every table as
//! it was; another clinic's ids are not found (`console_isolation`); passwords never reach the
//! log.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use medrelay::store::ApiKeyRole;
use medrelay_testkit::process::{self, Process, free_port};
use medrelay_testkit::snapshot;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::console_harness::{
    Console, browser_client, csrf_of, location, post_sign_in, session_cookie,
};
use crate::harness::TestApp;

/// One route of the console: its path (`{…}` for a parameter) and methods.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) path: String,
    pub(crate) get: bool,
    pub(crate) post: bool,
}

/// Every `.route("…", …)` of the console's router, read from its source: every file under
/// `src/console/` (each page lists its own routes).
pub(crate) fn console_routes() -> Vec<Route> {
    let mut files = Vec::new();
    let mut folders = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)
            .expect("a source folder")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .iter()
        .flat_map(|file| routes_in(&std::fs::read_to_string(file).expect("a source file")))
        .collect()
}

/// The routes one source file adds.
fn routes_in(source: &str) -> Vec<Route> {
    let compact: String = source.split_whitespace().collect::<Vec<_>>().join("");
    compact
        .split(".route(\"")
        .skip(1)
        .map(|rest| {
            let (path, handlers) = rest.split_once('"').expect("a route's path");
            // The handlers reach to the route's closing parenthesis.
            let mut depth = 1;
            let end = handlers
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(handlers.len(), |(i, _)| i);
            let handlers = &handlers[..end];
            Route {
                path: path.to_owned(),
                get: handlers.starts_with(",get(") || handlers.contains(".get("),
                post: handlers.starts_with(",post(") || handlers.contains(".post("),
            }
        })
        .collect()
}

/// Routes anyone may open: signing in, and the stylesheet and scripts.
pub(crate) const PUBLIC: [&str; 3] = [
    "/console/sign-in",
    "/console/assets/{name}",
    "/console/sign-in/code",
];

/// `path` with each `{parameter}` filled: `p-1` names the test clinic's first patient, and other
/// parameters take a value of the same shape.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push_str("p-1");
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_route_list_is_read_from_the_console_s_router() {
    let routes = console_routes();
    let sign_in = routes.iter().find(|r| r.path == "/console/sign-in");
    assert!(sign_in.is_some_and(|r| r.get && r.post), "{routes:#?}");
    let account = routes.iter().find(|r| r.path == "/console/account");
    assert!(account.is_some_and(|r| r.get && !r.post), "{routes:#?}");
    assert!(
        routes
            .iter()
            .any(|r| r.path == "/console/sign-out" && r.post && !r.get)
    );
    assert!(routes.iter().all(|r| r.get || r.post), "{routes:#?}");
    // Pages in their own folders are found too.
    let settings = routes
        .iter()
        .filter(|r| r.path.starts_with("/console/settings"));
    assert!(settings.count() > 1, "{routes:#?}");
}

/// Follows redirects by hand; the statuses seen and the last answer's path and body.
async fn followed(base: &str, method: Method, path: &str) -> (Vec<StatusCode>, String, String) {
    let client = browser_client();
    let mut statuses = Vec::new();
    let mut answer = client
        .request(method, format!("{base}{path}"))
        .send()
        .await
        .expect("request");
    let mut at = path.to_owned();
    for _ in 0..5 {
        statuses.push(answer.status());
        if !answer.status().is_redirection() {
            break;
        }
        at = location(&answer);
        answer = client
            .get(format!("{base}{at}"))
            .send()
            .await
            .expect("redirect followed");
    }
    (statuses, at, answer.text().await.unwrap_or_default())
}

#[tokio::test]
async fn no_console_route_but_signing_in_opens_without_a_session() {
    let app = TestApp::spawn().await;
    let mut refused = Vec::new();
    for route in console_routes() {
        if PUBLIC.contains(&route.path.as_str()) {
            continue;
        }
        let path = concrete(&route.path);
        let methods = [(route.get, Method::GET), (route.post, Method::POST)];
        for (_, method) in methods.into_iter().filter(|(has, _)| *has) {
            let (statuses, at, body) = followed(&app.base, method.clone(), &path).await;
            let to_sign_in = statuses.first().is_some_and(StatusCode::is_redirection)
                && at.starts_with("/console/sign-in")
                && body.contains("name=\"password\"");
            assert!(
                to_sign_in,
                "{method} {path} without a session: {statuses:?} ended at {at}"
            );
            refused.push(format!("{method} {path}"));
        }
    }
    assert!(refused.len() >= 5, "{refused:?}");
    app.stop().await;
}

/// The three ways a form can lack proof that the person sent it from a console page.
async fn forged_posts(app: &TestApp, console: &Console, path: &str) -> Vec<(String, StatusCode)> {
    let url = format!("{}{path}", app.base);
    let wrong = "0".repeat(64);
    let mut answers = Vec::new();
    let missing = console.post_raw(path, &[("language", "he")]).await;
    answers.push(("no token".to_owned(), missing.status()));
    let stale = console
        .post_raw(path, &[("csrf", &wrong), ("language", "he")])
        .await;
    answers.push(("a wrong token".to_owned(), stale.status()));
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let cross = browser_client()
            .post(&url)
            .header("cookie", &console.cookie)
            .header(header, value)
            .form(&[("csrf", console.csrf.as_str()), ("language", "he")])
            .send()
            .await
            .expect("posted");
        answers.push((
            format!("the right token, {header}: {value}"),
            cross.status(),
        ));
    }
    answers
}

/// Tables a refused form may still change: the session's last-seen time, which any request of
/// a signed-in person moves (idle sessions end by it), and the audit trail, which records every
/// console request under the person, refused ones too.
const TOUCHED_BY_ANY_REQUEST: [&str; 2] = ["staff_sessions", "audit_entries"];

pub(crate) fn without_touched(mut tables: BTreeMap<String, String>) -> BTreeMap<String, String> {
    for table in TOUCHED_BY_ANY_REQUEST {
        tables.remove(table);
    }
    tables
}

#[tokio::test]
async fn every_state_change_needs_the_session_s_token_from_the_console_s_own_site() {
    let app = TestApp::spawn().await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "+972541234567" }),
    )
    .await;
    let console = app.console(ApiKeyRole::Admin).await;
    let before = without_touched(snapshot::tables(app.database_url()).await);
    let mut checked = Vec::new();
    for route in console_routes().into_iter().filter(|r| r.post) {
        // Signing in has no session to hold a token yet; the lead's sign-in tests check that
        // another site cannot post it.
        if PUBLIC.contains(&route.path.as_str()) {
            continue;
        }
        let path = concrete(&route.path);
        for (how, status) in forged_posts(&app, &console, &path).await {
            assert_eq!(status, StatusCode::FORBIDDEN, "POST {path} with {how}");
        }
        checked.push(path);
    }
    let after = without_touched(snapshot::tables(app.database_url()).await);
    assert_eq!(
        snapshot::changed(&before, &after),
        Vec::<String>::new(),
        "tables changed by refused forms to {checked:?}"
    );
    assert!(
        checked.iter().any(|p| p == "/console/sign-out"),
        "{checked:?}"
    );
    // Still signed in: a forged sign-out ended nothing.
    assert_eq!(
        console.get("/console/account").await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

/// The binary on a free port in `dir`, logging everything (`trace`) to `medrelay.log`.
fn verbose_gateway(dir: &std::path::Path) -> (Process, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut command = process::command(&[env!("CARGO_BIN_EXE_medrelay")]);
    command
        .current_dir(dir)
        .env("MEDRELAY_LISTEN", &listen)
        .env("MEDRELAY_DATABASE_URL", database_url(dir))
        .env("RUST_LOG", "trace");
    let process = Process::spawn(command, "medrelay", Some(dir.join("medrelay.log")));
    (process, format!("http://{listen}"))
}

fn database_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("medrelay.db").display())
}

#[tokio::test]
async fn passwords_never_reach_the_log_even_at_trace_level() {
    const FIRST: &str = "first-Password-8412";
    const WRONG: &str = "wrong-Password-5521";
    const NEW: &str = "new-Password-7730";
    let dir = tempfile::tempdir().expect("dir");
    let (mut gateway, base) = verbose_gateway(dir.path());
    let client = reqwest::Client::new();
    gateway.wait_until_ready(&client, &base).await;
    // The password as an admin pipes it in (the first line of standard input).
    let mut adding = process::command(&[env!("CARGO_BIN_EXE_medrelay"), "staff", "add"])
        .args(["--clinic", "demo", "--email", "rina@demo.example"])
        .args([
            "--name",
            "Rina Mizrahi",
            "--role",
            "admin",
            "--language",
            "en",
        ])
        .env("MEDRELAY_DATABASE_URL", database_url(dir.path()))
        .env("RUST_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("medrelay staff add");
    if let Some(mut stdin) = adding.stdin.take() {
        writeln!(stdin, "{FIRST}").expect("the password piped in");
    }
    let added = adding.wait_with_output().expect("medrelay staff add ends");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    let wrong = post_sign_in(&base, "rina@demo.example", WRONG).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let signed_in = post_sign_in(&base, "rina@demo.example", FIRST).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&signed_in).expect("a session");
    let browser = browser_client();
    let account = browser
        .get(format!("{base}/console/account"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("account page");
    let csrf = csrf_of(&account.text().await.unwrap_or_default()).expect("the form token");
    let changed = browser
        .post(format!("{base}/console/account/password"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("current", FIRST),
            ("new", NEW),
            ("repeated", NEW),
        ])
        .send()
        .await
        .expect("password changed");
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    let again = post_sign_in(&base, "rina@demo.example", NEW).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);

    gateway.sigterm();
    gateway.exit(Duration::from_secs(30)).await;
    let log = std::fs::read_to_string(dir.path().join("medrelay.log")).expect("the log");
    let cli = format!(
        "{}{}",
        String::from_utf8_lossy(&added.stdout),
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(
        log.contains("console"),
        "the log has the console's requests: {log}"
    );
    for password in [FIRST, WRONG, NEW] {
        for text in [&log, &cli] {
            assert!(!text.contains(password), "{password} logged");
            // …nor the form's encoding of it, nor a part long enough to matter.
            assert!(!text.contains(&password[..10]), "part of {password} logged");
        }
    }
}

#[tokio::test]
async fn an_idle_session_opens_no_route_and_its_forms_change_nothing() {
    let clock = std::sync::Arc::new(medrelay::clock::AdjustableClock::default());
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    app.patient(
        "p-1",
        json!({ "name": "Dana Levi", "phone": "+972541234567" }),
    )
    .await;
    let console = app.console(ApiKeyRole::Admin).await;
    clock.advance(Duration::from_secs(31 * 60));
    let before = without_touched(snapshot::tables(app.database_url()).await);

    for route in console_routes() {
        if PUBLIC.contains(&route.path.as_str()) || route.path.starts_with("/console/sign-") {
            continue;
        }
        let path = concrete(&route.path);
        if route.get {
            let answer = console.get(&path).await;
            assert_eq!(answer.status(), StatusCode::SEE_OTHER, "GET {path}");
            assert!(
                location(&answer).starts_with("/console/sign-in"),
                "GET {path}"
            );
        }
        if route.post {
            let answer = console.post(&path, &[]).await;
            let status = answer.status();
            assert!(
                status == StatusCode::SEE_OTHER || status == StatusCode::FORBIDDEN,
                "POST {path} with an ended session: {status}"
            );
        }
    }
    let after = without_touched(snapshot::tables(app.database_url()).await);
    assert_eq!(snapshot::changed(&before, &after), Vec::<String>::new());
    app.stop().await;
}
