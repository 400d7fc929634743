//! The parameters of the `whole` stage: the least networks a party × setting needs and
//! the sequence model used when no `sequence_search` is upstream. One type serves as the
//! manifest's form (every field has its default) and the canonical one (serialised with
//! every field present); [`check`] adds the ranges serde cannot say.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::learn::params::{decode_raw, positive, whole, UNBOUNDED};
use crate::predict::{Activation, Cell};
use crate::ParamIssue;

/// The sequence model used when no `sequence_search` is upstream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnDefaults {
    /// Recurrent cell, `gru` or `lstm`.
    #[serde(default = "default_cell")]
    pub cell: Cell,
    /// Width of the recurrent cell.
    #[serde(default = "default_units")]
    pub units: usize,
    /// Widths of the dense layers after it.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Learning rate of the optimiser.
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Mini-batch size (networks).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Activation of the dense layers.
    #[serde(default = "default_activation")]
    pub activation: Activation,
    /// Epoch limit.
    #[serde(default = "default_max_epochs")]
    pub max_epochs: u32,
    /// Epochs without validation improvement before early stopping.
    #[serde(default = "default_patience")]
    pub patience: u32,
}

fn default_cell() -> Cell {
    Cell::Gru
}
fn default_units() -> usize {
    32
}
fn default_hidden() -> Vec<usize> {
    vec![32]
}
fn default_learning_rate() -> f64 {
    3e-3
}
fn default_batch_size() -> usize {
    8
}
fn default_activation() -> Activation {
    Activation::Relu
}
fn default_max_epochs() -> u32 {
    300
}
fn default_patience() -> u32 {
    20
}

/// The parameters of a `whole` stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WholeParams {
    /// Least training networks a party × setting needs.
    #[serde(default = "default_min_networks")]
    pub min_networks: usize,
    /// The sequence model when no `sequence_search` is upstream.
    #[serde(default = "default_rnn")]
    pub rnn: RnnDefaults,
}

fn default_min_networks() -> usize {
    1
}
fn default_rnn() -> RnnDefaults {
    serde_json::from_value(json!({})).expect("defaults")
}

/// Checks a manifest's parameters, reporting every issue with its key path.
pub(super) fn check(params: &Value) -> Result<WholeParams, Vec<ParamIssue>> {
    let (decoded, mut issues) = decode_raw::<WholeParams>(params);
    let Some(params) = decoded else {
        return Err(issues);
    };
    let i = &mut issues;
    let count = |value: usize| Some(i64::try_from(value).unwrap_or(i64::MAX));
    whole(
        i,
        &["min_networks"],
        count(params.min_networks),
        1,
        (1, UNBOUNDED),
    );
    let rnn = &params.rnn;
    whole(i, &["rnn", "units"], count(rnn.units), 32, (1, UNBOUNDED));
    for (k, &width) in rnn.hidden.iter().enumerate() {
        whole(
            i,
            &["rnn", "hidden", &k.to_string()],
            count(width),
            1,
            (1, UNBOUNDED),
        );
    }
    positive(i, &["rnn", "learning_rate"], rnn.learning_rate);
    whole(
        i,
        &["rnn", "batch_size"],
        count(rnn.batch_size),
        8,
        (1, UNBOUNDED),
    );
    whole(
        i,
        &["rnn", "max_epochs"],
        Some(i64::from(rnn.max_epochs)),
        300,
        (1, UNBOUNDED),
    );
    if issues.is_empty() {
        Ok(params)
    } else {
        Err(issues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_bad_values_are_reported_at_their_keys() {
        let params = check(&Value::Null).unwrap();
        assert_eq!(
            serde_json::to_value(&params).unwrap(),
            json!({"min_networks": 1, "rnn": {"activation": "relu", "batch_size": 8,
                "cell": "gru", "hidden": [32], "learning_rate": 0.003, "max_epochs": 300,
                "patience": 20, "units": 32}})
        );
        let issues = check(&json!({
            "min_networks": 0,
            "rnn": {"cell": "rnn", "units": 0, "hidden": [0], "learning_rate": -1.0},
        }))
        .unwrap_err();
        let found: Vec<String> = issues.iter().map(ParamIssue::located).collect();
        assert_eq!(
            found,
            [
                "`rnn.cell`: unknown variant `rnn`, expected `gru` or `lstm`",
                "`min_networks`: must be a whole number of at least 1, got 0",
                "`rnn.units`: must be a whole number of at least 1, got 0",
                "`rnn.hidden.0`: must be a whole number of at least 1, got 0",
                "`rnn.learning_rate`: must be a positive number, got -1",
            ]
        );
    }
}
