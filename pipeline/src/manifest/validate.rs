//! Phase 2: resolve and validate a decoded manifest into a [`Study`] — stage kinds, needs,
//! parameters, settings and the dependency order — collecting every diagnostic on the way.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::dag::topological_order;
use super::decode::{between, decode};
use super::diagnostic::{closest, Code, Diagnostic, ManifestErrors};
use super::executor::resolve_executor;
use super::network_file::ManifestNetworkFiles;
use super::raw::{RawManifest, RawSetting};
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
    let settings = resolve_settings(source, &raw.settings, &raw.setting_names, diags);
    let stage_names: Vec<&str> = raw.stages.iter().map(|(n, _)| n.as_str()).collect();
    let seed = raw.seed.unwrap_or(0);
    let manifest_dir = source.path.parent().unwrap_or(Path::new("."));
    let files = ManifestNetworkFiles::new(manifest_dir);
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
        match kind.check_params(
            &params,
            &snni_stages::CheckContext {
                settings: &settings,
                files: Some(&files),
            },
        ) {
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
    let executor = resolve_executor(source, raw.executor.as_ref(), diags);
    let name = raw.name?;
    if !diags.is_empty() {
        return None;
    }
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
        executor,
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
    declared: &[String],
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Setting> {
    let mut settings = Setting::builtins();
    // Declared, even if their definition is invalid (reported on its own).
    for name in declared {
        settings.entry(name.clone()).or_default();
    }
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
        let bandwidth_bps = setting.bandwidth.as_ref().and_then(|value| {
            with_unit(value, parse_bandwidth)
                .map_err(|m| bad("bandwidth", m, "write a rate such as `7gbit` or `380mbit`"))
                .ok()
        });
        let rtt_us = setting.rtt.as_ref().and_then(|value| {
            with_unit(value, parse_duration_us)
                .map_err(|m| {
                    bad(
                        "rtt",
                        m,
                        "write a round-trip time such as `0.5ms` or `10ms`",
                    )
                })
                .ok()
        });
        let loss_percent = setting.loss.as_ref().and_then(|value| {
            percent(value)
                .map_err(|m| bad("loss", m, "write the loss in percent, e.g. `loss: 0.1`"))
                .ok()
        });
        if name == "local" && (setting.bandwidth.is_some() || setting.rtt.is_some()) {
            bad(
                "bandwidth",
                "`local` is the unshaped loopback setting".into(),
                "give the shaped setting another name, e.g. `lan`",
            );
        }
        // Fields a manifest leaves out keep the built-in values (`lan: {rtt: 1ms}` keeps
        // the study's LAN bandwidth); a new name starts unshaped.
        let entry = settings.entry(name.clone()).or_default();
        if name != "local" {
            entry.bandwidth_bps = bandwidth_bps.or(entry.bandwidth_bps);
            entry.rtt_us = rtt_us.or(entry.rtt_us);
        }
        entry.loss_percent = loss_percent.or(entry.loss_percent);
    }
    settings
}

/// A quantity with a unit (`7gbit`, `10ms`), parsed by `parse`; a bare number is refused
/// with a message that names the missing unit.
fn with_unit<T>(
    value: &serde_yaml::Value,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, String> {
    match value {
        serde_yaml::Value::String(text) => parse(text),
        serde_yaml::Value::Number(number) => Err(format!("`{number}` has no unit")),
        other => Err(format!(
            "expected a number with a unit, got {}",
            kind_of(other)
        )),
    }
}

/// A loss in percent: a finite number in 0..100.
fn percent(value: &serde_yaml::Value) -> Result<f64, String> {
    let Some(loss) = value.as_f64() else {
        return Err(format!(
            "loss must be a number (percent), got {}",
            kind_of(value)
        ));
    };
    if !loss.is_finite() {
        Err(format!("loss {loss} is not a finite number"))
    } else if !(0.0..100.0).contains(&loss) {
        Err(format!("loss {loss} is outside 0..100 (percent)"))
    } else {
        Ok(loss)
    }
}

/// What kind of YAML value `value` is, for messages.
fn kind_of(value: &serde_yaml::Value) -> &'static str {
    match value {
        serde_yaml::Value::Null => "nothing",
        serde_yaml::Value::Bool(_) => "a boolean",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "text",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a mapping",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}
