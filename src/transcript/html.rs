//! The transcript as one self-contained HTML page (`templates/transcript.html`): its style
//! inline, nothing loaded from anywhere, every value escaped by the template. The page reads in
//! the clinic's direction; each message keeps its own (`dir="auto"`). Printed, it drops the
//! screen margins and keeps each message on one page.

use std::sync::LazyLock;

use askama::Template;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::view::Transcript;

/// Logical properties (`inline-start`, …) so the same rules read right to left.
const STYLE: &str = "body{font-family:'DejaVu Sans',system-ui,sans-serif;max-width:46rem;\
margin:2rem auto;padding:0 1rem;line-height:1.45;color:#111}\
h1{font-size:1.4rem;margin:0 0 .5rem}\
header dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:0 0 1.5rem}\
header dl div{display:contents}dt{font-weight:bold}dd{margin:0}\
article{border-inline-start:4px solid #888;padding:.25rem .75rem;margin:0 0 1rem}\
article.to-patient{border-color:#2a6fb0}article.from-patient{border-color:#2e8b57}\
article.clinic{border-color:#b07a2a}\
h2{font-size:1rem;margin:0 0 .25rem}\
ul{margin:0 0 .25rem;padding-inline-start:1.2rem;font-size:.9rem;color:#333}\
.text{white-space:pre-wrap;margin:.25rem 0;padding:.4rem .6rem;background:#f4f4f4;border-radius:4px}\
.subject,.media{margin:.25rem 0}.removed,.withheld{margin:.25rem 0;font-style:italic}\
.withheld{color:#8a1c1c}\
@media print{body{max-width:none;margin:0;padding:0;font-size:11pt}\
.text{background:none;border:1px solid #bbb}article{break-inside:avoid}}\
@page{margin:15mm}";

/// What the page may use: its own inline style, nothing else (no scripts, images, fonts, forms
/// or frames), found by the style's hash rather than by allowing any inline style.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
});

#[derive(Template)]
#[template(path = "transcript.html")]
struct Page<'a> {
    t: &'a Transcript,
    style: &'static str,
}

/// The page of `transcript`.
pub(super) fn html(transcript: &Transcript) -> Result<String, askama::Error> {
    Page {
        t: transcript,
        style: STYLE,
    }
    .render()
}
