//! The `networks` stage kind: hand-written network files (YAML, JSON or ONNX) in a study,
//! one shard per network, so that a lab's own architectures are profiled, held out
//! (`split.held_out`) and evaluated like the reference networks.
//!
//! The files are read when the manifest is checked, through the pipeline's network loader
//! ([`NetworkFiles`]: the same positioned errors as `snni network FILE`), and each network
//! enters the canonical parameters whole, keyed by its id (the file name without its
//! extension); the paths do not. So an edited file changes the fingerprint and moving the
//! folder does not, a cluster node needs no copy of the files, and a network that does not
//! validate is a manifest error at its entry under `files`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use snni_engine::network::{Network, Shape};

use crate::kind::{CheckContext, Kind, PlanContext, ShardContext, ShardOutputs};
use crate::{decode_params_all, ParamIssue, StageError};

/// The file name endings of network files; a folder's other files are ignored.
pub const NETWORK_EXTENSIONS: &[&str] = &["yaml", "yml", "json", "onnx"];

/// Hand-written networks, one shard per file.
pub struct NetworksKind;

/// The `networks` parameters as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParams {
    /// Network files and folders of them, relative to the manifest's folder.
    files: Vec<String>,
    /// The input size of ONNX models whose input size is free.
    #[serde(default)]
    input: Option<Shape>,
}

/// The canonical parameters: the networks the files hold, by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworksParams {
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
                "cannot be read here: there is no manifest folder to read network files from",
            )]);
        };
        if raw.files.is_empty() {
            return Err(vec![ParamIssue::new(
                &["files"],
                "must name at least one file or folder",
            )
            .with_hint("e.g. `files: [networks/]` or `files: [mine.yaml]`")]);
        }
        let mut issues = Vec::new();
        let mut networks = BTreeMap::new();
        // The file each id came from, to name both on a clash.
        let mut origin: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (i, entry) in raw.files.iter().enumerate() {
            let index = i.to_string();
            let here = |message: String| ParamIssue::new(&["files", &index], message);
            let paths = match network_paths(files.base(), Path::new(entry)) {
                Ok(paths) if paths.is_empty() => {
                    issues.push(here(format!(
                        "names the folder `{entry}`, which holds no network file (.{})",
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
                            "gives the network id `{id}` twice: `{}` and `{}`",
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
                    Err(error) => {
                        let issue = here(format!("names an invalid network: {}", error.message));
                        issues.push(match error.help {
                            Some(help) => issue.with_hint(help),
                            None => issue,
                        });
                    }
                }
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(NetworksParams { networks })
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
                kind: Self::NAME,
                shard: ctx.shard.to_string(),
            })?;
        ShardOutputs::network(network)
    }
}

/// The network files `entry` names, relative to `base` as `entry` is: itself, or a
/// folder's files with a network extension, sorted (not recursive).
fn network_paths(base: &Path, entry: &Path) -> Result<Vec<PathBuf>, String> {
    let full = base.join(entry);
    let meta = std::fs::metadata(&full)
        .map_err(|e| format!("names `{}`, which cannot be read: {e}", entry.display()))?;
    if !meta.is_dir() {
        return Ok(vec![entry.to_path_buf()]);
    }
    let unreadable = |e: std::io::Error| {
        format!(
            "names the folder `{}`, which cannot be read: {e}",
            entry.display()
        )
    };
    let mut paths = Vec::new();
    for item in std::fs::read_dir(&full).map_err(unreadable)? {
        let item = item.map_err(unreadable)?;
        let name = item.file_name();
        let is_network = Path::new(&name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| NETWORK_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if is_network && item.path().is_file() {
            paths.push(entry.join(name));
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
            "names `{}`, whose file name cannot be a network id: use letters, digits, `-` and `_`",
            path.display()
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kind::{canonical, NetworkFileError, NetworkFiles};

    /// Loads YAML files with the engine's parser (the pipeline's loader adds positions for
    /// what serde_yaml reports badly, and reads JSON and ONNX).
    pub(crate) struct YamlFiles(pub(crate) PathBuf);

    impl NetworkFiles for YamlFiles {
        fn base(&self) -> &Path {
            &self.0
        }

        fn load(&self, path: &Path, _input: Option<Shape>) -> Result<Network, NetworkFileError> {
            let error = |message: String| NetworkFileError {
                message: format!("{}: {message}", path.display()),
                help: None,
            };
            let text =
                std::fs::read_to_string(self.0.join(path)).map_err(|e| error(e.to_string()))?;
            let network = Network::from_yaml_str(&text).map_err(|e| error(e.to_string()))?;
            network.validate().map_err(|e| error(e.to_string()))?;
            Ok(network)
        }
    }

    /// A valid two-layer network.
    pub(crate) const TINY: &str = "name: tiny\nfamily: custom\ninput: {h: 8, w: 8, c: 3}\nlayers:\n  - {name: conv1, kind: conv, filters: 4, kernel: 3, padding: 1}\n  - {name: relu1, kind: relu}\n";

    fn check(dir: &Path, params: Value) -> Result<NetworksParams, Vec<ParamIssue>> {
        let settings = BTreeMap::new();
        let files = YamlFiles(dir.to_path_buf());
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
        std::fs::create_dir(dir.path().join("nets/sub.yaml")).unwrap();
        std::fs::write(dir.path().join("single.yaml"), TINY).unwrap();
        let params = check(
            dir.path(),
            serde_json::json!({"files": ["nets", "single.yaml"]}),
        )
        .unwrap();
        let ids: Vec<&String> = params.networks.keys().collect();
        assert_eq!(ids, ["a_net", "b-net", "single"]);
        // The canonical form round-trips and carries each network whole, not the paths.
        let json = canonical::<NetworksKind>(&params).unwrap();
        let back: NetworksParams = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, params);
        assert_eq!(json["networks"]["single"]["name"], "tiny");
        assert_eq!(json.as_object().unwrap().len(), 1, "{json}");
    }

    #[test]
    fn canonical_params_follow_the_content_not_the_path() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        std::fs::write(one.path().join("tiny.yaml"), TINY).unwrap();
        std::fs::create_dir(two.path().join("elsewhere")).unwrap();
        std::fs::write(two.path().join("elsewhere/tiny.yaml"), TINY).unwrap();
        let at = |dir: &Path, files: Value| {
            canonical::<NetworksKind>(&check(dir, serde_json::json!({ "files": files })).unwrap())
                .unwrap()
        };
        let here = at(one.path(), serde_json::json!(["tiny.yaml"]));
        assert_eq!(here, at(two.path(), serde_json::json!(["elsewhere"])));
        assert_eq!(
            here,
            at(two.path(), serde_json::json!(["elsewhere/tiny.yaml"]))
        );
        // One more filter in the file: other canonical parameters.
        std::fs::write(
            one.path().join("tiny.yaml"),
            TINY.replace("filters: 4", "filters: 5"),
        )
        .unwrap();
        assert_ne!(here, at(one.path(), serde_json::json!(["tiny.yaml"])));
    }

    #[test]
    fn problems_point_at_their_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        std::fs::create_dir(dir.path().join("dup")).unwrap();
        std::fs::write(dir.path().join("dup/x.yaml"), TINY).unwrap();
        std::fs::write(dir.path().join("x.yaml"), TINY).unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "name: bad\nlayers: 3\n").unwrap();
        std::fs::write(dir.path().join("bad id.yaml"), TINY).unwrap();
        let issues = check(
            dir.path(),
            serde_json::json!({"files": ["missing.yaml", "empty", "dup", "x.yaml", "bad.yaml", "bad id.yaml"]}),
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
        assert!(at("0").contains("`missing.yaml`"), "{issues:?}");
        assert!(at("1").contains("holds no network file"), "{issues:?}");
        assert!(
            at("3").contains("gives the network id `x` twice: `dup/x.yaml` and `x.yaml`"),
            "{issues:?}"
        );
        assert!(
            at("4").starts_with("names an invalid network: bad.yaml: "),
            "{issues:?}"
        );
        assert!(at("5").contains("letters, digits"), "{issues:?}");
        assert!(
            !issues.iter().any(|issue| issue.path == ["files", "2"]),
            "{issues:?}"
        );
        let issues = check(dir.path(), serde_json::json!({"files": []})).unwrap_err();
        assert!(issues[0].message.contains("at least one"), "{issues:?}");
        let issues = check(dir.path(), serde_json::json!({"file": ["x.yaml"]})).unwrap_err();
        assert!(
            issues[0].message.contains("unknown field `file`"),
            "{issues:?}"
        );
    }

    #[test]
    fn without_a_manifest_folder_the_files_cannot_be_read() {
        let settings = BTreeMap::new();
        let ctx = CheckContext {
            settings: &settings,
            files: None,
        };
        let issues = NetworksKind
            .check(&serde_json::json!({"files": ["x.yaml"]}), &ctx)
            .unwrap_err();
        assert_eq!(issues[0].path, ["files"]);
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
        let Some(crate::OutputData::Bytes { bytes, .. }) = outputs.items.get("network") else {
            panic!("no network output");
        };
        let stored = Network::from_yaml_str(std::str::from_utf8(bytes).unwrap()).unwrap();
        assert_eq!(&stored, &params.networks["tiny"]);
        let unknown = ShardContext {
            shard: "other",
            ..ctx
        };
        assert!(NetworksKind.run(&params, &unknown).is_err());
    }
}
