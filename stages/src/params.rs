//! Parameter issues: what a stage kind reports about bad parameters, with the path of the
//! offending key so the manifest checker can point at the exact line.

use serde::de::DeserializeOwned;

/// One problem with a stage's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamIssue {
    /// Path below `params`, e.g. `["layers", "max"]` (empty: the params mapping itself).
    pub path: Vec<String>,
    /// What is wrong, e.g. `must be at least layers.min (4)`.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl ParamIssue {
    /// An issue at `path` with no hint.
    pub fn new(path: &[&str], message: impl Into<String>) -> Self {
        Self {
            path: path.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
            hint: None,
        }
    }

    /// The same issue with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Decodes `params` into `T`, reporting the path of the first key serde rejects.
pub fn decode_params<T: DeserializeOwned>(params: &serde_json::Value) -> Result<T, ParamIssue> {
    serde_path_to_error::deserialize(params).map_err(|err| {
        let path: Vec<String> = err
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let message = err.into_inner().to_string();
        ParamIssue {
            path,
            message,
            hint: None,
        }
    })
}
