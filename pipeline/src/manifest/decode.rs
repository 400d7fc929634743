//! Phase 1: decode a manifest part by part into a [`RawManifest`], so one bad stage does
//! not hide the errors of the others; serde's errors become positioned diagnostics.

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::diagnostic::{closest, Code, Diagnostic};
use super::executor::RawExecutor;
use super::raw::{RawManifest, SETTING_KEYS, STAGE_KEYS, TOP_KEYS};
use super::source::{join, Problem, SourceFile, Span, MAX_DEPTH, MAX_NODES};

pub(super) fn decode(source: &SourceFile, diags: &mut Vec<Diagnostic>) -> Option<RawManifest> {
    if !text_problems(source, diags) {
        return None;
    }
    let value: Value = match serde_yaml::from_str(&source.text) {
        Ok(value) => value,
        Err(err) => {
            let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
            let span = Span {
                line,
                column,
                width: 1,
            };
            diags.push(
                Diagnostic::new(Code::Syntax, span, format!("invalid YAML: {}", strip_location(&err.to_string())))
                    .help("the parser stopped here; check brackets, quotes and indentation on this line and above"),
            );
            return None;
        }
    };
    let Value::Mapping(top) = value else {
        diags.push(
            Diagnostic::new(
                Code::InvalidValue,
                source.value_span(""),
                "a manifest must be a mapping",
            )
            .help("start with `name:`, `seed:`, `settings:` and `stages:`"),
        );
        return None;
    };
    let mut raw = RawManifest::default();
    for (key, value) in &top {
        let Some(key) = key.as_str() else {
            diags.push(Diagnostic::new(
                Code::InvalidValue,
                source.value_span(""),
                "keys must be strings",
            ));
            continue;
        };
        match key {
            "name" => raw.name = part(source, "name", value, diags),
            "description" => raw.description = part(source, "description", value, diags),
            "seed" => raw.seed = part(source, "seed", value, diags),
            "store" => raw.store = part(source, "store", value, diags),
            "settings" => {
                raw.settings = entries(source, "settings", value, SETTING_KEYS, diags);
                raw.setting_names = names(value);
            }
            "stages" => raw.stages = entries(source, "stages", value, STAGE_KEYS, diags),
            // Decoded field by field when the study is resolved (every bad field reported).
            "executor" => raw.executor = Some(RawExecutor(value.clone())),
            other => diags.push(unknown_key(source, "", other, TOP_KEYS)),
        }
    }
    for (key, what) in [
        ("name", "the study's name"),
        ("seed", "the study seed, e.g. `seed: 1`"),
        ("stages", "the stages to run"),
    ] {
        if top.get(key).is_none() {
            diags.push(
                Diagnostic::new(
                    Code::MissingKey,
                    source.value_span(""),
                    format!("missing key `{key}`"),
                )
                .help(format!("add `{key}:` with {what}")),
            );
        }
    }
    Some(raw)
}

/// Reports what the indexing pass found wrong with the text itself (see
/// [`SourceFile::problems`]); false if serde_yaml must not read it (it would report these
/// at 1:1, or take long). Syntax errors are left to serde_yaml, which words them well.
fn text_problems(source: &SourceFile, diags: &mut Vec<Diagnostic>) -> bool {
    let mut readable = true;
    for problem in source.problems() {
        match problem {
            Problem::DuplicateKey { span, key, first } => {
                readable = false;
                diags.push(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        *span,
                        format!("duplicate key `{key}`: it is already set on line {first}"),
                    )
                    .help("keep one of them; YAML does not merge repeated keys"),
                );
            }
            Problem::TooDeep { span } => {
                readable = false;
                diags.push(
                    Diagnostic::new(
                        Code::Syntax,
                        *span,
                        "nested too deeply",
                    )
                    .help(format!(
                        "a manifest nests a few levels (at most {MAX_DEPTH} are read); check for runaway brackets"
                    )),
                );
            }
            Problem::AliasBomb { span } => {
                readable = false;
                diags.push(
                    Diagnostic::new(
                        Code::Syntax,
                        *span,
                        format!("aliases expand the document to more than {MAX_NODES} values"),
                    )
                    .help("an alias repeats its anchor's value; do not nest aliases of aliases"),
                );
            }
            Problem::Syntax { .. } => {}
        }
    }
    readable
}

/// Decodes one top-level value, reporting its errors at the right place.
fn part<T: DeserializeOwned>(
    source: &SourceFile,
    path: &str,
    value: &Value,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value.clone()) {
        Ok(v) => Some(v),
        Err(err) => {
            diags.push(serde_diagnostic(source, path, err, &[]));
            None
        }
    }
}

/// Decodes a mapping of named entries (settings or stages), each on its own.
fn entries<T: DeserializeOwned>(
    source: &SourceFile,
    path: &str,
    value: &Value,
    keys: &[&str],
    diags: &mut Vec<Diagnostic>,
) -> Vec<(String, T)> {
    let Value::Mapping(map) = value else {
        if !value.is_null() {
            diags.push(Diagnostic::new(
                Code::InvalidValue,
                source.value_span(path),
                format!("`{path}` must be a mapping of names to entries"),
            ));
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, entry) in map {
        let Some(name) = name.as_str() else {
            diags.push(Diagnostic::new(
                Code::InvalidName,
                source.value_span(path),
                format!("names under `{path}` must be strings"),
            ));
            continue;
        };
        let entry_path = join(path, name);
        let entry = if entry.is_null() {
            Value::Mapping(Default::default())
        } else {
            entry.clone()
        };
        match serde_path_to_error::deserialize::<_, T>(entry) {
            Ok(v) => out.push((name.to_string(), v)),
            Err(err) => diags.push(serde_diagnostic(source, &entry_path, err, keys)),
        }
    }
    out
}

/// The string keys of a mapping.
fn names(value: &Value) -> Vec<String> {
    value.as_mapping().map_or_else(Vec::new, |map| {
        map.keys()
            .filter_map(|key| key.as_str().map(str::to_string))
            .collect()
    })
}

fn serde_diagnostic(
    source: &SourceFile,
    base: &str,
    err: serde_path_to_error::Error<serde_yaml::Error>,
    keys: &[&str],
) -> Diagnostic {
    let mut path = base.to_string();
    for segment in err.path().iter() {
        match segment {
            serde_path_to_error::Segment::Map { key } => path = join(&path, key),
            serde_path_to_error::Segment::Seq { index } => path = join(&path, &index.to_string()),
            _ => {}
        }
    }
    let message = strip_location(&err.into_inner().to_string());
    if let Some(field) = between(&message, "unknown field `", "`") {
        let parent = path
            .strip_suffix(&format!(".{field}"))
            .unwrap_or(&path)
            .to_string();
        // serde lists the keys valid where the unknown one sits (nested mappings included).
        let listed: Vec<&str> = message.split('`').skip(3).step_by(2).collect();
        let keys = if listed.is_empty() { keys } else { &listed[..] };
        return unknown_key(source, &parent, field, keys);
    }
    if let Some(field) = between(&message, "missing field `", "`") {
        return Diagnostic::new(
            Code::MissingKey,
            source.key_span(&path),
            format!("`{path}` is missing key `{field}`"),
        )
        .help(format!("add `{field}:`"));
    }
    Diagnostic::new(
        Code::InvalidValue,
        source.value_span(&path),
        format!("invalid value for `{path}`: {message}"),
    )
}

fn unknown_key(source: &SourceFile, parent: &str, key: &str, keys: &[&str]) -> Diagnostic {
    let where_ = if parent.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in `{parent}`")
    };
    let diag = Diagnostic::new(
        Code::UnknownKey,
        source.key_span(&join(parent, key)),
        format!("unknown key `{key}` {where_}"),
    );
    match closest(key, keys.iter().copied()) {
        Some(best) => diag.help(format!("did you mean `{best}`?")),
        None => diag.help(format!("valid keys: {}", keys.join(", "))),
    }
}

pub(super) fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}
