//! `medrelay-bench`: drives the real HTTP API over loopback and prints accepted per second,
//! p50/p99/max accept latency and delivered per second end to end. The dispatcher delivers through
//! the real provider adapters to the sandbox's look-alikes of Meta, Twilio and SMTP, which post
//! signed status webhooks back, as in production.
//!
//! ```text
//! cargo run --release -p medrelay-bench                                       # SQLite only
//! cargo run --release -p medrelay-bench -- --notifications 20000 --concurrency 64 \
//!     --database sqlite --database postgres://postgres@127.0.0.1:5432
//! MEDRELAY_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432 cargo run --release -p medrelay-bench
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
//!
//! `--webhooks` adds a webhook receiver for every event type (in this process, checking every
//! signature) and prints the events per second delivered to it while notifications flow.
//!
//! `--stats` measures `GET /v1/stats` instead: a year of one clinic's history (1,000,000
//! notifications with their attempts and 100,000 inbound messages by default) is loaded straight
//! into the fresh database with multi-row INSERTs, then the last 7 and 90 days are asked for
//! `--stats-runs` times each.
//!
//! ```text
//! cargo run --release -p medrelay-bench -- --stats --database sqlite --database postgres://postgres@127.0.0.1:5432
//! ```

mod cpu;
mod report;
mod stats;
mod stats_load;
mod statuses;
mod submit;
mod webhooks;

/// mimalloc: the request path allocates many small, short-lived values (JSON, SQL rows, HTTP
/// headers) across threads; glibc's malloc spent about 15 % of the gateway's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use medrelay::Application;
use medrelay::config::{ApiConfig, Config, SandboxConfig, WebhooksConfig};
use medrelay::domain::{Clinic, ClinicHours, ClinicId, Language, PhoneRegion, TimeZoneName};
use medrelay::store::{ApiKeyRole, NewClinic, Store};
use medrelay_channels::ChannelKind;
use medrelay_testkit::{Backend, TestDatabase};

use crate::cpu::CpuClock;
use crate::report::{Figures, print_report};
use crate::stats::{StatsFigures, load_history, print_stats_report, run_stats};
use crate::stats_load::History;
use crate::statuses::{AbortOnDrop, report_progress, wait_until_finished};
use crate::submit::{create_patients, submit};

type BoxError = Box<dyn Error + Send + Sync>;
type BenchResult<T> = Result<T, BoxError>;

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
    databases: Vec<Backend>,
    /// Adds a PostgreSQL run against this server.
    #[arg(long, env = "MEDRELAY_BENCH_POSTGRES_URL", value_name = "URL", value_parser = parse_postgres)]
    postgres_url: Option<Backend>,
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
    /// Register a webhook receiver in this process for every event type and report the events
    /// per second it is sent while notifications flow.
    #[arg(long)]
    webhooks: bool,
    /// Before driving notifications, load this many finished ones (with their attempts and six
    /// events each, and a tenth as many inbound messages: a year of history) straight into the
    /// fresh database, to compare the cost per notification on a grown database with an empty
    /// one.
    #[arg(long, default_value_t = 0)]
    prefill: usize,
    /// Time `GET /v1/stats` on a loaded year of history instead of driving notifications.
    #[arg(long)]
    stats: bool,
    /// With `--stats`: notifications to load (each with one to three attempts).
    #[arg(long, default_value_t = 1_000_000, value_parser = at_least_one)]
    stats_notifications: usize,
    /// With `--stats`: inbound messages to load.
    #[arg(long, default_value_t = 100_000, value_parser = at_least_one)]
    stats_inbound: usize,
    /// With `--stats`: timed requests per range; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = at_least_one)]
    stats_runs: usize,
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

fn parse_target(s: &str) -> Result<Backend, String> {
    if s == "sqlite" {
        Ok(Backend::Sqlite)
    } else {
        parse_postgres(s)
    }
}

fn parse_postgres(s: &str) -> Result<Backend, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(Backend::Postgres {
            server: s.to_owned(),
        })
    } else {
        Err("must be `sqlite` or a postgres:// URL".to_owned())
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
        targets.push(Backend::Sqlite);
    }
    if let Some(postgres) = &args.postgres_url
        && !targets.contains(postgres)
    {
        targets.push(postgres.clone());
    }

    if args.stats {
        let mut results: Vec<StatsFigures> = Vec::new();
        for target in &targets {
            eprintln!("== {}", target.label());
            results.push(on_fresh_database(target, &args, run_stats).await?);
        }
        print_stats_report(&args, &results);
        return Ok(());
    }
    let mut results: Vec<Figures> = Vec::new();
    for target in &targets {
        eprintln!("== {}", target.label());
        results.push(on_fresh_database(target, &args, run_gateway).await?);
    }
    print_report(&args, &results);
    Ok(())
}

/// One back end on a fresh database: a SQLite file in a new directory, or a new database
/// `medrelay_bench_<random>` on the server; both removed afterwards.
async fn on_fresh_database<'a, T, F>(target: &'a Backend, args: &'a Args, run: F) -> BenchResult<T>
where
    F: AsyncFnOnce(&'a Backend, String, &'a Args) -> BenchResult<T>,
{
    let parent = args.sqlite_dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("medrelay-bench-")
        .tempdir_in(&parent)
        .map_err(|e| format!("cannot create a directory in {}: {e}", parent.display()))?;
    let database = TestDatabase::create(target, dir.path(), "medrelay_bench").await?;
    let result = run(target, database.url().to_owned(), args).await;
    if let Err(error) = database.remove().await {
        eprintln!("warning: {error}");
    }
    let path = dir.path().to_path_buf();
    if let Err(error) = dir.close() {
        eprintln!("warning: could not remove {}: {error}", path.display());
    }
    result
}

async fn run_gateway(target: &Backend, database_url: String, args: &Args) -> BenchResult<Figures> {
    // The gateway's own settings apply (medrelay.toml, MEDRELAY_* variables), so a run can try
    // e.g. MEDRELAY_DISPATCH__WORKERS=2; the bench then sets what it must control.
    let base = Config::load_named_or_default(None)?;
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: database_url.clone(),
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
        // The `--webhooks` receiver listens on loopback.
        webhooks: WebhooksConfig {
            allow_private_targets: true,
            ..base.webhooks.clone()
        },
        ..base
    };
    let app = Application::build(config).await?;
    let now = jiff::Timestamp::now();
    let clinic = create_clinic(&app, "bench", now).await?;
    // Open around the clock: the figures must not depend on the hour the benchmark runs at.
    app.store()
        .set_clinic_hours(&clinic.id, &ClinicHours::always_open())
        .await?;
    let key = app
        .store()
        .create_api_key(&clinic.id, ApiKeyRole::Booking, now)
        .await?;
    if args.prefill > 0 {
        // Another clinic's history: the tables grow, and the bench clinic's status counts (read
        // every 20 ms while waiting) still read only its own rows.
        let other = create_clinic(&app, "history", now).await?;
        let history = History {
            clinic: other.id.as_str(),
            notifications: args.prefill,
            inbound: args.prefill / 10,
            now,
            events: true,
        };
        load_history(target, &database_url, &history).await?;
    }
    let receiver = match args.webhooks {
        true => Some(webhooks::register_receiver(app.store(), &clinic.id).await?),
        false => None,
    };
    let running = app.start();
    let store = running.store.clone();
    let base = format!("http://{}", running.addr);

    let result = drive(target, &store, &clinic.id, &base, &key, args).await;
    if let (Some(receiver), Ok(figures)) = (&receiver, &result) {
        let timeout = Duration::from_secs(args.timeout_secs);
        webhooks::report(&store, receiver, figures.end_to_end, timeout).await?;
    }
    running.stop().await;
    store.close().await;
    result
}

/// A clinic in Jerusalem, on every channel: `bench` is the one the benchmark works for.
pub(crate) async fn create_clinic(
    app: &Application,
    slug: &str,
    now: jiff::Timestamp,
) -> BenchResult<Clinic> {
    let clinic = app
        .store()
        .create_clinic(
            NewClinic {
                slug: slug.into(),
                name: format!("Clinic {slug}"),
                timezone: TimeZoneName::parse("Asia/Jerusalem").ok_or("time zone")?,
                default_language: Language::parse("he").ok_or("language")?,
                default_channels: ChannelKind::ALL.to_vec(),
                phone_region: PhoneRegion::ISRAEL,
            },
            now,
        )
        .await?;
    Ok(clinic)
}

/// Everything that talks to the running gateway: patients, submits, the wait for deliveries.
async fn drive(
    target: &Backend,
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
