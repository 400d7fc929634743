//! The per-layer models of one group and how they are fitted, stored and loaded:
//! `analytical` and `protocol` (non-negative least squares), `transfer` (the Local
//! protocol model plus the setting's wire and round-trip time, [`TransferModel`]) and
//! `mlp` (candle). Every model is fitted on the training networks' rows only: the
//! validation rows stop the MLP early and choose forms and methods, so their errors are
//! out of sample for every method.

use serde::{Deserialize, Serialize};
use snni_artifacts::{BlobSource, Output};

use super::data::{Data, Group};
use super::features::{self, Feature};
use super::frame::{Side, ViewRows};
use super::refill::{shared_prices, SharedPrices};
use super::transfer::TransferModel;
use crate::predict::linear::LinearModel;
use crate::predict::mlp::{Activation, EpochLoss, Mlp, MlpSpec, TrainOptions, Trained};
use crate::predict::scaler::{Scaler, TargetScaler};
use crate::predict::search_space::Hyperparams;
use crate::schema::dataset::WALL_S;
use crate::{StageError, UpstreamStage};

/// Everything needed to use a stored MLP besides its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MlpMeta {
    /// Architecture.
    pub spec: MlpSpec,
    /// The hyperparameters it was trained with.
    pub hyperparams: Hyperparams,
    /// Input scaling (fitted on the training rows).
    pub scaler: Scaler,
    /// Target scaling.
    pub target: TargetScaler,
    /// Input feature names.
    pub features: Vec<String>,
    /// Per-epoch losses.
    pub history: Vec<EpochLoss>,
    /// The epoch whose weights were kept.
    pub best_epoch: u32,
    /// Its validation loss.
    pub best_validation: f64,
    /// The search trial the hyperparameters came from, if any.
    pub trial: Option<u32>,
    /// The smallest and largest training target: seconds (kept within a factor of 10 of
    /// them, since the log-scale output would otherwise extrapolate exponentially on a layer
    /// far outside the training data), or for a residual model the ratios to the protocol
    /// prediction (kept within them).
    pub target_range: (f64, f64),
    /// Whether the MLP learns the ratio of the measured time to the `protocol` model's
    /// prediction (a residual in log space) rather than the time itself (models stored
    /// before: no).
    #[serde(default)]
    pub residual: bool,
}

/// Least protocol prediction a residual model scales (s): a layer the counts model gives
/// no time is taken as this.
pub(crate) const MIN_BASE_S: f64 = 1e-6;

/// Early-stopping limits of an MLP fit.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most epochs.
    pub max_epochs: u32,
    /// Epochs without improvement before stopping.
    pub patience: u32,
}

/// The targets (measured layer wall time in seconds) of `indices`.
pub fn targets(rows: &ViewRows, indices: &[usize]) -> Result<Vec<f64>, StageError> {
    let wall = rows.column(WALL_S.name)?;
    Ok(indices.iter().map(|&i| wall[i]).collect())
}

fn names(features: &[Feature]) -> Vec<String> {
    features.iter().map(|f| f.name()).collect()
}

/// NNLS on the analytical features.
pub fn fit_analytical(
    group: &Group,
    rows: &ViewRows,
    indices: &[usize],
) -> Result<LinearModel, StageError> {
    let features = features::analytical(&group.view);
    let x = features::matrix(rows, indices, &features)?;
    Ok(LinearModel::fit(
        names(&features),
        &x,
        &targets(rows, indices)?,
    ))
}

/// A group's rows as `train` and `search` fit them: its view, its training and validation
/// rows, and its `protocol` model (what the MLP is a residual on), Ferret's costs priced
/// across every kind.
pub struct GroupFit<'a> {
    /// The group's view.
    pub rows: &'a ViewRows,
    /// Its training rows.
    pub train: Vec<usize>,
    /// Its validation rows.
    pub validation: Vec<usize>,
    /// The protocol model fitted on the training rows.
    pub protocol: LinearModel,
}

impl<'a> GroupFit<'a> {
    /// From `data` loaded with [`Data::load_group`].
    pub fn new(data: &'a Data, group: &Group) -> Result<Self, StageError> {
        let rows = data.view(group)?;
        let train = rows.select(&group.party, &group.setting, &[Side::Train]);
        let validation = rows.select(&group.party, &group.setting, &[Side::Validation]);
        let features = features::protocol();
        let shared = shared_prices(data.layers()?, &group.party, &group.setting, &features)?;
        let protocol = fit_protocol(rows, &train, &shared)?;
        Ok(GroupFit {
            rows,
            train,
            validation,
            protocol,
        })
    }
}

/// NNLS on the protocol counts and the link's terms, Ferret's refills and pool growth at
/// the `shared` prices (fitted across every kind: [`super::refill::shared_prices`]).
pub fn fit_protocol(
    rows: &ViewRows,
    indices: &[usize],
    shared: &SharedPrices,
) -> Result<LinearModel, StageError> {
    fit_with_shared(features::protocol(), rows, indices, shared)
}

/// NNLS on the protocol counts alone (the compute part), for `transfer`, Ferret's refills
/// and pool growth at the `shared` prices.
pub fn fit_counts(
    rows: &ViewRows,
    indices: &[usize],
    shared: &SharedPrices,
) -> Result<LinearModel, StageError> {
    fit_with_shared(features::protocol_counts(), rows, indices, shared)
}

fn fit_with_shared(
    features: Vec<Feature>,
    rows: &ViewRows,
    indices: &[usize],
    shared: &SharedPrices,
) -> Result<LinearModel, StageError> {
    let x = features::matrix(rows, indices, &features)?;
    Ok(LinearModel::fit_fixed(
        names(&features),
        &x,
        &targets(rows, indices)?,
        &shared.fixed(&features),
    ))
}

/// Trains an MLP with `hyperparams` on the group's training rows, stopping early on its
/// validation rows. It learns what the group's `protocol` model (fitted on the same
/// training rows) misses: the log of measured time over the protocol prediction,
/// standardised on the training rows, with log-scaled standardised inputs; its predictions
/// are the protocol prediction times a ratio kept within the training ratios, so a layer
/// far from the training data is off by no more than the protocol model and a bounded
/// factor.
pub fn fit_mlp(
    group: &Group,
    fit: &GroupFit<'_>,
    hyperparams: &Hyperparams,
    limits: Limits,
    seed: u64,
) -> Result<(Trained, MlpMeta), StageError> {
    let (rows, train, validation, protocol) =
        (fit.rows, &fit.train[..], &fit.validation[..], &fit.protocol);
    let features = features::mlp(&group.view);
    let x_train = features::matrix(rows, train, &features)?;
    let x_validation = features::matrix(rows, validation, &features)?;
    let base = |indices: &[usize]| -> Result<Vec<f64>, StageError> {
        let x = features::matrix(rows, indices, &features::protocol())?;
        Ok(x.iter()
            .map(|r| protocol.predict(r).max(MIN_BASE_S))
            .collect())
    };
    let ratio = |y: Vec<f64>, base: Vec<f64>| -> Vec<f64> {
        y.iter().zip(&base).map(|(y, b)| y / b).collect()
    };
    let y_train = ratio(targets(rows, train)?, base(train)?);
    let y_validation = ratio(targets(rows, validation)?, base(validation)?);
    let scaler = Scaler::fit(&x_train);
    let target = TargetScaler::fit(&y_train);
    let scale_x = |x: &[Vec<f64>]| x.iter().map(|r| scaler.transform(r)).collect::<Vec<_>>();
    let scale_y = |y: &[f64]| y.iter().map(|&v| target.transform(v)).collect::<Vec<_>>();
    let activation: Activation = hyperparams
        .activation
        .parse()
        .map_err(|_| StageError::Learn {
            message: format!("unknown activation `{}`", hyperparams.activation),
        })?;
    let spec = MlpSpec {
        inputs: features.len(),
        hidden: hyperparams.hidden.clone(),
        activation,
    };
    let options = TrainOptions {
        learning_rate: hyperparams.learning_rate,
        batch_size: hyperparams.batch_size,
        max_epochs: limits.max_epochs,
        patience: limits.patience,
        seed,
    };
    let (xt, yt, xv, yv) = (
        scale_x(&x_train),
        scale_y(&y_train),
        scale_x(&x_validation),
        scale_y(&y_validation),
    );
    let trained = Mlp::train(&spec, &options, (&xt, &yt), (&xv, &yv)).map_err(|source| {
        StageError::Model {
            action: format!("train the MLP of {}", group.key()),
            source,
        }
    })?;
    let meta = MlpMeta {
        spec,
        hyperparams: hyperparams.clone(),
        scaler,
        target,
        features: names(&features),
        history: trained.history.clone(),
        best_epoch: trained.best_epoch,
        best_validation: trained.best_validation,
        trial: None,
        target_range: y_train
            .iter()
            .fold((f64::INFINITY, 0.0), |(lo, hi), &y| (lo.min(y), hi.max(y))),
        residual: true,
    };
    Ok((trained, meta))
}

/// A stored MLP ready to predict seconds from raw feature rows.
pub struct LoadedMlp {
    /// The network.
    pub mlp: Mlp,
    /// Its scaling and provenance.
    pub meta: MlpMeta,
}

impl LoadedMlp {
    /// Seconds for one row of [`features::mlp`] values, whose `protocol` prediction is
    /// `protocol_s` (used by residual models only).
    ///
    /// A residual model answers for a row beyond its training range (any feature clamped)
    /// with the protocol prediction itself (ratio 1). Its clamped inputs are a corner of
    /// the feature space no training layer sat at, so the ratio it gives there is not one
    /// it learned: on the mid study's largest networks, whose big layers lie past every
    /// training layer, those ratios reached 1.5–2 while the protocol model, which
    /// extrapolates by counting, stayed within a few percent (BENCHMARKS.md, "The MLP
    /// outside its training range").
    pub fn predict(&self, row: &[f64], protocol_s: f64, scratch: &mut [f32]) -> f64 {
        let within = self.meta.scaler.transform_into(row, scratch);
        if self.meta.residual && !within {
            return protocol_s.max(MIN_BASE_S);
        }
        let value = self.meta.target.inverse(self.mlp.predict_one(scratch));
        bounded_seconds(
            value,
            self.meta.residual,
            protocol_s,
            self.meta.target_range,
        )
    }
}

/// Seconds from a learned model's output `value` (the MLP's and the sequence model's rule):
/// a residual model's ratio, kept within the training ratios `range`, times the `protocol`
/// prediction `base_s` (at least [`MIN_BASE_S`]); a plain model's seconds, kept within a
/// factor of 10 of the training targets. An empty range (no training target) bounds nothing.
pub(crate) fn bounded_seconds(value: f64, residual: bool, base_s: f64, range: (f64, f64)) -> f64 {
    let (lo, hi) = range;
    match (residual, lo <= hi) {
        (true, true) => base_s.max(MIN_BASE_S) * value.clamp(lo, hi),
        (true, false) => base_s.max(MIN_BASE_S) * value,
        (false, true) => value.clamp(lo / 10.0, hi * 10.0),
        (false, false) => value,
    }
}

pub(crate) fn blob(
    store: &dyn BlobSource,
    stage: &UpstreamStage,
    name: &str,
) -> Result<Option<Vec<u8>>, StageError> {
    let Some(Output::Blob { digest, .. }) = stage.record.outputs.get(name) else {
        return Ok(None);
    };
    store
        .get_blob(digest)
        .map(Some)
        .map_err(|source| StageError::Store {
            name: format!("{}/{name}", stage.name),
            source: Box::new(source),
        })
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, StageError> {
    serde_json::from_slice(bytes).map_err(|source| StageError::Record {
        action: format!("read {what}"),
        source,
    })
}

/// One group's stored models.
pub struct Models {
    /// NNLS on the study's features.
    pub analytical: LinearModel,
    /// NNLS on the protocol counts and link terms.
    pub protocol: LinearModel,
    /// The Local counts model with the link's terms, if the data has an unshaped setting.
    pub transfer: Option<TransferModel>,
    /// The MLP.
    pub mlp: LoadedMlp,
}

pub(crate) fn load_models(
    store: &dyn BlobSource,
    train: &UpstreamStage,
    group: &Group,
) -> Result<Option<Models>, StageError> {
    let key = group.key();
    let get = |name: &str| blob(store, train, &format!("{key}/{name}"));
    let (Some(analytical), Some(protocol), Some(weights), Some(meta)) = (
        get("analytical")?,
        get("protocol")?,
        get("mlp")?,
        get("mlp_meta")?,
    ) else {
        return Ok(None);
    };
    let meta: MlpMeta = parse(&meta, &format!("{key}/mlp_meta"))?;
    let mlp = Mlp::from_safetensors(&meta.spec, &weights).map_err(|source| StageError::Model {
        action: format!("load the MLP of {key}"),
        source,
    })?;
    let models = Models {
        analytical: parse(&analytical, &format!("{key}/analytical"))?,
        protocol: parse(&protocol, &format!("{key}/protocol"))?,
        transfer: get("transfer")?
            .map(|bytes| parse(&bytes, &format!("{key}/transfer")))
            .transpose()?,
        mlp: LoadedMlp { mlp, meta },
    };
    let view = &group.view;
    check_features(
        &format!("{key}/analytical"),
        &models.analytical.features,
        &features::analytical(view),
    )?;
    check_features(
        &format!("{key}/protocol"),
        &models.protocol.features,
        &features::protocol(),
    )?;
    if let Some(transfer) = &models.transfer {
        check_features(
            &format!("{key}/transfer"),
            &transfer.counts.features,
            &features::protocol_counts(),
        )?;
    }
    check_features(
        &format!("{key}/mlp"),
        &models.mlp.meta.features,
        &features::mlp(view),
    )?;
    Ok(Some(models))
}

/// Refuses a stored model whose input features are not, name for name and in order, the
/// ones this binary computes: prediction builds its inputs from today's feature lists, so
/// a model trained by another version of snni (one feature fewer, say) would otherwise be
/// fed misaligned columns and predict nonsense without a word. Stores re-train when the
/// dataset changes (its version enters every fingerprint), but models can be imported
/// from an older store.
pub(crate) fn check_features(
    model: &str,
    stored: &[String],
    expected: &[Feature],
) -> Result<(), StageError> {
    let expected = names(expected);
    if stored == expected.as_slice() {
        return Ok(());
    }
    let at = stored
        .iter()
        .zip(&expected)
        .position(|(a, b)| a != b)
        .unwrap_or(stored.len().min(expected.len()));
    let name = |list: &[String]| {
        list.get(at)
            .map_or("(none)".to_string(), |n| format!("`{n}`"))
    };
    Err(StageError::Learn {
        message: format!(
            "the stored model `{model}` was trained on {} features but this snni computes {} \
             (feature {}: stored {}, now {}); it comes from another version of snni. Re-run \
             the learning stages with this binary (`snni run <manifest>` retrains what changed)",
            stored.len(),
            expected.len(),
            at + 1,
            name(stored),
            name(&expected),
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::learn::frame::Side;

    /// A conv view whose time is twice what the counts say, plus 1 ms: `train` training
    /// and `validation` validation rows, every feature a multiple of the row index.
    fn rows(train: usize, validation: usize) -> (ViewRows, Vec<usize>, Vec<usize>) {
        let n = train + validation;
        let mut rows = ViewRows::default();
        for i in 0..n {
            rows.network.push(format!("n{i}"));
            rows.setting.push("local".into());
            rows.party.push("server".into());
            rows.run.push(1);
            rows.layer.push(0);
            rows.kind.push("conv".into());
            rows.side.push(if i < train {
                Side::Train
            } else {
                Side::Validation
            });
        }
        for feature in features::mlp("conv") {
            if let Feature::Column(name) = feature {
                let values = (0..n).map(|i| (1 + i % 7) as f64 * 10.0).collect();
                rows.numbers.insert(name.to_string(), values);
            }
        }
        rows.numbers.insert("bandwidth_bps".into(), vec![0.0; n]);
        rows.numbers.insert("rtt_us".into(), vec![0.0; n]);
        let wall = (0..n).map(|i| 2e-4 * (1 + i % 7) as f64 + 1e-3).collect();
        rows.numbers.insert(WALL_S.name.into(), wall);
        (rows, (0..train).collect(), (train..n).collect())
    }

    #[test]
    fn a_model_trained_on_other_features_is_refused_by_name() {
        let today = features::protocol();
        let names = names(&today);
        check_features("server.local/conv/protocol", &names, &today).unwrap();
        // A model stored before `ot_refills` existed: one feature fewer, so every input
        // after the missing one would be read from its neighbour's column.
        let older: Vec<String> = names
            .iter()
            .filter(|n| *n != "ot_refills")
            .cloned()
            .collect();
        assert_eq!(older.len() + 1, names.len(), "{names:?}");
        let message = check_features("server.local/conv/protocol", &older, &today)
            .unwrap_err()
            .to_string();
        for part in [
            "server.local/conv/protocol",
            &format!("trained on {} features", older.len()),
            &format!("computes {}", names.len()),
            "now `ot_refills`",
            "another version of snni",
        ] {
            assert!(message.contains(part), "{part:?} in {message}");
        }
        // Same names in another order are refused too.
        let mut swapped = names.clone();
        swapped.swap(0, 1);
        assert!(check_features("m", &swapped, &today).is_err());
        // And one feature more (a model from a newer snni).
        let newer: Vec<String> = names.iter().cloned().chain(["later".into()]).collect();
        let message = check_features("m", &newer, &today).unwrap_err().to_string();
        assert!(message.contains("stored `later`, now (none)"), "{message}");
    }

    #[test]
    fn the_mlp_is_a_bounded_residual_on_the_protocol_prediction() {
        let (mut rows, train, validation) = rows(28, 7);
        // Times the linear protocol model cannot fit exactly (every feature is a multiple
        // of the same k = 1 + i % 7; the time alternates with k's parity), so the MLP has a
        // residual to learn.
        let wall = (0..35)
            .map(|i| {
                let k = 1 + i % 7;
                2e-4 * k as f64 + 1e-3 + 5e-4 * (k % 2) as f64
            })
            .collect();
        rows.numbers.insert(WALL_S.name.into(), wall);
        let group = Group {
            view: "conv".into(),
            party: "server".into(),
            setting: "local".into(),
        };
        let hyperparams = Hyperparams {
            hidden: vec![8],
            learning_rate: 0.01,
            batch_size: 8,
            activation: "relu".into(),
            extra: BTreeMap::new(),
        };
        let limits = Limits {
            max_epochs: 20,
            patience: 5,
        };
        let fit = GroupFit {
            protocol: fit_protocol(&rows, &train, &SharedPrices::default()).unwrap(),
            rows: &rows,
            train: train.clone(),
            validation: validation.clone(),
        };
        let (trained, meta) = fit_mlp(&group, &fit, &hyperparams, limits, 3).unwrap();
        assert!(meta.residual);
        let (lo, hi) = meta.target_range;
        assert!(
            0.0 < lo && lo <= hi,
            "ratios to the protocol prediction: {lo}…{hi}"
        );
        let mlp = LoadedMlp {
            mlp: trained.mlp,
            meta,
        };
        let mut scratch = vec![0f32; mlp.meta.spec.inputs];
        // Within the training data the prediction is the protocol prediction times a
        // training ratio, and it is the MLP's: over the training rows it differs from the
        // protocol prediction somewhere.
        let x = features::matrix(&rows, &train, &features::mlp("conv")).unwrap();
        let mut differs = false;
        for row in &x {
            for protocol_s in [0.5, 3.0] {
                let seconds = mlp.predict(row, protocol_s, &mut scratch);
                assert!(
                    seconds >= protocol_s * lo - 1e-12 && seconds <= protocol_s * hi + 1e-12,
                    "{seconds} for a protocol prediction of {protocol_s}"
                );
                differs |= (seconds - protocol_s).abs() > 1e-9;
            }
        }
        assert!(
            differs,
            "the MLP never moved off the protocol prediction ({lo}…{hi})"
        );
        // Far outside the training data (1000× every feature), or beyond it in one feature
        // only, it is the protocol prediction itself.
        let far: Vec<f64> = features::mlp("conv").iter().map(|_| 7e4).collect();
        let mut one_beyond = x[0].clone();
        one_beyond[0] = 1e3 * x.iter().map(|r| r[0].abs()).fold(1.0, f64::max);
        for row in [&far, &one_beyond] {
            for protocol_s in [0.5, 3.0] {
                assert_eq!(mlp.predict(row, protocol_s, &mut scratch), protocol_s);
            }
        }
        // A protocol prediction of 0 still gives a positive time.
        assert!(mlp.predict(&far, 0.0, &mut scratch) > 0.0);
        assert!(mlp.predict(&x[0], 0.0, &mut scratch) > 0.0);
    }
}
