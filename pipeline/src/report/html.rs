//! The report's `index.html`: a plain, self-contained HTML5 page (inline CSS, no scripts, no
//! external assets) made of headings, paragraphs, tables and the SVG plots beside it.

use std::fmt::Write;

use super::escape;

/// One piece of the page, in reading order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A section heading.
    Heading(String),
    /// A paragraph of plain text.
    Paragraph(String),
    /// A table; each row should have as many cells as `header`.
    Table {
        /// The line above the table.
        caption: String,
        /// The column names.
        header: Vec<String>,
        /// The cells, row by row.
        rows: Vec<Vec<String>>,
    },
    /// A figure showing an image file.
    Image {
        /// The line under the image.
        caption: String,
        /// The image's path relative to `index.html`, e.g. `scatter-conv.svg`.
        file: String,
    },
}

const STYLE: &str = "\
body { font-family: sans-serif; max-width: 84rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1, h2 { font-weight: 600; }
.table { overflow-x: auto; margin: 1rem 0; }
table { border-collapse: collapse; font-size: 0.85rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; }
th { background: #f3f3f3; text-align: left; vertical-align: bottom; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child, td:nth-child(2) { text-align: left; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 1rem 0; flex: 1 1 36rem; max-width: 720px; }
figure img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9rem; }";

/// Renders a complete HTML5 page titled `title` with `blocks` in order; every text is escaped.
pub fn index(title: &str, blocks: &[Block]) -> String {
    let title = escape(title);
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(page, "<title>{title}</title>");
    let _ = writeln!(page, "<style>\n{STYLE}\n</style>\n</head>\n<body>");
    let _ = writeln!(page, "<h1>{title}</h1>");
    // Consecutive figures share one wrapping row, two side by side on a wide screen.
    let mut in_figures = false;
    for block in blocks {
        let figure = matches!(block, Block::Image { .. });
        if figure != in_figures {
            page.push_str(if figure {
                "<div class=\"figures\">\n"
            } else {
                "</div>\n"
            });
            in_figures = figure;
        }
        push_block(&mut page, block);
    }
    if in_figures {
        page.push_str("</div>\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}

fn push_block(page: &mut String, block: &Block) {
    // Writing to a String cannot fail.
    let _ = match block {
        Block::Heading(text) => writeln!(page, "<h2>{}</h2>", escape(text)),
        Block::Paragraph(text) => writeln!(page, "<p>{}</p>", escape(text)),
        Block::Table {
            caption,
            header,
            rows,
        } => {
            let _ = writeln!(
                page,
                "<div class=\"table\"><table>\n<caption>{}</caption>",
                escape(caption)
            );
            push_row(page, "th", header);
            for row in rows {
                push_row(page, "td", row);
            }
            writeln!(page, "</table></div>")
        }
        Block::Image { caption, file } => writeln!(
            page,
            "<figure>\n<img src=\"{}\" alt=\"{caption}\">\n<figcaption>{caption}</figcaption>\n</figure>",
            escape(file),
            caption = escape(caption),
        ),
    };
}

fn push_row(page: &mut String, cell: &str, cells: &[String]) {
    page.push_str("<tr>");
    for text in cells {
        let _ = write!(page, "<{cell}>{}</{cell}>", escape(text));
    }
    page.push_str("</tr>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_escapes_text_and_references_the_images() {
        let nasty = r#"<script>alert("x & y")</script>"#;
        let page = index(
            nasty,
            &[
                Block::Heading(nasty.to_owned()),
                Block::Paragraph(nasty.to_owned()),
                Block::Table {
                    caption: nasty.to_owned(),
                    header: vec!["network".to_owned(), nasty.to_owned()],
                    rows: vec![vec!["resnet<18>".to_owned(), "1.5".to_owned()]],
                },
                Block::Image {
                    caption: nasty.to_owned(),
                    file: "scatter-conv.svg".to_owned(),
                },
            ],
        );
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(!page.contains("<script"));
        assert_eq!(
            page.matches("&lt;script&gt;alert(&quot;x &amp; y&quot;)")
                .count(),
            8
        );
        assert!(page.contains("<img src=\"scatter-conv.svg\""));
        assert!(page.contains("<td>resnet&lt;18&gt;</td><td>1.5</td>"));
        assert!(page.contains("<th>network</th>"));
    }

    #[test]
    fn page_is_self_contained() {
        let page = index("report", &[Block::Paragraph("text".to_owned())]);
        for external in ["http", "<script", "<link", "@import"] {
            assert!(!page.contains(external), "{external}");
        }
        assert!(page.contains("<style>") && page.ends_with("</html>\n"));
    }
}
