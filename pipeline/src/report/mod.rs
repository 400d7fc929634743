//! The study report: SVG plots (`svg`), a plain `index.html` that shows them (`html`), and
//! the result tables ([`Table`]) as Markdown (`table`), a LaTeX document (`latex`) and one
//! CSV file per table (`csv`).
//!
//! Each takes plain data structs and returns complete documents as `String`s; reading the
//! study's tables and writing the files is the caller's job.

pub mod csv;
pub mod html;
pub mod latex;
pub mod svg;
pub mod table;

pub use html::{index, Block};
pub use svg::{bars, nice_ticks, scatter, stacked, BarGroup, Bars, Scatter, Series, Stacked};
pub use table::{format_number, Table};

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
