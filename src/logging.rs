//! Where log lines go and how they look: plain text for a person at a terminal (coloured only
//! there), one JSON object per line for a log collector. Both go to standard error; `RUST_LOG`
//! chooses what is logged. Beside them, request spans go to an OpenTelemetry collector when
//! `telemetry.otlp_endpoint` is set, whatever `RUST_LOG` says.

use std::io::IsTerminal;

use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::observability::otlp::RequestSpans;

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; ANSI colours only when standard error is a terminal and `NO_COLOR`
    /// is not set, so a log file never holds escape codes.
    #[default]
    Text,
    /// One JSON object per line, with the request's fields (method, route, request id, key).
    Json,
}

/// Installs the process's one log subscriber.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "medrelay=info,warn".into());
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Text => lines.with_ansi(colour_wanted()).boxed(),
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        // Only the request log's own spans and lines: every other callsite stays off for it.
        .with(RequestSpans.with_filter(filter_fn(|meta| meta.target() == RequestSpans::TARGET)))
        .init();
}

fn colour_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
