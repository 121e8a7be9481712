//! How long things take, as horizontal bars: per channel, hand-over to delivered and to read,
//! and the clinic's response time to patients. Each bar runs to the 90th percentile with the
//! median drawn solid inside it, both written out at its end.

use medrelay_channels::ChannelKind;

use super::{AXIS, Caption, INK, Svg};
use crate::policy::stats::{Latency, Stats};

/// The chart's words, translated.
#[derive(Debug, Clone)]
pub struct LatencyWords {
    pub caption: Caption,
    pub to_delivered: String,
    pub to_read: String,
    /// The row of the clinic's answers to patients.
    pub response: String,
    pub median: String,
    pub p90: String,
}

/// The median, solid; the 90th percentile, a light bar with an outline of the median's colour.
pub(crate) const MEDIAN: &str = "#1f5fa8";
pub(crate) const P90_FILL: &str = "#d6e4f5";

const LABEL_W: f64 = 210.0;
const BAR_MAX: f64 = 300.0;
const WIDTH: f64 = LABEL_W + BAR_MAX + 190.0;
const TOP: f64 = 34.0;
const ROW_H: f64 = 28.0;
const BAR_H: f64 = 16.0;

/// One bar: its label and its median and 90th percentile in seconds.
struct Row {
    label: String,
    median: i64,
    p90: i64,
}

/// The latencies in `stats` that have samples; a "no data" chart when none has. `duration`
/// writes seconds the reader's way ("3 min").
pub fn latency_bars(
    stats: &Stats,
    words: &LatencyWords,
    channel_name: &dyn Fn(ChannelKind) -> String,
    duration: &dyn Fn(i64) -> String,
) -> String {
    let mut rows = Vec::new();
    for line in &stats.outbound.by_channel {
        let Some(channel) = line.channel else {
            continue;
        };
        let name = channel_name(channel);
        for (latency, measure) in [
            (&line.to_delivered, &words.to_delivered),
            (&line.to_read, &words.to_read),
        ] {
            rows.extend(row(format!("{name} · {measure}"), latency));
        }
    }
    rows.extend(row(words.response.clone(), &stats.inbound.response_time));
    if rows.is_empty() {
        return Svg::no_data(&words.caption, "latency");
    }
    // At least a second, so sub-second latencies (bucket 0) draw as empty bars, not NaN.
    let max = rows
        .iter()
        .map(|r| r.p90.max(r.median))
        .max()
        .unwrap_or(0)
        .max(1);
    let height = TOP + ROW_H * rows.len() as f64 + 8.0;
    let mut svg = Svg::open(&words.caption, "latency", WIDTH, height);
    svg.legend(
        LABEL_W,
        18.0,
        &[
            (MEDIAN, None, words.median.as_str()),
            (P90_FILL, Some(MEDIAN), words.p90.as_str()),
        ],
    );
    svg.line(LABEL_W, TOP - 4.0, LABEL_W, height - 4.0, AXIS);
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let bar_y = y + (ROW_H - BAR_H) / 2.0;
        let width = |seconds: i64| seconds as f64 / max as f64 * BAR_MAX;
        let (median, p90) = (duration(r.median), duration(r.p90));
        let tip = format!(
            "{}: {} {median}, {} {p90}",
            r.label, words.median, words.p90
        );
        svg.text(
            "label",
            LABEL_W - 8.0,
            bar_y + BAR_H - 4.0,
            "end",
            INK,
            &r.label,
        );
        let p90_w = width(r.p90);
        svg.rect(
            "p90",
            LABEL_W,
            bar_y,
            p90_w,
            BAR_H,
            P90_FILL,
            Some(MEDIAN),
            Some(&tip),
        );
        svg.rect(
            "median",
            LABEL_W,
            bar_y,
            width(r.median),
            BAR_H,
            MEDIAN,
            None,
            None,
        );
        let value = format!("{median} / {p90}");
        svg.text(
            "value",
            LABEL_W + p90_w + 6.0,
            bar_y + BAR_H - 4.0,
            "start",
            INK,
            &value,
        );
    }
    svg.finish()
}

fn row(label: String, latency: &Latency) -> Option<Row> {
    if latency.samples <= 0 {
        return None;
    }
    Some(Row {
        label,
        median: latency.median_seconds?.max(0),
        p90: latency.p90_seconds?.max(0),
    })
}
