//! Statistics: the clinic's figures over a period — per channel sent / delivered / read /
//! failed, how often a message fell back to another channel, delivery and read times, response
//! time to patients and the peak hours — as tables and as charts ([`crate::console::charts`]),
//! from the same report as `GET /v1/stats`.

mod period;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use medrelay_channels::ChannelKind;
use serde::Deserialize;

use self::period::{Days, Preset};
use crate::api::AppState;
use crate::console::charts::{
    BarWords, Caption, HeatWords, LatencyWords, channel_bars, latency_bars, peak_hours_heatmap,
};
use crate::console::i18n::Tr;
use crate::console::page::{Chrome, ConsoleError, render};
use crate::console::session::SignedIn;
use crate::policy::stats::{Latency, Stats, summarize};

#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct StatsQuery {
    /// `week` or `month`; ignored when dates are given.
    period: Option<String>,
    /// First and last day, `YYYY-MM-DD`, both included.
    from: Option<String>,
    to: Option<String>,
}

#[derive(Template)]
#[template(path = "console/stats.html")]
struct StatsPage {
    chrome: Chrome,
    /// (href, label, current) of the preset periods.
    presets: Vec<(String, String, bool)>,
    /// The dates in the form: the period shown, or what the reader typed.
    from: String,
    to: String,
    error: Option<String>,
    report: Option<Report>,
}

/// What the page shows of the report.
struct Report {
    covers: String,
    channels: Vec<ChannelRow>,
    /// (label, figure) about patients' messages.
    inbound: Vec<(String, String)>,
    bars: String,
    latency: String,
    heat_map: String,
}

struct ChannelRow {
    name: String,
    sent: i64,
    delivered: i64,
    read: i64,
    failed: i64,
    fallback: String,
    to_delivered: String,
    to_read: String,
}

pub(in crate::console) async fn stats_page(
    State(state): State<AppState>,
    signed: SignedIn,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Response, ConsoleError> {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let zone = signed.clinic.timezone.zone();
    let today = state.clock.now().to_zoned(zone.clone()).date();
    let mut page = StatsPage {
        chrome: Chrome::new(&signed, "stats", "stats-title"),
        presets: Vec::new(),
        from: query.from.clone().unwrap_or_default(),
        to: query.to.clone().unwrap_or_default(),
        error: None,
        report: None,
    };
    let tr = signed.tr();
    let picked = Days::pick(
        query.period.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
        today,
    );
    page.presets = presets(&tr, picked.ok().and_then(|d| d.preset));
    let Ok((days, range)) = picked.and_then(|days| Ok((days, days.range(&zone)?))) else {
        page.error = Some(tr.t("stats-invalid-dates"));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    };
    let rows = state
        .store
        .stats_rows(&signed.clinic.id, range, &range.offsets(&zone))
        .await?;
    (page.from, page.to) = (days.first.to_string(), days.last.to_string());
    let covers = tr.t_with(
        "stats-covers",
        &[
            ("from", &page.from),
            ("to", &page.to),
            ("zone", signed.clinic.timezone.as_str()),
        ],
    );
    page.report = Some(report(&tr, &summarize(&rows), covers));
    Ok(render(&page)?.into_response())
}

fn presets(tr: &Tr, current: Option<Preset>) -> Vec<(String, String, bool)> {
    Preset::ALL
        .into_iter()
        .map(|p| {
            let href = format!("/console/stats?period={}", p.as_str());
            let label = tr.t(&format!("stats-period-{}", p.as_str()));
            (href, label, current == Some(p))
        })
        .collect()
}

fn report(tr: &Tr, stats: &Stats, covers: String) -> Report {
    let duration = |seconds: i64| duration(tr, seconds);
    let latency = |l: &Latency| match (l.median_seconds, l.p90_seconds) {
        (Some(median), Some(p90)) => format!("{} / {}", duration(median), duration(p90)),
        _ => tr.t("stats-none"),
    };
    let channels = stats
        .outbound
        .by_channel
        .iter()
        .filter_map(|line| {
            Some(ChannelRow {
                name: channel_name(tr, line.channel?),
                sent: line.sent,
                delivered: line.delivered,
                read: line.read,
                failed: line.failed,
                fallback: line
                    .fallback_rate
                    .map_or_else(|| tr.t("stats-none"), |r| format!("{:.0}%", r * 100.0)),
                to_delivered: latency(&line.to_delivered),
                to_read: latency(&line.to_read),
            })
        })
        .collect();
    let inbound = &stats.inbound;
    let figures = [
        ("stats-inbound-messages", inbound.messages.to_string()),
        ("stats-inbound-response", latency(&inbound.response_time)),
        ("stats-inbound-overdue", inbound.overdue.to_string()),
        (
            "stats-inbound-confirmations",
            inbound.confirmations.to_string(),
        ),
        (
            "stats-inbound-cancellations",
            inbound.cancellation_requests.to_string(),
        ),
        ("stats-inbound-urgent", inbound.urgent.to_string()),
        ("stats-inbound-opt-outs", inbound.opt_outs.to_string()),
        ("stats-inbound-opt-ins", inbound.opt_ins.to_string()),
    ];
    let channel_name = |c: ChannelKind| channel_name(tr, c);
    Report {
        covers,
        channels,
        inbound: figures.into_iter().map(|(k, v)| (tr.t(k), v)).collect(),
        bars: channel_bars(stats, &bar_words(tr, stats), &channel_name),
        latency: latency_bars(stats, &latency_words(tr), &channel_name, &duration),
        heat_map: peak_hours_heatmap(stats, &heat_words(tr, stats)),
    }
}

pub(in crate::console) fn channel_name(tr: &Tr, channel: ChannelKind) -> String {
    tr.t(&format!("stats-channel-{}", channel.as_str()))
}

/// Seconds the reader's way: "45 s", "12 min", "2 h 5 min".
fn duration(tr: &Tr, seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        ..60 => tr.t_with("stats-seconds", &[("n", &seconds.to_string())]),
        60..3600 => tr.t_with("stats-minutes", &[("n", &(seconds / 60).to_string())]),
        _ => tr.t_with(
            "stats-hours",
            &[
                ("h", &(seconds / 3600).to_string()),
                ("m", &(seconds % 3600 / 60).to_string()),
            ],
        ),
    }
}

fn caption(tr: &Tr, id: &str, title_key: &str, desc: String) -> Caption {
    Caption {
        id: id.to_owned(),
        title: tr.t(title_key),
        desc,
        no_data: tr.t("stats-no-data"),
    }
}

fn bar_words(tr: &Tr, stats: &Stats) -> BarWords {
    let lines: Vec<String> = stats
        .outbound
        .by_channel
        .iter()
        .filter_map(|line| {
            let figures =
                [line.sent, line.delivered, line.read, line.failed].map(|n| n.to_string());
            let [sent, delivered, read, failed] = figures.each_ref().map(String::as_str);
            let channel = channel_name(tr, line.channel?);
            Some(tr.t_with(
                "stats-bars-desc-line",
                &[
                    ("channel", &channel),
                    ("sent", sent),
                    ("delivered", delivered),
                    ("read", read),
                    ("failed", failed),
                ],
            ))
        })
        .collect();
    let desc = if lines.is_empty() {
        tr.t("stats-no-data")
    } else {
        tr.t_with("stats-bars-desc", &[("lines", &lines.join(" "))])
    };
    BarWords {
        caption: caption(tr, "stats-bars", "stats-bars-title", desc),
        series: ["sent", "delivered", "read", "failed"].map(|s| tr.t(&format!("stats-col-{s}"))),
    }
}

fn latency_words(tr: &Tr) -> LatencyWords {
    LatencyWords {
        caption: caption(
            tr,
            "stats-latency",
            "stats-latency-title",
            tr.t("stats-latency-desc"),
        ),
        to_delivered: tr.t("stats-latency-delivered"),
        to_read: tr.t("stats-latency-read"),
        response: tr.t("stats-latency-response"),
        median: tr.t("stats-median"),
        p90: tr.t("stats-p90"),
    }
}

const DAY_KEYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

fn heat_words(tr: &Tr, stats: &Stats) -> HeatWords {
    let days: [String; 7] = std::array::from_fn(|d| tr.t(&format!("stats-day-{d}")));
    let peaks: Vec<String> = stats
        .inbound
        .peak_hours
        .iter()
        .filter_map(|peak| {
            let day = DAY_KEYS.iter().position(|d| *d == peak.day)?;
            Some(tr.t_with(
                "stats-heat-peak",
                &[
                    ("day", &days[day]),
                    ("hour", &format!("{:02}:00", peak.hour)),
                    ("messages", &peak.messages.to_string()),
                ],
            ))
        })
        .collect();
    let desc = if peaks.is_empty() {
        tr.t("stats-heat-desc-none")
    } else {
        tr.t_with("stats-heat-desc", &[("peaks", &peaks.join(", "))])
    };
    HeatWords {
        caption: caption(tr, "stats-heat", "stats-heat-title", desc),
        days,
        legend: tr.t("stats-heat-legend"),
    }
}

/// This page's routes.
pub(in crate::console) fn routes() -> axum::Router<crate::api::AppState> {
    use axum::routing::get;
    axum::Router::new().route("/console/stats", get(stats_page))
}
