//! `medrelay-bench`: drives the real HTTP API over loopback and prints accepted per second,
//! p50/p99/max accept latency and delivered per second end to end. The dispatcher delivers through
//! the real provider adapters to the sandbox's look-alikes of Meta, Twilio and SMTP, which post
//! signed status webhooks back, as in production.
//!
//! ```text
//! cargo run --release --bin medrelay-bench                                   # SQLite only
//! cargo run --release --bin medrelay-bench -- --notifications 20000 --concurrency 64 \
//!     --database sqlite --database postgres://postgres@127.0.0.1:5432
//! MEDRELAY_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432 cargo run --release --bin medrelay-bench
//! ```
//!
//! Each back end gets a fresh database: a SQLite file in a new directory under the system temp
//! directory (or `--sqlite-dir`), or a new database `medrelay_bench_<random>` on the PostgreSQL
//! server named by the URL (whatever database the URL names is ignored). Both are removed
//! afterwards. SQLite runs as the gateway always runs it: WAL with a full sync on every commit.
//!
//! Phases: P patients are created (not timed); then N `POST /v1/notifications` are sent by C
//! concurrent clients, each request timed until its whole `202` response is read; accepted/s is
//! N over the wall time of that phase. End to end is the time from the first submit until every
//! notification is finished (delivered, read, failed, cancelled or expired); every bench patient
//! has WhatsApp, so `sent` still waits for a delivery receipt. The client runs in the same process
//! and on the same cores as the gateway, as a booking system on the same machine would.
//!
//! To see where time goes: `-v` prints the status counts every second, `--send-after 10`
//! measures intake and delivery apart, and the busy cores printed for this process and for the
//! whole machine tell waiting from computing (and show other load on the machine).

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use hdrhistogram::Histogram;
use medrelay::Application;
use medrelay::config::{ApiConfig, Config, SandboxConfig};
use medrelay::domain::{ClinicHours, ClinicId, Language, NotificationStatus, TimeZoneName};
use medrelay::store::{ApiKeyRole, NewClinic, Store};
use medrelay_channels::ChannelKind;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use sqlx::migrate::MigrateDatabase;

type BoxError = Box<dyn Error + Send + Sync>;
type BenchResult<T> = Result<T, BoxError>;

/// Targets from the issue, for the 2-core machine at 64 concurrent clients.
const TARGET_ACCEPTED_PER_SECOND: f64 = 5_000.0;
const TARGET_P99_MS: f64 = 20.0;
const TARGET_DELIVERED_PER_SECOND: f64 = 2_000.0;

/// Patients' phones are `+9725410` and five digits, clear of the sandbox's magic numbers.
const MAX_PATIENTS: usize = 100_000;

#[derive(Debug, Parser)]
#[command(
    name = "medrelay-bench",
    about = "Drives the medrelay HTTP API with N notifications at concurrency C and reports throughput and latency"
)]
struct Args {
    /// Notifications to submit on each back end.
    #[arg(long, default_value_t = 20_000, value_parser = at_least_one)]
    notifications: usize,
    /// Concurrent HTTP clients submitting notifications.
    #[arg(long, default_value_t = 64, value_parser = at_least_one)]
    concurrency: usize,
    /// Patients the notifications are spread over (at most 100000).
    #[arg(long, default_value_t = 1_000, value_parser = patient_count)]
    patients: usize,
    /// `sqlite`, or a PostgreSQL server URL; give it several times to run several back ends.
    /// Default: sqlite.
    #[arg(long = "database", value_name = "sqlite|URL", value_parser = parse_target)]
    databases: Vec<Target>,
    /// Adds a PostgreSQL run against this server.
    #[arg(long, env = "MEDRELAY_BENCH_POSTGRES_URL", value_name = "URL", value_parser = parse_postgres)]
    postgres_url: Option<Target>,
    /// Where to put the SQLite file; its disk decides what a sync costs. Default: system temp dir.
    #[arg(long, value_name = "DIR")]
    sqlite_dir: Option<PathBuf>,
    /// Schedule the notifications this many seconds after the first submit instead of sending
    /// them at once: the dispatcher idles while they are submitted, which measures intake alone,
    /// and end to end is counted from the scheduled time, which measures delivery alone.
    #[arg(long, value_name = "SECONDS")]
    send_after: Option<u64>,
    /// Give up waiting for deliveries after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Print the notifications' status counts every second from the first submit on.
    #[arg(long, short)]
    verbose: bool,
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number, at least 1".to_owned()),
    }
}

fn patient_count(s: &str) -> Result<usize, String> {
    let n = at_least_one(s)?;
    if n > MAX_PATIENTS {
        Err(format!("must be at most {MAX_PATIENTS}"))
    } else {
        Ok(n)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Sqlite,
    /// A PostgreSQL server; the bench creates its own database on it.
    Postgres {
        server: String,
    },
}

impl Target {
    fn label(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }
}

fn parse_target(s: &str) -> Result<Target, String> {
    if s == "sqlite" {
        Ok(Target::Sqlite)
    } else {
        parse_postgres(s)
    }
}

fn parse_postgres(s: &str) -> Result<Target, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(Target::Postgres {
            server: s.to_owned(),
        })
    } else {
        Err("must be `sqlite` or a postgres:// URL".to_owned())
    }
}

/// What one back end measured.
#[derive(Debug)]
struct Figures {
    backend: &'static str,
    accepted: usize,
    rejected: usize,
    first_rejection: Option<String>,
    accepted_per_second: f64,
    latency_us: Histogram<u64>,
    statuses: StatusTally,
    all_finished: bool,
    end_to_end: Duration,
    /// Cores busy while submitting, and from the first submit until all were finished.
    cpu_submit: CpuUse,
    cpu_end_to_end: CpuUse,
}

impl Figures {
    fn delivered_per_second(&self) -> f64 {
        self.statuses.delivered() as f64 / self.end_to_end.as_secs_f64()
    }

    fn latency_ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1_000.0
    }

    fn max_ms(&self) -> f64 {
        self.latency_us.max() as f64 / 1_000.0
    }
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut targets = args.databases.clone();
    if targets.is_empty() {
        targets.push(Target::Sqlite);
    }
    if let Some(postgres) = &args.postgres_url
        && !targets.contains(postgres)
    {
        targets.push(postgres.clone());
    }

    let mut results = Vec::new();
    for target in &targets {
        eprintln!("== {}", target.label());
        results.push(bench_backend(target, &args).await?);
    }
    print_report(&args, &results);
    Ok(())
}

/// A fresh database for one run, and how to get rid of it.
enum Scratch {
    SqliteDir(PathBuf),
    PostgresDatabase(String),
}

impl Scratch {
    async fn create(target: &Target, sqlite_dir: Option<&Path>) -> BenchResult<(String, Self)> {
        let unique = format!("{}_{:08x}", std::process::id(), rand::random::<u32>());
        match target {
            Target::Sqlite => {
                let parent = sqlite_dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
                let dir = parent.join(format!("medrelay-bench-{unique}"));
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let url = format!("sqlite://{}", dir.join("bench.db").display());
                Ok((url, Self::SqliteDir(dir)))
            }
            Target::Postgres { server } => {
                let url = with_database(server, &format!("medrelay_bench_{unique}"))?;
                sqlx::Postgres::create_database(&url)
                    .await
                    .map_err(|e| format!("cannot create the bench database on {server}: {e}"))?;
                Ok((url.clone(), Self::PostgresDatabase(url)))
            }
        }
    }

    async fn remove(self) {
        let removed = match &self {
            Self::SqliteDir(dir) => std::fs::remove_dir_all(dir).map_err(|e| e.to_string()),
            Self::PostgresDatabase(url) => sqlx::Postgres::force_drop_database(url)
                .await
                .map_err(|e| e.to_string()),
        };
        if let Err(error) = removed {
            let what = match &self {
                Self::SqliteDir(dir) => dir.display().to_string(),
                Self::PostgresDatabase(url) => url.clone(),
            };
            eprintln!("warning: could not remove {what}: {error}");
        }
    }
}

/// The server URL with its database (path) replaced by `database`; user, host and query stay.
fn with_database(server: &str, database: &str) -> BenchResult<String> {
    let (scheme, rest) = server
        .split_once("://")
        .ok_or("a PostgreSQL URL needs a scheme")?;
    let (rest, query) = rest
        .split_once('?')
        .map_or((rest, None), |(r, q)| (r, Some(q)));
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    Ok(match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    })
}

async fn bench_backend(target: &Target, args: &Args) -> BenchResult<Figures> {
    let (database_url, scratch) = Scratch::create(target, args.sqlite_dir.as_deref()).await?;
    let result = run_gateway(target, database_url, args).await;
    scratch.remove().await;
    result
}

async fn run_gateway(target: &Target, database_url: String, args: &Args) -> BenchResult<Figures> {
    // The gateway's own settings apply (medrelay.toml, MEDRELAY_* variables), so a run can try
    // e.g. MEDRELAY_DISPATCH__WORKERS=2; the bench then sets what it must control.
    let base = Config::load(Some(std::path::Path::new("medrelay.toml")))?;
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url,
        bootstrap_demo: false,
        api: ApiConfig {
            key_rate_per_second: 1_000_000,
            key_burst: 1_000_000,
            // The cap is counted at its full cost but refuses nothing: every patient gets its
            // share of the notifications.
            patient_daily_cap: u32::try_from(args.notifications.div_ceil(args.patients))
                .unwrap_or(u32::MAX),
            ..base.api.clone()
        },
        sandbox: SandboxConfig {
            delivery_delay_ms: 50,
            read_delay_ms: 50,
            ..base.sandbox.clone()
        },
        ..base
    };
    let app = Application::build(config).await?;
    let now = jiff::Timestamp::now();
    let clinic = app
        .store()
        .create_clinic(
            NewClinic {
                slug: "bench".into(),
                name: "Bench Clinic".into(),
                timezone: TimeZoneName::parse("Asia/Jerusalem").ok_or("time zone")?,
                default_language: Language::parse("he").ok_or("language")?,
                default_channels: ChannelKind::ALL.to_vec(),
            },
            now,
        )
        .await?;
    // Open around the clock: the figures must not depend on the hour the benchmark runs at.
    app.store()
        .set_clinic_hours(&clinic.id, &ClinicHours::always_open())
        .await?;
    let key = app
        .store()
        .create_api_key(&clinic.id, ApiKeyRole::Booking, now)
        .await?;
    let running = app.start();
    let store = running.store.clone();
    let base = format!("http://{}", running.addr);

    let result = drive(target, &store, &clinic.id, &base, &key, args).await;
    running.stop().await;
    store.close().await;
    result
}

/// Everything that talks to the running gateway: patients, submits, the wait for deliveries.
async fn drive(
    target: &Target,
    store: &Store,
    clinic: &ClinicId,
    base: &str,
    key: &str,
    args: &Args,
) -> BenchResult<Figures> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(60))
        .build()?;

    eprintln!("creating {} patients…", args.patients);
    create_patients(&client, base, key, args.patients, args.concurrency).await?;

    eprintln!(
        "submitting {} notifications with {} concurrent clients…",
        args.notifications, args.concurrency
    );
    let _progress = args
        .verbose
        .then(|| AbortOnDrop(tokio::spawn(report_progress(store.clone(), clinic.clone()))));
    let cpu_before = CpuClock::read();
    let submitted = submit(&client, base, key, args).await?;
    let cpu_submitted = CpuClock::read();
    let accepted_per_second = submitted.tally.accepted as f64 / submitted.wall.as_secs_f64();
    eprintln!(
        "accepted {} in {:.2} s; waiting for deliveries…",
        submitted.tally.accepted,
        submitted.wall.as_secs_f64()
    );

    if let Some(seconds) = args.send_after {
        if submitted.wall.as_secs() >= seconds {
            eprintln!(
                "warning: submitting took longer than --send-after {seconds}: intake and delivery overlapped"
            );
        }
        tokio::time::sleep_until(submitted.sending_from.into()).await;
    }
    let cpu_sending = if args.send_after.is_some() {
        CpuClock::read()
    } else {
        cpu_before
    };

    let timeout = Duration::from_secs(args.timeout_secs);
    let (statuses, end_to_end) = wait_until_finished(
        store,
        clinic,
        submitted.tally.accepted,
        submitted.sending_from,
        timeout,
    )
    .await?;
    let cpu_finished = CpuClock::read();
    let all_finished = statuses.finished() >= submitted.tally.accepted as i64;
    if !all_finished {
        eprintln!(
            "gave up after {} s: {}",
            args.timeout_secs,
            statuses.describe()
        );
    }

    Ok(Figures {
        backend: target.label(),
        accepted: submitted.tally.accepted,
        rejected: submitted.tally.rejected,
        first_rejection: submitted.tally.first_rejection,
        accepted_per_second,
        latency_us: submitted.tally.latency_us,
        statuses,
        all_finished,
        end_to_end,
        cpu_submit: cpu_before.cores_until(&cpu_submitted, submitted.wall),
        cpu_end_to_end: cpu_sending.cores_until(&cpu_finished, end_to_end),
    })
}

fn patient_id(index: usize) -> String {
    format!("bench-{index:05}")
}

async fn create_patients(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    patients: usize,
    concurrency: usize,
) -> BenchResult<()> {
    let puts = futures::stream::iter(0..patients)
        .map(|i| {
            let body = serde_json::json!({
                "name": format!("Bench Patient {i}"),
                "phone": format!("+9725410{i:05}"),
                "whatsapp": true,
            });
            client
                .put(format!("{base}/v1/patients/{}", patient_id(i)))
                .bearer_auth(key)
                .json(&body)
                .send()
        })
        .buffer_unordered(concurrency);
    futures::pin_mut!(puts);
    while let Some(response) = puts.next().await {
        let response = response?;
        let status = response.status();
        if status != StatusCode::CREATED && status != StatusCode::OK {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("creating a patient answered {status}: {body}").into());
        }
    }
    Ok(())
}

/// What the submitting clients saw.
#[derive(Debug)]
struct Tally {
    accepted: usize,
    rejected: usize,
    first_rejection: Option<String>,
    /// Accept latency of each `202`, in microseconds.
    latency_us: Histogram<u64>,
}

impl Tally {
    fn new() -> BenchResult<Self> {
        Ok(Self {
            accepted: 0,
            rejected: 0,
            first_rejection: None,
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        })
    }

    fn reject(&mut self, why: String) {
        self.rejected += 1;
        self.first_rejection.get_or_insert(why);
    }

    fn merge(&mut self, other: Self) -> BenchResult<()> {
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        if self.first_rejection.is_none() {
            self.first_rejection = other.first_rejection;
        }
        self.latency_us.add(&other.latency_us)?;
        Ok(())
    }
}

struct Submitted {
    tally: Tally,
    wall: Duration,
    /// When end to end starts: the first submit, or the scheduled time with `--send-after`.
    sending_from: Instant,
}

async fn submit(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    args: &Args,
) -> BenchResult<Submitted> {
    let url: Arc<str> = format!("{base}/v1/notifications").into();
    let key: Arc<str> = key.into();
    let next = Arc::new(AtomicUsize::new(0));
    let (total, patients) = (args.notifications, args.patients);
    let started = Instant::now();
    let (send_at, sending_from): (Arc<str>, Instant) = match args.send_after {
        None => ("".into(), started),
        Some(seconds) => {
            let after = Duration::from_secs(seconds);
            let at = jiff::Timestamp::now().checked_add(after)?;
            (format!(r#","send_at":"{at}""#).into(), started + after)
        }
    };
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let send_at = Arc::clone(&send_at);
        let (client, url, key, next) = (
            client.clone(),
            Arc::clone(&url),
            Arc::clone(&key),
            Arc::clone(&next),
        );
        workers.spawn(async move {
            let mut tally = Tally::new()?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, BoxError>(tally);
                }
                let body = format!(
                    r#"{{"patient_id":"{}","topic":"appointment_reminder","template":"appointment_reminder","params":{{"date":"01.12","time":"09:30"}}{}}}"#,
                    patient_id(i % patients),
                    send_at,
                );
                let sent = Instant::now();
                let response = client
                    .post(&*url)
                    .bearer_auth(&key)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await;
                match response {
                    Ok(response) => {
                        let status = response.status();
                        let body = response.bytes().await;
                        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                        match body {
                            Ok(_) if status == StatusCode::ACCEPTED => {
                                tally.accepted += 1;
                                tally.latency_us.saturating_record(micros.max(1));
                            }
                            Ok(body) => tally.reject(format!("{status}: {}", String::from_utf8_lossy(&body))),
                            Err(error) => tally.reject(format!("{status}, then reading the body: {error}")),
                        }
                    }
                    Err(error) => tally.reject(error.to_string()),
                }
            }
        });
    }
    let mut tally = Tally::new()?;
    while let Some(worker) = workers.join_next().await {
        tally.merge(worker??)?;
    }
    Ok(Submitted {
        tally,
        wall: started.elapsed(),
        sending_from,
    })
}

/// Notification counts by status.
#[derive(Debug, Default, Clone)]
struct StatusTally(Vec<(NotificationStatus, i64)>);

impl StatusTally {
    fn count(&self, wanted: &[NotificationStatus]) -> i64 {
        self.0
            .iter()
            .filter(|(s, _)| wanted.contains(s))
            .map(|(_, n)| n)
            .sum()
    }

    fn delivered(&self) -> i64 {
        self.count(&[NotificationStatus::Delivered, NotificationStatus::Read])
    }

    fn failed(&self) -> i64 {
        self.count(&[
            NotificationStatus::Failed,
            NotificationStatus::Cancelled,
            NotificationStatus::Expired,
        ])
    }

    fn finished(&self) -> i64 {
        self.delivered() + self.failed()
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(s, n)| format!("{} {n}", s.as_str()))
            .collect();
        parts.join(", ")
    }
}

/// Polls the store until `expected` notifications are finished or `timeout` passes; returns the
/// last counts and the time since `from` at which they were seen.
async fn wait_until_finished(
    store: &Store,
    clinic: &ClinicId,
    expected: usize,
    from: Instant,
    timeout: Duration,
) -> BenchResult<(StatusTally, Duration)> {
    let expected = i64::try_from(expected)?;
    let give_up = Instant::now() + timeout;
    loop {
        let statuses = StatusTally(store.status_counts(clinic).await?);
        let seen_at = from.elapsed();
        if statuses.finished() >= expected || Instant::now() >= give_up {
            return Ok((statuses, seen_at));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `--verbose`: the status counts every second from the first submit on, to see which stage
/// falls behind.
async fn report_progress(store: Store, clinic: ClinicId) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        match store.status_counts(&clinic).await {
            Ok(counts) => eprintln!(
                "  {:6.1} s  {}",
                started.elapsed().as_secs_f64(),
                StatusTally(counts).describe()
            ),
            Err(error) => eprintln!("  status counts failed: {error}"),
        }
    }
}

/// CPU seconds used so far, user plus system (Linux only; `None` elsewhere).
#[derive(Debug, Clone, Copy)]
struct CpuClock {
    /// This process: the gateway and the clients.
    process: Option<f64>,
    /// The whole machine, which includes a local PostgreSQL server.
    machine: Option<f64>,
}

/// Cores kept busy on average over a span.
#[derive(Debug, Clone, Copy)]
struct CpuUse {
    process: Option<f64>,
    machine: Option<f64>,
}

/// `/proc` counts CPU time in USER_HZ ticks, which Linux fixes at 100 per second.
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuClock {
    fn read() -> Self {
        Self {
            process: Self::process(),
            machine: Self::machine(),
        }
    }

    fn process() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses: state is field 3, utime 14,
        // stime 15.
        let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
        let user: f64 = fields.next()?.parse().ok()?;
        let system: f64 = fields.next()?.parse().ok()?;
        Some((user + system) / TICKS_PER_SECOND)
    }

    fn machine() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // cpu  user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
        let ticks: Vec<f64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .take(8)
            .map(|t| t.parse().ok())
            .collect::<Option<_>>()?;
        let busy: f64 = ticks
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3 && *i != 4)
            .map(|(_, t)| t)
            .sum();
        Some(busy / TICKS_PER_SECOND)
    }

    fn cores_until(&self, later: &Self, during: Duration) -> CpuUse {
        let cores = |from: Option<f64>, to: Option<f64>| Some((to? - from?) / during.as_secs_f64());
        CpuUse {
            process: cores(self.process, later.process),
            machine: cores(self.machine, later.machine),
        }
    }
}

impl std::fmt::Display for CpuUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cores = |c: Option<f64>| c.map_or_else(|| "?".to_owned(), |c| format!("{c:.2}"));
        write!(
            f,
            "{} (machine {})",
            cores(self.process),
            cores(self.machine)
        )
    }
}

fn print_report(args: &Args, results: &[Figures]) {
    println!();
    println!(
        "{:<9}{:>14}{:>13}{:>12}{:>8}{:>8}{:>8}{:>13}{:>8}",
        "backend",
        "notifications",
        "concurrency",
        "accepted/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "delivered/s",
        "e2e s"
    );
    for f in results {
        let e2e = if f.all_finished {
            format!("{:.2}", f.end_to_end.as_secs_f64())
        } else {
            format!(">{:.0}", f.end_to_end.as_secs_f64())
        };
        println!(
            "{:<9}{:>14}{:>13}{:>12.0}{:>8.2}{:>8.2}{:>8.2}{:>13.0}{:>8}",
            f.backend,
            args.notifications,
            args.concurrency,
            f.accepted_per_second,
            f.latency_ms(0.50),
            f.latency_ms(0.99),
            f.max_ms(),
            f.delivered_per_second(),
            e2e,
        );
    }
    println!();
    if let Some(seconds) = args.send_after {
        println!(
            "notifications were scheduled {seconds} s after the first submit; e2e counts from then"
        );
    }
    let mark = |ok: bool| if ok { "met" } else { "MISSED" };
    for f in results {
        println!(
            "{}: {} accepted, {} rejected; {} delivered, {} failed{}",
            f.backend,
            f.accepted,
            f.rejected,
            f.statuses.delivered(),
            f.statuses.failed(),
            if f.all_finished {
                String::new()
            } else {
                format!(" (unfinished: {})", f.statuses.describe())
            },
        );
        println!(
            "  busy cores of {}: {} while submitting, {} end to end",
            std::thread::available_parallelism().map_or(0, usize::from),
            f.cpu_submit,
            f.cpu_end_to_end,
        );
        if let Some(why) = &f.first_rejection {
            println!("  first rejection: {why}");
        }
        println!(
            "  targets: accepted/s >= {TARGET_ACCEPTED_PER_SECOND} {}, p99 < {TARGET_P99_MS} ms {}, delivered/s >= {TARGET_DELIVERED_PER_SECOND} {}",
            mark(f.accepted_per_second >= TARGET_ACCEPTED_PER_SECOND),
            mark(f.latency_ms(0.99) < TARGET_P99_MS),
            mark(f.all_finished && f.delivered_per_second() >= TARGET_DELIVERED_PER_SECOND),
        );
    }
}
