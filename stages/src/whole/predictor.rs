//! Whole-network prediction of any network from a trained store: what `snni predict` runs.
//!
//! The models are loaded once ([`Predictor::load`]); a network is planned by the engine
//! (no cryptography, no measurement) and every method predicts both parties' per-layer and
//! total times. Layers outside what the models were trained on get warnings.

use std::collections::BTreeMap;

use snni_artifacts::Store;
use snni_engine::network::Network;

use super::{predict_network, NetworkPrediction, WholeModels};
use crate::learn::features;
use crate::learn::frame::{self, Side, ViewRows};
use crate::learn::method::Method;
use crate::learn::models::{blob, check_features, parse};
use crate::learn::sequence::{LoadedRnn, PartyModels, RnnMeta};
use crate::predict::rnn::Rnn;
use crate::schema::dataset::{OUT_C, OUT_H, OUT_W};
use crate::schema::ColumnDef;
use crate::{view_of_kind, PlannedLink, StageError, UpstreamStage};

/// One party's trained models for one setting.
pub struct PartyPredictor {
    /// `server` or `client`.
    pub party: String,
    /// Per-layer models.
    pub layers: PartyModels,
    /// Overheads, link and training ranges.
    pub whole: WholeModels,
    /// The sequence model.
    pub rnn: LoadedRnn,
}

impl PartyPredictor {
    /// Whether `method`'s totals are trusted far outside the training range: the linear
    /// count models' are, and the MLP's and the sequence model's when they are residuals
    /// on the protocol prediction (bounded by the training ratios, so they extrapolate as
    /// the protocol model does); a plain MLP's and a plain sequence model's are not.
    pub fn extrapolates(&self, method: Method) -> bool {
        method.extrapolates()
            || (method == Method::Mlp
                && !self.layers.views.is_empty()
                && self.layers.views.values().all(|m| m.mlp.meta.residual))
            || (method == Method::Rnn && self.rnn.meta.residual)
    }
}

/// Both parties' models of one trained setting.
pub struct Predictor {
    /// The trained setting the models come from.
    pub setting: String,
    /// Per party, server first.
    pub parties: Vec<PartyPredictor>,
}

/// A network's prediction by one method for one party.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PartyResult {
    /// `server` or `client`.
    pub party: String,
    /// The method.
    pub method: String,
    /// Seconds per layer, never negative.
    pub layers_s: Vec<f64>,
    /// The whole network, overhead included; `None` when the method is excluded (see
    /// `excluded`).
    pub total_s: Option<f64>,
    /// Why the method's total is not given: layers beyond what its training data supports,
    /// or a total that would be negative. Empty when the total is given.
    pub excluded: Vec<String>,
}

/// How far beyond its training range (as a factor) a layer's size feature may be before
/// the methods that do not extrapolate ([`Method::extrapolates`]) are excluded from totals.
/// `snni predict` already warns at 2×.
pub const EXTRAPOLATION_FACTOR: f64 = 10.0;

/// A layer of the planned network, for the breakdown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedLayer {
    /// Layer name.
    pub name: String,
    /// Layer kind.
    pub kind: String,
    /// Output shape, `HxWxC`.
    pub output: String,
}

/// A prediction's times moved to another machine's speed.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Rescaled {
    /// That machine's probe, HE layers per second.
    pub he_per_s: f64,
    /// What every time was multiplied by: (reference / he_per_s)^β.
    pub factor: f64,
}

/// Everything `snni predict` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prediction {
    /// The network's name.
    pub network: String,
    /// The setting whose models predicted.
    pub models_from: String,
    /// The link predicted for (bit/s, µs; 0 when unshaped).
    pub bandwidth_bps: f64,
    /// Round-trip time in µs.
    pub rtt_us: f64,
    /// The engine versions that measured the models' training rows (empty: models stored
    /// before they recorded it).
    pub models_engine: Vec<String>,
    /// The engine that planned the network (the running one).
    pub planned_with_engine: String,
    /// The machine speed the models' times were scaled to (the split's `speed: probe`), or
    /// `None`: times as measured.
    pub speed: Option<super::SpeedScale>,
    /// The machine the times were rescaled to ([`Prediction::at_speed`]), or `None`: at
    /// the models' own speed.
    pub rescaled: Option<Rescaled>,
    /// The layers.
    pub layers: Vec<PlannedLayer>,
    /// Per party × method.
    pub results: Vec<PartyResult>,
    /// What the models may not cover.
    pub warnings: Vec<String>,
    /// Seconds spent predicting (planning excluded), per method summed over both parties.
    pub predict_seconds: BTreeMap<String, f64>,
}

impl Prediction {
    /// Every time (layers and totals, both parties, every method) at a machine whose probe
    /// runs `he_per_s` HE layers per second, by the models' fitted exponent: the models
    /// must come from a split with `speed: probe` (their times are at its reference
    /// speed). Returns the factor applied.
    pub fn at_speed(&mut self, he_per_s: f64) -> Result<f64, StageError> {
        let speed = self.speed.ok_or_else(|| StageError::Learn {
            message: "the models' times are as measured, at no recorded machine speed: their \
                      study's split did not set `speed: probe`, so they cannot be moved to \
                      another machine's speed"
                .into(),
        })?;
        if !(he_per_s.is_finite() && he_per_s > 0.0) {
            return Err(StageError::Learn {
                message: format!("a machine speed must be a positive number, got {he_per_s}"),
            });
        }
        let factor = (speed.reference_he_per_s / he_per_s).powf(speed.beta);
        for result in &mut self.results {
            result.layers_s.iter_mut().for_each(|t| *t *= factor);
            if let Some(total) = result.total_s.as_mut() {
                *total *= factor;
            }
        }
        self.rescaled = Some(Rescaled { he_per_s, factor });
        Ok(factor)
    }
}

fn stage_record(store: &Store, kind: &str) -> Result<UpstreamStage, StageError> {
    let states = store.stage_states().map_err(|source| StageError::Store {
        name: "stage states".into(),
        source: Box::new(source),
    })?;
    let (name, state) = states
        .into_iter()
        .find(|(_, s)| s.kind == kind)
        .ok_or_else(|| StageError::Learn {
            message: format!(
                "the store has no trained models: no stage of kind `{kind}` ever ran in it; \
                 run a study with `train` and `whole` stages into it first (`snni run \
                 MANIFEST`, e.g. manifests/smoke.yaml)"
            ),
        })?;
    let record = store
        .get(&state.fingerprint)
        .map_err(|source| StageError::Store {
            name: name.clone(),
            source: Box::new(source),
        })?
        .ok_or_else(|| StageError::Learn {
            message: format!(
                "stage `{name}` ({kind}) has no stored outputs: its last run failed or did not \
                 finish; run the study again (`snni run MANIFEST`; `snni plan MANIFEST` says \
                 why `{name}` runs)"
            ),
        })?;
    Ok(UpstreamStage {
        name,
        kind: kind.into(),
        record,
    })
}

impl Predictor {
    /// The settings a store has whole-network models for.
    pub fn trained_settings(store: &Store) -> Result<Vec<String>, StageError> {
        let whole = stage_record(store, "whole")?;
        let mut settings: Vec<String> = whole
            .record
            .outputs
            .keys()
            .filter_map(|k| k.strip_suffix("/overhead"))
            .filter_map(|k| k.split_once('.').map(|(_, s)| s.to_string()))
            .collect();
        settings.sort();
        settings.dedup();
        Ok(settings)
    }

    /// Loads both parties' models of `setting` from the store's `train` and `whole` stages.
    pub fn load(store: &Store, setting: &str) -> Result<Predictor, StageError> {
        let train = stage_record(store, "train")?;
        let whole = stage_record(store, "whole")?;
        let mut parties = Vec::new();
        for party in ["server", "client"] {
            let key = format!("{party}.{setting}");
            let get = |name: &str| -> Result<Vec<u8>, StageError> {
                blob(store, &whole, &format!("{key}/{name}"))?.ok_or_else(|| StageError::Learn {
                    message: format!(
                        "stage `{}` has no `{key}/{name}`: no models for {party} in `{setting}`",
                        whole.name
                    ),
                })
            };
            let models: WholeModels = parse(&get("overhead")?, &format!("{key}/overhead"))?;
            let meta: RnnMeta = parse(&get("rnn_meta")?, &format!("{key}/rnn_meta"))?;
            check_features(&format!("{key}/rnn"), &meta.features, &features::sequence())?;
            let rnn = Rnn::from_safetensors(&meta.spec, &get("rnn")?).map_err(|source| {
                StageError::Model {
                    action: format!("load the sequence model {key}"),
                    source,
                }
            })?;
            parties.push(PartyPredictor {
                party: party.into(),
                layers: PartyModels::load(store, &train, party, setting)?,
                whole: models,
                rnn: LoadedRnn { rnn, meta },
            });
        }
        Ok(Predictor {
            setting: setting.into(),
            parties,
        })
    }

    /// Per party, the method recommended on the validation networks (`whole` stores it);
    /// empty for models stored before the choice existed.
    pub fn recommended(&self) -> BTreeMap<String, Method> {
        self.parties
            .iter()
            .filter_map(|p| {
                let method = p.whole.recommended.as_deref()?.parse().ok()?;
                Some((p.party.clone(), method))
            })
            .collect()
    }

    /// The link the models were trained on, and ℓ and scale.
    pub fn trained_link(&self) -> PlannedLink {
        let whole = &self.parties[0].whole;
        PlannedLink {
            setting: self.setting.clone(),
            bandwidth_bps: (whole.bandwidth_bps > 0.0).then_some(whole.bandwidth_bps as u64),
            rtt_us: (whole.rtt_us > 0.0).then_some(whole.rtt_us),
            ell: whole.ell,
            scale: whole.scale,
            ot: whole.ot,
        }
    }

    /// Plans `network` on `link` and predicts it with every method in `methods`.
    pub fn predict(
        &self,
        network: &Network,
        link: &PlannedLink,
        methods: &[Method],
    ) -> Result<Prediction, StageError> {
        let rows = frame::planned_rows(network, link, Side::Reference)?;
        let mut prediction = Prediction {
            network: network.name.clone(),
            models_from: self.setting.clone(),
            bandwidth_bps: link.bandwidth_bps.unwrap_or(0) as f64,
            rtt_us: link.rtt_us.unwrap_or(0.0),
            models_engine: self.parties[0].whole.engines.clone(),
            planned_with_engine: snni_engine::VERSION.into(),
            speed: self.parties[0].whole.speed,
            rescaled: None,
            layers: Vec::new(),
            results: Vec::new(),
            warnings: Vec::new(),
            predict_seconds: BTreeMap::new(),
        };
        for party in &self.parties {
            let layers: Vec<usize> = rows.select(&party.party, &link.setting, &[Side::Reference]);
            if prediction.layers.is_empty() {
                prediction.layers = layers
                    .iter()
                    .map(|&i| PlannedLayer {
                        name: layer_name(network, rows.layer[i]),
                        kind: rows.kind[i].clone(),
                        output: output_shape(&rows, i),
                    })
                    .collect();
                prediction.warnings = coverage(&party.whole, &rows, &layers, network, 2.0, true);
                prediction
                    .warnings
                    .extend(engine_mismatch(&party.whole.engines, snni_engine::VERSION));
            }
            let far = coverage(
                &party.whole,
                &rows,
                &layers,
                network,
                EXTRAPOLATION_FACTOR,
                false,
            );
            for &method in methods {
                let started = std::time::Instant::now();
                let result = predict_network(
                    method,
                    &party.layers,
                    &party.rnn,
                    &party.whole,
                    &rows,
                    &layers,
                )?;
                *prediction
                    .predict_seconds
                    .entry(method.name().into())
                    .or_default() += started.elapsed().as_secs_f64();
                prediction.results.push(checked(
                    &party.party,
                    method,
                    result,
                    &far,
                    layers.len(),
                    party.extrapolates(method),
                ));
            }
        }
        Ok(prediction)
    }
}

/// A warning when the models learned from another engine's measurements than `running`, the
/// engine that plans the network: its packings, ciphertext counts and protocols may differ
/// (engine 0.8.0 packs batch norms otherwise than 0.7.0), so the models price counts
/// they never saw measured. Models that do not record their engine say nothing.
fn engine_mismatch(trained: &[String], running: &str) -> Option<String> {
    if trained.is_empty() || trained.iter().all(|v| v == running) {
        return None;
    }
    Some(format!(
        "the models learned from measurements of engine {}, but this snni plans with engine \
         {running}, whose protocols may differ: predictions price this engine's counts at the \
         old engine's costs; re-run the study with this snni (`snni run MANIFEST` re-measures \
         the profile stage) for models of engine {running}",
        trained.join(", ")
    ))
}

fn layer_name(network: &Network, index: u64) -> String {
    network
        .layers
        .get(index as usize)
        .map_or_else(String::new, |l| l.name.clone())
}

fn output_shape(rows: &ViewRows, i: usize) -> String {
    let get = |c: ColumnDef| rows.column(c.name).map_or(0.0, |v| v[i]);
    format!("{}x{}x{}", get(OUT_H), get(OUT_W), get(OUT_C))
}

/// One method's prediction for one party, made safe to print: every layer's time at least
/// 0, and the total excluded (with the reasons) when the method does not extrapolate to
/// layers in `far`, or when the total would be negative.
fn checked(
    party: &str,
    method: Method,
    result: NetworkPrediction,
    far: &[String],
    layer_count: usize,
    extrapolates: bool,
) -> PartyResult {
    let raw_sum: f64 = result.layers.iter().sum();
    let overhead = result.total_s - raw_sum;
    let layers_s: Vec<f64> = result.layers.iter().map(|s| s.max(0.0)).collect();
    let total = layers_s.iter().sum::<f64>() + overhead;
    let mut excluded = Vec::new();
    if !extrapolates {
        excluded.extend(far.iter().map(|reason| {
            format!("{reason}, more than {EXTRAPOLATION_FACTOR}× beyond it: the {method} model does not extrapolate that far")
        }));
    }
    if !(total >= 0.0 && total.is_finite()) {
        excluded.push(format!(
            "its total would be {:.1} ms: the per-network overhead it fitted on the training \
             networks ({:.1} ms at {layer_count} layers) does not carry over to this network",
            total * 1e3,
            overhead * 1e3
        ));
    }
    PartyResult {
        party: party.into(),
        method: method.name().into(),
        layers_s,
        total_s: excluded.is_empty().then_some(total),
        excluded,
    }
}

/// Messages for layers the models cannot cover: (if `kinds`) a kind without a model, and a
/// size feature more than `factor` times outside the training range.
fn coverage(
    whole: &WholeModels,
    rows: &ViewRows,
    layers: &[usize],
    network: &Network,
    factor: f64,
    kinds: bool,
) -> Vec<String> {
    let mut warnings = Vec::new();
    for &i in layers {
        let name = layer_name(network, rows.layer[i]);
        let kind = &rows.kind[i];
        if kind == "flatten" {
            continue;
        }
        let Some(view) = view_of_kind(kind) else {
            if kinds {
                warnings.push(format!("layer `{name}`: kind `{kind}` has no model"));
            }
            continue;
        };
        let Some(ranges) = whole.ranges.get(view) else {
            if kinds {
                warnings.push(format!(
                    "layer `{name}` ({kind}): no `{view}` layers were in training; predicted as 0"
                ));
            }
            continue;
        };
        for (feature, &(lo, hi)) in ranges {
            let Ok(column) = rows.column(feature) else {
                continue;
            };
            let v = column[i];
            if v > factor * hi || v < lo / factor {
                warnings.push(format!(
                    "layer `{name}` ({kind}): {feature} = {v} is outside the training range \
                     {lo}…{hi}"
                ));
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_speed_scales_every_time_by_the_fitted_exponent() {
        let mut p = Prediction {
            network: "n".into(),
            models_from: "lan".into(),
            bandwidth_bps: 0.0,
            rtt_us: 0.0,
            models_engine: Vec::new(),
            planned_with_engine: "0".into(),
            speed: None,
            rescaled: None,
            layers: Vec::new(),
            results: vec![PartyResult {
                party: "server".into(),
                method: "protocol".into(),
                layers_s: vec![1.0, 2.0],
                total_s: Some(4.0),
                excluded: Vec::new(),
            }],
            warnings: Vec::new(),
            predict_seconds: BTreeMap::new(),
        };
        // Times as measured: no speed to move them from.
        assert!(p.clone().at_speed(10.0).is_err());
        p.speed = Some(super::super::SpeedScale {
            reference_he_per_s: 20.0,
            beta: 0.5,
        });
        assert!(p.clone().at_speed(0.0).is_err());
        assert!(p.clone().at_speed(f64::NAN).is_err());
        // A machine twice as slow by its probe: (20 / 5)^0.5 = 2 times as long.
        let factor = p.at_speed(5.0).unwrap();
        assert_eq!(factor, 2.0);
        assert_eq!(p.results[0].layers_s, vec![2.0, 4.0]);
        assert_eq!(p.results[0].total_s, Some(8.0));
        assert_eq!(
            p.rescaled,
            Some(Rescaled {
                he_per_s: 5.0,
                factor: 2.0
            })
        );
    }

    fn prediction(layers: &[f64], overhead: f64) -> NetworkPrediction {
        NetworkPrediction {
            layers: layers.to_vec(),
            total_s: layers.iter().sum::<f64>() + overhead,
            uncovered: Vec::new(),
        }
    }

    #[test]
    fn models_of_another_engine_are_named_in_a_warning() {
        let old = ["0.4.0".to_string()];
        let warning = engine_mismatch(&old, "0.8.0").expect("a warning");
        assert!(warning.contains("engine 0.4.0"), "{warning}");
        assert!(warning.contains("engine 0.8.0"), "{warning}");
        assert!(warning.contains("snni run"), "{warning}");
        let mixed = ["0.7.0".to_string(), "0.8.0".to_string()];
        assert!(engine_mismatch(&mixed, "0.8.0").is_some());
        assert_eq!(engine_mismatch(&["0.8.0".to_string()], "0.8.0"), None);
        // Models stored before they recorded their engine: unknown, no warning.
        assert_eq!(engine_mismatch(&[], "0.8.0"), None);
    }

    #[test]
    fn layer_times_are_never_negative() {
        let result = checked(
            "server",
            Method::Analytical,
            prediction(&[0.5, -0.2, 0.1], 0.1),
            &[],
            3,
            true,
        );
        assert_eq!(result.layers_s, vec![0.5, 0.0, 0.1]);
        let total = result.total_s.expect("a positive total is given");
        assert!((total - 0.7).abs() < 1e-12, "{total}");
        assert!(result.excluded.is_empty());
    }

    #[test]
    fn a_total_that_would_be_negative_is_excluded_with_its_reason() {
        let result = checked(
            "client",
            Method::Mlp,
            prediction(&[0.01, 0.02], -4.0),
            &[],
            2,
            false,
        );
        assert_eq!(result.total_s, None);
        assert_eq!(result.excluded.len(), 1);
        assert!(
            result.excluded[0].contains("its total would be -3970.0 ms"),
            "{:?}",
            result.excluded
        );
        assert!(result.layers_s.iter().all(|&s| s >= 0.0));
        let nan = checked(
            "client",
            Method::Protocol,
            prediction(&[f64::NAN], 0.0),
            &[],
            1,
            true,
        );
        assert_eq!(nan.total_s, None);
    }

    #[test]
    fn far_layers_exclude_only_the_methods_that_do_not_extrapolate() {
        let far = vec![
            "layer `conv9` (conv): macs = 1e12 is outside the training range 1…1e6".to_string(),
        ];
        for method in [Method::Mlp, Method::Rnn] {
            let result = checked(
                "server",
                method,
                prediction(&[0.1], 0.0),
                &far,
                1,
                method.extrapolates(),
            );
            assert_eq!(result.total_s, None, "{method}");
            assert!(
                result.excluded[0].contains("conv9"),
                "{:?}",
                result.excluded
            );
            assert!(
                result.excluded[0].contains("does not extrapolate"),
                "{:?}",
                result.excluded
            );
        }
        for method in [Method::Analytical, Method::Protocol, Method::Transfer] {
            let result = checked(
                "server",
                method,
                prediction(&[0.1], 0.0),
                &far,
                1,
                method.extrapolates(),
            );
            assert_eq!(result.total_s, Some(0.1), "{method}");
        }
    }
}
