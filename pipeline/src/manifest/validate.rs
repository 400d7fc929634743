//! Phases 1 and 2: decode a manifest part by part ([`RawManifest`]), then resolve and
//! validate it into a [`Study`], collecting every diagnostic on the way.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::diagnostic::{closest, Code, Diagnostic, ManifestErrors};
use super::raw::{RawManifest, RawSetting, RawStage, SETTING_KEYS, STAGE_KEYS, TOP_KEYS};
use super::source::{join, SourceFile};
use super::study::{Setting, StageDecl, Study};
use super::units::{parse_bandwidth, parse_duration_us};

/// The default store folder, relative to the manifest's folder.
pub const DEFAULT_STORE: &str = ".snni-store";

/// Checks a manifest's source and builds the study, or returns every error found.
///
/// `store_override` replaces the manifest's `store` (as `--store` does).
pub fn check(
    source: SourceFile,
    store_override: Option<&Path>,
) -> Result<Study, Box<ManifestErrors>> {
    let mut diags = Vec::new();
    let raw = decode(&source, &mut diags);
    let study = raw.and_then(|raw| resolve(&source, raw, store_override, &mut diags));
    diags.sort_by_key(|d| (d.span.line, d.span.column, d.code));
    match study {
        Some(study) if diags.is_empty() => Ok(study),
        _ => Err(Box::new(ManifestErrors {
            source,
            diagnostics: diags,
        })),
    }
}

fn decode(source: &SourceFile, diags: &mut Vec<Diagnostic>) -> Option<RawManifest> {
    let value: Value = match serde_yaml::from_str(&source.text) {
        Ok(value) => value,
        Err(err) => {
            let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
            let span = super::source::Span {
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
            "settings" => raw.settings = entries(source, "settings", value, SETTING_KEYS, diags),
            "stages" => raw.stages = entries(source, "stages", value, STAGE_KEYS, diags),
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

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn resolve(
    source: &SourceFile,
    raw: RawManifest,
    store_override: Option<&Path>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Study> {
    let settings = resolve_settings(source, &raw.settings, diags);
    let stage_names: Vec<&str> = raw.stages.iter().map(|(n, _)| n.as_str()).collect();
    let seed = raw.seed.unwrap_or(0);
    let mut decls = Vec::new();
    for (name, stage) in &raw.stages {
        let path = join("stages", name);
        if !valid_name(name) {
            diags.push(
                Diagnostic::new(
                    Code::InvalidName,
                    source.key_span(&path),
                    format!("invalid stage name `{name}`"),
                )
                .help("use lowercase letters, digits, `_` and `-`, starting with a letter"),
            );
        }
        for (i, need) in stage.needs.iter().enumerate() {
            let span = source.value_span(&join(&join(&path, "needs"), &i.to_string()));
            if need == name {
                diags.push(
                    Diagnostic::new(Code::Cycle, span, format!("stage `{name}` needs itself"))
                        .help("remove it from its own `needs`"),
                );
            } else if !stage_names.contains(&need.as_str()) {
                let diag = Diagnostic::new(
                    Code::UnknownNeed,
                    span,
                    format!("stage `{name}` needs `{need}`, which is not a stage of this manifest"),
                );
                diags.push(match closest(need, stage_names.iter().copied()) {
                    Some(best) => diag.help(format!("did you mean `{best}`?")),
                    None => diag.help(format!("stages are: {}", stage_names.join(", "))),
                });
            } else if stage.needs[..i].contains(need) {
                diags.push(Diagnostic::new(
                    Code::InvalidValue,
                    span,
                    format!("stage `{name}` lists `{need}` twice in `needs`"),
                ));
            }
        }
        let Some(kind) = snni_stages::kind_by_name(&stage.kind) else {
            let kinds = snni_stages::kind_names();
            let diag = Diagnostic::new(
                Code::UnknownKind,
                source.value_span(&join(&path, "kind")),
                format!("unknown stage kind `{}`", stage.kind),
            );
            diags.push(match closest(&stage.kind, kinds.iter().copied()) {
                Some(best) => diag.help(format!(
                    "did you mean `{best}`? valid kinds: {}",
                    kinds.join(", ")
                )),
                None => diag.help(format!("valid kinds: {}", kinds.join(", "))),
            });
            continue;
        };
        let params = match serde_json::to_value(&stage.params) {
            Ok(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
            Ok(value) => value,
            Err(err) => {
                diags.push(Diagnostic::new(
                    Code::InvalidParam,
                    source.value_span(&join(&path, "params")),
                    format!("params of stage `{name}` cannot be read: {err}"),
                ));
                continue;
            }
        };
        if !params.is_object() {
            diags.push(Diagnostic::new(
                Code::InvalidParam,
                source.value_span(&join(&path, "params")),
                format!("params of stage `{name}` must be a mapping"),
            ));
            continue;
        }
        match kind.check_params(&params) {
            Ok(params) => decls.push(StageDecl {
                name: name.clone(),
                kind,
                needs: stage.needs.clone(),
                params,
                seed: stage.seed.unwrap_or(seed),
                description: stage.description.clone(),
            }),
            Err(issues) => {
                for issue in issues {
                    diags.push(param_diagnostic(source, &path, name, kind.name(), issue));
                }
            }
        }
    }
    let order = topological_order(source, &raw.stages, diags);
    let name = raw.name?;
    if !diags.is_empty() {
        return None;
    }
    let manifest_dir = source.path.parent().unwrap_or(Path::new("."));
    let store = match store_override {
        Some(dir) => dir.to_path_buf(),
        None => manifest_dir.join(raw.store.as_deref().unwrap_or(DEFAULT_STORE)),
    };
    let mut by_name: HashMap<String, StageDecl> =
        decls.into_iter().map(|d| (d.name.clone(), d)).collect();
    let stages = order?
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect();
    Some(Study {
        name,
        description: raw.description,
        seed,
        store,
        manifest: source.path.clone(),
        settings,
        stages,
    })
}

/// A parameter issue as a diagnostic. serde's "unknown field" messages become a short
/// message at the key with the closest valid key as the hint.
fn param_diagnostic(
    source: &SourceFile,
    stage_path: &str,
    stage: &str,
    kind: &str,
    issue: snni_stages::ParamIssue,
) -> Diagnostic {
    let key = issue.path.join(".");
    let params = join(stage_path, "params");
    if let Some(field) = between(&issue.message, "unknown field `", "`") {
        let parent = key
            .strip_suffix(field)
            .unwrap_or(&key)
            .trim_end_matches('.');
        let valid: Vec<&str> = issue.message.split('`').skip(3).step_by(2).collect();
        let where_ = if parent.is_empty() {
            "params".to_string()
        } else {
            format!("params.{parent}")
        };
        let parent_path = if parent.is_empty() {
            params.clone()
        } else {
            join(&params, parent)
        };
        let diag = Diagnostic::new(
            Code::InvalidParam,
            source.key_span(&join(&parent_path, field)),
            format!("stage `{stage}` ({kind}): unknown key `{field}` in `{where_}`"),
        );
        return match closest(field, valid.iter().copied()) {
            Some(best) => diag.help(format!("did you mean `{best}`?")),
            None if valid.is_empty() => diag,
            None => diag.help(format!("valid keys: {}", valid.join(", "))),
        };
    }
    let shown = if key.is_empty() {
        "params".to_string()
    } else {
        format!("params.{key}")
    };
    let diag = Diagnostic::new(
        Code::InvalidParam,
        source.value_span(&join(&params, &key)),
        format!("stage `{stage}` ({kind}): `{shown}` {}", issue.message),
    );
    match issue.hint {
        Some(hint) => diag.help(hint),
        None => diag,
    }
}

fn resolve_settings(
    source: &SourceFile,
    raw: &[(String, RawSetting)],
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Setting> {
    let mut settings = BTreeMap::new();
    for (name, setting) in raw {
        let path = join("settings", name);
        if !valid_name(name) {
            diags.push(
                Diagnostic::new(
                    Code::InvalidName,
                    source.key_span(&path),
                    format!("invalid setting name `{name}`"),
                )
                .help("use lowercase letters, digits, `_` and `-`, starting with a letter"),
            );
        }
        let mut bad = |key: &str, message: String, help: &str| {
            diags.push(
                Diagnostic::new(
                    Code::InvalidSetting,
                    source.value_span(&join(&path, key)),
                    format!("setting `{name}`: {message}"),
                )
                .help(help.to_string()),
            );
        };
        let bandwidth_bps = setting.bandwidth.as_deref().and_then(|text| {
            parse_bandwidth(text)
                .map_err(|m| bad("bandwidth", m, "write a rate such as `7gbit` or `380mbit`"))
                .ok()
        });
        let rtt_us = setting.rtt.as_deref().and_then(|text| {
            parse_duration_us(text)
                .map_err(|m| {
                    bad(
                        "rtt",
                        m,
                        "write a round-trip time such as `0.5ms` or `10ms`",
                    )
                })
                .ok()
        });
        let loss_percent = setting.loss.filter(|loss| {
            let ok = (0.0..100.0).contains(loss);
            if !ok {
                bad(
                    "loss",
                    format!("loss {loss} is outside 0..100 (percent)"),
                    "write the loss in percent, e.g. `loss: 0.1`",
                );
            }
            ok
        });
        if name == "local" && (setting.bandwidth.is_some() || setting.rtt.is_some()) {
            bad(
                "bandwidth",
                "`local` is the unshaped loopback setting".into(),
                "give the shaped setting another name, e.g. `lan`",
            );
        }
        settings.insert(
            name.clone(),
            Setting {
                bandwidth_bps,
                rtt_us,
                loss_percent,
            },
        );
    }
    settings
}

/// Orders stages so that each comes after the stages it needs (file order breaks ties),
/// reporting a cycle as `a -> b -> a`.
fn topological_order(
    source: &SourceFile,
    stages: &[(String, RawStage)],
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<String>> {
    let index: HashMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let needs: Vec<Vec<usize>> = stages
        .iter()
        .map(|(name, s)| {
            s.needs
                .iter()
                .filter(|n| *n != name)
                .filter_map(|n| index.get(n.as_str()).copied())
                .collect()
        })
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; stages.len()];
    let mut order = Vec::new();
    let mut cycle_found = false;
    fn visit(
        i: usize,
        needs: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[i] = 1;
        path.push(i);
        for &j in &needs[i] {
            if state[j] == 1 {
                let start = path.iter().position(|&p| p == j).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            if state[j] == 0 {
                if let Some(cycle) = visit(j, needs, state, path, order) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        state[i] = 2;
        order.push(i);
        None
    }
    for i in 0..stages.len() {
        if state[i] == 0 {
            let mut path = Vec::new();
            if let Some(cycle) = visit(i, &needs, &mut state, &mut path, &mut order) {
                cycle_found = true;
                let names: Vec<&str> = cycle.iter().map(|&k| stages[k].0.as_str()).collect();
                let first = names[0];
                diags.push(
                    Diagnostic::new(
                        Code::Cycle,
                        source.key_span(&join(&join("stages", first), "needs")),
                        format!("dependency cycle: {}", names.join(" -> ")),
                    )
                    .help("remove one of these `needs` so the stages form a DAG"),
                );
                for &k in &cycle {
                    state[k] = 2;
                }
            }
        }
    }
    (!cycle_found).then(|| order.into_iter().map(|i| stages[i].0.clone()).collect())
}
