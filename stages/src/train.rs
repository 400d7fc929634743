//! The `train` stage kind: the final per-layer models of every layer type × party ×
//! setting — `analytical`, `protocol`, `transfer` and `mlp` (with the best trial's
//! hyperparameters when a `search` stage is upstream) — stored so they load without
//! retraining, and the search's trials as one table. Models are fitted on the training
//! networks; the validation networks stop the MLP early and choose `transfer`'s overlap.

use std::collections::BTreeMap;

use polars::prelude::{Column, DataFrame};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kind::{CheckContext, Kind, OutputData, PlanContext, ShardContext, ShardOutputs};
use crate::learn::data::{Data, Group};
use crate::learn::features;
use crate::learn::frame::Side;
use crate::learn::models::{fit_analytical, fit_counts, fit_mlp, targets, GroupFit, Limits};
use crate::learn::params::{
    check_views, decode_raw, positive, whole, DEFAULT_MIN_ROWS, MIN_ROWS, UNBOUNDED,
};
use crate::learn::refill::shared_prices;
use crate::learn::seeds::execution_seed;
use crate::learn::transfer::TransferModel;
use crate::learn::trials::{best_trial, trials, BestTrial};
use crate::predict::search_space::Hyperparams;
use crate::predict::Activation;
use crate::{ParamIssue, StageError};

/// Fits and stores the per-layer models.
pub struct TrainKind;

/// The parameters of a `train` stage as a manifest writes them (every field optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrainParams {
    views: Option<Vec<String>>,
    // Whole numbers are read signed, so that a negative one is reported with its range.
    min_rows: Option<i64>,
    mlp: Option<RawMlp>,
}

/// The `mlp` mapping as a manifest writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMlp {
    hidden: Option<Vec<i64>>,
    learning_rate: Option<f64>,
    batch_size: Option<i64>,
    activation: Option<String>,
    max_epochs: Option<i64>,
    patience: Option<i64>,
}

/// The MLP used when no search is upstream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpDefaults {
    /// Width of each hidden layer (default [64, 64]).
    pub hidden: Vec<usize>,
    /// Learning rate of the optimiser (default 0.001).
    pub learning_rate: f64,
    /// Mini-batch size (default 64).
    pub batch_size: usize,
    /// Activation of the hidden layers (default relu; written in any case).
    pub activation: Activation,
    /// Epoch limit (default 200).
    pub max_epochs: u32,
    /// Epochs without validation improvement before early stopping (default 10).
    pub patience: u32,
}

impl MlpDefaults {
    /// Checks the `mlp` mapping, pushing every issue with its key path.
    fn check(raw: RawMlp, issues: &mut Vec<ParamIssue>) -> MlpDefaults {
        let mut hidden = Vec::new();
        for (k, width) in raw
            .hidden
            .unwrap_or_else(|| vec![64, 64])
            .into_iter()
            .enumerate()
        {
            let index = k.to_string();
            hidden.push(whole(
                issues,
                &["mlp", "hidden", &index],
                Some(width),
                1,
                (1, UNBOUNDED),
            ) as usize);
        }
        let learning_rate = raw.learning_rate.unwrap_or(1e-3);
        positive(issues, &["mlp", "learning_rate"], learning_rate);
        let activation = raw.activation.map_or(Ok(Activation::Relu), |name| {
            name.to_lowercase().parse::<Activation>().map_err(|_| name)
        });
        let activation = activation.unwrap_or_else(|name| {
            let names: Vec<&str> = Activation::ALL.iter().map(|a| a.name()).collect();
            issues.push(
                ParamIssue::new(
                    &["mlp", "activation"],
                    format!("`{name}` is not an activation"),
                )
                .with_hint(format!("activations: {}", names.join(", "))),
            );
            Activation::Relu
        });
        MlpDefaults {
            hidden,
            learning_rate,
            batch_size: whole(
                issues,
                &["mlp", "batch_size"],
                raw.batch_size,
                64,
                (1, UNBOUNDED),
            ) as usize,
            activation,
            max_epochs: whole(
                issues,
                &["mlp", "max_epochs"],
                raw.max_epochs,
                200,
                (1, UNBOUNDED),
            ) as u32,
            patience: whole(
                issues,
                &["mlp", "patience"],
                raw.patience,
                10,
                (0, UNBOUNDED),
            ) as u32,
        }
    }

    /// The early-stopping limits.
    fn limits(&self) -> Limits {
        Limits {
            max_epochs: self.max_epochs,
            patience: self.patience,
        }
    }
}

/// The parameters of a `train` stage, checked and canonical: every field present (what
/// enters the fingerprint).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    /// The layer types to model (default all).
    pub views: Vec<String>,
    /// Training rows a layer model needs (default 20).
    pub min_rows: usize,
    /// The MLP when no search is upstream.
    pub mlp: MlpDefaults,
}

impl TrainParams {
    /// Checks a manifest's parameters, reporting every issue with its key path.
    fn check(params: &Value) -> Result<TrainParams, Vec<ParamIssue>> {
        let (raw, mut issues) = decode_raw::<RawTrainParams>(params);
        let Some(raw) = raw else {
            return Err(issues);
        };
        let mlp = MlpDefaults::check(raw.mlp.unwrap_or_default(), &mut issues);
        let views = check_views(&mut issues, raw.views);
        let min_rows = whole(
            &mut issues,
            &["min_rows"],
            raw.min_rows,
            DEFAULT_MIN_ROWS,
            (MIN_ROWS, UNBOUNDED),
        ) as usize;
        if issues.is_empty() {
            Ok(TrainParams {
                views,
                min_rows,
                mlp,
            })
        } else {
            Err(issues)
        }
    }
}

/// The shard that collects the search's trials into a table.
const TRIALS_SHARD: &str = "trials";

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
        let data = Data::load_group(ctx.store, ctx.upstream, group)?;
        // Every model is fitted on the training rows only, so that the validation rows
        // (early stopping, the overlap form, the recommended method) are out of sample.
        let fit = GroupFit::new(&data, group)?;
        let (rows, train, validation) = (fit.rows, &fit.train[..], &fit.validation[..]);
        let mut outputs = ShardOutputs::default();
        outputs.insert(
            "analytical",
            OutputData::json("analytical", &fit_analytical(group, rows, train)?)?,
        );
        outputs.insert("protocol", OutputData::json("protocol", &fit.protocol)?);
        if let Some(local) = unshaped_setting(rows) {
            let local_rows = rows.select(&group.party, &local, &[Side::Train]);
            if !local_rows.is_empty() {
                let local_shared = shared_prices(
                    data.layers()?,
                    &group.party,
                    &local,
                    &features::protocol_counts(),
                )?;
                let counts = fit_counts(rows, &local_rows, &local_shared)?;
                let mut model = TransferModel::additive(counts, &local);
                let protocol = features::protocol();
                let x_train = features::matrix(rows, train, &protocol)?;
                let x_validation = features::matrix(rows, validation, &protocol)?;
                model.fit_overlap(
                    (&x_train, &targets(rows, train)?),
                    (&x_validation, &targets(rows, validation)?),
                );
                outputs.insert("transfer", OutputData::json("transfer", &model)?);
            }
        }
        // The best trial of this group (lowest mean best validation loss), if searched.
        let best = best_trial(
            ctx.store,
            ctx.upstream,
            ("search", &format!("{}.t", group.key())),
            params.mlp.limits(),
            ctx.seed,
        )?;
        let BestTrial {
            hyperparams,
            limits,
            seed,
            trial,
        } = match best {
            Some(best) => best,
            None => BestTrial {
                hyperparams: Hyperparams {
                    hidden: params.mlp.hidden.clone(),
                    learning_rate: params.mlp.learning_rate,
                    batch_size: params.mlp.batch_size,
                    activation: params.mlp.activation.name().to_string(),
                    extra: BTreeMap::new(),
                },
                limits: params.mlp.limits(),
                seed: execution_seed(ctx.seed, group, 0, 0),
                trial: None,
            },
        };
        let (trained, mut meta) = fit_mlp(group, &fit, &hyperparams, limits, seed)?;
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
    // 3: the MLPs' scalers keep their training range and clamp inputs into it.
    const VERSION: u32 = 5;
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
