//! A manifest's source text and an index from key paths to positions.
//!
//! serde_yaml gives values without positions, so the checker would only be able to say
//! *what* is wrong. This index, built from yaml-rust2's marked events, maps every key path
//! (`stages.train.needs.1`) to the line and column of its key and value, so every error
//! can point at its line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

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

/// A manifest file: its path, text and position index.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as the user gave it.
    pub path: PathBuf,
    /// The text.
    pub text: String,
    keys: HashMap<String, Span>,
    values: HashMap<String, Span>,
}

impl SourceFile {
    /// Indexes `text`. A YAML syntax error leaves the index empty; serde_yaml reports it.
    pub fn new(path: &Path, text: String) -> Self {
        let mut index = Indexer::default();
        let mut parser = Parser::new_from_str(&text);
        // Syntax errors are reported with serde_yaml's own position; ignore them here.
        let _ = parser.load(&mut index, false);
        Self {
            path: path.to_path_buf(),
            text,
            keys: index.keys,
            values: index.values,
        }
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
            return Span {
                line: 1,
                column: 1,
                width: 1,
            };
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
                None => {
                    return Span {
                        line: 1,
                        column: 1,
                        width: 1,
                    };
                }
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
    /// Inside a mapping: the path of the mapping and the pending key, if a key was read.
    Mapping { path: String, key: Option<String> },
    /// Inside a sequence: its path and the next index.
    Sequence { path: String, next: usize },
}

#[derive(Default)]
struct Indexer {
    stack: Vec<Frame>,
    keys: HashMap<String, Span>,
    values: HashMap<String, Span>,
}

impl Indexer {
    /// Where the next value goes, or `None` if the next scalar is a mapping key.
    fn value_path(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Mapping { path, key }) => key.take().map(|k| join(path, &k)),
            Some(Frame::Sequence { path, next }) => {
                let p = join(path, &next.to_string());
                *next += 1;
                Some(p)
            }
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

impl MarkedEventReceiver for Indexer {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, style, ..) => {
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
                        if let Some(Frame::Mapping { path, key }) = self.stack.last_mut() {
                            self.keys.insert(join(path, &value), span_at(&mark, width));
                            *key = Some(value);
                        }
                    }
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(event, Event::MappingStart(..));
                let path = match self.value_path() {
                    Some(path) => path,
                    // A complex (non-scalar) key: index it under a placeholder name.
                    None => "?".to_string(),
                };
                self.values.entry(path.clone()).or_insert(span_at(&mark, 1));
                self.stack.push(if is_map {
                    Frame::Mapping { path, key: None }
                } else {
                    Frame::Sequence { path, next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Alias(_) => {
                let _ = self.value_path();
            }
            _ => {}
        }
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
