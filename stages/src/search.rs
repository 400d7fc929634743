//! The `search` stage kind: random search over MLP hyperparameters, like Keras Tuner's
//! RandomSearch, for every layer type × party × setting.
//!
//! Each trial is a shard (`<view>.<party>.<setting>.t<NN>`), stored when it ends with its
//! hyperparameters, per-epoch losses, best validation loss, epochs run and time, so an
//! interrupted search resumes with its finished trials. Trial `i` of a group is the `i`-th
//! distinct draw of a stream seeded by the stage seed and the group, so trials are
//! independent of each other and duplicates are skipped.

use std::time::Instant;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::kind::{CheckContext, Kind, OutputData, PlanContext, ShardContext, ShardOutputs};
use crate::learn::data::{common_params, CommonParams, Data, Group};
use crate::learn::frame::Side;
use crate::learn::models::{fit_mlp, Limits};
use crate::predict::search_space::SearchSpace;
use crate::seed::derived_seed;
use crate::{ParamIssue, StageError};

/// Random search of MLP hyperparameters per layer model.
pub struct SearchKind;

/// The parameters of a `search` stage. The space is read by its own parser
/// ([`SearchSpace::from_value`]), so the canonical JSON is the space's
/// ([`SearchSpace::to_value`]) with `views` and `min_rows` beside it, and decoding it runs
/// the same check.
#[derive(Debug, Clone)]
pub struct SearchParams {
    /// The layer types to model.
    pub views: Vec<String>,
    /// Training rows a layer model needs.
    pub min_rows: usize,
    /// The search.
    pub space: SearchSpace,
}

impl Serialize for SearchParams {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.canonical().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SearchParams {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        SearchParams::check(&value).map_err(|issues| D::Error::custom(ParamIssue::line(&issues)))
    }
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

impl Kind for SearchKind {
    type Params = SearchParams;
    const NAME: &'static str = "search";
    // 2: the MLP learns the log-ratio of measured time to the protocol prediction.
    const VERSION: u32 = 2;
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
            for trial in 0..params.space.max_trials {
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
