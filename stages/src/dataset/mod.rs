//! The `dataset` stage kind: the tables the predictors train on, built from the outputs of
//! one or more `profile` stages, in one shard (`tables`).
//!
//! Outputs (all tables, rows sorted by network, setting, run, party, layer):
//!
//! - `layers`: one row per (network, setting, run, party, layer) with the layer's raw
//!   parameters, engineered features (`LayerFeatures`, `stages/src/rows/features.rs`), the
//!   engine's planned protocol counts, what was measured, and the context (link, backend,
//!   engine, machine);
//! - one view per layer type ([`views::VIEWS`]): the same columns over the rows of that type,
//!   always present;
//! - `networks`: one row per (network, setting, run, party) with the run line's totals.
//!
//! Parameters: `allow_mixed` (default false) accepts shards of one setting that ran on
//! different machines, backends, engine versions, ℓ or thread counts.

mod consistency;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kind::{CheckContext, Kind, OutputData, PlanContext, ShardContext, ShardOutputs};
use crate::rows::{columns, profile, row, views};
use crate::{decode_params_all, ParamIssue, StageError};

/// The one shard of a dataset stage.
pub const SHARD: &str = "tables";

/// Builds the layer and network tables from profile stages.
pub struct DatasetKind;

/// The parameters of a `dataset` stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetParams {
    /// Accept mixed machines, backends, engine versions, ℓ or threads within a setting.
    #[serde(default)]
    pub allow_mixed: bool,
}

impl Kind for DatasetKind {
    type Params = DatasetParams;
    const NAME: &'static str = "dataset";
    // 2: `planned_rounds`. 3: the `ot` column, planned rounds per OT backend.
    // 4: the machine's speed and load (`probe_*`, `load_avg`, `steal_fraction`).
    // 5: `ot_refills`, the planned Ferret refills of each layer. 6: `ot_pool_growth`.
    const VERSION: u32 = 6;
    const SUMMARY: &'static str =
        "per-layer and per-network tables from profile stages (one shard)";
    // One shard reading the whole upstream stage: copying it to a node costs more than the
    // work.
    const RUNS_ON_COORDINATOR: bool = true;

    fn check(
        &self,
        params: &Value,
        _ctx: &CheckContext<'_>,
    ) -> Result<DatasetParams, Vec<ParamIssue>> {
        let params = if params.is_null() {
            Value::Object(Default::default())
        } else {
            params.clone()
        };
        decode_params_all(&params)
    }

    fn plan(
        &self,
        _params: &DatasetParams,
        ctx: &PlanContext<'_>,
    ) -> Result<Vec<String>, StageError> {
        profile::check_kinds(ctx.upstream)?;
        Ok(vec![SHARD.to_string()])
    }

    fn run(
        &self,
        params: &DatasetParams,
        ctx: &ShardContext<'_>,
    ) -> Result<ShardOutputs, StageError> {
        if ctx.shard != SHARD {
            return Err(StageError::UnknownShard {
                kind: Self::NAME,
                shard: ctx.shard.to_string(),
            });
        }
        let shards = profile::read_all(ctx.upstream, ctx.store)?;
        consistency::check_unique(&shards)?;
        consistency::check_one_ot(&shards)?;
        if !params.allow_mixed {
            consistency::check_not_mixed(&shards)?;
        }
        let mut layer_rows = Vec::new();
        let mut network_rows = Vec::new();
        for shard in &shards {
            let (layers, networks) = row::shard_rows(shard)?;
            layer_rows.extend(layers);
            network_rows.extend(networks);
        }
        let mut layer_rows: Vec<&row::LayerRow> = layer_rows.iter().collect();
        layer_rows.sort_by(|a, b| a.key().cmp(&b.key()));
        let mut network_rows: Vec<&row::NetworkRow> = network_rows.iter().collect();
        network_rows.sort_by(|a, b| a.key().cmp(&b.key()));

        let mut outputs = ShardOutputs::default();
        outputs.insert(
            "layers",
            OutputData::Table(columns::layers_table("layers", &layer_rows)?),
        );
        for view in &views::VIEWS {
            let view_rows: Vec<&row::LayerRow> = layer_rows
                .iter()
                .copied()
                .filter(|row| view.kinds.contains(&row.kind))
                .collect();
            outputs.insert(
                view.name,
                OutputData::Table(columns::layers_table(view.name, &view_rows)?),
            );
        }
        outputs.insert(
            "networks",
            OutputData::Table(columns::networks_table(&network_rows)?),
        );
        Ok(outputs)
    }
}
