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

    /// The message with the key path in front (`` `layers.max`: must be … ``), for errors
    /// that are not rendered against the manifest.
    pub fn located(&self) -> String {
        if self.path.is_empty() {
            self.message.clone()
        } else {
            format!("`{}`: {}", self.path.join("."), self.message)
        }
    }

    /// Every issue [`located`](Self::located), on one line.
    pub fn line(issues: &[ParamIssue]) -> String {
        issues
            .iter()
            .map(ParamIssue::located)
            .collect::<Vec<_>>()
            .join("; ")
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
        let message = plain_words(&err.into_inner().to_string());
        ParamIssue {
            path,
            message,
            hint: None,
        }
    })
}

/// Most keys [`decode_params_all`] takes out of one set of parameters.
const MAX_ISSUES: usize = 64;

/// Decodes `params` into `T`, reporting every key serde rejects in one pass: after each
/// rejected key it takes that key out and decodes again (a key that is then missing is not
/// reported again: its value was). Used by `check_params`, so a manifest shows all its
/// bad parameters at once.
pub fn decode_params_all<T: DeserializeOwned>(
    params: &serde_json::Value,
) -> Result<T, Vec<ParamIssue>> {
    match decode_params_lenient(params) {
        (Some(value), issues) if issues.is_empty() => Ok(value),
        (_, issues) => Err(issues),
    }
}

/// [`decode_params_all`] that also returns what decoded once the rejected keys were taken
/// out (their defaults in their place), so a kind can go on checking the other values and
/// report their problems in the same pass.
pub fn decode_params_lenient<T: DeserializeOwned>(
    params: &serde_json::Value,
) -> (Option<T>, Vec<ParamIssue>) {
    let mut params = params.clone();
    let mut issues: Vec<ParamIssue> = Vec::new();
    loop {
        let issue = match decode_params::<T>(&params) {
            Ok(value) => return (Some(value), issues),
            Err(issue) => issue,
        };
        let missing_removed = issue.message.starts_with("missing field")
            && issues.iter().any(|earlier| {
                earlier.path.len() == issue.path.len() + 1
                    && earlier.path.starts_with(&issue.path)
                    && issue
                        .message
                        .contains(&format!("`{}`", earlier.path[issue.path.len()]))
            });
        let removed = remove(&mut params, &issue.path);
        if !missing_removed {
            issues.push(issue);
        }
        if !removed || issues.len() >= MAX_ISSUES {
            return (None, issues);
        }
    }
}

/// Removes the value at `path` from `value`; false if there is none (or `path` is empty).
fn remove(value: &mut serde_json::Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut current = value;
    for key in parents {
        current = match current {
            serde_json::Value::Object(map) => match map.get_mut(key) {
                Some(next) => next,
                None => return false,
            },
            serde_json::Value::Array(items) => {
                match key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    Some(next) => next,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    match current {
        serde_json::Value::Object(map) => map.remove(last).is_some(),
        serde_json::Value::Array(items) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => {
                items.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// serde's messages in the words of the manifest: `invalid value: integer `-1`, expected
/// u32` becomes `must be a whole number from 0 to 4294967295, got -1`.
pub fn plain_words(message: &str) -> String {
    let expected = |rest: &str| -> Option<String> {
        let kind = rest.split(" at line ").next()?.trim();
        Some(match kind {
            "u8" => format!("a whole number from 0 to {}", u8::MAX),
            "u16" => format!("a whole number from 0 to {}", u16::MAX),
            "u32" => format!("a whole number from 0 to {}", u32::MAX),
            "u64" | "usize" => format!("a whole number from 0 to {}", u64::MAX),
            "i32" | "i64" | "isize" => "a whole number".to_string(),
            "f32" | "f64" => "a finite number".to_string(),
            other => other.to_string(),
        })
    };
    let got = |found: &str| -> String {
        if let Some(n) = found
            .strip_prefix("integer `")
            .or_else(|| found.strip_prefix("floating point `"))
        {
            n.trim_end_matches('`').to_string()
        } else if let Some(text) = found.strip_prefix("string ") {
            format!("the text {text}")
        } else {
            found.to_string()
        }
    };
    for prefix in ["invalid value: ", "invalid type: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((found, wanted)) = rest.split_once(", expected ") {
                if let Some(wanted) = expected(wanted) {
                    return format!("must be {wanted}, got {}", got(found));
                }
            }
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Params {
        runs: u32,
        #[serde(default)]
        retries: Option<u32>,
        #[serde(default)]
        rate: Option<f64>,
    }

    #[test]
    fn every_bad_key_is_reported_once_in_plain_words() {
        let issues = decode_params_all::<Params>(
            &json!({"runs": -1, "retries": 1.5, "rate": "fast", "tpyo": 1}),
        )
        .unwrap_err();
        let mut found: Vec<(String, String)> = issues
            .iter()
            .map(|i| (i.path.join("."), i.message.clone()))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                (
                    "rate".to_string(),
                    "must be a finite number, got the text \"fast\"".to_string()
                ),
                (
                    "retries".to_string(),
                    "must be a whole number from 0 to 4294967295, got 1.5".to_string()
                ),
                (
                    "runs".to_string(),
                    "must be a whole number from 0 to 4294967295, got -1".to_string()
                ),
                (
                    "tpyo".to_string(),
                    "unknown field `tpyo`, expected one of `runs`, `retries`, `rate`".to_string()
                ),
            ]
        );
        let ok: Params = decode_params_all(&json!({"runs": 3})).unwrap();
        assert_eq!(ok.runs, 3);
    }
}
