//! Charts for the console's statistics: inline SVG drawn on the server from [`Stats`], so a page
//! needs no script and no chart library.
//!
//! Every chart is an `<svg role="img">` named by its `<title>` and described by its `<desc>`
//! (a screen reader reads those, not the shapes), draws every figure as text beside its shape (a
//! colour never carries a value alone), and uses colours with at least 4.5:1 contrast against
//! white. Words come in already translated ([`Caption`] and each chart's words); the drawing
//! itself stays left to right in a right-to-left page, since hours and amounts read that way
//! in Hebrew too.
//!
//! [`Stats`]: crate::policy::stats::Stats

mod bars;
mod heatmap;
mod latency;

pub use bars::{BarWords, channel_bars};
pub use heatmap::{HeatWords, peak_hours_heatmap};
pub use latency::{LatencyWords, latency_bars};

use std::fmt::Write as _;

/// What every chart says about itself, translated by the page.
#[derive(Debug, Clone)]
pub struct Caption {
    /// Unique on the page: the ids of the title and description derive from it.
    pub id: String,
    pub title: String,
    pub desc: String,
    /// Drawn instead of the chart when there is nothing to draw.
    pub no_data: String,
}

/// Text on white.
const INK: &str = "#1a1a1a";
/// Axes and grid lines: decoration, the figures are written out.
const GRID: &str = "#d0d5db";
const AXIS: &str = "#5f6b7a";
const WHITE: &str = "#ffffff";
/// First strong isolate and its end (Unicode bidi).
const FSI: char = '\u{2068}';
const PDI: char = '\u{2069}';

/// Starts an SVG document; [`Svg::finish`] closes it.
struct Svg {
    out: String,
}

impl Svg {
    fn open(caption: &Caption, kind: &str, width: f64, height: f64) -> Self {
        let id = esc(&caption.id);
        let mut out = String::with_capacity(8 * 1024);
        // `direction="ltr"`: the axes keep their order inside an RTL page. No font family: the
        // page's applies (Chromium with `system-ui` drew Hebrew letters reversed).
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" viewBox="0 0 {w} {h}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" direction="ltr" font-size="12"><title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>"#,
            w = num(width),
            h = num(height),
            title = esc(&caption.title),
            desc = esc(&caption.desc),
        );
        Svg { out }
    }

    /// A chart that only says there is nothing to show: no scale, so no division by zero.
    fn no_data(caption: &Caption, kind: &str) -> String {
        let mut svg = Svg::open(caption, kind, 480.0, 80.0);
        svg.rect("frame", 0.5, 0.5, 479.0, 79.0, WHITE, Some(GRID), None);
        svg.text("no-data", 240.0, 44.0, "middle", INK, &caption.no_data);
        svg.finish()
    }

    #[allow(clippy::too_many_arguments)] // the SVG attributes of a rectangle, named at each call
    fn rect(
        &mut self,
        class: &str,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: &str,
        stroke: Option<&str>,
        tooltip: Option<&str>,
    ) {
        let _ = write!(
            self.out,
            r#"<rect class="{class}" x="{}" y="{}" width="{}" height="{}" fill="{fill}""#,
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0)),
        );
        if let Some(stroke) = stroke {
            let _ = write!(self.out, r#" stroke="{stroke}""#);
        }
        match tooltip {
            Some(tip) => {
                let _ = write!(self.out, "><title>{}</title></rect>", esc(tip));
            }
            None => self.out.push_str("/>"),
        }
    }

    /// `anchor`: start, middle or end. The text is isolated (U+2068 … U+2069) so that it takes
    /// its direction from its own first letter: a Hebrew label with a number in it reads right
    /// to left inside the left-to-right drawing.
    fn text(&mut self, class: &str, x: f64, y: f64, anchor: &str, fill: &str, text: &str) {
        let _ = write!(
            self.out,
            r#"<text class="{class}" x="{}" y="{}" text-anchor="{anchor}" fill="{fill}">{FSI}{}{PDI}</text>"#,
            num(x),
            num(y),
            esc(text),
        );
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str) {
        let _ = write!(
            self.out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{stroke}"/>"#,
            num(x1),
            num(y1),
            num(x2),
            num(y2),
        );
    }

    /// A row of coloured squares with their names, from `x`; returns where it ended.
    fn legend(&mut self, mut x: f64, y: f64, items: &[(&str, Option<&str>, &str)]) -> f64 {
        for (fill, stroke, name) in items {
            self.rect("swatch", x, y - 10.0, 12.0, 12.0, fill, *stroke, None);
            self.text("legend", x + 16.0, y, "start", INK, name);
            x += 16.0 + text_width(name, 12.0) + 16.0;
        }
        x
    }

    fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// XML text and attribute escaping.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\n' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

/// A coordinate: at most one decimal, never NaN or infinite (those would break the drawing).
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_owned();
    }
    let rounded = (v * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded:.1}")
    }
}

/// A rough width of `text` in `size`-pixel type, for spacing legends; SVG has no measuring.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// An axis scale from 0: a step of 1, 2 or 5 times a power of ten, and the top (a multiple of
/// the step at or above `max`), aiming at about four steps.
fn scale(max: i64) -> (i64, i64) {
    let max = max.max(1);
    let rough = (max + 3) / 4;
    let mut magnitude = 1i64;
    while magnitude.saturating_mul(10) <= rough {
        magnitude = magnitude.saturating_mul(10);
    }
    let step = [1, 2, 5, 10]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10 * magnitude);
    let top = (max + step - 1) / step * step;
    (step, top)
}

/// WCAG contrast ratio between two `#rrggbb` colours (1 to 21); 1 for a malformed colour.
pub(crate) fn contrast(a: &str, b: &str) -> f64 {
    match (luminance(a), luminance(b)) {
        (Some(la), Some(lb)) => (la.max(lb) + 0.05) / (la.min(lb) + 0.05),
        _ => 1.0,
    }
}

/// WCAG relative luminance of `#rrggbb`.
fn luminance(hex: &str) -> Option<f64> {
    let hex = hex.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let channel = |i: usize| -> Option<f64> {
        let v = f64::from(u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()?) / 255.0;
        Some(if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        })
    };
    Some(0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?)
}

#[cfg(test)]
mod tests;
