//! Why a stage will run (or that it will not): what `snni plan` prints.

use std::fmt;

use serde::Serialize;

/// The planned status of a stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Outputs for the current fingerprint are in the store.
    Cached,
    /// The stage will run.
    Run {
        /// Why.
        reasons: Vec<Reason>,
    },
    /// The stage runs once its upstream stages have run; whether it is cached then
    /// depends on their outputs.
    Waits {
        /// The upstream stages that will run first.
        upstream: Vec<String>,
    },
    /// Not selected by `--only`/`--from`.
    NotSelected,
}

/// One reason a stage runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// It never ran.
    New,
    /// `--force` or `--from` names it.
    Forced,
    /// The last run with this fingerprint failed.
    PreviousRunFailed {
        /// The failure message.
        message: String,
    },
    /// Parameters changed since the last run: `key: old -> new`.
    ParamsChanged {
        /// The changed keys with old and new values.
        changes: Vec<String>,
    },
    /// The stage seed changed.
    SeedChanged {
        /// Previous seed.
        old: u64,
        /// Current seed.
        new: u64,
    },
    /// The stage kind's implementation changed.
    VersionChanged {
        /// Previous version.
        old: u32,
        /// Current version.
        new: u32,
    },
    /// An upstream stage's outputs changed.
    UpstreamChanged {
        /// Which upstream stages.
        stages: Vec<String>,
    },
    /// The stage kind changed.
    KindChanged {
        /// Previous kind.
        old: String,
    },
    /// The same inputs ran before but the outputs are gone (garbage-collected).
    OutputsMissing,
    /// Some shards are already done; the rest will run.
    Resuming {
        /// Shards done.
        done: usize,
        /// Shards in all.
        total: usize,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::New => write!(f, "new"),
            Reason::Forced => write!(f, "forced"),
            Reason::PreviousRunFailed { message } => write!(f, "previous run failed: {message}"),
            Reason::ParamsChanged { changes } => {
                write!(f, "params changed: {}", changes.join(", "))
            }
            Reason::SeedChanged { old, new } => write!(f, "seed changed: {old} -> {new}"),
            Reason::VersionChanged { old, new } => {
                write!(f, "stage implementation changed: v{old} -> v{new}")
            }
            Reason::UpstreamChanged { stages } => {
                write!(f, "upstream changed: {}", stages.join(", "))
            }
            Reason::KindChanged { old } => write!(f, "kind changed (was {old})"),
            Reason::OutputsMissing => write!(f, "outputs missing from the store"),
            Reason::Resuming { done, total } => {
                write!(f, "resuming: {done} of {total} shards done")
            }
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Cached => write!(f, "cached"),
            Status::Run { reasons } => {
                let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                write!(f, "will run ({})", reasons.join("; "))
            }
            Status::Waits { upstream } => write!(
                f,
                "will run after {} (cached if their outputs are unchanged)",
                upstream.join(", ")
            ),
            Status::NotSelected => write!(f, "not selected"),
        }
    }
}

/// Describes how `new` differs from `old`, key by key (top-level keys of two objects).
pub fn param_changes(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| {
            let show =
                |v: Option<&serde_json::Value>| v.map_or("(unset)".to_string(), |v| v.to_string());
            format!("{k}: {} -> {}", show(old.get(k)), show(new.get(k)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_changes_name_each_key() {
        let old = serde_json::json!({"count": 4, "kernels": [1, 3]});
        let new = serde_json::json!({"count": 5, "kernels": [1, 3], "extra": true});
        assert_eq!(
            param_changes(&old, &new),
            vec![
                "count: 4 -> 5".to_string(),
                "extra: (unset) -> true".to_string()
            ]
        );
    }
}
