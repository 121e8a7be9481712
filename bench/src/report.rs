//! The figures each back end measured, and the table printed at the end.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::Args;
use crate::cpu::CpuUse;
use crate::statuses::StatusTally;

/// Targets from the issue, for the 2-core machine at 64 concurrent clients.
const TARGET_ACCEPTED_PER_SECOND: f64 = 5_000.0;
const TARGET_P99_MS: f64 = 20.0;
const TARGET_DELIVERED_PER_SECOND: f64 = 2_000.0;

/// What one back end measured.
#[derive(Debug)]
pub(crate) struct Figures {
    pub(crate) backend: &'static str,
    pub(crate) accepted: usize,
    pub(crate) rejected: usize,
    pub(crate) first_rejection: Option<String>,
    pub(crate) accepted_per_second: f64,
    pub(crate) latency_us: Histogram<u64>,
    pub(crate) statuses: StatusTally,
    pub(crate) all_finished: bool,
    pub(crate) end_to_end: Duration,
    /// Cores busy while submitting, and from the first submit until all were finished.
    pub(crate) cpu_submit: CpuUse,
    pub(crate) cpu_end_to_end: CpuUse,
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

pub(crate) fn print_report(args: &Args, results: &[Figures]) {
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
