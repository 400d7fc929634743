//! Manifest diagnostics: a stable code, a message, the position and a hint, rendered the
//! way rustc and just render theirs.

use std::fmt;

use super::source::{SourceFile, Span};

/// Stable codes of manifest errors; documented in README.md. Never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    /// The file is not valid YAML.
    Syntax,
    /// A key the manifest format does not know.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value has the wrong type or form.
    InvalidValue,
    /// `kind:` names no stage kind.
    UnknownKind,
    /// `needs:` names no stage of the manifest.
    UnknownNeed,
    /// The stages' `needs` form a cycle.
    Cycle,
    /// A stage parameter is invalid.
    InvalidParam,
    /// A network setting is invalid.
    InvalidSetting,
    /// A stage or setting name has characters outside `[a-z0-9_-]`.
    InvalidName,
    /// The `executor:` block is invalid.
    InvalidExecutor,
    /// A key appears twice in one mapping.
    DuplicateKey,
}

impl Code {
    /// The code as printed, e.g. `E005`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "E001",
            Code::UnknownKey => "E002",
            Code::MissingKey => "E003",
            Code::InvalidValue => "E004",
            Code::UnknownKind => "E005",
            Code::UnknownNeed => "E006",
            Code::Cycle => "E007",
            Code::InvalidParam => "E008",
            Code::InvalidSetting => "E009",
            Code::InvalidName => "E010",
            Code::InvalidExecutor => "E011",
            Code::DuplicateKey => "E012",
        }
    }
}

/// One problem found in a manifest.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Stable code.
    pub code: Code,
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without help.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            span,
            help: None,
        }
    }

    /// Adds a help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Renders the diagnostic against its source file. A long line is shown as a window
    /// of [`SNIPPET_WIDTH`] characters around the caret, a long message is cut to
    /// [`MESSAGE_WIDTH`], and control characters are shown as `�`.
    pub fn render(&self, source: &SourceFile) -> String {
        let number = self.span.line.to_string();
        let gutter = " ".repeat(number.len());
        let (shown, indent, carets) = snippet(source.line(self.span.line), self.span);
        let mut out = format!(
            "error[{}]: {}\n{gutter}--> {}:{}:{}\n{gutter} |\n{number} | {shown}\n{gutter} | {indent}{carets}\n",
            self.code.as_str(),
            cut(&self.message, MESSAGE_WIDTH),
            source.path.display(),
            self.span.line,
            self.span.column,
        );
        if let Some(help) = &self.help {
            out.push_str(&format!("{gutter} = help: {}\n", cut(help, MESSAGE_WIDTH)));
        }
        out
    }
}

/// Widest source line shown, in characters.
pub const SNIPPET_WIDTH: usize = 100;
/// Longest message or help shown, in characters.
pub const MESSAGE_WIDTH: usize = 300;

/// The part of `line` to show, the indent to the caret and the carets for `span`.
fn snippet(line: &str, span: Span) -> (String, String, String) {
    let chars: Vec<char> = line
        .chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    let column = (span.column - 1).min(chars.len());
    let start = if chars.len() <= SNIPPET_WIDTH {
        0
    } else {
        column
            .saturating_sub(SNIPPET_WIDTH / 2)
            .min(chars.len() - SNIPPET_WIDTH)
    };
    let end = chars.len().min(start + SNIPPET_WIDTH);
    let before = if start > 0 { "…" } else { "" };
    let after = if end < chars.len() { "…" } else { "" };
    let shown: String = chars[start..end].iter().collect();
    let indent: String = before
        .chars()
        .map(|_| ' ')
        .chain(
            chars[start..column]
                .iter()
                .map(|&c| if c == '\t' { '\t' } else { ' ' }),
        )
        .collect();
    let carets = "^".repeat(span.width.min(end.saturating_sub(column)).max(1));
    (format!("{before}{shown}{after}"), indent, carets)
}

/// `text` cut to `width` characters, with `…` if it was longer.
pub fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

/// Every diagnostic of one manifest, with its source, so it can print itself.
#[derive(Debug, Clone)]
pub struct ManifestErrors {
    /// The file the diagnostics point into.
    pub source: SourceFile,
    /// The diagnostics, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.diagnostics {
            writeln!(f, "{}", diagnostic.render(&self.source))?;
        }
        let n = self.diagnostics.len();
        write!(
            f,
            "error: {} has {n} error{}",
            self.source.path.display(),
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for ManifestErrors {}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely
/// typo (at most a third of the word's length).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= (word.chars().count() / 3).max(1))
        .min()
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: edits, where swapping two neighbours counts as one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_shown_as_a_window_around_the_caret() {
        let line = format!("seed: [{}]", "[".repeat(1000));
        let span = Span {
            line: 1,
            column: 500,
            width: 3,
        };
        let (shown, indent, carets) = snippet(&line, span);
        assert_eq!(shown.chars().count(), SNIPPET_WIDTH + 2);
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert_eq!(indent.len(), 1 + SNIPPET_WIDTH / 2);
        assert_eq!(carets, "^^^");
        let (shown, indent, _) = snippet("a\u{0}b", Span::START);
        assert_eq!((shown.as_str(), indent.as_str()), ("a\u{fffd}b", ""));
        assert_eq!(cut("abcdef", 4), "abc…");
    }

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("synht", ["synth", "train"]), Some("synth"));
        assert_eq!(closest("synht", ["synth", "refs"]), Some("synth"));
        assert_eq!(closest("zzzzzz", ["synth", "train"]), None);
    }
}
