//! The `sequence_search` stage kind: random search over the sequence model's
//! hyperparameters (recurrent cell and width, dense layers and widths, learning rate, batch
//! size, activation) for every party × setting, like the study's 30-trial RNN search.
//!
//! Each trial is a shard (`rnn.<party>.<setting>.t<NN>`), stored when it ends, so an
//! interrupted search resumes with its finished trials. Sequences are whole training
//! networks; validation networks stop training early.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kind::{CheckContext, Kind, OutputData, PlanContext, ShardContext, ShardOutputs};
use crate::learn::data::Data;
use crate::learn::models::Limits;
use crate::learn::pairs::{pair_data, pair_key, pairs_or_explain, LAYERS};
use crate::learn::params::{decode_raw, whole, UNBOUNDED};
use crate::learn::seeds::{pair_seed, sequence_seed};
use crate::learn::sequence::{fit_rnn, PartyModels};
use crate::predict::search_space::{Param, RawParam, SearchSpace, MAX_EXECUTIONS, MAX_TRIALS};
use crate::predict::Cell;
use crate::{ParamIssue, StageError};

/// Random search of the sequence model per party × setting.
pub struct SequenceSearchKind;

/// The parameters of a `sequence_search` stage as a manifest writes them (every field
/// optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSequenceParams {
    // Whole numbers are read signed, so that a negative one is reported with its range.
    min_networks: Option<i64>,
    max_trials: Option<i64>,
    executions_per_trial: Option<i64>,
    max_epochs: Option<i64>,
    patience: Option<i64>,
    space: Option<std::collections::BTreeMap<String, RawParam>>,
}

/// The parameters of a `sequence_search` stage, checked and canonical: every field present
/// (what enters the fingerprint).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceParams {
    /// Least training networks a party × setting needs (default 3).
    pub min_networks: usize,
    /// Trials per party × setting (default 30).
    pub max_trials: u32,
    /// Trainings per trial, their validation losses averaged (default 1).
    pub executions_per_trial: u32,
    /// Epoch limit of one training (default 200).
    pub max_epochs: u32,
    /// Epochs without validation improvement before early stopping (default 10).
    pub patience: u32,
    /// The hyperparameters drawn: the study's MLP space with the recurrent part
    /// (`rnn_units` int 16..64 step 16, `cell` choice [gru, lstm]), each replaced by the
    /// manifest's parameter of the same name.
    pub space: SearchSpace,
}

impl SequenceParams {
    /// Checks a manifest's parameters, reporting every issue with its key path.
    pub(crate) fn check(params: &Value) -> Result<SequenceParams, Vec<ParamIssue>> {
        let (raw, mut issues) = decode_raw::<RawSequenceParams>(params);
        let Some(raw) = raw else {
            return Err(issues);
        };
        let mut defaults = SearchSpace::study_default();
        defaults.params.insert(
            "rnn_units".into(),
            Param::Int {
                min: 16,
                max: 64,
                step: 16,
            },
        );
        defaults.params.insert(
            "cell".into(),
            Param::Choice(vec![json!("gru"), json!("lstm")]),
        );
        let space = SearchSpace::check(raw.space.as_ref(), defaults, &["space"], &mut issues);
        // The recurrent part's own names: a cell the sequence model has, a positive width.
        let recurrent = [
            (
                "cell",
                "must be a choice among gru and lstm",
                Box::new(|p: &Param| {
                    matches!(p, Param::Choice(_))
                        && p.all_values(|v| v.as_str().is_some_and(|c| c.parse::<Cell>().is_ok()))
                }) as Box<dyn Fn(&Param) -> bool>,
            ),
            (
                "rnn_units",
                "must be positive integers (an int range or a choice)",
                Box::new(|p: &Param| {
                    !matches!(p, Param::Float { .. })
                        && p.all_values(|v| v.as_u64().is_some_and(|n| n >= 1))
                }),
            ),
        ];
        for (name, message, fits) in recurrent {
            if space.params.get(name).is_some_and(|p| !fits(p)) {
                issues.push(ParamIssue::new(&["space", name], message));
            }
        }
        let i = &mut issues;
        let params = SequenceParams {
            min_networks: whole(i, &["min_networks"], raw.min_networks, 3, (1, UNBOUNDED)) as usize,
            max_trials: whole(i, &["max_trials"], raw.max_trials, 30, (1, MAX_TRIALS)) as u32,
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

fn parse_key(key: &str) -> Option<(String, String, u32)> {
    let rest = key.strip_prefix("rnn.")?;
    let (pair, trial) = rest.rsplit_once(".t")?;
    let (party, setting) = pair.split_once('.')?;
    Some((party.to_string(), setting.to_string(), trial.parse().ok()?))
}

impl Kind for SequenceSearchKind {
    type Params = SequenceParams;
    const NAME: &'static str = "sequence_search";
    // 2: the model learns each layer's ratio to the `protocol` prediction (needs `train`).
    // 3: scaled inputs are clamped into their training range.
    const VERSION: u32 = 3;
    const SUMMARY: &'static str =
        "random search of the whole-network sequence model (one shard per trial)";
    // The number of trials only chooses which trials exist.
    const SHARD_CHOICE: &'static [&'static str] = &["max_trials", "min_networks"];

    fn check(
        &self,
        params: &Value,
        _ctx: &CheckContext<'_>,
    ) -> Result<SequenceParams, Vec<ParamIssue>> {
        SequenceParams::check(params)
    }

    fn plan(
        &self,
        params: &SequenceParams,
        ctx: &PlanContext<'_>,
    ) -> Result<Vec<String>, StageError> {
        let data = Data::load(ctx.store, ctx.upstream, &[LAYERS.to_string()])?;
        let rows = &data.views[LAYERS];
        let mut keys = Vec::new();
        for (party, setting) in pairs_or_explain(rows, params.min_networks)? {
            let seed = pair_seed(ctx.seed, &party, &setting);
            for trial in 0..params.max_trials {
                if params.space.trial(seed, trial).is_none() {
                    break;
                }
                keys.push(format!("{}.t{trial:02}", pair_key(&party, &setting)));
            }
        }
        Ok(keys)
    }

    fn run(
        &self,
        params: &SequenceParams,
        ctx: &ShardContext<'_>,
    ) -> Result<ShardOutputs, StageError> {
        let started = Instant::now();
        let unknown = || StageError::UnknownShard {
            kind: Self::NAME,
            shard: ctx.shard.to_string(),
        };
        let (party, setting, trial) = parse_key(ctx.shard).ok_or_else(unknown)?;
        let hyperparams = params
            .space
            .trial(pair_seed(ctx.seed, &party, &setting), trial)
            .ok_or_else(unknown)?;
        let train_stage = ctx
            .upstream
            .iter()
            .find(|s| s.kind == "train")
            .ok_or_else(|| StageError::Learn {
                message: "sequence_search needs a `train` stage under `needs:`: its sequence \
                          model learns each layer's ratio to the `protocol` model's prediction"
                    .into(),
            })?;
        let models = PartyModels::load(ctx.store, train_stage, &party, &setting)?;
        let data = Data::load(ctx.store, ctx.upstream, &[LAYERS.to_string()])?;
        let (train, validation, train_networks, validation_networks) =
            pair_data(&data.views[LAYERS], &party, &setting, &models)?;
        let limits = Limits {
            max_epochs: params.max_epochs,
            patience: params.patience,
        };
        let mut executions = Vec::new();
        let mut total = 0.0;
        for execution in 0..params.executions_per_trial {
            let seed = sequence_seed(ctx.seed, &party, &setting, trial, execution);
            let fit_started = Instant::now();
            let (trained, _) = fit_rnn(&train, &validation, &hyperparams, limits, seed)?;
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
            "group": pair_key(&party, &setting),
            "model": "rnn",
            "party": party,
            "setting": setting,
            "trial": trial,
            "hyperparams": hyperparams,
            "limits": {"max_epochs": limits.max_epochs, "patience": limits.patience},
            "train_networks": train_networks,
            "validation_networks": validation_networks,
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
    fn keys_round_trip_and_the_recurrent_space_has_defaults() {
        assert_eq!(
            parse_key("rnn.client.wan.t07"),
            Some(("client".into(), "wan".into(), 7))
        );
        assert_eq!(parse_key("conv.client.wan.t07"), None);
        let params = SequenceParams::check(&Value::Null).unwrap();
        assert_eq!(params.max_trials, 30);
        assert!(params.space.params.contains_key("rnn_units"));
        let draw = params.space.trial(1, 0).unwrap();
        assert!(draw.extra.contains_key("cell"), "{draw:?}");
        let canonical = serde_json::to_value(&params).unwrap();
        let again = SequenceParams::check(&canonical).unwrap();
        assert_eq!(serde_json::to_value(&again).unwrap(), canonical);
        let decoded: SequenceParams = serde_json::from_value(canonical.clone()).unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), canonical);
    }

    #[test]
    fn the_recurrent_names_are_checked_when_given() {
        let issues = SequenceParams::check(&json!({
            "space": {"cell": {"choice": ["gru", "rnn"]}},
        }))
        .unwrap_err();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(
            issues[0].located(),
            "`space.cell`: must be a choice among gru and lstm"
        );
        let params = SequenceParams::check(&json!({
            "space": {"cell": {"choice": ["lstm"]}, "rnn_units": {"choice": [8]}},
        }))
        .unwrap();
        assert_eq!(
            params.space.params["cell"],
            Param::Choice(vec![json!("lstm")])
        );
    }

    #[test]
    fn every_bad_parameter_is_reported_at_its_key() {
        let issues = SequenceParams::check(&json!({
            "min_networks": 0,
            "max_trials": 10001,
            "patience": -1,
            "max_epochs": "many",
            "space": {
                "cell": {"choice": []},
                "units": {"float": [1.0, 2.0]},
                "rnn_units": {"int": [0, 16]},
            },
            "min_network": 2,
        }))
        .unwrap_err();
        let found: Vec<String> = issues.iter().map(ParamIssue::located).collect();
        assert_eq!(
            found,
            [
                "`max_epochs`: must be a whole number of at least 1, got the text \"many\"",
                "`min_network`: unknown field `min_network`, expected one of `min_networks`, \
                 `max_trials`, `executions_per_trial`, `max_epochs`, `patience`, `space`",
                "`space.cell.choice`: must be a non-empty list",
                "`space.units`: must be positive integers (an int range or a choice)",
                "`space.rnn_units`: must be positive integers (an int range or a choice)",
                "`min_networks`: must be a whole number of at least 1, got 0",
                "`max_trials`: must be a whole number in 1..=10000, got 10001",
                "`patience`: must be a whole number of at least 0, got -1",
            ]
        );
    }
}
