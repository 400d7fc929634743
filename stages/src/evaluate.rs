//! The `evaluate` stage kind: every stored per-layer model on the held-out test networks,
//! per layer type × party × setting × method — mean measured layer time, MAE, R², MAPE and
//! the time to predict one layer (measured in-process over many calls) — in the layout of
//! the study's tables 7–8, plus every test prediction for plots. Beside the study's R² on
//! single runs it stores R² against each layer's mean over its runs and the noise ceiling
//! (how well the run mean itself explains single runs), so a reader can tell model error
//! from a noisy machine.
//!
//! Each group also gets a recommended method: by squared error on the validation networks'
//! layers, which no model was fitted on, the simplest method within one standard error of
//! the least ([`crate::learn::recommend`]). The test networks never choose.

use std::collections::BTreeMap;
use std::time::Instant;

use polars::prelude::{Column, DataFrame};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use snni_artifacts::BlobSource;

use crate::kind::{CheckContext, Kind, OutputData, PlanContext, ShardContext, ShardOutputs};
use crate::learn::data::{Data, Group};
use crate::learn::features;
use crate::learn::frame::Side;
use crate::learn::method::Method;
use crate::learn::models::{blob, load_models, parse, targets, Models};
use crate::learn::recommend::{recommend, Scored};
use crate::predict::metrics::{mae, mape, r2, repeated_r2};
use crate::schema::dataset::{LAYER, NETWORK, PARTY, RUN, SETTING};
use crate::schema::results::{
    MAE_S, MAPE, MEASURED_S, METHOD, PREDICTED_S, R2, R2_CEILING, R2_RUN_MEAN, RECOMMENDED_METHOD,
    SPLIT, TEST_ROWS, T_LAYER_S, T_PRED_US, VALIDATION_R2, VIEW,
};
use crate::{ParamIssue, StageError, UpstreamStage};

/// Evaluates the per-layer models.
pub struct EvaluateKind;

/// The parameters of an `evaluate` stage: none (the canonical JSON is `{}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateParams {}

/// Least time spent predicting when measuring t_pred, per group and method.
const TIMING_BUDGET_S: f64 = 0.02;

/// Predicts every row with `predict` and measures the mean time of one call.
fn run_timed(rows: &[Vec<f64>], mut predict: impl FnMut(&[f64]) -> f64) -> (Vec<f64>, f64) {
    let predictions: Vec<f64> = rows.iter().map(|r| predict(r)).collect();
    let started = Instant::now();
    let mut calls = 0u64;
    let mut sink = 0.0;
    while started.elapsed().as_secs_f64() < TIMING_BUDGET_S {
        for row in rows {
            sink += predict(std::hint::black_box(row));
            calls += 1;
        }
    }
    std::hint::black_box(sink);
    (
        predictions,
        started.elapsed().as_secs_f64() / calls.max(1) as f64,
    )
}

/// The split's `by` (network or row), from its summary.
fn split_by(store: &dyn BlobSource, upstream: &[UpstreamStage]) -> Result<String, StageError> {
    let split = upstream
        .iter()
        .find(|s| s.kind == "split")
        .ok_or_else(|| StageError::Learn {
            message: "evaluate needs a `split` stage under `needs:`".into(),
        })?;
    let summary: Value = match blob(store, split, "split/summary")? {
        Some(bytes) => parse(&bytes, "the split summary")?,
        None => Value::Null,
    };
    Ok(summary["by"].as_str().unwrap_or("network").to_string())
}

/// Every method's predictions for the rows `indices` of `group`'s view (a method the
/// group has no model for is absent).
fn predict_all(
    models: &Models,
    rows: &crate::learn::frame::ViewRows,
    view: &str,
    indices: &[usize],
) -> Result<BTreeMap<Method, Vec<f64>>, StageError> {
    let analytical_x = features::matrix(rows, indices, &features::analytical(view))?;
    let protocol_x = features::matrix(rows, indices, &features::protocol())?;
    let mlp_x = features::matrix(rows, indices, &features::mlp(view))?;
    let mut scratch = vec![0f32; models.mlp.meta.spec.inputs];
    let mut out = BTreeMap::new();
    out.insert(
        Method::Analytical,
        analytical_x
            .iter()
            .map(|r| models.analytical.predict(r))
            .collect(),
    );
    out.insert(
        Method::Protocol,
        protocol_x
            .iter()
            .map(|r| models.protocol.predict(r))
            .collect(),
    );
    if let Some(transfer) = &models.transfer {
        out.insert(
            Method::Transfer,
            protocol_x.iter().map(|r| transfer.predict(r)).collect(),
        );
    }
    let mlp = mlp_x
        .iter()
        .zip(&out[&Method::Protocol])
        .map(|(r, &base)| models.mlp.predict(r, base, &mut scratch))
        .collect();
    out.insert(Method::Mlp, mlp);
    Ok(out)
}

#[derive(Default)]
struct Table {
    view: Vec<String>,
    party: Vec<String>,
    setting: Vec<String>,
    method: Vec<String>,
    rows: Vec<u64>,
    t_layer: Vec<f64>,
    mae: Vec<f64>,
    r2: Vec<f64>,
    r2_run_mean: Vec<f64>,
    r2_ceiling: Vec<f64>,
    mape: Vec<f64>,
    t_pred_us: Vec<f64>,
    validation_r2: Vec<f64>,
    recommended: Vec<String>,
}

#[derive(Default)]
struct Predictions {
    network: Vec<String>,
    setting: Vec<String>,
    party: Vec<String>,
    run: Vec<u64>,
    layer: Vec<u64>,
    view: Vec<String>,
    method: Vec<String>,
    measured: Vec<f64>,
    predicted: Vec<f64>,
}

impl Kind for EvaluateKind {
    type Params = EvaluateParams;
    const NAME: &'static str = "evaluate";
    // 2: R² against each layer's run mean, and the run-to-run noise ceiling.
    // 3: validation R² and the recommended method per group.
    // 4: the recommendation by the one-standard-error rule.
    // 5: the MLP answers a layer beyond its training range with the protocol prediction.
    const VERSION: u32 = 5;
    const SUMMARY: &'static str =
        "per-layer accuracy and prediction time of every model on the test networks";
    // One shard reading the whole upstream stage: copying it to a node costs more than the
    // work.
    const RUNS_ON_COORDINATOR: bool = true;

    fn check(
        &self,
        params: &Value,
        _ctx: &CheckContext<'_>,
    ) -> Result<EvaluateParams, Vec<ParamIssue>> {
        match params.as_object().and_then(|m| m.keys().next()) {
            Some(key) => Err(vec![ParamIssue::new(
                &[key],
                format!("unknown key `{key}`"),
            )
            .with_hint("evaluate takes no parameters")]),
            None => Ok(EvaluateParams {}),
        }
    }

    fn plan(
        &self,
        _params: &EvaluateParams,
        _ctx: &PlanContext<'_>,
    ) -> Result<Vec<String>, StageError> {
        Ok(vec!["per_layer".to_string()])
    }

    fn run(
        &self,
        _params: &EvaluateParams,
        ctx: &ShardContext<'_>,
    ) -> Result<ShardOutputs, StageError> {
        let train = ctx
            .upstream
            .iter()
            .find(|s| s.kind == "train")
            .ok_or_else(|| StageError::Learn {
                message: "evaluate needs a `train` stage under `needs:`".into(),
            })?;
        let mut groups: Vec<Group> = train
            .record
            .outputs
            .keys()
            .filter_map(|name| name.strip_suffix("/analytical"))
            .filter_map(Group::parse)
            .collect();
        groups.sort();
        let views: Vec<String> = groups
            .iter()
            .map(|g| g.view.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let data = Data::load(ctx.store, ctx.upstream, &views)?;
        let by = split_by(ctx.store, ctx.upstream)?;
        let mut table = Table::default();
        let mut predictions = Predictions::default();
        for group in &groups {
            let Some(models) = load_models(ctx.store, train, group)? else {
                continue;
            };
            let rows = data.view(group)?;
            let test = rows.select(&group.party, &group.setting, &[Side::Test]);
            if test.is_empty() {
                continue;
            }
            // The recommended method, by squared error on the selection layers when the
            // split has them (unseen by the searches), else on the validation layers.
            let mut side = Side::Selection;
            let mut choosing = rows.select(&group.party, &group.setting, &[side]);
            if choosing.is_empty() {
                side = Side::Validation;
                choosing = rows.select(&group.party, &group.setting, &[side]);
            }
            let choosing_y = targets(rows, &choosing)?;
            let choosing_predictions = predict_all(&models, rows, &group.view, &choosing)?;
            let mut scored = Vec::new();
            for (method, predicted) in &choosing_predictions {
                scored.extend(predicted.iter().zip(&choosing_y).map(|(p, y)| Scored {
                    method: *method,
                    side,
                    error: (p - y).powi(2),
                }));
            }
            let recommended = recommend(&scored).map_or("", |m| m.name());
            let measured = targets(rows, &test)?;
            // One key per layer of a network: its runs are repeated measurements.
            let layer_keys: Vec<(&str, u64)> = test
                .iter()
                .map(|&i| (rows.network[i].as_str(), rows.layer[i]))
                .collect();
            let analytical_x = features::matrix(rows, &test, &features::analytical(&group.view))?;
            let protocol_x = features::matrix(rows, &test, &features::protocol())?;
            let mlp_x = features::matrix(rows, &test, &features::mlp(&group.view))?;
            let mut scratch = vec![0f32; models.mlp.meta.spec.inputs];
            let mut results: BTreeMap<Method, (Vec<f64>, f64)> = BTreeMap::new();
            results.insert(
                Method::Analytical,
                run_timed(&analytical_x, |r| models.analytical.predict(r)),
            );
            results.insert(
                Method::Protocol,
                run_timed(&protocol_x, |r| models.protocol.predict(r)),
            );
            if let Some(transfer) = &models.transfer {
                results.insert(
                    Method::Transfer,
                    run_timed(&protocol_x, |r| transfer.predict(r)),
                );
            }
            // The MLP's time includes the protocol prediction it scales.
            let mlp_rows: Vec<Vec<f64>> = mlp_x
                .iter()
                .zip(&protocol_x)
                .map(|(m, p)| m.iter().chain(p).copied().collect())
                .collect();
            let split_at = mlp_x.first().map_or(0, Vec::len);
            results.insert(
                Method::Mlp,
                run_timed(&mlp_rows, |r| {
                    let (m, p) = r.split_at(split_at);
                    models
                        .mlp
                        .predict(m, models.protocol.predict(p), &mut scratch)
                }),
            );
            for method in Method::PER_LAYER {
                let Some((predicted, seconds)) = results.get(&method) else {
                    continue;
                };
                table.view.push(group.view.clone());
                table.party.push(group.party.clone());
                table.setting.push(group.setting.clone());
                table.method.push(method.name().to_string());
                table.rows.push(test.len() as u64);
                table
                    .t_layer
                    .push(measured.iter().sum::<f64>() / measured.len() as f64);
                table.mae.push(mae(&measured, predicted));
                table.r2.push(r2(&measured, predicted));
                let (run_mean, ceiling) = repeated_r2(&layer_keys, &measured, predicted);
                table.r2_run_mean.push(run_mean);
                table.r2_ceiling.push(ceiling);
                table.mape.push(mape(&measured, predicted));
                table.t_pred_us.push(seconds * 1e6);
                table.validation_r2.push(
                    choosing_predictions
                        .get(&method)
                        .map_or(f64::NAN, |p| r2(&choosing_y, p)),
                );
                table.recommended.push(recommended.to_string());
                for (k, &i) in test.iter().enumerate() {
                    predictions.network.push(rows.network[i].clone());
                    predictions.setting.push(group.setting.clone());
                    predictions.party.push(group.party.clone());
                    predictions.run.push(rows.run[i]);
                    predictions.layer.push(rows.layer[i]);
                    predictions.view.push(group.view.clone());
                    predictions.method.push(method.name().to_string());
                    predictions.measured.push(measured[k]);
                    predictions.predicted.push(predicted[k]);
                }
            }
        }
        let n = table.view.len();
        let serialize = |name: &str, e: polars::prelude::PolarsError| StageError::Serialize {
            name: name.into(),
            message: e.to_string(),
        };
        let per_layer = DataFrame::new(
            n,
            vec![
                Column::new(VIEW.name.into(), table.view),
                Column::new(PARTY.name.into(), table.party),
                Column::new(SETTING.name.into(), table.setting),
                Column::new(METHOD.name.into(), table.method),
                Column::new(SPLIT.name.into(), vec![by.clone(); n]),
                Column::new(TEST_ROWS.name.into(), table.rows),
                Column::new(T_LAYER_S.name.into(), table.t_layer),
                Column::new(MAE_S.name.into(), table.mae),
                Column::new(R2.name.into(), table.r2),
                Column::new(R2_RUN_MEAN.name.into(), table.r2_run_mean),
                Column::new(R2_CEILING.name.into(), table.r2_ceiling),
                Column::new(MAPE.name.into(), table.mape),
                Column::new(T_PRED_US.name.into(), table.t_pred_us),
                Column::new(VALIDATION_R2.name.into(), table.validation_r2),
                Column::new(RECOMMENDED_METHOD.name.into(), table.recommended),
            ],
        )
        .map_err(|e| serialize("per_layer", e))?;
        let predictions = DataFrame::new(
            predictions.network.len(),
            vec![
                Column::new(NETWORK.name.into(), predictions.network),
                Column::new(SETTING.name.into(), predictions.setting),
                Column::new(PARTY.name.into(), predictions.party),
                Column::new(RUN.name.into(), predictions.run),
                Column::new(LAYER.name.into(), predictions.layer),
                Column::new(VIEW.name.into(), predictions.view),
                Column::new(METHOD.name.into(), predictions.method),
                Column::new(MEASURED_S.name.into(), predictions.measured),
                Column::new(PREDICTED_S.name.into(), predictions.predicted),
            ],
        )
        .map_err(|e| serialize("predictions", e))?;
        let mut outputs = ShardOutputs::default();
        outputs.insert("per_layer", OutputData::Table(per_layer));
        outputs.insert("predictions", OutputData::Table(predictions));
        Ok(outputs)
    }
}
