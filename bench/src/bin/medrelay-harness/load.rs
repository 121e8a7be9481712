//! The load, as `run.py` posts it: `POST /v1/notifications` for each index of a range, C in
//! flight, to the patient `ext-{index % patients}` with free text that ends with
//! `ref {tag}-{index}` (the sink tells messages apart by it).
//!
//! It starts on the line `go` on its standard input, so that `run.py` can read its CPU clock
//! before the first request; while posting it prints `accepted N` lines for the share-waiting
//! options (`--wal-pages`, `--perf`); at the end one JSON line with what `run.py`'s `Load` holds;
//! then it waits for its standard input to close, so that its CPU time is still there to read.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::{BoxError, error_kind, monotonic};

/// Every how many `202`s an `accepted N` line is printed.
const PROGRESS_EVERY: usize = 250;
/// How much of a refusal's body is kept to show.
const REFUSAL_SHOWN: usize = 500;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A gateway's base URL; several share the clients, client c posting to base c mod n.
    #[arg(long, required = true)]
    base: Vec<String>,
    /// A booking key.
    #[arg(long, env = "MEDRELAY_KEY")]
    key: String,
    /// The first index posted.
    #[arg(long)]
    from: usize,
    /// One past the last index posted.
    #[arg(long)]
    to: usize,
    #[arg(long, default_value_t = 1000)]
    patients: usize,
    /// Written into each body's `ref`, so that runs do not share refs.
    #[arg(long)]
    tag: String,
    #[arg(long, default_value = "urgent")]
    priority: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

/// What `run.py`'s `Load` holds.
#[derive(Debug, Default, Serialize)]
struct Outcome {
    /// index -> notification id
    accepted: HashMap<usize, String>,
    /// seconds from sending to the whole `202` body read, `202`s only
    latencies: Vec<f64>,
    /// status or error -> requests
    rejected: HashMap<String, u64>,
    first_rejection: String,
    started: f64,
    ended: f64,
}

impl Outcome {
    fn merge(&mut self, other: Self) {
        self.accepted.extend(other.accepted);
        self.latencies.extend(other.latencies);
        for (why, count) in other.rejected {
            *self.rejected.entry(why).or_default() += count;
        }
        if self.first_rejection.is_empty() {
            self.first_rejection = other.first_rejection;
        }
    }
}

#[derive(Debug)]
struct Posting {
    args: Args,
    client: reqwest::Client,
    next: AtomicUsize,
    accepted: AtomicUsize,
}

pub(crate) async fn run(args: Args) -> Result<(), BoxError> {
    let mut input = BufReader::new(tokio::io::stdin()).lines();
    while input
        .next_line()
        .await?
        .is_some_and(|line| line.trim() != "go")
    {}
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(120))
        .build()?;
    let posting = Arc::new(Posting {
        next: AtomicUsize::new(args.from),
        accepted: AtomicUsize::new(0),
        client,
        args,
    });
    let mut outcome = Outcome {
        started: monotonic(),
        ..Outcome::default()
    };
    let clients: Vec<_> = (0..posting.args.concurrency)
        .map(|worker| tokio::spawn(post_some(Arc::clone(&posting), worker)))
        .collect();
    for client in clients {
        outcome.merge(client.await?);
    }
    outcome.ended = monotonic();
    println!("{}", serde_json::to_string(&outcome)?);
    // Until run.py has read the CPU clocks: a process that has ended has none.
    while input.next_line().await?.is_some() {}
    Ok(())
}

/// One client: posts the next index not yet taken until none is left.
async fn post_some(posting: Arc<Posting>, worker: usize) -> Outcome {
    let args = &posting.args;
    let url = format!("{}/v1/notifications", args.base[worker % args.base.len()]);
    let authorization = format!("Bearer {}", args.key);
    let mut outcome = Outcome::default();
    loop {
        let i = posting.next.fetch_add(1, Ordering::Relaxed);
        if i >= args.to {
            return outcome;
        }
        let body = json!({
            "patient_id": format!("ext-{:05}", i % args.patients), "topic": "general",
            "priority": args.priority,
            "body": format!("Reminder: your appointment is on 01.12 at 09:30. ref {}-{i}", args.tag),
        });
        let sent = Instant::now();
        let answer = post(&posting.client, &url, &authorization, &body).await;
        let took = sent.elapsed().as_secs_f64();
        match answer {
            Ok((StatusCode::ACCEPTED, text)) => match accepted_id(&text) {
                Some(id) => {
                    outcome.accepted.insert(i, id);
                    outcome.latencies.push(took);
                    let so_far = posting.accepted.fetch_add(1, Ordering::Relaxed) + 1;
                    if so_far.is_multiple_of(PROGRESS_EVERY) {
                        println!("accepted {so_far}");
                    }
                }
                None => outcome.refused("202 without an id", &text),
            },
            Ok((status, text)) => outcome.refused(status.as_str(), &text),
            Err(error) => outcome.refused(error_kind(&error), ""),
        }
    }
}

impl Outcome {
    fn refused(&mut self, why: &str, text: &str) {
        *self.rejected.entry(why.to_owned()).or_default() += 1;
        if self.first_rejection.is_empty() {
            self.first_rejection = text.chars().take(REFUSAL_SHOWN).collect();
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    authorization: &str,
    body: &serde_json::Value,
) -> Result<(StatusCode, String), reqwest::Error> {
    let response = client
        .post(url)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .json(body)
        .send()
        .await?;
    let status = response.status();
    Ok((status, response.text().await?))
}

fn accepted_id(text: &str) -> Option<String> {
    let answer: serde_json::Value = serde_json::from_str(text).ok()?;
    answer["id"].as_str().map(str::to_owned)
}
