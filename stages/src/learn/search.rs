//! The `search` stage kind: random search over MLP hyperparameters, like Keras Tuner's
//! RandomSearch, for every layer type × party × setting.
//!
//! Each trial is a shard (`<view>.<party>.<setting>.t<NN>`), stored when it ends with its
//! hyperparameters, per-epoch losses, best validation loss, epochs run and time, so an
//! interrupted search resumes with its finished trials. Trial `i` of a group is the `i`-th
//! distinct draw of a stream seeded by the stage seed and the group, so trials are
//! independent of each other and duplicates are skipped.

use std::time::Instant;

use serde_json::{json, Map, Value};

use super::data::{common_params, CommonParams, Data, Group};
use super::frame::Side;
use super::models::{fit_mlp, Limits};
use crate::kind::{CheckContext, OutputData, PlanContext, ShardContext, ShardOutputs, StageKind};
use crate::predict::search_space::SearchSpace;
use crate::seed::derived_seed;
use crate::{ParamIssue, StageError};

/// Random search of MLP hyperparameters per layer model.
pub struct SearchKind;

/// Decoded parameters.
pub(crate) struct SearchParams {
    pub views: Vec<String>,
    pub min_rows: usize,
    pub space: SearchSpace,
}

impl SearchParams {
    fn check(params: &Value) -> Result<SearchParams, Vec<ParamIssue>> {
        let CommonParams {
            views,
            min_rows,
            rest,
        } = common_params(params)?;
        let space = SearchSpace::from_value(&Value::Object(rest))?;
        Ok(SearchParams {
            views,
            min_rows,
            space,
        })
    }

    fn canonical(&self) -> Value {
        let mut map = match self.space.to_value() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        map.insert("views".into(), json!(self.views));
        map.insert("min_rows".into(), json!(self.min_rows));
        Value::Object(map)
    }

    fn decode(params: &Value) -> Result<SearchParams, StageError> {
        Self::check(params).map_err(|issues| StageError::Params {
            kind: "search",
            message: issues
                .first()
                .map_or_else(String::new, |i| i.message.clone()),
        })
    }
}

/// The seed of a group's search stream.
pub(crate) fn group_seed(seed: u64, group: &Group) -> u64 {
    derived_seed(seed, &["search", &group.key()])
}

/// The seed of one execution of one trial.
pub(crate) fn execution_seed(seed: u64, group: &Group, trial: u32, execution: u32) -> u64 {
    derived_seed(
        seed,
        &[
            "trial",
            &group.key(),
            &trial.to_string(),
            &execution.to_string(),
        ],
    )
}

fn parse_key(key: &str) -> Option<(Group, u32)> {
    let (group, trial) = key.rsplit_once(".t")?;
    Some((Group::parse(group)?, trial.parse().ok()?))
}

impl StageKind for SearchKind {
    fn name(&self) -> &'static str {
        "search"
    }

    fn version(&self) -> u32 {
        // 2: the MLP learns the log-ratio of measured time to the protocol prediction.
        2
    }

    fn summary(&self) -> &'static str {
        "random search of MLP hyperparameters per layer model (one shard per trial)"
    }

    fn check_params(
        &self,
        params: &Value,
        _ctx: &CheckContext<'_>,
    ) -> Result<Value, Vec<ParamIssue>> {
        Ok(SearchParams::check(params)?.canonical())
    }

    fn shard_params(&self, params: &Value) -> Value {
        // The number of trials only chooses which trials exist.
        let mut rest = params.as_object().cloned().unwrap_or_default();
        for key in ["max_trials", "views", "min_rows"] {
            rest.remove(key);
        }
        Value::Object(rest)
    }

    fn shards(&self, ctx: &PlanContext<'_>) -> Result<Vec<String>, StageError> {
        let params = SearchParams::decode(ctx.params)?;
        let data = Data::load(ctx.store, ctx.upstream, &params.views)?;
        let mut keys = Vec::new();
        for group in data.groups_or_explain(params.min_rows)? {
            let seed = group_seed(ctx.seed, &group);
            for trial in 0..params.space.max_trials {
                if params.space.trial(seed, trial).is_none() {
                    break;
                }
                keys.push(format!("{}.t{trial:02}", group.key()));
            }
        }
        Ok(keys)
    }

    fn run_shard(&self, ctx: &ShardContext<'_>) -> Result<ShardOutputs, StageError> {
        let started = Instant::now();
        let params = SearchParams::decode(ctx.params)?;
        let unknown = || StageError::UnknownShard {
            kind: "search",
            shard: ctx.shard.to_string(),
        };
        let (group, trial) = parse_key(ctx.shard).ok_or_else(unknown)?;
        let hyperparams = params
            .space
            .trial(group_seed(ctx.seed, &group), trial)
            .ok_or_else(unknown)?;
        let data = Data::load(ctx.store, ctx.upstream, std::slice::from_ref(&group.view))?;
        let rows = data.view(&group)?;
        let train = rows.select(&group.party, &group.setting, &[Side::Train]);
        let validation = rows.select(&group.party, &group.setting, &[Side::Validation]);
        let limits = Limits {
            max_epochs: params.space.max_epochs,
            patience: params.space.patience,
        };
        let mut executions = Vec::new();
        let mut total = 0.0;
        for execution in 0..params.space.executions_per_trial {
            let seed = execution_seed(ctx.seed, &group, trial, execution);
            let fit_started = Instant::now();
            let (trained, _) = fit_mlp(
                &group,
                rows,
                &train,
                &validation,
                &hyperparams,
                limits,
                seed,
            )?;
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
            "train_rows": train.len(),
            "validation_rows": validation.len(),
            "best_validation": total / f64::from(params.space.executions_per_trial.max(1)),
            "executions": executions,
            "seconds": started.elapsed().as_secs_f64(),
        });
        let mut outputs = ShardOutputs::default();
        outputs.insert("trial", OutputData::json("trial", &record)?);
        Ok(outputs)
    }
}
