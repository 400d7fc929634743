//! A manifest's source text, an index from key paths to positions, and the checks that
//! bound what reading it may cost.
//!
//! serde_yaml gives values without positions, so the checker would only be able to say
//! *what* is wrong. This index, built from yaml-rust2's marked events, maps every key path
//! (`stages.train.needs.1`) to the line and column of its key and value, so every error
//! can point at its line.
//!
//! The same pass finds what serde_yaml reports badly or slowly, each at its own position
//! ([`SourceFile::problems`]): a key given twice in one mapping, nesting deeper than
//! [`MAX_DEPTH`], and aliases that expand to more than [`MAX_NODES`] values (a "billion
//! laughs" bomb). It stops at the first of the last two, so a pathological file costs
//! milliseconds. [`SourceFile::read`] refuses a file larger than [`MAX_BYTES`] or one that
//! is not text before anything parses it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Largest manifest or network file read, in bytes (1 MiB; the paper's manifest is 3 KiB).
pub const MAX_BYTES: u64 = 1 << 20;
/// Deepest nesting of mappings and sequences accepted (a manifest needs 6).
pub const MAX_DEPTH: usize = 64;
/// Most values a document may expand to through aliases.
pub const MAX_NODES: u64 = 100_000;

/// A position in a source file (1-based line and column) with a width for the caret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Width of the highlighted text, at least 1.
    pub width: usize,
}

impl Span {
    /// The start of the file.
    pub const START: Span = Span {
        line: 1,
        column: 1,
        width: 1,
    };
}

/// What the indexing pass found wrong with the text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A key appears twice in one mapping; `first` is the line of the first one.
    DuplicateKey {
        /// The second occurrence.
        span: Span,
        /// The key.
        key: String,
        /// Line of the first occurrence.
        first: usize,
    },
    /// Mappings and sequences nest deeper than [`MAX_DEPTH`] (or than the YAML scanner's
    /// own limit for flow collections).
    TooDeep {
        /// Where the limit was crossed.
        span: Span,
    },
    /// Aliases expand the document beyond [`MAX_NODES`] values.
    AliasBomb {
        /// The alias that crossed the limit.
        span: Span,
    },
    /// The text is not valid YAML (yaml-rust2's scanner stopped).
    Syntax {
        /// Where it stopped.
        span: Span,
        /// What it said.
        message: String,
    },
}

/// Why a file could not be read as text.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be read.
    Io(std::io::Error),
    /// It is larger than [`MAX_BYTES`].
    TooLarge,
    /// It is not text: a byte that is not UTF-8, or a control character, at `span`.
    NotText {
        /// Where the first such byte is.
        span: Span,
        /// What it is, e.g. `byte 0xff` or `a NUL character`.
        what: String,
        /// The readable part of the file, for showing the line.
        text: String,
    },
}

/// Reads at most [`MAX_BYTES`] of `path` and checks that it is text (UTF-8 without control
/// characters other than tab, newline and carriage return). Never reads more than that, so
/// `/dev/urandom` or a huge file fails at once.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(ReadError::TooLarge);
    }
    let (text, bad) = match String::from_utf8(bytes) {
        Ok(text) => {
            let control = text
                .char_indices()
                .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
            match control {
                None => return Ok(text),
                Some((at, c)) => {
                    let what = if c == '\0' {
                        "a NUL character".to_string()
                    } else {
                        format!("the control character U+{:04X}", c as u32)
                    };
                    (text, (at, what))
                }
            }
        }
        Err(error) => {
            let at = error.utf8_error().valid_up_to();
            let byte = error.as_bytes()[at];
            let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
            (text, (at, format!("byte 0x{byte:02x}, which is not UTF-8")))
        }
    };
    let (at, what) = bad;
    Err(ReadError::NotText {
        span: span_of_byte(&text, at),
        what,
        text,
    })
}

/// The position of byte `at` of the raw file in `text` (its lossy decoding): lines are
/// counted on the bytes before it.
fn span_of_byte(text: &str, at: usize) -> Span {
    let before = text.get(..at.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Span {
        line,
        column,
        width: 1,
    }
}

/// A manifest file: its path, text and position index.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as the user gave it.
    pub path: PathBuf,
    /// The text.
    pub text: String,
    keys: HashMap<String, Span>,
    values: HashMap<String, Span>,
    problems: Vec<Problem>,
}

impl SourceFile {
    /// Indexes `text` and checks it (see [`SourceFile::problems`]). A YAML syntax error
    /// leaves the index partial; serde_yaml reports it.
    pub fn new(path: &Path, text: String) -> Self {
        let mut index = Indexer::default();
        let mut parser = Parser::new_from_str(&text);
        loop {
            match parser.next_token() {
                Ok((Event::StreamEnd, _)) => break,
                Ok((event, mark)) => {
                    if !index.on_event(event, mark) {
                        break;
                    }
                }
                Err(error) => {
                    let span = span_at(error.marker(), 1);
                    // The scanner's own nesting limit (flow collections look ahead).
                    index
                        .problems
                        .push(if error.info().contains("recursion limit") {
                            Problem::TooDeep { span }
                        } else {
                            Problem::Syntax {
                                span,
                                message: error.info().to_string(),
                            }
                        });
                    break;
                }
            }
        }
        Self {
            path: path.to_path_buf(),
            text,
            keys: index.keys,
            values: index.values,
            problems: index.problems,
        }
    }

    /// A source whose text is shown but not indexed (it is not text, or too large).
    pub(crate) fn unindexed(path: &Path, text: String) -> Self {
        Self {
            path: path.to_path_buf(),
            text,
            keys: HashMap::new(),
            values: HashMap::new(),
            problems: Vec::new(),
        }
    }

    /// Duplicate keys, too deep nesting, alias bombs and syntax errors found while indexing,
    /// in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The text of 1-based `line`, without its newline.
    pub fn line(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }

    /// Span of the key at `path` (e.g. `stages.synth.kind`), falling back to the nearest
    /// ancestor that exists.
    pub fn key_span(&self, path: &str) -> Span {
        self.lookup(&self.keys, path)
    }

    /// Span of the value at `path`, falling back to the key, then to ancestors.
    pub fn value_span(&self, path: &str) -> Span {
        if path.is_empty() {
            // The document itself: point at its start.
            return Span::START;
        }
        if let Some(span) = self.values.get(path) {
            return *span;
        }
        self.lookup(&self.keys, path)
    }

    fn lookup(&self, map: &HashMap<String, Span>, path: &str) -> Span {
        let mut current = path;
        loop {
            if let Some(span) = map.get(current).or_else(|| self.values.get(current)) {
                return *span;
            }
            match current.rfind('.') {
                Some(dot) => current = &current[..dot],
                None => return Span::START,
            }
        }
    }
}

/// Joins a parent path and a child segment.
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

enum Frame {
    /// Inside a mapping: its path, the pending key if one was read, and the keys seen with
    /// their lines.
    Mapping {
        path: String,
        key: Option<String>,
        seen: HashMap<String, usize>,
    },
    /// Inside a sequence: its path and the next index.
    Sequence { path: String, next: usize },
}

#[derive(Default)]
struct Indexer {
    stack: Vec<Frame>,
    keys: HashMap<String, Span>,
    values: HashMap<String, Span>,
    problems: Vec<Problem>,
    /// Values each open collection expands to so far (aliases counted in full).
    sizes: Vec<u64>,
    /// Values each anchor expands to, by anchor id.
    anchors: HashMap<usize, u64>,
    /// Anchor id of each open collection.
    open_anchors: Vec<usize>,
}

impl Indexer {
    /// Where the next value goes, or `None` if the next scalar is a mapping key.
    fn value_path(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Mapping { path, key, .. }) => key.take().map(|k| join(path, &k)),
            Some(Frame::Sequence { path, next }) => {
                let p = join(path, &next.to_string());
                *next += 1;
                Some(p)
            }
        }
    }

    /// Adds `values` to the collection being read; false (and a problem at `mark`) if the
    /// document now expands beyond [`MAX_NODES`].
    fn count(&mut self, values: u64, mark: &Marker) -> bool {
        let total: u64 = self
            .sizes
            .iter()
            .fold(values, |sum, size| sum.saturating_add(*size));
        if let Some(size) = self.sizes.last_mut() {
            *size = size.saturating_add(values);
        }
        if total > MAX_NODES {
            self.problems.push(Problem::AliasBomb {
                span: span_at(mark, 1),
            });
            return false;
        }
        true
    }

    /// Handles one event; false to stop reading (a limit was crossed).
    fn on_event(&mut self, event: Event, mark: Marker) -> bool {
        match event {
            Event::Scalar(value, style, anchor, _) => {
                let quoted = matches!(
                    style,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
                );
                let width = value.chars().count() + if quoted { 2 } else { 0 };
                match self.value_path() {
                    Some(path) => {
                        self.values.insert(path, span_at(&mark, width));
                    }
                    None => {
                        if let Some(Frame::Mapping { path, key, seen }) = self.stack.last_mut() {
                            let span = span_at(&mark, width);
                            if let Some(&first) = seen.get(&value) {
                                self.problems.push(Problem::DuplicateKey {
                                    span,
                                    key: value.clone(),
                                    first,
                                });
                            } else {
                                seen.insert(value.clone(), span.line);
                                self.keys.insert(join(path, &value), span);
                            }
                            *key = Some(value);
                        }
                    }
                }
                if anchor > 0 {
                    self.anchors.insert(anchor, 1);
                }
                self.count(1, &mark)
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.problems.push(Problem::TooDeep {
                        span: span_at(&mark, 1),
                    });
                    return false;
                }
                let is_map = matches!(event, Event::MappingStart(..));
                let path = match self.value_path() {
                    Some(path) => path,
                    // A complex (non-scalar) key: index it under a placeholder name.
                    None => "?".to_string(),
                };
                self.values.entry(path.clone()).or_insert(span_at(&mark, 1));
                self.stack.push(if is_map {
                    Frame::Mapping {
                        path,
                        key: None,
                        seen: HashMap::new(),
                    }
                } else {
                    Frame::Sequence { path, next: 0 }
                });
                self.sizes.push(1);
                self.open_anchors.push(anchor);
                true
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                let size = self.sizes.pop().unwrap_or(1);
                if let Some(anchor) = self.open_anchors.pop().filter(|&a| a > 0) {
                    self.anchors.insert(anchor, size);
                }
                if let Some(parent) = self.sizes.last_mut() {
                    *parent = parent.saturating_add(size);
                }
                true
            }
            Event::Alias(anchor) => {
                let _ = self.value_path();
                let size = self.anchors.get(&anchor).copied().unwrap_or(1);
                self.count(size, &mark)
            }
            _ => true,
        }
    }
}

fn span_at(mark: &Marker, width: usize) -> Span {
    Span {
        line: mark.line(),
        column: mark.col() + 1,
        width: width.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_values_and_sequences() {
        let text = "name: demo\nstages:\n  synth:\n    kind: synthesize\n    needs: [a, \"b\"]\n"
            .to_string();
        let source = SourceFile::new(Path::new("m.yaml"), text);
        assert_eq!(
            source.key_span("name"),
            Span {
                line: 1,
                column: 1,
                width: 4
            }
        );
        assert_eq!(
            source.value_span("name"),
            Span {
                line: 1,
                column: 7,
                width: 4
            }
        );
        assert_eq!(source.value_span("stages.synth.kind").line, 4);
        assert_eq!(source.value_span("stages.synth.kind").column, 11);
        assert_eq!(
            source.value_span("stages.synth.needs.1"),
            Span {
                line: 5,
                column: 16,
                width: 3
            }
        );
        // Unknown paths fall back to the nearest ancestor.
        assert_eq!(source.key_span("stages.synth.params.count").line, 3);
    }
}
