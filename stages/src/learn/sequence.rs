//! Whole networks as the whole-network methods see them: each network's layers in order
//! (one party, one setting), the per-layer methods' sums over them and the sequence
//! model's inputs (the per-network overhead is in [`super::overhead`]).
//!
//! A network's inputs are the non-measured columns of its rows (parameters, features,
//! planned counts and rounds, the link), so a network the models never saw — planned with
//! [`super::frame::planned_rows`] — is predicted exactly as a profiled one. Measured values enter
//! only as training targets and as the truth an evaluation compares against.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use snni_artifacts::BlobSource;

use super::data::Group;
use super::features::{self, Feature};
use super::frame::{Side, ViewRows};
use super::method::Method;
use super::models::Limits;
use super::models::{bounded_seconds, load_models, Models, MIN_BASE_S};
use crate::predict::mlp::Activation;
use crate::predict::rnn::{Cell, Rnn, RnnOptions, RnnSpec, Sequence, TrainedRnn};
use crate::predict::scaler::{Scaler, TargetScaler};
use crate::predict::search_space::Hyperparams;
use crate::predict::EpochLoss;
use crate::schema::dataset::WALL_S;
use crate::{view_of_kind, StageError, UpstreamStage};

/// One network's layers (one party, one setting) in a `layers` table.
#[derive(Debug, Clone)]
pub struct NetworkLayers {
    /// The network id.
    pub network: String,
    /// Its side of the split.
    pub side: Side,
    /// Rows of the first run, in layer order: the inputs.
    pub rows: Vec<usize>,
    /// Each layer's wall time averaged over the runs (0 for a planned network).
    pub mean_wall_s: Vec<f64>,
    /// Runs measured.
    pub runs: usize,
}

/// A network's runs: run → (layer, row) pairs.
type Runs = BTreeMap<u64, Vec<(u64, usize)>>;

/// The networks of `party` in `setting` on `sides`, in network order, from a `layers` table.
/// A network whose runs disagree on their layers is an error.
pub fn networks(
    rows: &ViewRows,
    party: &str,
    setting: &str,
    sides: &[Side],
) -> Result<Vec<NetworkLayers>, StageError> {
    let wall = rows.column(WALL_S.name)?;
    let mut by_network: BTreeMap<&str, Runs> = BTreeMap::new();
    for i in rows.select(party, setting, sides) {
        by_network
            .entry(&rows.network[i])
            .or_default()
            .entry(rows.run[i])
            .or_default()
            .push((rows.layer[i], i));
    }
    let mut out = Vec::with_capacity(by_network.len());
    for (network, runs) in by_network {
        let mut runs: Vec<Vec<(u64, usize)>> = runs.into_values().collect();
        for run in &mut runs {
            run.sort_unstable();
        }
        let first = &runs[0];
        let mut mean = vec![0.0; first.len()];
        for run in &runs {
            let same =
                run.len() == first.len() && run.iter().zip(first).all(|((a, _), (b, _))| a == b);
            if !same {
                return Err(StageError::Learn {
                    message: format!(
                        "network `{network}` ({party}, {setting}) has runs with different layers"
                    ),
                });
            }
            for (m, &(_, i)) in mean.iter_mut().zip(run) {
                *m += wall[i] / runs.len() as f64;
            }
        }
        out.push(NetworkLayers {
            network: network.to_string(),
            side: rows.side[first[0].1],
            rows: first.iter().map(|&(_, i)| i).collect(),
            mean_wall_s: mean,
            runs: runs.len(),
        });
    }
    Ok(out)
}

/// The per-layer models of one party and setting, by view.
pub struct PartyModels {
    /// Models by view name; a view without models is absent.
    pub views: BTreeMap<String, Models>,
}

impl PartyModels {
    /// Loads every view's models of `party` in `setting` from a `train` stage.
    pub fn load(
        store: &dyn BlobSource,
        train: &UpstreamStage,
        party: &str,
        setting: &str,
    ) -> Result<PartyModels, StageError> {
        let mut views = BTreeMap::new();
        for view in crate::VIEW_NAMES {
            let group = Group {
                view: view.to_string(),
                party: party.to_string(),
                setting: setting.to_string(),
            };
            if let Some(models) = load_models(store, train, &group)? {
                views.insert(view.to_string(), models);
            }
        }
        Ok(PartyModels { views })
    }

    /// Each layer's predicted seconds by `method` (a per-layer method) for the rows `layers`
    /// (one network in order) of a `layers` table, and the indices (into `layers`) of
    /// layers no model covers (their prediction is 0). A flatten layer moves no data and
    /// counts as covered.
    pub fn predict(
        &self,
        method: Method,
        rows: &ViewRows,
        layers: &[usize],
    ) -> Result<(Vec<f64>, Vec<usize>), StageError> {
        let mut seconds = vec![0.0; layers.len()];
        let mut missing = Vec::new();
        // Rows grouped by view, so each view's features are read once.
        let mut by_view: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
        for (k, &i) in layers.iter().enumerate() {
            match view_of_kind(&rows.kind[i]) {
                Some(view) => by_view.entry(view).or_default().push(k),
                None if rows.kind[i] == "flatten" => {}
                None => missing.push(k),
            }
        }
        for (view, positions) in by_view {
            let indices: Vec<usize> = positions.iter().map(|&k| layers[k]).collect();
            let Some(models) = self.views.get(view) else {
                missing.extend(positions);
                continue;
            };
            let predicted: Vec<f64> = match method {
                Method::Analytical => {
                    let x = features::matrix(rows, &indices, &features::analytical(view))?;
                    x.iter().map(|r| models.analytical.predict(r)).collect()
                }
                Method::Protocol => {
                    let x = features::matrix(rows, &indices, &features::protocol())?;
                    x.iter().map(|r| models.protocol.predict(r)).collect()
                }
                Method::Transfer => {
                    let Some(transfer) = &models.transfer else {
                        missing.extend(positions);
                        continue;
                    };
                    let x = features::matrix(rows, &indices, &features::protocol())?;
                    x.iter().map(|r| transfer.predict(r)).collect()
                }
                Method::Mlp => {
                    let x = features::matrix(rows, &indices, &features::mlp(view))?;
                    let base = features::matrix(rows, &indices, &features::protocol())?;
                    let mut scratch = vec![0f32; models.mlp.meta.spec.inputs];
                    x.iter()
                        .zip(&base)
                        .map(|(r, b)| {
                            models
                                .mlp
                                .predict(r, models.protocol.predict(b), &mut scratch)
                        })
                        .collect()
                }
                Method::Rnn => {
                    return Err(StageError::Learn {
                        message: format!("`{method}` is not a per-layer method"),
                    })
                }
            };
            for (&k, p) in positions.iter().zip(predicted) {
                seconds[k] = p;
            }
        }
        missing.sort_unstable();
        Ok((seconds, missing))
    }
}

/// Everything needed to use a stored sequence model besides its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RnnMeta {
    /// Architecture.
    pub spec: RnnSpec,
    /// The hyperparameters it was trained with.
    pub hyperparams: Hyperparams,
    /// Input scaling, fitted on the training layers.
    pub scaler: Scaler,
    /// Per-layer target scaling.
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
    /// Smallest and largest per-layer training target: seconds, a step's prediction kept
    /// within a factor of 10 of them (as the MLP's); or for a residual model the ratios to
    /// the `protocol` prediction, a step's ratio kept within them.
    pub target_range: (f64, f64),
    /// Whether each step predicts the ratio of the layer's time to the `protocol` model's
    /// prediction for it (a residual in log space, the MLP's form) rather than the time
    /// itself (models stored before: no).
    #[serde(default)]
    pub residual: bool,
    /// Residual models: per layer kind and decade of the base (⌊log10 base_s⌋), the
    /// smallest and largest training ratio. A step's ratio is kept within its kind's range
    /// at its base's decade (the nearest decade trained on, beyond them); only a kind never
    /// trained on falls back to [`Self::target_range`]. The overall range is no bound: a
    /// layer no protocol model covers has a 1-µs base, so its ratio runs to thousands
    /// (0.04–6,000 on the mid study), and a network was predicted at 8× its time; and
    /// small layers, whose fixed costs the protocol model misses, have ratios a large
    /// layer never shows (a 71-s max pool was predicted at 2.6× with the kind's range
    /// alone). Models stored before: empty, the overall range.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kind_ranges: BTreeMap<String, BTreeMap<i32, (f64, f64)>>,
}

/// A stored sequence model ready to predict a network's layers.
pub struct LoadedRnn {
    /// The network.
    pub rnn: Rnn,
    /// Its scaling and provenance.
    pub meta: RnnMeta,
}

impl LoadedRnn {
    /// Each layer's predicted seconds for `layers` rows (one network in order) of a `layers`
    /// table; a residual model scales `models`' `protocol` predictions of them.
    pub fn predict(
        &self,
        models: &PartyModels,
        rows: &ViewRows,
        layers: &[usize],
    ) -> Result<Vec<f64>, StageError> {
        let x = features::matrix(rows, layers, &features::sequence())?;
        let base = if self.meta.residual {
            Some(base_seconds(models, rows, layers)?)
        } else {
            None
        };
        let kinds: Vec<&str> = layers.iter().map(|&i| rows.kind[i].as_str()).collect();
        Ok(self.predict_matrix(&x, base.as_deref(), &kinds))
    }

    /// As [`LoadedRnn::predict`], from the feature rows, (residual models) each layer's
    /// base seconds from [`base_seconds`] and each layer's kind (for its ratio's bounds;
    /// missing kinds take the overall range).
    pub fn predict_matrix(&self, x: &[Vec<f64>], base: Option<&[f64]>, kinds: &[&str]) -> Vec<f64> {
        let scaled: Vec<Vec<f32>> = x.iter().map(|r| self.meta.scaler.transform(r)).collect();
        self.rnn
            .predict(&scaled)
            .into_iter()
            .enumerate()
            .map(|(k, y)| {
                // A residual model's inputs carry one base per step; a missing one is the floor.
                let base_s = base.and_then(|b| b.get(k)).copied().unwrap_or(MIN_BASE_S);
                let range = kinds
                    .get(k)
                    .and_then(|kind| self.meta.kind_ranges.get(*kind))
                    .and_then(|decades| nearest_decade(decades, base_s))
                    .unwrap_or(self.meta.target_range);
                bounded_seconds(
                    self.meta.target.inverse(y),
                    self.meta.residual,
                    base_s,
                    range,
                )
            })
            .collect()
    }
}

/// ⌊log10 seconds⌋ of a (positive) base.
fn decade(base_s: f64) -> i32 {
    base_s.max(MIN_BASE_S).log10().floor() as i32
}

/// The ratio range of the decade of `base_s`, or of the nearest decade trained on (the
/// lower of two equally near).
fn nearest_decade(decades: &BTreeMap<i32, (f64, f64)>, base_s: f64) -> Option<(f64, f64)> {
    let wanted = decade(base_s);
    decades
        .iter()
        .min_by_key(|(&d, _)| ((d - wanted).abs(), d))
        .map(|(_, &range)| range)
}

/// What a residual sequence model scales: each layer's `protocol` prediction, at least
/// [`MIN_BASE_S`]. A layer no protocol model covers (a flatten, or a kind with too few
/// training rows to fit one) gets the floor, so its ratio is its time over 1 µs; the
/// model sees its kind among its inputs.
pub fn base_seconds(
    models: &PartyModels,
    rows: &ViewRows,
    layers: &[usize],
) -> Result<Vec<f64>, StageError> {
    let (seconds, _uncovered) = models.predict(Method::Protocol, rows, layers)?;
    Ok(seconds.into_iter().map(|s| s.max(MIN_BASE_S)).collect())
}

/// The sequence features of `layers`, as the model's rows.
pub fn sequence_matrix(rows: &ViewRows, layers: &[usize]) -> Result<Vec<Vec<f64>>, StageError> {
    features::matrix(rows, layers, &features::sequence())
}

/// The names of the sequence model's features.
pub fn sequence_feature_names() -> Vec<String> {
    features::sequence()
        .iter()
        .map(|f: &Feature| f.name())
        .collect()
}

/// The sequence model's training data of one party and setting: the feature rows and
/// per-layer mean times of each network.
pub struct SequenceData {
    /// Feature rows per network (unscaled).
    pub x: Vec<Vec<Vec<f64>>>,
    /// Mean measured seconds per layer per network.
    pub y: Vec<Vec<f64>>,
    /// The `protocol` model's seconds per layer per network ([`base_seconds`]): the
    /// targets are `y / base`.
    pub base: Vec<Vec<f64>>,
    /// Layer kind per layer per network.
    pub kinds: Vec<Vec<String>>,
}

impl SequenceData {
    /// The sequences of `networks`, with `models`' `protocol` predictions as the base.
    pub fn of(
        rows: &ViewRows,
        networks: &[NetworkLayers],
        models: &PartyModels,
    ) -> Result<SequenceData, StageError> {
        let mut data = SequenceData {
            x: Vec::with_capacity(networks.len()),
            y: Vec::with_capacity(networks.len()),
            base: Vec::with_capacity(networks.len()),
            kinds: Vec::with_capacity(networks.len()),
        };
        for network in networks {
            data.x.push(sequence_matrix(rows, &network.rows)?);
            data.y.push(network.mean_wall_s.clone());
            data.base.push(base_seconds(models, rows, &network.rows)?);
            data.kinds
                .push(network.rows.iter().map(|&i| rows.kind[i].clone()).collect());
        }
        Ok(data)
    }

    /// Per layer kind and decade of the base, the smallest and largest ratio of its
    /// layers ([`RnnMeta::kind_ranges`]).
    fn kind_ranges(&self) -> BTreeMap<String, BTreeMap<i32, (f64, f64)>> {
        let mut ranges: BTreeMap<String, BTreeMap<i32, (f64, f64)>> = BTreeMap::new();
        for ((kinds, ratios), bases) in self.kinds.iter().zip(self.ratios()).zip(&self.base) {
            for ((kind, ratio), &base) in kinds.iter().zip(ratios).zip(bases) {
                let range = ranges
                    .entry(kind.clone())
                    .or_default()
                    .entry(decade(base))
                    .or_insert((f64::INFINITY, 0.0));
                *range = (range.0.min(ratio), range.1.max(ratio));
            }
        }
        ranges
    }

    /// Each layer's measured time over its base, per network.
    fn ratios(&self) -> Vec<Vec<f64>> {
        self.y
            .iter()
            .zip(&self.base)
            .map(|(y, b)| y.iter().zip(b).map(|(&t, &b)| t / b).collect())
            .collect()
    }

    fn scaled(&self, scaler: &Scaler, target: &TargetScaler) -> Vec<Sequence> {
        self.x
            .iter()
            .zip(self.ratios())
            .map(|(x, y)| Sequence {
                x: x.iter().map(|r| scaler.transform(r)).collect(),
                y: y.iter().map(|&v| target.transform(v)).collect(),
            })
            .collect()
    }
}

/// The rnn hyperparameters beyond the dense part: the recurrent cell and its width.
pub fn rnn_spec(hyperparams: &Hyperparams, inputs: usize) -> Result<RnnSpec, StageError> {
    let bad = |what: &str| StageError::Learn {
        message: format!("rnn hyperparameters: {what}"),
    };
    let cell: Cell = match hyperparams.extra.get("cell") {
        Some(serde_json::Value::String(name)) => name.parse().map_err(|_| bad("unknown `cell`"))?,
        None => Cell::Gru,
        Some(_) => return Err(bad("`cell` must be gru or lstm")),
    };
    let units = match hyperparams.extra.get("rnn_units") {
        Some(value) => value
            .as_u64()
            .filter(|&u| u > 0)
            .ok_or_else(|| bad("`rnn_units` must be a positive whole number"))?
            as usize,
        None => 32,
    };
    let activation: Activation = hyperparams
        .activation
        .parse()
        .map_err(|_| bad(&format!("unknown activation `{}`", hyperparams.activation)))?;
    Ok(RnnSpec {
        inputs,
        cell,
        units,
        dense: hyperparams.hidden.clone(),
        activation,
    })
}

/// Trains the sequence model with `hyperparams` on `train`, stopping early on `validation`.
pub fn fit_rnn(
    train: &SequenceData,
    validation: &SequenceData,
    hyperparams: &Hyperparams,
    limits: Limits,
    seed: u64,
) -> Result<(TrainedRnn, RnnMeta), StageError> {
    let steps: Vec<Vec<f64>> = train.x.iter().flatten().cloned().collect();
    let targets: Vec<f64> = train.ratios().into_iter().flatten().collect();
    if steps.is_empty() || validation.x.is_empty() {
        return Err(StageError::Learn {
            message: "the sequence model needs training and validation networks".into(),
        });
    }
    let scaler = Scaler::fit(&steps);
    let target = TargetScaler::fit(&targets);
    let spec = rnn_spec(hyperparams, scaler.columns())?;
    let options = RnnOptions {
        learning_rate: hyperparams.learning_rate,
        batch_size: hyperparams.batch_size,
        max_epochs: limits.max_epochs,
        patience: limits.patience,
        seed,
    };
    let trained = Rnn::train(
        &spec,
        &options,
        &train.scaled(&scaler, &target),
        &validation.scaled(&scaler, &target),
    )
    .map_err(|source| StageError::Model {
        action: "train the sequence model".to_string(),
        source,
    })?;
    let meta = RnnMeta {
        spec,
        hyperparams: hyperparams.clone(),
        scaler,
        target,
        features: sequence_feature_names(),
        history: trained.history.clone(),
        best_epoch: trained.best_epoch,
        best_validation: trained.best_validation,
        trial: None,
        target_range: targets
            .iter()
            .fold((f64::INFINITY, 0.0), |(lo, hi), &y| (lo.min(y), hi.max(y))),
        residual: true,
        kind_ranges: train.kind_ranges(),
    };
    Ok((trained, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers_rows() -> ViewRows {
        // Two runs of network a (2 layers), one run of network b (1 layer), client, local.
        let mut rows = ViewRows::default();
        for (network, run, layer) in [
            ("a", 2, 1),
            ("a", 1, 0),
            ("a", 1, 1),
            ("a", 2, 0),
            ("b", 1, 0),
        ] {
            rows.network.push(network.into());
            rows.setting.push("local".into());
            rows.party.push("client".into());
            rows.run.push(run);
            rows.layer.push(layer);
            rows.kind.push("relu".into());
            rows.side.push(if network == "a" {
                Side::Train
            } else {
                Side::Test
            });
        }
        rows.numbers
            .insert("wall_s".into(), vec![4.0, 1.0, 2.0, 3.0, 5.0]);
        rows
    }

    #[test]
    fn networks_average_runs_layer_by_layer_in_layer_order() {
        let rows = layers_rows();
        let nets = networks(&rows, "client", "local", &[Side::Train, Side::Test]).unwrap();
        assert_eq!(nets.len(), 2);
        assert_eq!(nets[0].network, "a");
        assert_eq!(nets[0].rows, vec![1, 2]);
        assert_eq!(nets[0].mean_wall_s, vec![2.0, 3.0]);
        assert_eq!(nets[0].runs, 2);
        assert_eq!(nets[1].side, Side::Test);
        let train = networks(&rows, "client", "local", &[Side::Train]).unwrap();
        assert_eq!(train.len(), 1);
        assert!(networks(&rows, "server", "local", &[Side::Train])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn runs_with_different_layers_are_an_error() {
        let mut rows = layers_rows();
        rows.layer[0] = 7;
        let err = networks(&rows, "client", "local", &[Side::Train]).unwrap_err();
        assert!(err.to_string().contains("different layers"), "{err}");
    }

    /// `networks` sequences of 2–4 layers whose time is 3× a base that grows with a feature.
    fn residual_data(networks: usize, offset: usize) -> SequenceData {
        let width = features::sequence().len();
        let mut data = SequenceData {
            x: Vec::new(),
            y: Vec::new(),
            base: Vec::new(),
            kinds: Vec::new(),
        };
        for n in 0..networks {
            let layers = 2 + (n + offset) % 3;
            let mut x = Vec::new();
            let mut base = Vec::new();
            for l in 0..layers {
                let size = (1 + n + offset + l) as f64;
                x.push((0..width).map(|f| size * (1 + f % 5) as f64).collect());
                base.push(0.001 * size);
            }
            data.y.push(base.iter().map(|b| 3.0 * b).collect());
            data.kinds.push(vec!["conv".to_string(); layers]);
            data.x.push(x);
            data.base.push(base);
        }
        data
    }

    /// A small GRU for the tests that train one.
    fn small_gru() -> Hyperparams {
        Hyperparams {
            hidden: vec![8],
            learning_rate: 0.01,
            batch_size: 4,
            activation: "relu".into(),
            extra: BTreeMap::from([
                ("cell".to_string(), serde_json::json!("gru")),
                ("rnn_units".to_string(), serde_json::json!(8)),
            ]),
        }
    }

    #[test]
    fn the_sequence_model_is_a_bounded_residual_on_the_protocol_prediction() {
        let hyperparams = small_gru();
        let limits = Limits {
            max_epochs: 30,
            patience: 5,
        };
        let (trained, meta) = fit_rnn(
            &residual_data(12, 0),
            &residual_data(4, 12),
            &hyperparams,
            limits,
            5,
        )
        .unwrap();
        assert!(meta.residual);
        // The targets are the ratios (all 3), not the seconds (0.003 … 0.045).
        let (lo, hi) = meta.target_range;
        assert!(
            (lo - 3.0).abs() < 1e-9 && (hi - 3.0).abs() < 1e-9,
            "{lo}…{hi}"
        );
        let rnn = LoadedRnn {
            rnn: trained.rnn,
            meta,
        };
        // A network far outside the training sizes (1000× every feature, bases of seconds
        // instead of milliseconds) is still predicted as its bases times a training ratio.
        let width = features::sequence().len();
        let far = vec![vec![7e4; width]; 3];
        let base = [0.5, 2.0, 40.0];
        let seconds = rnn.predict_matrix(&far, Some(&base), &["conv"; 3]);
        for (s, b) in seconds.iter().zip(base) {
            assert!((s - 3.0 * b).abs() < 1e-9, "{s} for a base of {b}");
        }
        // A raw model (stored before the residual form) keeps predicting seconds.
        let mut raw = rnn.meta.clone();
        raw.residual = false;
        let stored = serde_json::to_value(&raw).unwrap();
        let mut without = stored.as_object().unwrap().clone();
        without.remove("residual");
        let read: RnnMeta = serde_json::from_value(without.into()).unwrap();
        assert!(!read.residual);
    }

    #[test]
    fn a_steps_ratio_is_kept_within_its_kinds_training_range() {
        let hyperparams = small_gru();
        let limits = Limits {
            max_epochs: 5,
            patience: 2,
        };
        // Every network ends in a layer no protocol model covers (a 1-µs base) that takes
        // 2 ms: a ratio of 2,000, which the overall range then admits for every layer.
        let with_flatten = |networks, offset| {
            let mut data = residual_data(networks, offset);
            for n in 0..data.x.len() {
                let width = data.x[n][0].len();
                data.x[n].push(vec![0.0; width]);
                data.base[n].push(MIN_BASE_S);
                data.y[n].push(0.002);
                data.kinds[n].push("flatten".to_string());
            }
            data
        };
        let (trained, meta) = fit_rnn(
            &with_flatten(12, 0),
            &with_flatten(4, 12),
            &hyperparams,
            limits,
            5,
        )
        .unwrap();
        assert!(meta.target_range.1 > 1000.0, "{:?}", meta.target_range);
        // Bases of 1-16 ms: decades −3 and −2.
        let conv = &meta.kind_ranges["conv"];
        assert_eq!(conv.keys().copied().collect::<Vec<_>>(), [-3, -2]);
        for &(lo, hi) in conv.values() {
            assert!(
                (lo - 3.0).abs() < 1e-9 && (hi - 3.0).abs() < 1e-9,
                "{conv:?}"
            );
        }
        let flatten = meta.kind_ranges["flatten"][&-6];
        assert!((flatten.0 - 2000.0).abs() < 1e-6, "{flatten:?}");
        let rnn = LoadedRnn {
            rnn: trained.rnn,
            meta,
        };
        let width = features::sequence().len();
        let far = vec![vec![7e4; width]; 2];
        let base = [0.5, 2.0];
        // Convolutions stay at 3× their base whatever the network says about them ...
        let seconds = rnn.predict_matrix(&far, Some(&base), &["conv", "conv"]);
        for (s, b) in seconds.iter().zip(base) {
            assert!((s - 3.0 * b).abs() < 1e-9, "{s} for a base of {b}");
        }
        // ... and a kind never trained on falls back to the overall range.
        let unseen = rnn.predict_matrix(&far, Some(&base), &["relu", "relu"]);
        for (s, b) in unseen.iter().zip(base) {
            let ratio = s / b;
            assert!((3.0 - 1e-9..=2000.0 + 1e-6).contains(&ratio), "{ratio}");
        }
    }

    #[test]
    fn the_ratio_bound_is_the_kinds_at_the_bases_decade_or_the_nearest() {
        let decades = BTreeMap::from([(-3, (0.5, 4.0)), (-1, (0.9, 1.2))]);
        assert_eq!(nearest_decade(&decades, 0.002), Some((0.5, 4.0)));
        assert_eq!(nearest_decade(&decades, 0.3), Some((0.9, 1.2)));
        // Beyond the largest layers trained on: theirs, not the small layers' range.
        assert_eq!(nearest_decade(&decades, 70.0), Some((0.9, 1.2)));
        assert_eq!(nearest_decade(&decades, 1e-5), Some((0.5, 4.0)));
        // Equally near: the lower decade.
        assert_eq!(nearest_decade(&decades, 0.02), Some((0.5, 4.0)));
        assert_eq!(nearest_decade(&BTreeMap::new(), 1.0), None);
        assert_eq!(decade(0.0), -6);
    }
}
