//! Network files as `snni network FILE` and a manifest's `networks` stage read them: YAML,
//! JSON or ONNX, with every error at the file's line and column where the format has
//! them. It lives with the manifest (which reads the files while it is checked) so that
//! the command layer and the manifest share one loader without depending on each other.

use std::path::{Path, PathBuf};

use snni_engine::network::{Network, Shape};
use snni_stages::onnx::{self, ImportOptions};
use snni_stages::{error_chain, NetworkFiles};

use super::diagnostic::{cut, MESSAGE_WIDTH};
use super::source::{read_text, Problem, ReadError, SourceFile, MAX_BYTES};

/// Why a network file could not be used.
#[derive(Debug)]
pub enum NetworkFileError {
    /// The file could not be opened or read (it may not exist): callers say what the path
    /// may name instead.
    Unreadable(String),
    /// The file was read but is not a network: the message names the file (and the line
    /// and column where there are some).
    Invalid {
        /// What is wrong, with the file's name in front.
        message: String,
        /// What to do about it, when the message does not say.
        help: Option<String>,
    },
}

impl NetworkFileError {
    fn invalid(message: String) -> Self {
        NetworkFileError::Invalid {
            message,
            help: None,
        }
    }

    /// The message, with the file's name in front.
    pub fn message(&self) -> &str {
        match self {
            NetworkFileError::Unreadable(message) | NetworkFileError::Invalid { message, .. } => {
                message
            }
        }
    }
}

/// Reads the network file at `path` (shown as `name` in errors): ONNX by its `.onnx`
/// extension, converted with `input` as the user's size (checked against a fixed one) and
/// `default_input` for a model of free size; else JSON (`.json`) or YAML text.
pub fn read(
    path: &Path,
    name: &str,
    input: Option<Shape>,
    default_input: Option<Shape>,
) -> Result<Network, NetworkFileError> {
    if onnx::is_onnx_path(path) {
        let options = ImportOptions {
            input,
            default_input,
            ..ImportOptions::default()
        };
        let imported =
            onnx::import_file(path, &options).map_err(|e| NetworkFileError::Invalid {
                message: format!("{name}: {}", error_chain(&e)),
                help: e.help().map(str::to_string),
            })?;
        for note in &imported.notes {
            tracing::info!("{name}: {note}");
        }
        return Ok(imported.network);
    }
    let text = read_text(path).map_err(|error| match error {
        ReadError::Io(e) => NetworkFileError::Unreadable(format!("read network {name}: {e}")),
        ReadError::TooLarge => NetworkFileError::invalid(format!(
            "{name}: the file is larger than {} KiB; a network file is a short YAML or JSON text",
            MAX_BYTES / 1024
        )),
        ReadError::NotText { span, what, .. } => NetworkFileError::invalid(format!(
            "{name}:{}:{}: not a text file: {what}",
            span.line, span.column
        )),
    })?;
    parse(name, &text)
}

/// Parses a network file's text (JSON if `name` ends in `.json`, else YAML). YAML is
/// checked first for what serde_yaml reports badly or slowly: duplicate keys, nesting
/// deeper than 64 levels and alias bombs, each at its line and column.
pub fn parse(name: &str, text: &str) -> Result<Network, NetworkFileError> {
    let parsed = if name.ends_with(".json") {
        Network::from_json_str(text)
    } else {
        let source = SourceFile::new(Path::new(name), text.to_string());
        let problems: Vec<String> = source
            .problems()
            .iter()
            .filter_map(|problem| match problem {
                Problem::DuplicateKey { span, key, first } => Some(format!(
                    "{name}:{}:{}: duplicate key `{key}`: it is already set on line {first}",
                    span.line, span.column
                )),
                Problem::TooDeep { span } => Some(format!(
                    "{name}:{}:{}: nested too deeply",
                    span.line, span.column
                )),
                Problem::AliasBomb { span } => Some(format!(
                    "{name}:{}:{}: aliases expand the file to more than 100000 values",
                    span.line, span.column
                )),
                Problem::Syntax { .. } => None,
            })
            .collect();
        if !problems.is_empty() {
            return Err(NetworkFileError::invalid(problems.join("\n")));
        }
        Network::from_yaml_str(text)
    };
    parsed.map_err(|e| {
        NetworkFileError::invalid(format!("{name}: {}", cut(&error_chain(&e), MESSAGE_WIDTH)))
    })
}

/// The network files of a manifest, read relative to its folder and validated: what a
/// `networks` stage reads while the manifest is checked.
pub struct ManifestNetworkFiles {
    base: PathBuf,
}

impl ManifestNetworkFiles {
    /// Files relative to `base`, the manifest's folder.
    pub fn new(base: &Path) -> Self {
        Self {
            base: base.to_path_buf(),
        }
    }
}

impl NetworkFiles for ManifestNetworkFiles {
    fn base(&self) -> &Path {
        &self.base
    }

    fn load(
        &self,
        path: &Path,
        input: Option<Shape>,
    ) -> Result<Network, snni_stages::NetworkFileError> {
        let name = path.display().to_string();
        let network = read(&self.base.join(path), &name, input, None).map_err(|error| {
            let help = match &error {
                NetworkFileError::Invalid { help, .. } => help.clone(),
                NetworkFileError::Unreadable(_) => None,
            };
            snni_stages::NetworkFileError {
                message: error.message().to_string(),
                help,
            }
        })?;
        network
            .validate()
            .map_err(|e| snni_stages::NetworkFileError {
                message: format!("{name}: {}", error_chain(&e)),
                help: None,
            })?;
        Ok(network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = "name: tiny\nfamily: custom\ninput: {h: 8, w: 8, c: 3}\nlayers:\n  - {name: conv1, kind: conv, filters: 4, kernel: 3, padding: 1}\n  - {name: relu1, kind: relu}\n";

    fn load(dir: &Path, name: &str) -> Result<Network, snni_stages::NetworkFileError> {
        ManifestNetworkFiles::new(dir).load(Path::new(name), None)
    }

    #[test]
    fn yaml_and_json_load_relative_to_the_manifest_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.yaml"), TINY).unwrap();
        let yaml = load(dir.path(), "tiny.yaml").unwrap();
        std::fs::write(dir.path().join("tiny.json"), yaml.to_json_string().unwrap()).unwrap();
        assert_eq!(load(dir.path(), "tiny.json").unwrap(), yaml);
    }

    #[test]
    fn errors_name_the_file_and_where_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "dup.yaml",
            &TINY.replace("family: custom\n", "family: custom\nname: again\n"),
        );
        let error = load(dir.path(), "dup.yaml").unwrap_err();
        assert!(
            error
                .message
                .starts_with("dup.yaml:3:1: duplicate key `name`: it is already set on line 1"),
            "{error:?}"
        );
        write("kind.yaml", &TINY.replace("kind: relu", "kind: relu6"));
        let error = load(dir.path(), "kind.yaml").unwrap_err();
        assert!(
            error.message.starts_with("kind.yaml: ") && error.message.contains("line 6"),
            "{error:?}"
        );
        // Parses, but does not validate: a residual add of two different shapes.
        write(
            "add.yaml",
            &format!("{TINY}  - {{name: add, kind: add, inputs: [relu1, input]}}\n"),
        );
        let error = load(dir.path(), "add.yaml").unwrap_err();
        assert!(error.message.starts_with("add.yaml: "), "{error:?}");
        assert!(error.message.contains("add"), "{error:?}");
        let error = load(dir.path(), "missing.yaml").unwrap_err();
        assert!(
            error.message.starts_with("read network missing.yaml: "),
            "{error:?}"
        );
    }
}
