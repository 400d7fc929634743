//! `report/tables.tex`: every result table as a `booktabs` table in one standalone
//! document that `pdflatex` compiles (tested with TeX Live in `tests/tests/report.rs`).
//! Every character LaTeX treats specially is escaped; the Unicode our tables use is mapped
//! to LaTeX; text in backticks is set in `\texttt`.

use std::fmt::Write as _;

use super::Table;

/// Tables wider than this many columns are scaled to the line width.
const SCALE_ABOVE_COLUMNS: usize = 7;

/// `text` as LaTeX text: `\ { } $ & # ^ _ ~ %` escaped, backtick spans in `\texttt`,
/// Unicode mapped (an unknown character becomes `?`, so the document always compiles).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut code = false;
    for c in text.chars() {
        match c {
            '`' => {
                out.push_str(if code { "}" } else { "\\texttt{" });
                code = !code;
            }
            '\\' => out.push_str("\\textbackslash{}"),
            '{' | '}' | '$' | '&' | '#' | '_' | '%' => {
                out.push('\\');
                out.push(c);
            }
            '^' => out.push_str("\\textasciicircum{}"),
            '~' => out.push_str("\\textasciitilde{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            '|' => out.push_str("\\textbar{}"),
            '"' => out.push_str("\\textquotedbl{}"),
            '²' => out.push_str("\\textsuperscript{2}"),
            'µ' | 'μ' => out.push_str("\\textmu{}"),
            '–' => out.push_str("--"),
            '—' => out.push_str("---"),
            '…' => out.push_str("\\ldots{}"),
            '×' => out.push_str("\\texttimes{}"),
            '·' => out.push_str("\\textperiodcentered{}"),
            '±' => out.push_str("\\textpm{}"),
            '≥' => out.push_str("\\ensuremath{\\geq}"),
            '≤' => out.push_str("\\ensuremath{\\leq}"),
            '→' => out.push_str("\\ensuremath{\\rightarrow}"),
            '√' => out.push_str("\\ensuremath{\\surd}"),
            'α' => out.push_str("\\ensuremath{\\alpha}"),
            'β' => out.push_str("\\ensuremath{\\beta}"),
            'γ' => out.push_str("\\ensuremath{\\gamma}"),
            'ε' => out.push_str("\\ensuremath{\\varepsilon}"),
            c if c.is_ascii() => out.push(c),
            _ => out.push('?'),
        }
    }
    if code {
        out.push('}');
    }
    out
}

/// A complete LaTeX document with every table (`booktabs`, captions naming the study's
/// table numbers, wide tables scaled to the page).
pub fn document(title: &str, tables: &[Table]) -> String {
    let mut out = String::new();
    out.push_str(
        "\\documentclass[10pt]{article}\n\
         \\usepackage[T1]{fontenc}\n\
         \\usepackage{textcomp}\n\
         \\usepackage[a4paper,landscape,margin=1.5cm]{geometry}\n\
         \\usepackage{booktabs}\n\
         \\usepackage{graphicx}\n\
         \\begin{document}\n",
    );
    let _ = writeln!(out, "\\section*{{{}}}\n", escape(title));
    for (i, table) in tables.iter().enumerate() {
        let columns = table.header.len();
        let _ = writeln!(out, "\\begin{{table}}[htbp]\n\\centering\\small");
        let _ = writeln!(
            out,
            "\\caption{{{} (as the study's table{} {}).}}\n\\label{{tab:{}-{}}}",
            escape(&table.title),
            if table.study.contains(['–', '-', ',']) {
                "s"
            } else {
                ""
            },
            escape(table.study),
            i + 1,
            table.slug().replace('_', "-"),
        );
        let wide = columns > SCALE_ABOVE_COLUMNS;
        if wide {
            out.push_str("\\resizebox{\\linewidth}{!}{%\n");
        }
        let _ = writeln!(
            out,
            "\\begin{{tabular}}{{{}}}\n\\toprule",
            "l".repeat(columns.min(2)) + &"r".repeat(columns.saturating_sub(2))
        );
        let row = |cells: &[String]| {
            cells
                .iter()
                .map(|c| escape(c))
                .collect::<Vec<_>>()
                .join(" & ")
        };
        let _ = writeln!(out, "{} \\\\\n\\midrule", row(&table.header));
        for cells in &table.rows {
            let _ = writeln!(out, "{} \\\\", row(cells));
        }
        out.push_str("\\bottomrule\n\\end{tabular}");
        if wide {
            out.push('}');
        }
        out.push_str("\n\\end{table}\n\n");
    }
    out.push_str("\\end{document}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            escape(r"a_b & 50% #1 $x$ {y} ^z ~w \v"),
            r"a\_b \& 50\% \#1 \$x\$ \{y\} \textasciicircum{}z \textasciitilde{}w \textbackslash{}v"
        );
        assert_eq!(
            escape("R² in µs – `lan`"),
            r"R\textsuperscript{2} in \textmu{}s -- \texttt{lan}"
        );
        assert_eq!(escape("`open"), r"\texttt{open}");
        assert_eq!(escape("ünïcode"), "?n?code");
    }

    #[test]
    fn document_uses_booktabs_and_names_the_study_table() {
        let table = Table {
            title: "Whole-network prediction, setting `wan`".into(),
            study: "9–10",
            header: vec!["Network".into(), "t_SNNI (s)".into()],
            rows: vec![vec!["resnet50".into(), "1.5".into()]],
        };
        let doc = document("report: smoke", &[table]);
        assert!(doc.starts_with("\\documentclass"));
        assert!(doc.contains("\\usepackage{booktabs}"));
        assert!(doc.contains("\\caption{Whole-network prediction, setting \\texttt{wan} (as the study's tables 9--10).}"), "{doc}");
        assert!(doc.contains("\\toprule\nNetwork & t\\_SNNI (s) \\\\\n\\midrule\nresnet50 & 1.5 \\\\\n\\bottomrule"), "{doc}");
        assert!(!doc.contains("\\resizebox"));
        assert!(doc.ends_with("\\end{document}\n"));
    }
}
