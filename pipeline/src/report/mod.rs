//! The study report: SVG plots (`svg`) and a plain `index.html` that shows them (`html`).
//!
//! Both take plain data structs and return a complete document as a `String`; reading the
//! study's tables and writing the files is the caller's job.

pub mod html;
pub mod svg;

pub use html::{index, Block};
pub use svg::{bars, nice_ticks, scatter, stacked, BarGroup, Bars, Scatter, Series, Stacked};

/// Escapes `text` for XML and HTML text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
