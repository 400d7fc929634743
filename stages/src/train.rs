//! The `train` stage kind: the final per-layer models of every layer type × party ×
//! setting — `analytical`, `protocol`, `transfer` and `mlp` (with the best trial's
//! hyperparameters when a `search` stage is upstream) — stored so they load without
//! retraining, and the search's trials as one table. Models are fitted on the training
//! networks; the validation networks stop the MLP early and choose `transfer`'s overlap.

use std::collections::BTreeMap;

use polars::prelude::{Column, DataFrame};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use snni_artifacts::Output;

use crate::kind::{CheckContext, Kind, OutputData, PlanContext, ShardContext, ShardOutputs};
use crate::learn::data::{common_params, CommonParams, Data, Group};
use crate::learn::features;
use crate::learn::frame::Side;
use crate::learn::models::{fit_analytical, fit_counts, fit_mlp, fit_protocol, targets, Limits};
use crate::learn::transfer::TransferModel;
use crate::predict::search_space::Hyperparams;
use crate::search::execution_seed;
use crate::{decode_params_all, ParamIssue, StageError, UpstreamStage};

/// Fits and stores the per-layer models.
pub struct TrainKind;

/// The MLP used when no search is upstream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpDefaults {
    /// Width of each hidden layer.
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Learning rate of the optimiser.
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Mini-batch size.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Activation of the hidden layers (lowercase).
    #[serde(default = "default_activation")]
    pub activation: String,
    /// Epoch limit.
    #[serde(default = "default_max_epochs")]
    pub max_epochs: u32,
    /// Epochs without validation improvement before early stopping.
    #[serde(default = "default_patience")]
    pub patience: u32,
}

fn default_hidden() -> Vec<usize> {
    vec![64, 64]
}
fn default_learning_rate() -> f64 {
    1e-3
}
fn default_batch_size() -> usize {
    64
}
fn default_activation() -> String {
    "relu".into()
}
fn default_max_epochs() -> u32 {
    200
}
fn default_patience() -> u32 {
    10
}

/// The parameters of a `train` stage, canonical: every field present (the manifest's
/// form, with defaults, is read by [`TrainParams::check`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    /// The layer types to model.
    pub views: Vec<String>,
    /// Training rows a layer model needs.
    pub min_rows: usize,
    /// The MLP when no search is upstream.
    pub mlp: MlpDefaults,
}

impl TrainParams {
    fn check(params: &Value) -> Result<TrainParams, Vec<ParamIssue>> {
        let CommonParams {
            views,
            min_rows,
            mut rest,
        } = common_params(params)?;
        let mlp_value = rest.remove("mlp").unwrap_or_else(|| json!({}));
        if let Some(key) = rest.keys().next() {
            return Err(vec![ParamIssue::new(
                &[key],
                format!("unknown key `{key}`"),
            )
            .with_hint("train takes `views`, `min_rows` and `mlp`")]);
        }
        let mut mlp: MlpDefaults = decode_params_all(&mlp_value).map_err(|mut issues| {
            for issue in &mut issues {
                issue.path.insert(0, "mlp".into());
            }
            issues
        })?;
        mlp.activation = mlp.activation.to_lowercase();
        Ok(TrainParams {
            views,
            min_rows,
            mlp,
        })
    }
}

/// The shard that collects the search's trials into a table.
const TRIALS_SHARD: &str = "trials";

/// The finished trials of the upstream stages of `kind` (`search`, `sequence_search`) whose
/// shard key starts with `prefix` (`""` for all): only those blobs are read.
fn trials(
    ctx_store: &dyn snni_artifacts::BlobSource,
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
            let bytes = ctx_store
                .get_blob(digest)
                .map_err(|source| StageError::Store {
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

/// The finished trial with the lowest best validation loss among [`trials`].
pub(crate) fn best_trial(
    store: &dyn snni_artifacts::BlobSource,
    upstream: &[UpstreamStage],
    kind: &str,
    prefix: &str,
) -> Result<Option<Value>, StageError> {
    let loss = |t: &Value| t["best_validation"].as_f64().unwrap_or(f64::INFINITY);
    Ok(trials(store, upstream, kind, prefix)?
        .into_iter()
        .min_by(|a, b| loss(a).total_cmp(&loss(b))))
}

/// The setting whose rows are unshaped (the Local setting), if the data has one.
fn unshaped_setting(rows: &crate::learn::frame::ViewRows) -> Option<String> {
    let bandwidth = rows.column("bandwidth_bps").ok()?;
    let rtt = rows.column("rtt_us").ok()?;
    let mut settings: Vec<&String> = (0..rows.len())
        .filter(|&i| bandwidth[i] == 0.0 && rtt[i] == 0.0)
        .map(|i| &rows.setting[i])
        .collect();
    settings.sort();
    settings.first().map(|s| (*s).clone())
}

impl TrainKind {
    fn train_group(
        &self,
        ctx: &ShardContext<'_>,
        params: &TrainParams,
        group: &Group,
    ) -> Result<ShardOutputs, StageError> {
        let data = Data::load(ctx.store, ctx.upstream, std::slice::from_ref(&group.view))?;
        let rows = data.view(group)?;
        let train = rows.select(&group.party, &group.setting, &[Side::Train]);
        let validation = rows.select(&group.party, &group.setting, &[Side::Validation]);
        // Every model is fitted on the training rows only, so that the validation rows
        // (early stopping, the overlap form, the recommended method) are out of sample.
        let mut outputs = ShardOutputs::default();
        outputs.insert(
            "analytical",
            OutputData::json("analytical", &fit_analytical(group, rows, &train)?)?,
        );
        outputs.insert(
            "protocol",
            OutputData::json("protocol", &fit_protocol(rows, &train)?)?,
        );
        if let Some(local) = unshaped_setting(rows) {
            let local_rows = rows.select(&group.party, &local, &[Side::Train]);
            if !local_rows.is_empty() {
                let mut model = TransferModel::additive(fit_counts(rows, &local_rows)?, &local);
                let protocol = features::protocol();
                let x_train = features::matrix(rows, &train, &protocol)?;
                let x_validation = features::matrix(rows, &validation, &protocol)?;
                model.fit_overlap(
                    (&x_train, &targets(rows, &train)?),
                    (&x_validation, &targets(rows, &validation)?),
                );
                outputs.insert("transfer", OutputData::json("transfer", &model)?);
            }
        }
        // The best trial of this group (lowest mean best validation loss), if searched.
        let best = best_trial(
            ctx.store,
            ctx.upstream,
            "search",
            &format!("{}.t", group.key()),
        )?;
        let (hyperparams, limits, seed, trial) = match &best {
            Some(trial) => {
                let hyperparams: Hyperparams = serde_json::from_value(trial["hyperparams"].clone())
                    .map_err(|source| StageError::Record {
                        action: format!("read the hyperparameters of trial {}", trial["trial"]),
                        source,
                    })?;
                let index = trial["trial"].as_u64().unwrap_or(0) as u32;
                // The search's own limits and seed, so the final model is the best trial's.
                let limit = |key: &str, default: u32| {
                    trial["limits"][key].as_u64().map_or(default, |v| v as u32)
                };
                let limits = Limits {
                    max_epochs: limit("max_epochs", params.mlp.max_epochs),
                    patience: limit("patience", params.mlp.patience),
                };
                let seed = trial["executions"][0]["seed"].as_u64().unwrap_or(ctx.seed);
                (hyperparams, limits, seed, Some(index))
            }
            None => (
                Hyperparams {
                    hidden: params.mlp.hidden.clone(),
                    learning_rate: params.mlp.learning_rate,
                    batch_size: params.mlp.batch_size,
                    activation: params.mlp.activation.clone(),
                    extra: BTreeMap::new(),
                },
                Limits {
                    max_epochs: params.mlp.max_epochs,
                    patience: params.mlp.patience,
                },
                execution_seed(ctx.seed, group, 0, 0),
                None,
            ),
        };
        let (trained, mut meta) =
            fit_mlp(group, rows, &train, &validation, &hyperparams, limits, seed)?;
        meta.trial = trial;
        let weights = trained
            .mlp
            .to_safetensors()
            .map_err(|source| StageError::Model {
                action: format!("save the MLP of {}", group.key()),
                source,
            })?;
        outputs.insert(
            "mlp",
            OutputData::Bytes {
                bytes: weights,
                media_type: "application/x-safetensors",
            },
        );
        outputs.insert("mlp_meta", OutputData::json("mlp_meta", &meta)?);
        Ok(outputs)
    }

    fn trials_table(&self, ctx: &ShardContext<'_>) -> Result<ShardOutputs, StageError> {
        let trials = trials(ctx.store, ctx.upstream, "search", "")?;
        let text = |key: &str| -> Vec<String> {
            trials
                .iter()
                .map(|t| t[key].as_str().unwrap_or_default().to_string())
                .collect()
        };
        let number = |f: &dyn Fn(&Value) -> f64| -> Vec<f64> { trials.iter().map(f).collect() };
        let columns = vec![
            Column::new("group".into(), text("group")),
            Column::new("view".into(), text("view")),
            Column::new("party".into(), text("party")),
            Column::new("setting".into(), text("setting")),
            Column::new(
                "trial".into(),
                trials
                    .iter()
                    .map(|t| t["trial"].as_u64().unwrap_or(0))
                    .collect::<Vec<u64>>(),
            ),
            Column::new(
                "hidden".into(),
                trials
                    .iter()
                    .map(|t| t["hyperparams"]["hidden"].to_string())
                    .collect::<Vec<String>>(),
            ),
            Column::new(
                "layers".into(),
                trials
                    .iter()
                    .map(|t| t["hyperparams"]["hidden"].as_array().map_or(0, Vec::len) as u64)
                    .collect::<Vec<u64>>(),
            ),
            Column::new(
                "learning_rate".into(),
                number(&|t| t["hyperparams"]["learning_rate"].as_f64().unwrap_or(0.0)),
            ),
            Column::new(
                "batch_size".into(),
                trials
                    .iter()
                    .map(|t| t["hyperparams"]["batch_size"].as_u64().unwrap_or(0))
                    .collect::<Vec<u64>>(),
            ),
            Column::new(
                "activation".into(),
                trials
                    .iter()
                    .map(|t| {
                        t["hyperparams"]["activation"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect::<Vec<String>>(),
            ),
            Column::new(
                "best_validation".into(),
                number(&|t| t["best_validation"].as_f64().unwrap_or(f64::NAN)),
            ),
            Column::new(
                "epochs_run".into(),
                trials
                    .iter()
                    .map(|t| t["executions"][0]["epochs_run"].as_u64().unwrap_or(0))
                    .collect::<Vec<u64>>(),
            ),
            Column::new(
                "seconds".into(),
                number(&|t| t["seconds"].as_f64().unwrap_or(0.0)),
            ),
        ];
        let frame = DataFrame::new(trials.len(), columns).map_err(|e| StageError::Serialize {
            name: "trials".into(),
            message: e.to_string(),
        })?;
        let mut outputs = ShardOutputs::default();
        outputs.insert("trials", OutputData::Table(frame));
        Ok(outputs)
    }
}

impl Kind for TrainKind {
    type Params = TrainParams;
    const NAME: &'static str = "train";
    // 2: linear models fitted on the training rows only (validation rows choose);
    // `transfer` with a fitted overlap of compute and wire time.
    const VERSION: u32 = 2;
    const SUMMARY: &'static str =
        "per-layer models (analytical, protocol, transfer, mlp) per layer type, party and setting";

    fn check(
        &self,
        params: &Value,
        _ctx: &CheckContext<'_>,
    ) -> Result<TrainParams, Vec<ParamIssue>> {
        TrainParams::check(params)
    }

    fn plan(&self, params: &TrainParams, ctx: &PlanContext<'_>) -> Result<Vec<String>, StageError> {
        let data = Data::load(ctx.store, ctx.upstream, &params.views)?;
        let mut keys: Vec<String> = data
            .groups_or_explain(params.min_rows)?
            .iter()
            .map(Group::key)
            .collect();
        if ctx.upstream.iter().any(|s| s.kind == "search") {
            keys.push(TRIALS_SHARD.to_string());
        }
        Ok(keys)
    }

    fn run(
        &self,
        params: &TrainParams,
        ctx: &ShardContext<'_>,
    ) -> Result<ShardOutputs, StageError> {
        if ctx.shard == TRIALS_SHARD {
            return self.trials_table(ctx);
        }
        let group = Group::parse(ctx.shard).ok_or_else(|| StageError::UnknownShard {
            kind: Self::NAME,
            shard: ctx.shard.to_string(),
        })?;
        self.train_group(ctx, params, &group)
    }
}
