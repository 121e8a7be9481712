//! `--stats`: loads a year of one clinic's history (N notifications with their attempts, M
//! inbound messages) straight into a fresh database, starts the gateway on it and times
//! `GET /v1/stats` for the last 7 and the last 90 days, several runs each.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use medrelay::Application;
use medrelay::config::{ApiConfig, Config};
use medrelay::domain::Clinic;
use medrelay::store::ApiKeyRole;
use medrelay_testkit::Backend;

use crate::stats_load::{History, load};
use crate::{Args, BenchResult};

/// Below this for 7 days on a million notifications, the dashboard feels instant.
const TARGET_7_DAYS_MS: f64 = 500.0;
const RANGES_DAYS: [i64; 2] = [7, 90];

/// What one back end measured.
#[derive(Debug)]
pub(crate) struct StatsFigures {
    backend: &'static str,
    load: Duration,
    /// Per range: (days, each run's time, the number of attempts the report counted as sent).
    ranges: Vec<(i64, Vec<Duration>, i64)>,
}

pub(crate) async fn run_stats(
    target: &Backend,
    database_url: String,
    args: &Args,
) -> BenchResult<StatsFigures> {
    let app = Application::build(bench_config(&database_url)?).await?;
    let now = Timestamp::now();
    let (clinic, key) = bench_clinic(&app, now).await?;
    let history = History {
        clinic: clinic.id.as_str(),
        notifications: args.stats_notifications,
        inbound: args.stats_inbound,
        now,
        events: false,
    };
    let load_time = load_history(target, &database_url, &history).await?;
    eprintln!("timing GET /v1/stats…");

    let running = app.start();
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let mut ranges = Vec::new();
    for days in RANGES_DAYS {
        let from = now - SignedDuration::from_hours(24 * days);
        let url = format!("{base}/v1/stats?from={from}&to={now}");
        ranges.push(time_range(&client, &url, &key, days, args.stats_runs).await?);
    }
    let store = running.store.clone();
    running.stop().await;
    store.close().await;
    Ok(StatsFigures {
        backend: target.label(),
        load: load_time,
        ranges,
    })
}

/// The gateway's configuration on `database_url`, on a free local port, with the key rate
/// limits lifted so that they time nothing.
fn bench_config(database_url: &str) -> BenchResult<Config> {
    let base = Config::load_named_or_default(None)?;
    Ok(Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: database_url.to_owned(),
        bootstrap_demo: false,
        api: ApiConfig {
            key_rate_per_second: 1_000_000,
            key_burst: 1_000_000,
            ..base.api.clone()
        },
        ..base
    })
}

/// The clinic whose year is loaded, in Jerusalem on every channel, and a staff key for it.
async fn bench_clinic(app: &Application, now: Timestamp) -> BenchResult<(Clinic, String)> {
    let clinic = crate::create_clinic(app, "bench", now).await?;
    let key = app
        .store()
        .create_api_key(&clinic.id, ApiKeyRole::Staff, now)
        .await?;
    Ok((clinic, key))
}

/// Loads the clinic's history straight into the database; returns how long that took.
pub(crate) async fn load_history(
    target: &Backend,
    database_url: &str,
    history: &History<'_>,
) -> BenchResult<Duration> {
    eprintln!(
        "loading {} notifications and {} inbound messages…",
        history.notifications, history.inbound
    );
    let pool = medrelay_testkit::database::connect(database_url).await;
    let started = Instant::now();
    load(&pool, history).await?;
    if matches!(target, Backend::Postgres { .. }) {
        // Autovacuum vacuums and analyzes tables soon after a load like this (PostgreSQL 13 on
        // vacuums after inserts too); the benchmark does not wait. The vacuum sets the visibility
        // map that lets the statistics read attempts from `attempts_notification` alone.
        sqlx::raw_sql("VACUUM ANALYZE").execute(&pool).await?;
    }
    let load_time = started.elapsed();
    pool.close().await;
    eprintln!("loaded in {:.0} s", load_time.as_secs_f64());
    Ok(load_time)
}

/// `runs` timed requests for one range, each until its whole answer is read.
async fn time_range(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    days: i64,
    runs: usize,
) -> BenchResult<(i64, Vec<Duration>, i64)> {
    let mut times = Vec::with_capacity(runs);
    let mut sent = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let response = client.get(url).bearer_auth(key).send().await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        times.push(started.elapsed());
        if !status.is_success() {
            return Err(format!("GET /v1/stats answered {status}: {body}").into());
        }
        sent = body["outbound"]["by_channel"]
            .as_array()
            .map_or(0, |lines| {
                lines.iter().filter_map(|l| l["sent"].as_i64()).sum()
            });
    }
    times.sort();
    Ok((days, times, sent))
}

pub(crate) fn print_stats_report(args: &Args, results: &[StatsFigures]) {
    print_range_table(args, results);
    println!();
    for f in results {
        let seven = f.ranges.iter().find(|(days, ..)| *days == 7);
        let met = seven
            .and_then(|(_, times, _)| median(times))
            .is_some_and(|d| ms(d) < TARGET_7_DAYS_MS);
        println!(
            "{}: median of {} runs; target 7 days < {TARGET_7_DAYS_MS} ms {}",
            f.backend,
            args.stats_runs,
            if met { "met" } else { "MISSED" }
        );
    }
}

/// One line per back end and range: the load, what the report counted and the run times.
fn print_range_table(args: &Args, results: &[StatsFigures]) {
    println!();
    println!(
        "{:<9}{:>14}{:>9}{:>8}{:>7}{:>14}{:>11}{:>11}{:>11}",
        "backend",
        "notifications",
        "inbound",
        "load s",
        "days",
        "attempts sent",
        "median ms",
        "min ms",
        "max ms"
    );
    for f in results {
        for (days, times, sent) in &f.ranges {
            println!(
                "{:<9}{:>14}{:>9}{:>8.0}{:>7}{:>14}{:>11.1}{:>11.1}{:>11.1}",
                f.backend,
                args.stats_notifications,
                args.stats_inbound,
                f.load.as_secs_f64(),
                days,
                sent,
                median(times).map_or(0.0, ms),
                times.first().map_or(0.0, ms),
                times.last().map_or(0.0, ms),
            );
        }
    }
}

/// The middle of sorted run times.
fn median(times: &[Duration]) -> Option<&Duration> {
    times.get(times.len() / 2)
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
