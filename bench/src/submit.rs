//! The clients: patients first (not timed), then the notifications, each request timed until
//! its whole answer is read.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hdrhistogram::Histogram;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

use crate::{Args, BenchResult, BoxError};

fn patient_id(index: usize) -> String {
    format!("bench-{index:05}")
}

pub(crate) async fn create_patients(
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
pub(crate) struct Tally {
    pub(crate) accepted: usize,
    pub(crate) rejected: usize,
    pub(crate) first_rejection: Option<String>,
    /// Accept latency of each `202`, in microseconds.
    pub(crate) latency_us: Histogram<u64>,
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

pub(crate) struct Submitted {
    pub(crate) tally: Tally,
    pub(crate) wall: Duration,
    /// When end to end starts: the first submit, or the scheduled time with `--send-after`.
    pub(crate) sending_from: Instant,
}

pub(crate) async fn submit(
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
