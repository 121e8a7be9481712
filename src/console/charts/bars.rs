//! Per channel, side by side: sent, delivered, read and failed attempts. Grouped rather than
//! stacked, since the figures overlap (a read message was delivered and sent too).

use medrelay_channels::ChannelKind;

use super::{AXIS, Caption, GRID, INK, Svg, scale};
use crate::policy::stats::Stats;

/// The chart's words, translated.
#[derive(Debug, Clone)]
pub struct BarWords {
    pub caption: Caption,
    /// sent, delivered, read, failed.
    pub series: [String; 4],
}

/// One colour per series, each at least 4.5:1 against white: sent, delivered, read, failed.
pub(crate) const SERIES_COLOURS: [&str; 4] = ["#1f5fa8", "#1b7a3d", "#6b3fa0", "#b3261e"];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 290.0;
const PLOT_LEFT: f64 = 56.0;
const PLOT_RIGHT: f64 = 628.0;
const PLOT_TOP: f64 = 44.0;
const PLOT_BOTTOM: f64 = 244.0;

/// The channels of `stats` that sent or failed anything, as grouped bars; a "no data" chart
/// when none did.
pub fn channel_bars(
    stats: &Stats,
    words: &BarWords,
    channel_name: &dyn Fn(ChannelKind) -> String,
) -> String {
    let groups: Vec<(ChannelKind, [i64; 4])> = stats
        .outbound
        .by_channel
        .iter()
        .filter_map(|line| {
            let figures = [line.sent, line.delivered, line.read, line.failed].map(|n| n.max(0));
            Some((line.channel?, figures))
        })
        .filter(|(_, figures)| figures.iter().any(|n| *n > 0))
        .collect();
    let max = groups
        .iter()
        .flat_map(|(_, figures)| figures.iter().copied())
        .max()
        .unwrap_or(0);
    if max == 0 {
        return Svg::no_data(&words.caption, "bars");
    }
    let (step, top) = scale(max);
    let mut svg = Svg::open(&words.caption, "bars", WIDTH, HEIGHT);
    let legend: Vec<(&str, Option<&str>, &str)> = SERIES_COLOURS
        .iter()
        .zip(&words.series)
        .map(|(colour, name)| (*colour, None, name.as_str()))
        .collect();
    svg.legend(PLOT_LEFT, 18.0, &legend);
    let plot_h = PLOT_BOTTOM - PLOT_TOP;
    let y_of = |v: i64| PLOT_BOTTOM - v as f64 / top as f64 * plot_h;
    for tick in (0..=top).step_by(usize::try_from(step).unwrap_or(1)) {
        let y = y_of(tick);
        svg.line(
            PLOT_LEFT,
            y,
            PLOT_RIGHT,
            y,
            if tick == 0 { AXIS } else { GRID },
        );
        svg.text(
            "tick",
            PLOT_LEFT - 6.0,
            y + 4.0,
            "end",
            INK,
            &tick.to_string(),
        );
    }
    let group_w = (PLOT_RIGHT - PLOT_LEFT) / groups.len() as f64;
    let bar_w = (group_w * 0.8 / 4.0).min(36.0);
    for (g, (channel, figures)) in groups.iter().enumerate() {
        let name = channel_name(*channel);
        let centre = PLOT_LEFT + group_w * (g as f64 + 0.5);
        let first_x = centre - bar_w * 2.0;
        for (i, value) in figures.iter().enumerate() {
            let x = first_x + bar_w * i as f64;
            let y = y_of(*value);
            let series = &words.series[i];
            svg.rect(
                &format!("bar bar-{i}"),
                x + 1.0,
                y,
                bar_w - 2.0,
                PLOT_BOTTOM - y,
                SERIES_COLOURS[i],
                None,
                Some(&format!("{name}: {series} {value}")),
            );
            svg.text(
                "value",
                x + bar_w / 2.0,
                y - 4.0,
                "middle",
                INK,
                &value.to_string(),
            );
        }
        svg.text("label", centre, PLOT_BOTTOM + 20.0, "middle", INK, &name);
    }
    svg.finish()
}
