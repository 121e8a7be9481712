//! A patient's transcript: every message to and from them over a period, with channel, time
//! in the clinic's zone, status, who sent it, and what a sensitive topic kept off a channel.
//! It is what a clinic attaches to a chart that has no FHIR, as an HTML page or a PDF.
//!
//! Pure: records in ([`crate::store::TranscriptRecords`], read by the store in one snapshot),
//! a document out. [`Transcript::new`] decides what is said; [`html`] and [`pdf`] only lay it
//! out, so the two formats cannot say different things.

mod html;
mod pdf;
#[cfg(test)]
mod tests;
mod texts;
mod view;

pub use html::CONTENT_SECURITY_POLICY;
pub use view::{Entry, Field, MessageText, Side, Transcript, TranscriptContext};

/// What a transcript is made as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Pdf,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Html => "text/html; charset=utf-8",
            Self::Pdf => "application/pdf",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error("the HTML transcript could not be rendered")]
    Html(#[from] askama::Error),
    #[error("the PDF transcript could not be made: {0}")]
    Pdf(String),
}

impl Transcript {
    /// The transcript as a file of `format`.
    pub fn render(&self, format: Format) -> Result<Vec<u8>, TranscriptError> {
        match format {
            Format::Html => Ok(html::html(self)?.into_bytes()),
            Format::Pdf => pdf::pdf(self),
        }
    }
}
