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

    /// Renders the diagnostic against its source file.
    pub fn render(&self, source: &SourceFile) -> String {
        let line_text = source.line(self.span.line);
        let number = self.span.line.to_string();
        let gutter = " ".repeat(number.len());
        let indent: String = line_text
            .chars()
            .take(self.span.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let available = line_text
            .chars()
            .count()
            .saturating_sub(self.span.column - 1)
            .max(1);
        let carets = "^".repeat(self.span.width.min(available));
        let mut out = format!(
            "error[{}]: {}\n{gutter}--> {}:{}:{}\n{gutter} |\n{number} | {line_text}\n{gutter} | {indent}{carets}\n",
            self.code.as_str(),
            self.message,
            source.path.display(),
            self.span.line,
            self.span.column,
        );
        if let Some(help) = &self.help {
            out.push_str(&format!("{gutter} = help: {help}\n"));
        }
        out
    }
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
    fn closest_finds_typos_only() {
        assert_eq!(closest("synht", ["synth", "train"]), Some("synth"));
        assert_eq!(closest("synht", ["synth", "refs"]), Some("synth"));
        assert_eq!(closest("zzzzzz", ["synth", "train"]), None);
    }
}
