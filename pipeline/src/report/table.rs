//! [`Table`]: one result table, format-independent, and its Markdown form. The LaTeX
//! document is `latex.rs`'s, the CSV files `csv.rs`'s.

use std::fmt::Write as _;

/// One result table of `snni tables`.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Caption.
    pub title: String,
    /// Which of the study's tables (Zhang & Mann) this one corresponds to, e.g. `7–8`.
    pub study: &'static str,
    /// Column headings.
    pub header: Vec<String>,
    /// Cells, row by row (as many as `header`).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A short file-name-safe name from the title: lowercase words joined by `_`.
    pub fn slug(&self) -> String {
        let mut slug = String::new();
        for c in self.title.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('_') && !slug.is_empty() {
                slug.push('_');
            }
            if slug.len() >= 60 {
                break;
            }
        }
        slug.trim_end_matches('_').to_owned()
    }
}

/// A cell's number with `digits` decimals, or "–" when it is not a number (a metric that
/// could not be computed, or a method without a result).
pub fn format_number(value: f64, digits: usize) -> String {
    if value.is_nan() {
        "–".to_string()
    } else {
        format!("{value:.digits$}")
    }
}

/// Every table as a Markdown section: a `###` heading and a pipe table.
pub fn markdown(tables: &[Table]) -> String {
    let mut out = String::new();
    for table in tables {
        let cell = |s: &String| s.replace('|', "\\|");
        let _ = writeln!(out, "### {}\n", table.title);
        let header: Vec<String> = table.header.iter().map(cell).collect();
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}|", vec!["---"; header.len()].join("|"));
        for row in &table.rows {
            let row: Vec<String> = row.iter().map(cell).collect();
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_short_and_file_name_safe() {
        let table = Table {
            title: "Per-layer prediction, setting `lan` (test networks; split by network)".into(),
            study: "7–8",
            header: vec![],
            rows: vec![],
        };
        assert_eq!(
            table.slug(),
            "per_layer_prediction_setting_lan_test_networks_split_by_netw"
        );
        let md = markdown(&[Table {
            title: "t".into(),
            study: "1",
            header: vec!["a|b".into()],
            rows: vec![vec!["1".into()]],
        }]);
        assert_eq!(md, "### t\n\n| a\\|b |\n|---|\n| 1 |\n\n");
    }
}
