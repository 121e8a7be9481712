//! Storage faults (README, "What an operator can rely on: storage faults"): a full disk, a lock
//! held too long or a database outage is answered 507 or 503 with `Retry-After` and stores
//! nothing; every 202 given before, during and after is stored, also across a restart; the
//! gateway recovers by itself when the database does.
//!
//! Each test prints a `fault report` line with its figures (`cargo test --test api
//! storage_faults -- --nocapture`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use medrelay_testkit::wait;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor};

use crate::harness::TestApp;

/// Requests in flight at once, so intake writes them in shared batches as under load.
const CONCURRENCY: usize = 32;

fn note(i: usize) -> Value {
    // Long enough that a few hundred fill the pages a test allows.
    json!({ "patient_id": "p-1", "topic": "general", "body": format!("{i} {}", "x".repeat(400)) })
}

/// One answer: its status, how long it took, and whether a refusal was well formed.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    latency: Duration,
    id: Option<String>,
}

async fn answer(response: Response, started: Instant) -> Answer {
    let status = response.status();
    if status == StatusCode::INSUFFICIENT_STORAGE || status == StatusCode::SERVICE_UNAVAILABLE {
        assert!(
            response.headers().contains_key("retry-after"),
            "{status} without Retry-After"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let latency = started.elapsed();
    let body: Value = response.json().await.unwrap_or_default();
    Answer {
        status,
        latency,
        id: body["id"].as_str().map(str::to_owned),
    }
}

async fn post(app: &TestApp, i: usize, key: Option<&str>) -> Answer {
    let mut request = app
        .client()
        .post(format!("{}/v1/notifications", app.base))
        .bearer_auth(&app.key)
        .json(&note(i));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let started = Instant::now();
    answer(request.send().await.expect("request sent"), started).await
}

/// `/ready`'s answer: a JSON account of its checks, not a problem.
async fn ready(app: &TestApp) -> Answer {
    let started = Instant::now();
    let response = app
        .client()
        .get(format!("{}/ready", app.base))
        .send()
        .await
        .expect("request sent");
    Answer {
        status: response.status(),
        latency: started.elapsed(),
        id: None,
    }
}

/// Posts notifications `range` (no idempotency key), `concurrency` at a time.
async fn post_many(
    app: &TestApp,
    range: std::ops::Range<usize>,
    concurrency: usize,
) -> Vec<Answer> {
    futures::stream::iter(range)
        .map(|i| post(app, i, None))
        .buffer_unordered(concurrency)
        .collect()
        .await
}

fn count_by_status(answers: &[Answer]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for a in answers {
        *counts.entry(a.status.as_u16()).or_default() += 1;
    }
    counts
}

/// How many of `ids` the API reads back.
async fn readable(app: &TestApp, ids: &[String]) -> usize {
    futures::stream::iter(ids)
        .map(|id| async move {
            app.request(
                Method::GET,
                &format!("/v1/notifications/{id}"),
                &app.key,
                None,
            )
            .await
            .status()
        })
        .buffer_unordered(CONCURRENCY)
        .filter(|status| std::future::ready(*status == StatusCode::OK))
        .count()
        .await
}

fn accepted_ids(answers: &[Answer]) -> Vec<String> {
    answers
        .iter()
        .filter(|a| a.status == StatusCode::ACCEPTED)
        .map(|a| a.id.clone().expect("a 202 names its notification"))
        .collect()
}

async fn spawn_for_load() -> TestApp {
    let app = TestApp::spawn_with(|config| {
        config.api.patient_daily_cap = 1_000_000;
        // Hundreds of posts and reads within a second or two: the key's request rate is not
        // what these tests are about, and a 429 would read as a lost notification.
        config.api.key_rate_per_second = 100_000;
        config.api.key_burst = 100_000;
    })
    .await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@example.org", "channels": ["email"] }),
    )
    .await;
    app
}

#[tokio::test]
async fn a_full_disk_is_answered_507_and_every_202_reads_back_after_space_returns_and_a_restart() {
    let mut app = spawn_for_load().await;
    if !app.is_sqlite() {
        println!("skipped: SQLite's page limit stands in for a full disk; PostgreSQL has none");
        return app.stop().await;
    }
    let before = post_many(&app, 0..64, CONCURRENCY).await;

    // The disk fills up while requests keep coming.
    app.store.cap_sqlite_pages(Some(40)).await.expect("cap");
    let mut during = Vec::new();
    let mut next = 64;
    while !during
        .iter()
        .any(|a: &Answer| a.status == StatusCode::INSUFFICIENT_STORAGE)
    {
        assert!(next < 20_000, "the capped database never filled up");
        during.extend(post_many(&app, next..next + CONCURRENCY * 4, CONCURRENCY).await);
        next += CONCURRENCY * 4;
    }
    // One at a time too: a one-row write is one SQLite rolls back whole when the disk is full.
    during.extend(post_many(&app, next..next + CONCURRENCY * 4, 1).await);
    next += CONCURRENCY * 4;
    let full_answers = count_by_status(&during);

    // Space comes back; no restart.
    app.store.cap_sqlite_pages(None).await.expect("uncap");
    let after = post_many(&app, next..next + CONCURRENCY * 4, CONCURRENCY).await;

    let mut acknowledged = accepted_ids(&before);
    acknowledged.extend(accepted_ids(&during));
    acknowledged.extend(accepted_ids(&after));
    let readable_before_restart = readable(&app, &acknowledged).await;
    app.restart().await;
    let readable_after_restart = readable(&app, &acknowledged).await;
    println!(
        "fault report: sqlite disk full: answers while full {full_answers:?}; answers after space \
         returned {:?}; acknowledged {}; readable {readable_before_restart}, after restart \
         {readable_after_restart}",
        count_by_status(&after),
        acknowledged.len(),
    );

    assert!(
        full_answers
            .keys()
            .all(|status| [202, 507].contains(status)),
        "while full, each request is stored (202) or refused (507): {full_answers:?}"
    );
    assert!(
        after.iter().all(|a| a.status == StatusCode::ACCEPTED),
        "once space is back every request is taken: {:?}",
        count_by_status(&after)
    );
    assert_eq!(readable_before_restart, acknowledged.len());
    assert_eq!(readable_after_restart, acknowledged.len());
    assert_eq!(ready(&app).await.status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_write_lock_held_past_the_busy_timeout_is_answered_503_and_ready_shows_it() {
    let mut app = spawn_for_load().await;
    if !app.is_sqlite() {
        println!("skipped: a file lock is SQLite's; PostgreSQL outages are tested on their own");
        return app.stop().await;
    }
    let before = post_many(&app, 0..8, CONCURRENCY).await;

    // Another process (a backup tool, a hand-run sqlite3) takes the write lock and keeps it.
    let mut other = sqlx::SqliteConnection::connect(app.database_url())
        .await
        .expect("second connection");
    other.execute("BEGIN IMMEDIATE").await.expect("write lock");
    let (refused, checked) = tokio::join!(post(&app, 8, Some("during-lock")), ready(&app));
    other.execute("ROLLBACK").await.expect("unlock");
    other.close().await.expect("close");

    let retried = post(&app, 8, Some("during-lock")).await;
    let after = post_many(&app, 9..9 + CONCURRENCY, CONCURRENCY).await;
    let mut acknowledged = accepted_ids(&before);
    acknowledged.extend(accepted_ids(&after));
    acknowledged.extend(retried.id.clone());
    let ready_again = ready(&app).await;
    app.restart().await;
    let readable_after_restart = readable(&app, &acknowledged).await;
    println!(
        "fault report: sqlite lock held: intake {} in {:?}, ready {} in {:?}; after unlock \
         acknowledged {}, readable after restart {readable_after_restart}",
        refused.status,
        refused.latency,
        checked.status,
        checked.latency,
        acknowledged.len()
    );

    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(checked.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retried.status, StatusCode::ACCEPTED);
    assert!(after.iter().all(|a| a.status == StatusCode::ACCEPTED));
    assert_eq!(ready_again.status, StatusCode::OK);
    assert_eq!(readable_after_restart, acknowledged.len());
    app.stop().await;
}

/// A PostgreSQL server of the test's own, on a free port, that the test may stop and start
/// (the shared server other tests use is never touched).
struct ThrowawayPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Root may not run PostgreSQL; then it runs as the `postgres` user.
    as_postgres: bool,
}

impl ThrowawayPostgres {
    /// `None` when this machine has no PostgreSQL server binaries.
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
            .find(|bin| bin.join("pg_ctl").exists())?;
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
        let dir = tempfile::tempdir().expect("temp dir");
        if as_postgres {
            assert!(
                Command::new("chown")
                    .arg("postgres")
                    .arg(dir.path())
                    .status()
                    .expect("chown")
                    .success()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = Self {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "-N"],
        );
        pg.start_server();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let output = command.args(args).output().expect("run PostgreSQL tool");
        assert!(
            output.status.success(),
            "{}: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// A clean stop: sessions are told the server is shutting down, new ones are refused.
    fn stop_server(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        };
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_answered_503_fast_and_retries_create_one_notification_each() {
    let Some(pg) = tokio::task::spawn_blocking(ThrowawayPostgres::start)
        .await
        .expect("start PostgreSQL")
    else {
        println!("skipped: no PostgreSQL server binaries under /usr/lib/postgresql");
        return;
    };
    let url = pg.url();
    let mut app = TestApp::spawn_with(|config| {
        config.database_url = url;
        config.api.patient_daily_cap = 1_000_000;
    })
    .await;
    app.patient(
        "p-1",
        json!({ "name": "Dana", "email": "dana@example.org", "channels": ["email"] }),
    )
    .await;
    let keys: Vec<String> = (0..120).map(|i| format!("outage-{i}")).collect();

    // Requests keep coming, each with its own key, while the server stops.
    // `buffered`, not `buffer_unordered`: answer i is key i's.
    let answered = AtomicUsize::new(0);
    let load = futures::stream::iter(keys.iter().enumerate().take(60))
        .map(|(i, key)| post(&app, i, Some(key)))
        .buffered(4)
        .inspect(|_| {
            answered.fetch_add(1, Ordering::Relaxed);
        })
        .collect::<Vec<Answer>>();
    let stop = async {
        // Stopped part-way: some requests are answered, most are still to come.
        wait::within(Duration::from_secs(60))
            .every(Duration::from_millis(5))
            .until(async || match answered.load(Ordering::Relaxed) {
                n if n < 8 => Err(format!("{n} answered")),
                _ => Ok(()),
            })
            .await;
        let pg = &pg;
        tokio::task::block_in_place(|| pg.stop_server());
    };
    let (mut first_tries, ()) = tokio::join!(load, stop);
    // And while it is down.
    let down: Vec<Answer> = futures::stream::iter(keys.iter().enumerate().skip(60))
        .map(|(i, key)| post(&app, i, Some(key)))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let ready_down = ready(&app).await;
    first_tries.extend(down);
    let down_answers = count_by_status(&first_tries[60..]);
    let slowest_down = first_tries[60..]
        .iter()
        .map(|a| a.latency)
        .max()
        .unwrap_or_default();

    tokio::task::block_in_place(|| pg.start_server());
    // The booking system tries each refused request again, same key, until it is taken.
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut retry_answers = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if let Some(id) = &first_tries[i].id {
            ids.insert(key.clone(), id.clone());
            continue;
        }
        for _ in 0..100 {
            let retry = post(&app, i, Some(key)).await;
            let taken = retry.id.clone();
            retry_answers.push(retry);
            if let Some(id) = taken {
                ids.insert(key.clone(), id);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let listed = app
        .request(Method::GET, "/v1/notifications?limit=500", &app.key, None)
        .await
        .json::<Value>()
        .await
        .expect("list");
    let stored = listed["items"].as_array().map_or(0, Vec::len);
    println!(
        "fault report: postgres stopped: answers during the stop {:?}, while down {down_answers:?} \
         (slowest {slowest_down:?}), ready while down {} in {:?}; retries after the restart \
         {:?}; keys {}, notifications stored {stored}",
        count_by_status(&first_tries[..60]),
        ready_down.status,
        ready_down.latency,
        count_by_status(&retry_answers),
        keys.len(),
    );

    let all: Vec<&Answer> = first_tries.iter().chain(&retry_answers).collect();
    assert!(
        all.iter()
            .all(|a| [StatusCode::ACCEPTED, StatusCode::SERVICE_UNAVAILABLE].contains(&a.status)),
        "every answer is 202 or 503, never 500: {:?} then {:?}",
        count_by_status(&first_tries),
        count_by_status(&retry_answers)
    );
    assert_eq!(down_answers.get(&503), Some(&60), "{down_answers:?}");
    assert_eq!(ready_down.status, StatusCode::SERVICE_UNAVAILABLE);
    // The acquire wait is 1.5 s; before, a request waited 10 s for a 500.
    assert!(slowest_down < Duration::from_secs(5), "{slowest_down:?}");
    assert_eq!(ids.len(), keys.len(), "every key was taken in the end");
    let acknowledged: HashSet<String> = ids.into_values().collect();
    assert_eq!(
        acknowledged.len(),
        keys.len(),
        "each key names its own notification"
    );
    assert_eq!(stored, keys.len(), "one notification per key");
    assert_eq!(ready(&app).await.status, StatusCode::OK);
    app.restart().await;
    let acknowledged: Vec<String> = acknowledged.into_iter().collect();
    assert_eq!(readable(&app, &acknowledged).await, keys.len());
    app.stop().await;
    drop(pg);
}
