//! The `split` stage kind: which networks (or rows) of a `dataset` stage the predictors
//! train on, tune on and are tested on, in one shard (`split`).
//!
//! By default the split is **by network**: every run and layer of a network falls on the
//! same side. Per family, a seeded shuffle sends a `test` fraction of the family's networks
//! to `test`, a `validation` fraction of the rest to `validation` and a `selection`
//! fraction of what then remains to `selection` (default 0: none); the rest train. The
//! networks of the `held_out` upstream stages (the reference networks) are never trained
//! on: they are side `reference`, the whole-network test set. `by: row` reproduces the
//! original study's leaky row-wise split, for comparison.
//!
//! Outputs: the tables `assignment` (one row per network) and `rows` (one row per row of
//! the dataset's `layers` table, with its side), and the JSON blob `summary` with the
//! counts per side and the leak check ([`leak`]): how many test rows have an identical
//! feature twin in training.

mod assign;
mod layers;
mod leak;
mod outputs;
mod speed;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kind::{CheckContext, Kind, PlanContext, ShardContext, ShardOutputs};
use crate::{decode_params_all, ParamIssue, StageError, UpstreamStage};

use assign::Fractions;

/// The one shard of a split stage.
pub const SHARD: &str = "split";

/// The kind of stage a split reads.
const DATASET_KIND: &str = "dataset";

/// Splits a dataset into train, validation, test and reference sides.
pub struct SplitKind;

/// What a split is made of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitBy {
    /// Whole networks: no network is on two sides.
    #[default]
    Network,
    /// Single rows of the layer table: the original study's leaky split.
    Row,
}

impl SplitBy {
    fn as_str(self) -> &'static str {
        match self {
            SplitBy::Network => "network",
            SplitBy::Row => "row",
        }
    }
}

/// The parameters of a `split` stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitParams {
    /// What is split: `network` or `row`.
    #[serde(default)]
    by: SplitBy,
    /// The fraction of each family's networks (or of the rows) that is tested on.
    #[serde(default = "default_test")]
    test: f64,
    /// The fraction of the remaining networks (or rows) kept for validation.
    #[serde(default = "default_validation")]
    validation: f64,
    /// The fraction of the networks (or rows) left after test and validation on which the
    /// recommended method is chosen instead of on the validation networks: the searches
    /// tune the learned models on the validation networks, so those flatter them. 0 (the
    /// default, left out of the canonical parameters) keeps the choice on validation.
    #[serde(default, skip_serializing_if = "is_zero")]
    selection: f64,
    /// The upstream `source_stage` names whose networks are never trained on.
    #[serde(default = "default_held_out")]
    held_out: Vec<String>,
    /// How run times are put on one machine speed before anything learns from them:
    /// `none` (the default, left out of the canonical parameters) or `probe` (see
    /// [`speed`]).
    #[serde(default, skip_serializing_if = "SpeedMode::is_none")]
    speed: SpeedMode,
}

/// The `speed` parameter of a split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeedMode {
    /// Times as measured.
    #[default]
    None,
    /// Times scaled to the training runs' median probe speed, with an exponent fitted on
    /// the training networks (the `rows` table gets a `speed_factor` column).
    Probe,
}

impl SpeedMode {
    fn is_none(&self) -> bool {
        *self == SpeedMode::None
    }
}

fn default_test() -> f64 {
    0.2
}

fn default_validation() -> f64 {
    0.2
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

fn default_held_out() -> Vec<String> {
    vec!["reference".to_string()]
}

impl SplitParams {
    fn fractions(&self) -> Fractions {
        Fractions {
            test: self.test,
            validation: self.validation,
            selection: self.selection,
        }
    }

    /// Every problem with the values (the shape was checked by serde).
    fn issues(&self) -> Vec<ParamIssue> {
        let mut issues = Vec::new();
        for (name, value) in [
            ("test", self.test),
            ("validation", self.validation),
            ("selection", self.selection),
        ] {
            if !(0.0..1.0).contains(&value) {
                issues.push(
                    ParamIssue::new(
                        &[name],
                        format!("must be at least 0 and below 1, not {value}"),
                    )
                    .with_hint("a fraction such as 0.2"),
                );
            }
        }
        let mut seen = BTreeSet::new();
        for (index, name) in self.held_out.iter().enumerate() {
            if !seen.insert(name) {
                let index = index.to_string();
                issues.push(ParamIssue::new(
                    &["held_out", &index],
                    format!("`{name}` is listed twice"),
                ));
            }
        }
        issues
    }
}

fn object_or_empty(params: &Value) -> Value {
    if params.is_null() {
        Value::Object(Default::default())
    } else {
        params.clone()
    }
}

/// An error about the split of the stage `stage` (or `needs`).
fn error(stage: &str, message: impl Into<String>) -> StageError {
    StageError::Split {
        stage: stage.to_string(),
        message: message.into(),
    }
}

/// The one upstream dataset stage.
fn dataset_stage(upstream: &[UpstreamStage]) -> Result<&UpstreamStage, StageError> {
    match upstream {
        [stage] if stage.kind == DATASET_KIND => Ok(stage),
        [stage] => Err(error(
            &stage.name,
            format!(
                "stage `{}` is of kind `{}`, but a split reads one `{DATASET_KIND}` stage",
                stage.name, stage.kind
            ),
        )),
        [] => Err(error(
            "needs",
            "no dataset stage is listed; name exactly one under `needs:`",
        )),
        _ => Err(error(
            "needs",
            format!(
                "{} stages are listed ({}); a split reads exactly one `{DATASET_KIND}` stage",
                upstream.len(),
                upstream
                    .iter()
                    .map(|stage| format!("`{}`", stage.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

impl Kind for SplitKind {
    type Params = SplitParams;
    const NAME: &'static str = "split";
    const VERSION: u32 = 1;
    const SUMMARY: &'static str =
        "train/validation/test sides by network (or row) with a leak check (one shard)";
    // One shard reading the whole upstream stage: copying it to a node costs more than the
    // work.
    const RUNS_ON_COORDINATOR: bool = true;

    fn check(
        &self,
        params: &Value,
        _ctx: &CheckContext<'_>,
    ) -> Result<SplitParams, Vec<ParamIssue>> {
        let decoded: SplitParams = decode_params_all(&object_or_empty(params))?;
        let issues = decoded.issues();
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(decoded)
    }

    fn plan(
        &self,
        _params: &SplitParams,
        ctx: &PlanContext<'_>,
    ) -> Result<Vec<String>, StageError> {
        dataset_stage(ctx.upstream)?;
        Ok(vec![SHARD.to_string()])
    }

    fn run(
        &self,
        params: &SplitParams,
        ctx: &ShardContext<'_>,
    ) -> Result<ShardOutputs, StageError> {
        if ctx.shard != SHARD {
            return Err(StageError::UnknownShard {
                kind: Self::NAME,
                shard: ctx.shard.to_string(),
            });
        }
        let stage = dataset_stage(ctx.upstream)?;
        let rows = layers::read(stage, ctx.store)?;
        let held_out: BTreeSet<&str> = params.held_out.iter().map(String::as_str).collect();
        let networks = rows.networks();
        for name in &held_out {
            if !networks.iter().any(|n| n.source_stage == *name) {
                tracing::warn!(
                    stage = %stage.name,
                    "split: no network of the dataset comes from the held-out stage `{name}`"
                );
            }
        }
        let fractions = params.fractions();
        let (network_sides, row_sides) = match params.by {
            SplitBy::Network => {
                let sides = assign::by_network(&networks, &held_out, fractions, ctx.seed);
                let rows_sides = rows
                    .network
                    .iter()
                    .map(|network| sides[network.as_str()])
                    .collect();
                (sides, rows_sides)
            }
            SplitBy::Row => {
                let row_sides = assign::by_row(&rows, &held_out, fractions, ctx.seed);
                (assign::mixed(&networks, &held_out), row_sides)
            }
        };
        let leak = leak::check(&rows, &row_sides);
        let speed = match params.speed {
            SpeedMode::None => None,
            SpeedMode::Probe => {
                let training = speed::training_networks(&rows, &row_sides);
                let fit = speed::fit(stage, ctx.store, |network| {
                    training.get(network).copied().unwrap_or(false)
                })?;
                let factors = speed::row_factors(&fit, &rows, &stage.name)?;
                Some((fit.settings, factors))
            }
        };
        let mut summary = outputs::Summary::new(
            params.by.as_str(),
            ctx.seed,
            &networks,
            &network_sides,
            &row_sides,
            leak,
        );
        summary.speed = speed.as_ref().map(|(settings, _)| settings.clone());
        tracing::info!(
            stage = %stage.name,
            "split by {}: {}; {}",
            params.by.as_str(),
            summary.counts_line(),
            summary.leak_line(),
        );
        let mut result = ShardOutputs::default();
        result.insert(
            "assignment",
            outputs::assignment_table(&networks, &network_sides)?,
        );
        let factors = speed.as_ref().map(|(_, factors)| factors.as_slice());
        result.insert("rows", outputs::rows_table(&rows, &row_sides, factors)?);
        result.insert("summary", summary.to_output()?);
        Ok(result)
    }
}
