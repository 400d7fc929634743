//! The `sequence_search` stage kind: random search over the sequence model's
//! hyperparameters (recurrent cell and width, dense layers and widths, learning rate, batch
//! size, activation) for every party × setting, like the study's 30-trial RNN search.
//!
//! Each trial is a shard (`rnn.<party>.<setting>.t<NN>`), stored when it ends, so an
//! interrupted search resumes with its finished trials. Sequences are whole training
//! networks; validation networks stop training early.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::kind::{CheckContext, Kind, OutputData, PlanContext, ShardContext, ShardOutputs};
use crate::learn::data::Data;
use crate::learn::frame::{Side, ViewRows};
use crate::learn::models::Limits;
use crate::learn::sequence::{fit_rnn, networks, SequenceData};
use crate::predict::search_space::{Param, SearchSpace};
use crate::seed::derived_seed;
use crate::{ParamIssue, StageError};

/// Random search of the sequence model per party × setting.
pub struct SequenceSearchKind;

/// The dataset table the sequence model reads.
pub(crate) const LAYERS: &str = "layers";

/// The parameters of a `sequence_search` stage. The space is read by its own parser
/// ([`SearchSpace::from_value`]), so the canonical JSON is the space's
/// ([`SearchSpace::to_value`]) with `min_networks` beside it, and decoding it runs the same
/// check.
#[derive(Debug, Clone)]
pub struct SequenceParams {
    /// Least training networks a party × setting needs.
    pub min_networks: usize,
    /// The search.
    pub space: SearchSpace,
}

impl SequenceParams {
    pub(crate) fn check(params: &Value) -> Result<SequenceParams, Vec<ParamIssue>> {
        let mut rest = params.as_object().cloned().unwrap_or_default();
        let min_networks = match rest.remove("min_networks") {
            None => 3,
            Some(value) => match value.as_u64() {
                Some(n) if n >= 1 => n as usize,
                _ => {
                    return Err(vec![ParamIssue::new(
                        &["min_networks"],
                        format!("must be a whole number ≥ 1, got {value}"),
                    )])
                }
            },
        };
        if !rest.contains_key("max_trials") {
            rest.insert("max_trials".into(), json!(30));
        }
        let mut space = SearchSpace::from_value(&Value::Object(rest))?;
        // The recurrent part, unless the manifest says otherwise.
        space
            .params
            .entry("rnn_units".into())
            .or_insert(Param::Int {
                min: 16,
                max: 64,
                step: 16,
            });
        space
            .params
            .entry("cell".into())
            .or_insert(Param::Choice(vec![json!("gru"), json!("lstm")]));
        Ok(SequenceParams {
            min_networks,
            space,
        })
    }

    pub(crate) fn canonical(&self) -> Value {
        let mut map = match self.space.to_value() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        map.insert("min_networks".into(), json!(self.min_networks));
        Value::Object(map)
    }
}

impl Serialize for SequenceParams {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.canonical().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SequenceParams {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        SequenceParams::check(&value).map_err(|issues| D::Error::custom(ParamIssue::line(&issues)))
    }
}

/// [`pairs`], or — when no party × setting has enough networks — an error naming the
/// minimum and the best pair there is.
pub(crate) fn pairs_or_explain(
    rows: &ViewRows,
    min_networks: usize,
) -> Result<Vec<(String, String)>, StageError> {
    let pairs = pairs(rows, min_networks);
    if !pairs.is_empty() {
        return Ok(pairs);
    }
    let best = network_counts(rows)
        .into_iter()
        .max_by_key(|(_, counts)| *counts);
    let best = match best {
        Some(((party, setting), (train, validation))) => format!(
            "the most any has is {train} training and {validation} validation networks ({party} in `{setting}`)"
        ),
        None => "the dataset has no layers".to_string(),
    };
    Err(StageError::Learn {
        message: format!(
            "too little data: a whole-network model needs at least {min_networks} training \
             networks (`min_networks`) and 1 validation network per party and setting, and \
             {best}; add networks (raise `count` of the synthesize stage) or lower `min_networks`"
        ),
    })
}

/// Per party × setting, the training and validation networks.
fn network_counts(rows: &ViewRows) -> BTreeMap<(String, String), (usize, usize)> {
    let mut networks: BTreeSet<(&str, &str, &str, bool)> = BTreeSet::new();
    for i in 0..rows.len() {
        let train = match rows.side[i] {
            Side::Train => true,
            Side::Validation => false,
            _ => continue,
        };
        networks.insert((
            rows.party[i].as_str(),
            rows.setting[i].as_str(),
            rows.network[i].as_str(),
            train,
        ));
    }
    let mut counts: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for (party, setting, _, train) in networks {
        let entry = counts
            .entry((party.to_string(), setting.to_string()))
            .or_default();
        if train {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    counts
}

/// The party × setting pairs with at least `min_networks` training networks and one
/// validation network, in order.
pub(crate) fn pairs(rows: &ViewRows, min_networks: usize) -> Vec<(String, String)> {
    let mut train: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    let mut validation: BTreeSet<(&str, &str)> = BTreeSet::new();
    for i in 0..rows.len() {
        let pair = (rows.party[i].as_str(), rows.setting[i].as_str());
        match rows.side[i] {
            Side::Train => {
                train.insert((pair.0, pair.1, rows.network[i].as_str()));
            }
            Side::Validation => {
                validation.insert(pair);
            }
            _ => {}
        }
    }
    let mut counts: std::collections::BTreeMap<(&str, &str), usize> = Default::default();
    for (party, setting, _) in &train {
        *counts.entry((party, setting)).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(pair, n)| *n >= min_networks && validation.contains(pair))
        .map(|((party, setting), _)| (party.to_string(), setting.to_string()))
        .collect()
}

/// `rnn.<party>.<setting>`.
pub(crate) fn pair_key(party: &str, setting: &str) -> String {
    format!("rnn.{party}.{setting}")
}

/// The seed of a pair's search stream.
pub(crate) fn pair_seed(seed: u64, party: &str, setting: &str) -> u64 {
    derived_seed(seed, &["sequence_search", &pair_key(party, setting)])
}

/// The seed of one execution of one trial.
pub(crate) fn sequence_seed(seed: u64, party: &str, setting: &str, trial: u32, run: u32) -> u64 {
    derived_seed(
        seed,
        &[
            "sequence_trial",
            &pair_key(party, setting),
            &trial.to_string(),
            &run.to_string(),
        ],
    )
}

fn parse_key(key: &str) -> Option<(String, String, u32)> {
    let rest = key.strip_prefix("rnn.")?;
    let (pair, trial) = rest.rsplit_once(".t")?;
    let (party, setting) = pair.split_once('.')?;
    Some((party.to_string(), setting.to_string(), trial.parse().ok()?))
}

/// The training and validation sequences of a pair.
pub(crate) fn pair_data(
    rows: &ViewRows,
    party: &str,
    setting: &str,
) -> Result<(SequenceData, SequenceData, usize, usize), StageError> {
    let train = networks(rows, party, setting, &[Side::Train])?;
    let validation = networks(rows, party, setting, &[Side::Validation])?;
    Ok((
        SequenceData::of(rows, &train)?,
        SequenceData::of(rows, &validation)?,
        train.len(),
        validation.len(),
    ))
}

impl Kind for SequenceSearchKind {
    type Params = SequenceParams;
    const NAME: &'static str = "sequence_search";
    const VERSION: u32 = 1;
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
            for trial in 0..params.space.max_trials {
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
        let data = Data::load(ctx.store, ctx.upstream, &[LAYERS.to_string()])?;
        let (train, validation, train_networks, validation_networks) =
            pair_data(&data.views[LAYERS], &party, &setting)?;
        let limits = Limits {
            max_epochs: params.space.max_epochs,
            patience: params.space.patience,
        };
        let mut executions = Vec::new();
        let mut total = 0.0;
        for execution in 0..params.space.executions_per_trial {
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
            "best_validation": total / f64::from(params.space.executions_per_trial.max(1)),
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
    fn too_few_networks_is_an_error_naming_the_minimum_and_the_best_pair() {
        let mut rows = ViewRows::default();
        // Two training networks of two layers each and one validation network.
        for (network, side) in [
            ("a", Side::Train),
            ("b", Side::Train),
            ("c", Side::Validation),
        ] {
            for layer in 0..2 {
                rows.network.push(network.into());
                rows.setting.push("wan".into());
                rows.party.push("client".into());
                rows.run.push(0);
                rows.layer.push(layer);
                rows.kind.push("conv".into());
                rows.side.push(side);
            }
        }
        let error = pairs_or_explain(&rows, 5).unwrap_err().to_string();
        assert!(
            error.contains("at least 5 training networks (`min_networks`)"),
            "{error}"
        );
        assert!(
            error.contains("2 training and 1 validation networks (client in `wan`)"),
            "{error}"
        );
        assert_eq!(
            pairs_or_explain(&rows, 2).unwrap(),
            vec![("client".to_string(), "wan".to_string())]
        );
        let error = pairs_or_explain(&ViewRows::default(), 1)
            .unwrap_err()
            .to_string();
        assert!(error.contains("the dataset has no layers"), "{error}");
    }

    #[test]
    fn keys_round_trip_and_the_recurrent_space_has_defaults() {
        assert_eq!(
            parse_key("rnn.client.wan.t07"),
            Some(("client".into(), "wan".into(), 7))
        );
        assert_eq!(parse_key("conv.client.wan.t07"), None);
        let params = SequenceParams::check(&json!({})).unwrap();
        assert_eq!(params.space.max_trials, 30);
        assert!(params.space.params.contains_key("rnn_units"));
        let draw = params.space.trial(1, 0).unwrap();
        assert!(draw.extra.contains_key("cell"), "{draw:?}");
        let again = SequenceParams::check(&params.canonical()).unwrap();
        assert_eq!(again.canonical(), params.canonical());
        assert!(SequenceParams::check(&json!({"min_networks": 0})).is_err());
    }
}
