//! The finished trials of the upstream searches (`search`, `sequence_search`), as the
//! stages that fit the final models read them: every trial (`train`'s trials table) and
//! the best one's hyperparameters, limits and seed (`train`, `whole`), so the final model
//! is the best trial's.

use serde_json::Value;
use snni_artifacts::{BlobSource, Output};

use super::models::Limits;
use crate::predict::search_space::Hyperparams;
use crate::{StageError, UpstreamStage};

/// The finished trials of the upstream stages of `kind` (`search`, `sequence_search`) whose
/// shard key starts with `prefix` (`""` for all): only those blobs are read.
pub fn trials(
    store: &dyn BlobSource,
    upstream: &[UpstreamStage],
    kind: &str,
    prefix: &str,
) -> Result<Vec<Value>, StageError> {
    let mut trials = Vec::new();
    for stage in upstream.iter().filter(|s| s.kind == kind) {
        for (name, output) in &stage.record.outputs {
            let wanted = name.starts_with(prefix) && name.ends_with("/trial");
            let (true, Output::Blob { digest, .. }) = (wanted, output) else {
                continue;
            };
            let bytes = store.get_blob(digest).map_err(|source| StageError::Store {
                name: format!("{}/{name}", stage.name),
                source: Box::new(source),
            })?;
            let trial: Value =
                serde_json::from_slice(&bytes).map_err(|source| StageError::Record {
                    action: format!("read trial {}/{name}", stage.name),
                    source,
                })?;
            trials.push(trial);
        }
    }
    Ok(trials)
}

/// What the final fit takes from the best trial of a group.
pub struct BestTrial {
    /// The trial's hyperparameters.
    pub hyperparams: Hyperparams,
    /// The search's own limits.
    pub limits: Limits,
    /// The seed of the trial's first execution.
    pub seed: u64,
    /// The trial's index.
    pub trial: Option<u32>,
}

/// The finished trial with the lowest best validation loss among the [`trials`] of `kind`
/// under `prefix` (a group's key and `.t`), read for the final fit; `None` when there is
/// no such trial. Limits the trial does not record are `defaults`, a missing seed is
/// `seed`.
pub fn best_trial(
    store: &dyn BlobSource,
    upstream: &[UpstreamStage],
    (kind, prefix): (&str, &str),
    defaults: Limits,
    seed: u64,
) -> Result<Option<BestTrial>, StageError> {
    let loss = |t: &Value| t["best_validation"].as_f64().unwrap_or(f64::INFINITY);
    let Some(best) = trials(store, upstream, kind, prefix)?
        .into_iter()
        .min_by(|a, b| loss(a).total_cmp(&loss(b)))
    else {
        return Ok(None);
    };
    let trial = best["trial"].as_u64().map(|t| t as u32);
    let hyperparams: Hyperparams =
        serde_json::from_value(best["hyperparams"].clone()).map_err(|source| {
            StageError::Record {
                action: format!(
                    "read the hyperparameters of trial {} of {}",
                    best["trial"],
                    prefix.strip_suffix(".t").unwrap_or(prefix)
                ),
                source,
            }
        })?;
    let limit =
        |key: &str, default: u32| best["limits"][key].as_u64().map_or(default, |v| v as u32);
    Ok(Some(BestTrial {
        hyperparams,
        limits: Limits {
            max_epochs: limit("max_epochs", defaults.max_epochs),
            patience: limit("patience", defaults.patience),
        },
        seed: best["executions"][0]["seed"].as_u64().unwrap_or(seed),
        trial,
    }))
}
