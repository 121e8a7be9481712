//! The transcript as a PDF: A4 pages, each headed by the clinic, the patient, the period and
//! when it was made, and numbered at the foot; each message kept on one page when it fits on
//! one. DejaVu Sans (Latin, Cyrillic, Hebrew, Arabic) is built into the binary and subset into
//! each file. Pure Rust: krilla writes the file, nothing outside the process is run.

mod layout;

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::{Metadata, TextDirection};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::Font;
use layout::{Flow, Line, Shaper};

use super::TranscriptError;
use super::view::{Entry, Transcript};

pub(super) static REGULAR: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

/// A4, in points.
const PAGE_WIDTH: f32 = 595.28;
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 48.0;
const BODY_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
/// Room at the foot of each page for its number.
const FOOTER: f32 = 28.0;
/// Line height as a multiple of the font size.
const LEADING: f32 = 1.4;
/// Where the baseline sits below the top of a line, in ems: DejaVu's ascender.
const ASCENT: f32 = 0.93;
/// Space around the rule between two entries.
const RULE_GAP: f32 = 6.0;
/// How far an entry's details are set in from its heading.
const INDENT: f32 = 10.0;

const BLACK: [u8; 3] = [17, 17, 17];
const GREY: [u8; 3] = [85, 85, 85];
const RED: [u8; 3] = [138, 28, 28];

/// How a block of text is set.
#[derive(Debug, Clone, Copy)]
struct Style {
    bold: bool,
    size: f32,
    color: [u8; 3],
    flow: Flow,
    indent: f32,
    /// Space above the block.
    gap: f32,
}

impl Style {
    fn line_height(&self) -> f32 {
        self.size * LEADING
    }
}

/// Lines of one style.
#[derive(Debug)]
struct Block {
    lines: Vec<Line>,
    style: Style,
}

impl Block {
    fn height(&self) -> f32 {
        self.style.gap + self.lines.len() as f32 * self.style.line_height()
    }
}

/// What is drawn on a page below its header.
#[derive(Debug)]
enum Mark {
    /// A line with its top at `y`.
    Text { line: Line, style: Style, y: f32 },
    /// A rule across the page at `y`.
    Rule { y: f32 },
}

/// The two weights of the typeface, for shaping and for drawing.
struct Typeface {
    regular: (Shaper, Font),
    bold: (Shaper, Font),
}

impl Typeface {
    fn new() -> Result<Self, TranscriptError> {
        let load = |data: &'static [u8]| {
            Shaper::new(data)
                .zip(Font::new(data.into(), 0))
                .ok_or_else(|| TranscriptError::Pdf("the built-in font does not load".to_owned()))
        };
        Ok(Self {
            regular: load(REGULAR)?,
            bold: load(BOLD)?,
        })
    }

    fn weight(&self, bold: bool) -> &(Shaper, Font) {
        if bold { &self.bold } else { &self.regular }
    }

    fn block(&self, text: &str, style: Style) -> Block {
        let max_width = (BODY_WIDTH - style.indent) / style.size;
        Block {
            lines: layout::lines(&self.weight(style.bold).0, text, style.flow, max_width),
            style,
        }
    }
}

/// The PDF of `transcript`.
pub(super) fn pdf(transcript: &Transcript) -> Result<Vec<u8>, TranscriptError> {
    let typeface = Typeface::new()?;
    let page = Flow::Fixed {
        rtl: transcript.rtl,
    };
    let header = header(&typeface, transcript, page);
    let body = if transcript.entries.is_empty() {
        vec![vec![
            typeface.block(transcript.no_messages, text_style(page)),
        ]]
    } else {
        transcript
            .entries
            .iter()
            .map(|entry| entry_blocks(&typeface, transcript, entry, page))
            .collect()
    };
    let header_height: f32 = header.iter().map(Block::height).sum();
    let pages = paginate(MARGIN + header_height + RULE_GAP, body);
    draw(&typeface, transcript, &header, &pages)
}

fn header(typeface: &Typeface, transcript: &Transcript, flow: Flow) -> Vec<Block> {
    let field = Style {
        bold: false,
        size: 8.5,
        color: GREY,
        flow,
        indent: 0.0,
        gap: 0.0,
    };
    let title = Style {
        bold: true,
        size: 13.0,
        gap: 0.0,
        color: BLACK,
        ..field
    };
    std::iter::once(typeface.block(&transcript.title, title))
        .chain(
            transcript
                .heading
                .iter()
                .map(|f| typeface.block(&format!("{}: {}", f.label, f.value), field)),
        )
        .collect()
}

fn text_style(flow: Flow) -> Style {
    Style {
        bold: false,
        size: 10.0,
        color: BLACK,
        flow,
        indent: INDENT,
        gap: 2.0,
    }
}

/// An entry as blocks: its heading, its facts, then the message in its own direction.
fn entry_blocks(
    typeface: &Typeface,
    transcript: &Transcript,
    entry: &Entry,
    page: Flow,
) -> Vec<Block> {
    let heading = Style {
        bold: true,
        size: 10.0,
        color: BLACK,
        flow: page,
        indent: 0.0,
        gap: 0.0,
    };
    let detail = Style {
        bold: false,
        size: 8.5,
        color: GREY,
        indent: INDENT,
        ..heading
    };
    let message = Style {
        flow: Flow::Auto,
        ..text_style(page)
    };
    let mut blocks = vec![typeface.block(&format!("{} · {}", entry.time, entry.heading), heading)];
    blocks.extend(entry.facts.iter().map(|fact| typeface.block(fact, detail)));
    let subject = entry
        .subject
        .as_ref()
        .map(|s| format!("{}: {s}", transcript.subject_label()));
    let parts = [
        (
            subject.as_deref(),
            Style {
                size: 9.5,
                color: BLACK,
                ..detail
            },
        ),
        (entry.text.as_ref().map(|t| t.text.as_str()), message),
        (
            entry.media.as_deref(),
            Style {
                size: 9.5,
                ..message
            },
        ),
        (entry.removed, detail),
        (
            entry.withheld.as_deref(),
            Style {
                color: RED,
                gap: 2.0,
                ..detail
            },
        ),
    ];
    blocks.extend(
        parts
            .into_iter()
            .filter_map(|(text, style)| Some(typeface.block(text?, style))),
    );
    blocks
}

/// The entries set on pages whose body starts at `top`: an entry that fits on one page is not
/// split between two, a longer one continues on the next.
fn paginate(top: f32, entries: Vec<Vec<Block>>) -> Vec<Vec<Mark>> {
    let bottom = PAGE_HEIGHT - MARGIN - FOOTER;
    let mut pages = vec![Vec::new()];
    let mut y = top;
    for blocks in entries {
        let height: f32 = blocks.iter().map(Block::height).sum();
        if y > top && y + height > bottom && top + height <= bottom {
            pages.push(Vec::new());
            y = top;
        }
        for block in blocks {
            y += block.style.gap;
            for line in block.lines {
                if y + block.style.line_height() > bottom && y > top {
                    pages.push(Vec::new());
                    y = top;
                }
                let page = pages.len() - 1;
                pages[page].push(Mark::Text {
                    line,
                    style: block.style,
                    y,
                });
                y += block.style.line_height();
            }
        }
        y += RULE_GAP;
        let page = pages.len() - 1;
        pages[page].push(Mark::Rule { y });
        y += RULE_GAP;
    }
    pages
}

fn draw(
    typeface: &Typeface,
    transcript: &Transcript,
    header: &[Block],
    pages: &[Vec<Mark>],
) -> Result<Vec<u8>, TranscriptError> {
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(transcript.title.clone())
            .language(transcript.language.to_owned())
            .creator("medrelay".to_owned())
            .text_direction(if transcript.rtl {
                TextDirection::RightToLeft
            } else {
                TextDirection::LeftToRight
            }),
    );
    let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
        .ok_or_else(|| TranscriptError::Pdf("page size".to_owned()))?;
    let footer = Style {
        bold: false,
        size: 8.0,
        color: GREY,
        flow: Flow::Fixed {
            rtl: transcript.rtl,
        },
        indent: 0.0,
        gap: 0.0,
    };
    for (n, marks) in pages.iter().enumerate() {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        let mut y = MARGIN;
        for block in header {
            y += block.style.gap;
            for line in &block.lines {
                set_line(&mut surface, typeface, line, block.style, y, None);
                y += block.style.line_height();
            }
        }
        rule(&mut surface, y + RULE_GAP / 2.0);
        for mark in marks {
            match mark {
                Mark::Text { line, style, y } => {
                    set_line(&mut surface, typeface, line, *style, *y, None);
                }
                Mark::Rule { y } => rule(&mut surface, *y),
            }
        }
        let number = typeface.block(&transcript.page_label(n + 1, pages.len()), footer);
        for line in &number.lines {
            let centre = (PAGE_WIDTH - line.width * footer.size) / 2.0;
            set_line(
                &mut surface,
                typeface,
                line,
                footer,
                PAGE_HEIGHT - MARGIN,
                Some(centre),
            );
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| TranscriptError::Pdf(format!("{e:?}")))
}

/// Draws `line` with its top at `y`: against the right edge when its paragraph reads right to
/// left, else the left, unless `x` says where it starts.
fn set_line(
    surface: &mut Surface<'_>,
    typeface: &Typeface,
    line: &Line,
    style: Style,
    y: f32,
    x: Option<f32>,
) {
    let width = line.width * style.size;
    let mut x = x.unwrap_or(if line.rtl {
        PAGE_WIDTH - MARGIN - style.indent - width
    } else {
        MARGIN + style.indent
    });
    let [r, g, b] = style.color;
    surface.set_fill(Some(Fill {
        paint: rgb::Color::new(r, g, b).into(),
        ..Fill::default()
    }));
    let font = &typeface.weight(style.bold).1;
    let baseline = y + ASCENT * style.size;
    for run in &line.runs {
        surface.draw_glyphs(
            Point::from_xy(x, baseline),
            &run.glyphs,
            font.clone(),
            &run.text,
            style.size,
            false,
        );
        x += run.glyphs.iter().map(|g| g.x_advance).sum::<f32>() * style.size;
    }
}

fn rule(surface: &mut Surface<'_>, y: f32) {
    let mut path = PathBuilder::new();
    path.move_to(MARGIN, y);
    path.line_to(PAGE_WIDTH - MARGIN, y);
    let Some(path) = path.finish() else {
        return;
    };
    surface.set_fill(None);
    surface.set_stroke(Some(Stroke {
        paint: rgb::Color::new(200, 200, 200).into(),
        width: 0.5,
        ..Stroke::default()
    }));
    surface.draw_path(&path);
    surface.set_stroke(None);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typeface() -> Typeface {
        Typeface::new().expect("fonts")
    }

    fn entry(typeface: &Typeface, lines: usize) -> Vec<Block> {
        let text = vec!["A line of the message."; lines].join("\n");
        vec![typeface.block(&text, text_style(Flow::Auto))]
    }

    fn tops(page: &[Mark]) -> Vec<f32> {
        page.iter()
            .filter_map(|m| match m {
                Mark::Text { y, .. } => Some(*y),
                Mark::Rule { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_long_transcript_runs_over_pages_within_the_margins() {
        let typeface = typeface();
        let entries = (0..60).map(|_| entry(&typeface, 3)).collect();

        let pages = paginate(150.0, entries);

        assert!(pages.len() > 2, "{}", pages.len());
        let bottom = PAGE_HEIGHT - MARGIN - FOOTER;
        for page in &pages {
            let tops = tops(page);
            assert!(
                tops.iter().all(|y| *y >= 150.0 && y + 14.0 <= bottom),
                "{tops:?}"
            );
        }
    }

    #[test]
    fn an_entry_that_fits_on_a_page_is_not_split() {
        let typeface = typeface();
        // Each entry is 40 lines: one per page at most, never across two.
        let entries = (0..3).map(|_| entry(&typeface, 40)).collect();

        let pages = paginate(150.0, entries);

        assert_eq!(pages.len(), 3);
        assert!(pages.iter().all(|page| tops(page).len() == 40));
    }
}
