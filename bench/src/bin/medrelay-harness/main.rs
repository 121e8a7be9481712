//! `medrelay-harness`: `run.py`'s load generator and Twilio look-alike in Rust, so that the
//! harness takes less of the machine than Python's aiohttp does (issue 15). `run.py --harness rust`
//! (and `floor.py`) start it as they started their Python parts; they keep the set-up, the CPU
//! clocks and the checks.
//!
//! ```text
//! medrelay-harness sink --port 0 --auth-token T [--sent-callback] [--no-receipts] [--receipt-delay-ms 50] [--callbacks-in-flight 64]
//! medrelay-harness load --base http://127.0.0.1:8080 --key K --from 0 --to 20000 --patients 1000 --tag r1
//! ```
//!
//! Both tell times in seconds of `CLOCK_MONOTONIC`, the clock of Python's `time.monotonic`, so
//! `run.py` can set them against its own.

mod load;
mod sink;

use std::error::Error;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type BoxError = Box<dyn Error + Send + Sync>;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The Twilio look-alike (and, with `--webhooks`, the booking system's receiver).
    Sink(sink::Args),
    /// `POST /v1/notifications` for a range of indexes, C in flight.
    Load(load::Args),
}

fn main() -> Result<(), BoxError> {
    let cli = Cli::parse();
    // One worker: the harness should leave the gateway as much of the machine as it can.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Sink(args) => runtime.block_on(sink::serve(args)),
        Command::Load(args) => runtime.block_on(load::run(args)),
    }
}

/// Seconds on `CLOCK_MONOTONIC`, as Python's `time.monotonic()` reads them.
fn monotonic() -> f64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// A failed request as `run.py` counts it.
fn error_kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "Timeout"
    } else if error.is_connect() {
        "ConnectError"
    } else {
        "ClientError"
    }
}
