//! Patients' messages by hour of the week: a row per weekday, Sunday first (the Israeli work
//! week runs Sunday to Thursday, so Friday and Saturday sit apart below it), a column per
//! clinic-local hour, darker where more arrived, each count written in its cell.

use super::{AXIS, Caption, INK, Svg, WHITE, contrast};
use crate::policy::stats::Stats;

/// The chart's words, translated.
#[derive(Debug, Clone)]
pub struct HeatWords {
    pub caption: Caption,
    /// Day names, Sunday first.
    pub days: [String; 7],
    /// What a cell counts, before the legend ("Messages per hour").
    pub legend: String,
}

/// The shades, from none to the busiest quarter. Each cell's number is written in whichever of
/// black or white reads better on it.
pub(crate) const SHADES: [&str; 5] = ["#f2f4f7", "#c6dbef", "#6baed6", "#2171b5", "#08306b"];

const LABEL_W: f64 = 92.0;
const CELL_W: f64 = 22.0;
const CELL_H: f64 = 24.0;
const TOP: f64 = 30.0;
/// Between Thursday and Friday: the end of the work week.
const WEEKEND_GAP: f64 = 8.0;
/// The legend's swatches go under its caption, which may be long in either language.
const LEGEND_LINE: f64 = 24.0;
const WIDTH: f64 = LABEL_W + 24.0 * CELL_W + 8.0;

/// The heat map of `stats.inbound.by_hour_of_week`; a "no data" chart without messages.
pub fn peak_hours_heatmap(stats: &Stats, words: &HeatWords) -> String {
    let grid = &stats.inbound.by_hour_of_week;
    let max = grid.iter().flatten().copied().max().unwrap_or(0);
    if max <= 0 {
        return Svg::no_data(&words.caption, "heatmap");
    }
    let grid_bottom = row_y(6) + CELL_H;
    let height = grid_bottom + 48.0 + LEGEND_LINE;
    let mut svg = Svg::open(&words.caption, "heatmap", WIDTH, height);
    for hour in (0..24).step_by(3) {
        let x = LABEL_W + CELL_W * (f64::from(hour) + 0.5);
        svg.text("hour", x, TOP - 8.0, "middle", AXIS, &format!("{hour:02}"));
    }
    for (day, (name, hours)) in words.days.iter().zip(grid).enumerate() {
        let y = row_y(day);
        svg.text(
            "day",
            LABEL_W - 8.0,
            y + CELL_H / 2.0 + 4.0,
            "end",
            INK,
            name,
        );
        for (hour, count) in hours.iter().enumerate() {
            let x = LABEL_W + CELL_W * hour as f64;
            let shade = SHADES[level(*count, max)];
            let tip = format!("{name} {hour:02}:00 · {count}");
            svg.cell(day, hour, x, y, shade, &tip);
            if *count > 0 {
                let ink = ink_on(shade);
                let label = count.to_string();
                svg.text(
                    "count",
                    x + CELL_W / 2.0,
                    y + CELL_H / 2.0 + 4.0,
                    "middle",
                    ink,
                    &label,
                );
            }
        }
    }
    legend(&mut svg, words, max, grid_bottom + 30.0);
    svg.finish()
}

/// The top of a weekday's row; Friday and Saturday after the gap.
fn row_y(day: usize) -> f64 {
    let gap = if day >= 5 { WEEKEND_GAP } else { 0.0 };
    TOP + CELL_H * day as f64 + gap
}

/// 0 for none, else the quarter of `max` that `count` falls in (1 to 4).
pub(crate) fn level(count: i64, max: i64) -> usize {
    if count <= 0 || max <= 0 {
        return 0;
    }
    let quarter = (count.min(max) * 4 + max - 1) / max;
    usize::try_from(quarter.clamp(1, 4)).unwrap_or(4)
}

/// The counts a shade stands for: level `k` covers (k−1)/4·max < count ≤ k/4·max; `None` when
/// no whole number falls in it.
fn level_range(k: i64, max: i64) -> Option<(i64, i64)> {
    let low = (k - 1) * max / 4 + 1;
    let high = k * max / 4;
    (low <= high).then_some((low, high))
}

/// Black or white, whichever contrasts more with `shade`.
pub(crate) fn ink_on(shade: &str) -> &'static str {
    if contrast(shade, INK) >= contrast(shade, WHITE) {
        INK
    } else {
        WHITE
    }
}

fn legend(svg: &mut Svg, words: &HeatWords, max: i64, y: f64) {
    svg.text("legend", 8.0, y, "start", INK, &words.legend);
    let y = y + LEGEND_LINE;
    let mut x = 8.0;
    let mut entries = vec![(SHADES[0], "0".to_owned())];
    for k in 1..=4 {
        if let Some((low, high)) = level_range(k, max) {
            let label = if low == high {
                low.to_string()
            } else {
                format!("{low}–{high}")
            };
            entries.push((SHADES[k as usize], label));
        }
    }
    for (shade, label) in entries {
        svg.rect("swatch", x, y - 12.0, 16.0, 16.0, shade, Some(AXIS), None);
        svg.text("legend", x + 20.0, y, "start", INK, &label);
        x += 20.0 + super::text_width(&label, 12.0) + 16.0;
    }
}

impl Svg {
    /// One hour of one day; `data-day` (Sunday = 0) and `data-hour` say which.
    fn cell(&mut self, day: usize, hour: usize, x: f64, y: f64, fill: &str, tip: &str) {
        use std::fmt::Write as _;
        let _ = write!(
            self.out,
            r#"<rect class="cell" data-day="{day}" data-hour="{hour}" x="{}" y="{}" width="{}" height="{}" fill="{fill}" stroke="{WHITE}"><title>{}</title></rect>"#,
            super::num(x),
            super::num(y),
            super::num(CELL_W),
            super::num(CELL_H),
            super::esc(tip),
        );
    }
}
