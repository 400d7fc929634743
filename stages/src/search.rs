//! The `search` stage kind: random search over MLP hyperparameters, like Keras Tuner's
//! RandomSearch, for every layer type × party × setting.
//!
//! Each trial is a shard (`<view>.<party>.<setting>.t<NN>`), stored when it ends with its
//! hyperparameters, per-epoch losses, best validation loss, epochs run and time, so an
//! interrupted search resumes with its finished trials. Trial `i` of a group is the `i`-th
//! distinct draw of a stream seeded by the stage seed and the group, so trials are
//! independent of each other and duplicates are skipped.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kind::{CheckContext, Kind, OutputData, PlanContext, ShardContext, ShardOutputs};
use crate::learn::data::{Data, Group};
use crate::learn::models::{fit_mlp, GroupFit, Limits};
use crate::learn::params::{check_views, decode_raw, whole, DEFAULT_MIN_ROWS, MIN_ROWS, UNBOUNDED};
use crate::learn::seeds::{execution_seed, group_seed};
use crate::predict::search_space::{RawParam, SearchSpace, MAX_EXECUTIONS, MAX_TRIALS};
use crate::{ParamIssue, StageError};

/// Random search of MLP hyperparameters per layer model.
pub struct SearchKind;

/// The parameters of a `search` stage as a manifest writes them (every field optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSearchParams {
    views: Option<Vec<String>>,
    // Whole numbers are read signed, so that a negative one is reported with its range.
    min_rows: Option<i64>,
    max_trials: Option<i64>,
    executions_per_trial: Option<i64>,
    max_epochs: Option<i64>,
    patience: Option<i64>,
    space: Option<BTreeMap<String, RawParam>>,
}

/// The parameters of a `search` stage, checked and canonical: every field present (what
/// enters the fingerprint).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The layer types to model (default all).
    pub views: Vec<String>,
    /// Training rows a layer model needs (default 20).
    pub min_rows: usize,
    /// Trials per layer model (default 20).
    pub max_trials: u32,
    /// Trainings per trial, their validation losses averaged (default 1).
    pub executions_per_trial: u32,
    /// Epoch limit of one training (default 200).
    pub max_epochs: u32,
    /// Epochs without validation improvement before early stopping (default 10).
    pub patience: u32,
    /// The hyperparameters drawn: the study's space
    /// ([`SearchSpace::study_default`]), each replaced by the manifest's parameter of the
    /// same name.
    pub space: SearchSpace,
}

impl SearchParams {
    /// Checks a manifest's parameters, reporting every issue with its key path.
    fn check(params: &Value) -> Result<SearchParams, Vec<ParamIssue>> {
        let (raw, mut issues) = decode_raw::<RawSearchParams>(params);
        let Some(raw) = raw else {
            return Err(issues);
        };
        let space = SearchSpace::check(
            raw.space.as_ref(),
            SearchSpace::study_default(),
            &["space"],
            &mut issues,
        );
        let views = check_views(&mut issues, raw.views);
        let i = &mut issues;
        let params = SearchParams {
            views,
            min_rows: whole(
                i,
                &["min_rows"],
                raw.min_rows,
                DEFAULT_MIN_ROWS,
                (MIN_ROWS, UNBOUNDED),
            ) as usize,
            max_trials: whole(i, &["max_trials"], raw.max_trials, 20, (1, MAX_TRIALS)) as u32,
            executions_per_trial: whole(
                i,
                &["executions_per_trial"],
                raw.executions_per_trial,
                1,
                (1, MAX_EXECUTIONS),
            ) as u32,
            max_epochs: whole(i, &["max_epochs"], raw.max_epochs, 200, (1, UNBOUNDED)) as u32,
            patience: whole(i, &["patience"], raw.patience, 10, (0, UNBOUNDED)) as u32,
            space,
        };
        if issues.is_empty() {
            Ok(params)
        } else {
            Err(issues)
        }
    }
}

fn parse_key(key: &str) -> Option<(Group, u32)> {
    let (group, trial) = key.rsplit_once(".t")?;
    Some((Group::parse(group)?, trial.parse().ok()?))
}

impl Kind for SearchKind {
    type Params = SearchParams;
    const NAME: &'static str = "search";
    // 2: the MLP learns the log-ratio of measured time to the protocol prediction.
    // 3: scaled inputs are clamped into their training range (validation losses change).
    const VERSION: u32 = 5;
    const SUMMARY: &'static str =
        "random search of MLP hyperparameters per layer model (one shard per trial)";
    // How many trials, of which layer types and of groups with how many rows, only chooses
    // which trials exist.
    const SHARD_CHOICE: &'static [&'static str] = &["max_trials", "views", "min_rows"];

    fn check(
        &self,
        params: &Value,
        _ctx: &CheckContext<'_>,
    ) -> Result<SearchParams, Vec<ParamIssue>> {
        SearchParams::check(params)
    }

    fn plan(
        &self,
        params: &SearchParams,
        ctx: &PlanContext<'_>,
    ) -> Result<Vec<String>, StageError> {
        let data = Data::load(ctx.store, ctx.upstream, &params.views)?;
        let mut keys = Vec::new();
        for group in data.groups_or_explain(params.min_rows)? {
            let seed = group_seed(ctx.seed, &group);
            for trial in 0..params.max_trials {
                if params.space.trial(seed, trial).is_none() {
                    break;
                }
                keys.push(format!("{}.t{trial:02}", group.key()));
            }
        }
        Ok(keys)
    }

    fn run(
        &self,
        params: &SearchParams,
        ctx: &ShardContext<'_>,
    ) -> Result<ShardOutputs, StageError> {
        let started = Instant::now();
        let unknown = || StageError::UnknownShard {
            kind: Self::NAME,
            shard: ctx.shard.to_string(),
        };
        let (group, trial) = parse_key(ctx.shard).ok_or_else(unknown)?;
        let hyperparams = params
            .space
            .trial(group_seed(ctx.seed, &group), trial)
            .ok_or_else(unknown)?;
        let data = Data::load_group(ctx.store, ctx.upstream, &group)?;
        let fit = GroupFit::new(&data, &group)?;
        let limits = Limits {
            max_epochs: params.max_epochs,
            patience: params.patience,
        };
        let mut executions = Vec::new();
        let mut total = 0.0;
        for execution in 0..params.executions_per_trial {
            let seed = execution_seed(ctx.seed, &group, trial, execution);
            let fit_started = Instant::now();
            let (trained, _) = fit_mlp(&group, &fit, &hyperparams, limits, seed)?;
            total += trained.best_validation;
            executions.push(json!({
                "seed": seed,
                "best_validation": trained.best_validation,
                "best_epoch": trained.best_epoch,
                "epochs_run": trained.epochs_run,
                "history": trained.history,
                "seconds": fit_started.elapsed().as_secs_f64(),
            }));
        }
        let record = json!({
            "group": group.key(),
            "view": group.view,
            "party": group.party,
            "setting": group.setting,
            "trial": trial,
            "hyperparams": hyperparams,
            "limits": {"max_epochs": limits.max_epochs, "patience": limits.patience},
            "train_rows": fit.train.len(),
            "validation_rows": fit.validation.len(),
            "best_validation": total / f64::from(params.executions_per_trial.max(1)),
            "executions": executions,
            "seconds": started.elapsed().as_secs_f64(),
        });
        let mut outputs = ShardOutputs::default();
        outputs.insert("trial", OutputData::json("trial", &record)?);
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_studys_and_the_canonical_form_round_trips() {
        let params = SearchParams::check(&Value::Null).unwrap();
        assert_eq!(params.views.len(), crate::VIEW_NAMES.len());
        assert_eq!(
            (
                params.min_rows,
                params.max_trials,
                params.executions_per_trial
            ),
            (20, 20, 1)
        );
        assert_eq!((params.max_epochs, params.patience), (200, 10));
        assert_eq!(params.space, SearchSpace::study_default());
        let canonical = serde_json::to_value(&params).unwrap();
        let again = SearchParams::check(&canonical).unwrap();
        assert_eq!(serde_json::to_value(&again).unwrap(), canonical);
    }

    #[test]
    fn a_changed_canonical_value_is_refused_with_its_key() {
        let checked = SearchParams::check(&Value::Null).unwrap();
        let mut canonical = crate::kind::canonical::<SearchKind>(&checked).unwrap();
        canonical["min_rows"] = json!("many");
        let error = crate::kind::decode::<SearchKind>(&canonical)
            .unwrap_err()
            .to_string();
        assert!(error.contains("`min_rows`"), "{error}");
        canonical["min_rows"] = json!(20);
        canonical["space"]["units"] = json!({"int": [16, 8], "step": 16});
        let error = crate::kind::decode::<SearchKind>(&canonical)
            .unwrap_err()
            .to_string();
        assert!(error.contains("`space.units`"), "{error}");
        canonical["space"]["units"] = json!({"int": [16, 256], "step": 16});
        canonical["budget"] = json!(1);
        let error = crate::kind::decode::<SearchKind>(&canonical)
            .unwrap_err()
            .to_string();
        assert!(error.contains("`budget`"), "{error}");
    }

    #[test]
    fn every_bad_parameter_is_reported_at_its_key() {
        let issues = SearchParams::check(&json!({
            "views": ["conv", "pool"],
            "min_rows": 1,
            "max_trials": 0,
            "executions_per_trial": 101,
            "space": {"units": {"int": [16, 8]}, "learning_rate": {"int": [1, 2]}},
            "seed": 1,
        }))
        .unwrap_err();
        let found: Vec<String> = issues.iter().map(ParamIssue::located).collect();
        assert_eq!(
            found,
            [
                "`seed`: unknown field `seed`, expected one of `views`, `min_rows`, \
                 `max_trials`, `executions_per_trial`, `max_epochs`, `patience`, `space`",
                "`space.learning_rate`: must be positive numbers (a float range or a choice)",
                "`space.units.int`: minimum exceeds maximum (16 > 8)",
                "`views.1`: `pool` is not a layer type",
                "`min_rows`: must be a whole number of at least 2, got 1",
                "`max_trials`: must be a whole number in 1..=10000, got 0",
                "`executions_per_trial`: must be a whole number in 1..=100, got 101",
            ]
        );
    }

    #[test]
    fn keys_name_the_group_and_the_trial() {
        let (group, trial) = parse_key("max_pool.client.wan.t07").unwrap();
        assert_eq!((group.key().as_str(), trial), ("max_pool.client.wan", 7));
        assert_eq!(parse_key("pool.client.wan.t07"), None);
    }
}
