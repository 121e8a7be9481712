//! Text as a PDF draws it: wrapped at spaces to a width, each line put in visual order by the
//! Unicode bidirectional algorithm (UAX #9, `unicode-bidi`), each run of one direction shaped by
//! rustybuzz (Arabic letters joined, marks placed, brackets mirrored right to left). A PDF has no
//! text engine: what is drawn is glyphs at positions, so all of this happens here.

use std::ops::Range;

use krilla::text::{GlyphId, KrillaGlyph};
use rustybuzz::{Direction, UnicodeBuffer};
use unicode_bidi::{BidiInfo, Level};
use unicode_normalization::char::is_combining_mark;

/// A font as the shaper reads it.
pub(super) struct Shaper {
    face: rustybuzz::Face<'static>,
    units_per_em: f32,
}

impl Shaper {
    pub(super) fn new(data: &'static [u8]) -> Option<Self> {
        let face = rustybuzz::Face::from_slice(data, 0)?;
        let units_per_em = f32::from(u16::try_from(face.units_per_em()).ok()?);
        Some(Self { face, units_per_em })
    }

    /// `text` shaped in one direction: its glyphs from left to right, sizes in ems, each glyph
    /// knowing the bytes of `text` it stands for (so a PDF reader can give the text back).
    pub(super) fn shape(&self, text: &str, rtl: bool) -> Vec<KrillaGlyph> {
        let mut buffer = UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.set_direction(if rtl {
            Direction::RightToLeft
        } else {
            Direction::LeftToRight
        });
        buffer.guess_segment_properties();
        let shaped = rustybuzz::shape(&self.face, &[], buffer);
        let mut starts: Vec<usize> = shaped
            .glyph_infos()
            .iter()
            .map(|g| g.cluster as usize)
            .collect();
        starts.sort_unstable();
        starts.dedup();
        let cluster = |start: usize| {
            let end = starts
                .iter()
                .copied()
                .find(|s| *s > start)
                .unwrap_or(text.len());
            start..end
        };
        let em = |units: i32| units as f32 / self.units_per_em;
        shaped
            .glyph_infos()
            .iter()
            .zip(shaped.glyph_positions())
            .map(|(info, at)| {
                KrillaGlyph::new(
                    GlyphId::new(info.glyph_id),
                    em(at.x_advance),
                    em(at.x_offset),
                    em(at.y_offset),
                    em(at.y_advance),
                    cluster(info.cluster as usize),
                    None,
                )
            })
            .collect()
    }

    /// How wide `text` is, in ems.
    fn width(&self, text: &str) -> f32 {
        advance(&self.shape(text, false))
    }
}

fn advance(glyphs: &[KrillaGlyph]) -> f32 {
    glyphs.iter().map(|g| g.x_advance).sum()
}

/// The direction a paragraph is laid out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// From its first letter of a strong direction, as `dir="auto"` (left to right without
    /// one): what a patient or staff member wrote.
    Auto,
    /// The document's own: its labels and sentences.
    Fixed { rtl: bool },
}

/// A run of text of one direction, shaped.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pub(super) text: String,
    pub(super) glyphs: Vec<KrillaGlyph>,
}

/// One line: its runs from left to right.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub(super) runs: Vec<Run>,
    /// In ems.
    pub(super) width: f32,
    /// Its paragraph reads right to left: the line is set against the right edge.
    pub(super) rtl: bool,
}

/// `text` in lines at most `max_width` ems wide (a word wider than that is cut), a new line at
/// every paragraph separator.
pub(super) fn lines(shaper: &Shaper, text: &str, flow: Flow, max_width: f32) -> Vec<Line> {
    let level = match flow {
        Flow::Auto => None,
        Flow::Fixed { rtl: true } => Some(Level::rtl()),
        Flow::Fixed { rtl: false } => Some(Level::ltr()),
    };
    let bidi = BidiInfo::new(text, level);
    let mut lines = Vec::new();
    for paragraph in &bidi.paragraphs {
        for range in breaks(shaper, text, paragraph.range.clone(), max_width) {
            let (levels, runs) = bidi.visual_runs(paragraph, range.clone());
            let runs: Vec<Run> = runs
                .into_iter()
                .filter(|run| !run.is_empty())
                .map(|run| Run {
                    text: text[run.clone()].to_owned(),
                    glyphs: shaper.shape(&text[run.clone()], levels[run.start].is_rtl()),
                })
                .collect();
            lines.push(Line {
                width: runs.iter().map(|r| advance(&r.glyphs)).sum(),
                runs,
                rtl: paragraph.level.is_rtl(),
            });
        }
    }
    lines
}

/// Where the paragraph at `range` of `text` breaks into lines: after spaces, else (for a word
/// wider than a line) between characters. Each line's trailing spaces and separator are left
/// out; an empty paragraph is one empty line.
fn breaks(shaper: &Shaper, text: &str, range: Range<usize>, max_width: f32) -> Vec<Range<usize>> {
    let mut lines = Vec::new();
    let mut line = range.start..range.start;
    let mut width = 0.0;
    for word in words(text, range.clone()) {
        let ink = word.start..trimmed_end(text, word.clone());
        let ink_width = shaper.width(&text[ink.clone()]);
        if !line.is_empty() && width + ink_width > max_width {
            lines.push(line.start..trimmed_end(text, line.clone()));
            line = word.start..word.start;
            width = 0.0;
        }
        if ink_width > max_width {
            let (cut, rest) = cut_word(shaper, text, ink.clone(), max_width);
            lines.extend(cut);
            line = rest.start..word.end;
            width = shaper.width(&text[rest]);
            continue;
        }
        width += shaper.width(&text[word.clone()]);
        line.end = word.end;
    }
    let last = line.start..trimmed_end(text, line.clone());
    if !last.is_empty() || lines.is_empty() {
        lines.push(last);
    }
    lines
}

/// The words of `range`, each with the spaces after it.
fn words(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut start = range.start;
    let mut after_space = false;
    for (i, c) in text[range.clone()].char_indices() {
        let at = range.start + i;
        let space = c.is_whitespace();
        if after_space && !space {
            words.push(start..at);
            start = at;
        }
        after_space = space;
    }
    if start < range.end {
        words.push(start..range.end);
    }
    words
}

/// `range` without the whitespace (and paragraph separator) at its end.
fn trimmed_end(text: &str, range: Range<usize>) -> usize {
    range.start + text[range].trim_end().len()
}

/// A word too wide for a line, cut into whole lines between characters (never before a
/// combining mark), and the part left for the next line.
fn cut_word(
    shaper: &Shaper,
    text: &str,
    word: Range<usize>,
    max_width: f32,
) -> (Vec<Range<usize>>, Range<usize>) {
    let mut lines = Vec::new();
    let mut start = word.start;
    let mut width = 0.0;
    for (i, c) in text[word.clone()].char_indices() {
        let at = word.start + i;
        let char_width = shaper.width(&text[at..at + c.len_utf8()]);
        if at > start && width + char_width > max_width && !is_combining_mark(c) {
            lines.push(start..at);
            start = at;
            width = 0.0;
        }
        width += char_width;
    }
    (lines, start..word.end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::pdf::REGULAR;

    fn shaper() -> Shaper {
        Shaper::new(REGULAR).expect("DejaVu Sans")
    }

    fn texts(line: &Line) -> Vec<&str> {
        line.runs.iter().map(|r| r.text.as_str()).collect()
    }

    #[test]
    fn hebrew_reads_right_to_left_with_its_numbers_left_to_right() {
        let lines = lines(&shaper(), "תור ב-10:30 אצל ד\"ר כהן", Flow::Auto, 100.0);

        assert_eq!(lines.len(), 1);
        assert!(lines[0].rtl);
        // Left to right on the page: the end of the sentence, the time, its start.
        assert_eq!(texts(&lines[0]), [" אצל ד\"ר כהן", "10:30", "תור ב-"]);
    }

    #[test]
    fn english_in_a_hebrew_document_keeps_its_own_order_inside_the_line() {
        let lines = lines(
            &shaper(),
            "נשלח ב-WhatsApp Business",
            Flow::Fixed { rtl: true },
            100.0,
        );

        assert_eq!(texts(&lines[0]), ["WhatsApp Business", "נשלח ב-"]);
    }

    #[test]
    fn arabic_letters_are_joined() {
        let shaper = shaper();
        let word = "شكرا";
        let isolated: Vec<u32> = word
            .chars()
            .flat_map(|c| shaper.shape(&c.to_string(), true))
            .map(|g| g.glyph_id.to_u32())
            .collect();
        let mut joined: Vec<u32> = shaper
            .shape(word, true)
            .iter()
            .map(|g| g.glyph_id.to_u32())
            .collect();
        joined.reverse();

        assert_eq!(joined.len(), isolated.len());
        assert_ne!(
            joined, isolated,
            "contextual forms differ from isolated ones"
        );
        // Lam and alef become one glyph.
        assert_eq!(shaper.shape("سلام", true).len(), 3);
    }

    #[test]
    fn each_glyph_knows_the_text_it_stands_for() {
        let shaper = shaper();
        let text = "שלום";
        let glyphs = shaper.shape(text, true);
        let mut covered: Vec<&str> = glyphs.iter().map(|g| &text[g.text_range.clone()]).collect();
        covered.reverse();

        assert_eq!(covered.concat(), text);
    }

    #[test]
    fn long_text_wraps_at_spaces_within_the_width() {
        let shaper = shaper();
        let text = "Please bring your referral and the results of your last blood test to the \
                    appointment on Monday morning";
        let lines = lines(&shaper, text, Flow::Auto, 12.0);

        assert!(lines.len() > 2, "{}", lines.len());
        assert!(lines.iter().all(|l| l.width <= 12.0 && !l.rtl));
        let words: Vec<String> = lines
            .iter()
            .flat_map(|l| l.runs.iter().map(|r| r.text.clone()))
            .collect();
        assert_eq!(words.join(" "), text);
    }

    #[test]
    fn a_word_wider_than_the_line_is_cut_between_characters() {
        let shaper = shaper();
        let link = "https://clinic.example/s/hadar/0123456789abcdefghijklmnopqrstuvwxyz";
        let lines = lines(&shaper, link, Flow::Auto, 8.0);

        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.width <= 8.0));
        let joined: String = lines
            .iter()
            .flat_map(|l| texts(l).concat().chars().collect::<Vec<_>>())
            .collect();
        assert_eq!(joined, link);
    }

    #[test]
    fn each_paragraph_is_a_line_of_its_own_and_keeps_its_direction() {
        let lines = lines(&shaper(), "Hello\n\nשלום", Flow::Auto, 50.0);

        let shown: Vec<(Vec<&str>, bool)> = lines.iter().map(|l| (texts(l), l.rtl)).collect();
        assert_eq!(
            shown,
            [
                (vec!["Hello"], false),
                (vec![], false),
                (vec!["שלום"], true)
            ]
        );
    }
}
