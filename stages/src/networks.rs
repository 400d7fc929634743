//! The `networks` stage kind: hand-written network files (YAML, JSON or ONNX) in a study,
//! one shard per network, so that a lab's own architectures are profiled, held out
//! (`split.held_out`) and evaluated like the reference networks.
//!
//! The files are read when the manifest is checked, through the pipeline's network loader
//! ([`NetworkFiles`]: the same positioned errors as `snni network FILE`), and each network
//! enters the canonical parameters whole. So an edited file changes the fingerprint, a
//! cluster node needs no copy of the files, and a network that does not validate is a
//! manifest error pointing at its entry under `files`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use snni_engine::network::{Network, Shape};

use crate::kind::{CheckContext, Kind, PlanContext, ShardContext, ShardOutputs};
use crate::{decode_params_all, ParamIssue, StageError};

/// The file name endings a folder's network files have; other files in a folder are
/// ignored.
pub const NETWORK_EXTENSIONS: &[&str] = &["yaml", "yml", "json", "onnx"];

/// Reads network files for [`NetworksKind`] (the pipeline implements it with the loader
/// `snni network FILE` uses).
pub trait NetworkFiles {
    /// The folder relative paths are resolved against (the manifest's).
    fn base(&self) -> &Path;

    /// Reads and validates the network file at `path`; `input` is the input shape for an
    /// ONNX model whose input has free dimensions. The error names the file and, where it
    /// can, the line and column.
    fn load(&self, path: &Path, input: Option<Shape>) -> Result<Network, String>;
}

/// Hand-written networks, one shard per file.
pub struct NetworksKind;

/// The `networks` parameters as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParams {
    files: Vec<String>,
    #[serde(default)]
    input: Option<Shape>,
}

/// The canonical parameters: the files as written and the networks they hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworksParams {
    /// Files and folders as the manifest names them.
    pub files: Vec<String>,
    /// The input shape given for ONNX models, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Shape>,
    /// Every network by id (its file's name without the extension), in id order.
    pub networks: BTreeMap<String, Network>,
}

impl Kind for NetworksKind {
    type Params = NetworksParams;
    const NAME: &'static str = "networks";
    const VERSION: u32 = 1;
    const SUMMARY: &'static str =
        "hand-written network files (YAML, JSON, ONNX) or folders of them (one shard per network)";

    fn guess_seconds(&self, _params: &NetworksParams, _shard: &str) -> f64 {
        // Storing a network description takes milliseconds.
        0.5
    }

    fn check(
        &self,
        params: &Value,
        ctx: &CheckContext<'_>,
    ) -> Result<NetworksParams, Vec<ParamIssue>> {
        let raw: RawParams = decode_params_all(params)?;
        let Some(files) = ctx.files else {
            return Err(vec![ParamIssue::new(
                &["files"],
                "network files cannot be read here (no manifest folder)",
            )]);
        };
        let mut issues = Vec::new();
        if raw.files.is_empty() {
            issues.push(
                ParamIssue::new(&["files"], "must name at least one file or folder")
                    .with_hint("e.g. `files: [networks/]` or `files: [mine.yaml]`"),
            );
        }
        let mut networks = BTreeMap::new();
        // Which entry of `files` each id came from, to name both on a clash.
        let mut origin: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (i, entry) in raw.files.iter().enumerate() {
            let index = i.to_string();
            let here = |message: String| ParamIssue::new(&["files", &index], message);
            let path = files.base().join(entry);
            let paths = match network_paths(&path) {
                Ok(paths) if paths.is_empty() => {
                    issues.push(here(format!(
                        "the folder `{}` holds no network file (.{})",
                        path.display(),
                        NETWORK_EXTENSIONS.join(", .")
                    )));
                    continue;
                }
                Ok(paths) => paths,
                Err(message) => {
                    issues.push(here(message).with_hint(
                        "paths are relative to the manifest's folder; name a network file or a folder of them",
                    ));
                    continue;
                }
            };
            for path in paths {
                let id = match network_id(&path) {
                    Ok(id) => id,
                    Err(message) => {
                        issues.push(here(message));
                        continue;
                    }
                };
                if let Some(first) = origin.get(&id) {
                    issues.push(
                        here(format!(
                            "`{}` and `{}` both give the network id `{id}`",
                            first.display(),
                            path.display()
                        ))
                        .with_hint("rename one of the files: a network's id is its file name"),
                    );
                    continue;
                }
                match files.load(&path, raw.input) {
                    Ok(network) => {
                        origin.insert(id.clone(), path);
                        networks.insert(id, network);
                    }
                    Err(message) => issues.push(here(message)),
                }
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(NetworksParams {
            files: raw.files,
            input: raw.input,
            networks,
        })
    }

    fn plan(
        &self,
        params: &NetworksParams,
        _ctx: &PlanContext<'_>,
    ) -> Result<Vec<String>, StageError> {
        Ok(params.networks.keys().cloned().collect())
    }

    fn run(
        &self,
        params: &NetworksParams,
        ctx: &ShardContext<'_>,
    ) -> Result<ShardOutputs, StageError> {
        let network = params
            .networks
            .get(ctx.shard)
            .ok_or_else(|| StageError::UnknownShard {
                kind: "networks",
                shard: ctx.shard.to_string(),
            })?;
        ShardOutputs::network(network)
    }
}

/// The network files `path` names: itself, or a folder's files with a network extension,
/// sorted (not recursive).
fn network_paths(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("read folder `{}`: {e}", path.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("read folder `{}`: {e}", path.display()))?;
        let path = entry.path();
        let is_network = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| NETWORK_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if is_network && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// A network's id: its file name without the extension, which must be usable as a shard
/// key (letters, digits, `-` and `_`).
fn network_id(path: &Path) -> Result<String, String> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let usable = !stem.is_empty()
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if usable {
        Ok(stem.to_string())
    } else {
        Err(format!(
            "`{}`: a network's id is its file name, which must be letters, digits, `-` and `_`",
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads YAML files with the engine's parser (the pipeline adds positions).
    struct Files(PathBuf);

    impl NetworkFiles for Files {
        fn base(&self) -> &Path {
            &self.0
        }

        fn load(&self, path: &Path, _input: Option<Shape>) -> Result<Network, String> {
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            let network = Network::from_yaml_str(&text).map_err(|e| e.to_string())?;
            network.validate().map_err(|e| e.to_string())?;
            Ok(network)
        }
    }

    const TINY: &str = "name: tiny\nfamily: custom\ninput: {h: 8, w: 8, c: 3}\nlayers:\n  - {name: conv1, kind: conv, filters: 4, kernel: 3, padding: 1}\n  - {name: relu1, kind: relu}\n";

    fn check(dir: &Path, params: Value) -> Result<NetworksParams, Vec<ParamIssue>> {
        let settings = BTreeMap::new();
        let files = Files(dir.to_path_buf());
        NetworksKind.check(
            &params,
            &CheckContext {
                settings: &settings,
                files: Some(&files),
            },
        )
    }

    #[test]
    fn files_and_folders_become_networks_keyed_by_file_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("nets")).unwrap();
        std::fs::write(dir.path().join("nets/b-net.yaml"), TINY).unwrap();
        std::fs::write(dir.path().join("nets/a_net.yml"), TINY).unwrap();
        std::fs::write(dir.path().join("nets/notes.txt"), "not a network").unwrap();
        std::fs::write(dir.path().join("single.yaml"), TINY).unwrap();
        let params = check(dir.path(), serde_json::json!({"files": ["nets", "single.yaml"]}))
            .unwrap();
        let ids: Vec<&String> = params.networks.keys().collect();
        assert_eq!(ids, ["a_net", "b-net", "single"]);
        // The canonical form round-trips and carries each network whole.
        let canonical = serde_json::to_value(&params).unwrap();
        let back: NetworksParams = serde_json::from_value(canonical.clone()).unwrap();
        assert_eq!(back, params);
        assert_eq!(canonical["networks"]["single"]["name"], "tiny");
    }

    #[test]
    fn problems_point_at_their_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        std::fs::create_dir(dir.path().join("dup")).unwrap();
        std::fs::write(dir.path().join("dup/x.yaml"), TINY).unwrap();
        std::fs::write(dir.path().join("x.json"), TINY).unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "name: bad\nlayers: 3\n").unwrap();
        std::fs::write(dir.path().join("bad id.yaml"), TINY).unwrap();
        let issues = check(
            dir.path(),
            serde_json::json!({"files": ["missing.yaml", "empty", "dup", "x.json", "bad.yaml", "bad id.yaml"]}),
        )
        .unwrap_err();
        let at = |i: &str| {
            issues
                .iter()
                .find(|issue| issue.path == ["files", i])
                .unwrap_or_else(|| panic!("no issue at files.{i}: {issues:?}"))
                .message
                .clone()
        };
        assert!(at("0").contains("missing.yaml"), "{issues:?}");
        assert!(at("1").contains("holds no network file"), "{issues:?}");
        assert!(at("3").contains("both give the network id `x`"), "{issues:?}");
        assert!(!at("4").is_empty());
        assert!(at("5").contains("letters, digits"), "{issues:?}");
        let issues = check(dir.path(), serde_json::json!({"files": []})).unwrap_err();
        assert!(issues[0].message.contains("at least one"), "{issues:?}");
    }

    #[test]
    fn each_shard_stores_its_network() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.yaml"), TINY).unwrap();
        let params = check(dir.path(), serde_json::json!({"files": ["tiny.yaml"]})).unwrap();
        let store =
            snni_artifacts::Store::open(&dir.path().join("store"), snni_artifacts::OnLocked::Fail)
                .unwrap();
        let ctx = ShardContext {
            shard: "tiny",
            params: &Value::Null,
            seed: 1,
            upstream: &[],
            store: &store,
            cpus: None,
        };
        let outputs = NetworksKind.run(&params, &ctx).unwrap();
        assert!(outputs.items.contains_key("network"));
        let unknown = ShardContext {
            shard: "other",
            ..ctx
        };
        assert!(NetworksKind.run(&params, &unknown).is_err());
    }
}
