//! What a network costs beyond its layers: the per-network [`Overhead`] (setup, key
//! exchange, loading weights, work between layers) and, for `transfer`, the
//! [`SetupTraffic`] whose time on a link comes on top.
//!
//! The overhead is measured, not inferred: each training network's mean measured total
//! minus the sum of its *measured* layer times. (Fitting it on the total minus a method's
//! *predicted* layer sum, as before, let it absorb the method's per-layer bias, which then
//! did not carry over to networks of another size.) Three forms are fitted on the training
//! networks — a constant, `a + b·layers`, `a + b·weights` — and the one with the least mean
//! absolute error on the validation networks is kept.

use serde::{Deserialize, Serialize};

use super::features;

/// The form of a per-network overhead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverheadForm {
    /// Seconds per network.
    Constant,
    /// Seconds per network plus seconds per layer (models stored before the forms existed).
    #[default]
    Layers,
    /// Seconds per network plus seconds per weight (parameter) of the network.
    Weights,
}

impl OverheadForm {
    /// Every form, simplest first (a tie on validation keeps the simpler one).
    pub const ALL: [OverheadForm; 3] = [
        OverheadForm::Constant,
        OverheadForm::Layers,
        OverheadForm::Weights,
    ];
}

/// One network's measured overhead, with what the forms regress it on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverheadSample {
    /// Layers of the network.
    pub layers: f64,
    /// Weights (parameters) of the network: the sum of its layers' `weight_size`.
    pub weights: f64,
    /// Mean measured total minus the sum of the mean measured layer times (s).
    pub seconds: f64,
}

/// A per-network overhead `a + b·layers + c·weights` (at most one of b, c non-zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Overhead {
    /// Seconds per network.
    pub per_network_s: f64,
    /// Seconds per layer.
    pub per_layer_s: f64,
    /// Seconds per weight.
    #[serde(default)]
    pub per_weight_s: f64,
    /// The form the validation networks chose.
    #[serde(default)]
    pub form: OverheadForm,
}

/// Least squares of y on x with a slope ≥ 0 (an overhead does not shrink as a network
/// grows); with fewer than two distinct x, or a negative slope, the mean.
fn line(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mean_x).powi(2)).sum();
    let sxy: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (a - mean_x) * (b - mean_y))
        .sum();
    if sxx <= f64::EPSILON * mean_x.abs().max(1.0) || sxy <= 0.0 {
        return (mean_y, 0.0);
    }
    let slope = sxy / sxx;
    (mean_y - slope * mean_x, slope)
}

impl Overhead {
    /// The overhead of `form` fitted by least squares on `samples` (none: 0).
    pub fn fit(form: OverheadForm, samples: &[OverheadSample]) -> Overhead {
        let mut overhead = Overhead {
            form,
            ..Overhead::default()
        };
        if samples.is_empty() {
            return overhead;
        }
        let y: Vec<f64> = samples.iter().map(|s| s.seconds).collect();
        match form {
            OverheadForm::Constant => {
                overhead.per_network_s = y.iter().sum::<f64>() / y.len() as f64;
            }
            OverheadForm::Layers => {
                let x: Vec<f64> = samples.iter().map(|s| s.layers).collect();
                (overhead.per_network_s, overhead.per_layer_s) = line(&x, &y);
            }
            OverheadForm::Weights => {
                let x: Vec<f64> = samples.iter().map(|s| s.weights).collect();
                (overhead.per_network_s, overhead.per_weight_s) = line(&x, &y);
            }
        }
        overhead
    }

    /// Every form fitted on `train`; the one with the least mean absolute error on
    /// `validation` (the constant when there are no validation networks).
    pub fn choose(train: &[OverheadSample], validation: &[OverheadSample]) -> Overhead {
        let error = |o: &Overhead| -> f64 {
            validation
                .iter()
                .map(|s| (o.seconds_for(s.layers, s.weights) - s.seconds).abs())
                .sum::<f64>()
        };
        let mut best = Overhead::fit(OverheadForm::Constant, train);
        let mut best_error = error(&best);
        for form in &OverheadForm::ALL[1..] {
            let candidate = Overhead::fit(*form, train);
            let e = error(&candidate);
            if e < best_error {
                (best, best_error) = (candidate, e);
            }
        }
        best
    }

    /// The overhead of a network of `layers` layers and `weights` weights.
    pub fn seconds(&self, layers: usize, weights: f64) -> f64 {
        self.seconds_for(layers as f64, weights)
    }

    fn seconds_for(&self, layers: f64, weights: f64) -> f64 {
        self.per_network_s + self.per_layer_s * layers + self.per_weight_s * weights
    }
}

/// Setup traffic not in any layer (public key, base OTs, the output share), learned from
/// Local training runs; `transfer` adds its time on the target link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SetupTraffic {
    /// Bytes both ways outside the layers.
    pub bytes: f64,
    /// Rounds outside the layers.
    pub rounds: f64,
}

impl SetupTraffic {
    /// Seconds this traffic takes on a link (0 when unshaped).
    pub fn seconds(&self, bandwidth_bps: f64, rtt_us: f64) -> f64 {
        features::wire_seconds(self.bytes, bandwidth_bps) + self.rounds * rtt_us * 1e-6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(layers: f64, weights: f64, seconds: f64) -> OverheadSample {
        OverheadSample {
            layers,
            weights,
            seconds,
        }
    }

    #[test]
    fn each_form_fits_its_line() {
        let samples = [
            sample(10.0, 100.0, 1.5),
            sample(20.0, 300.0, 2.5),
            sample(30.0, 200.0, 3.5),
        ];
        let layers = Overhead::fit(OverheadForm::Layers, &samples);
        assert!((layers.per_layer_s - 0.1).abs() < 1e-12);
        assert!((layers.per_network_s - 0.5).abs() < 1e-12);
        assert!((layers.seconds(40, 0.0) - 4.5).abs() < 1e-12);
        let constant = Overhead::fit(OverheadForm::Constant, &samples);
        assert!((constant.per_network_s - 2.5).abs() < 1e-12);
        assert_eq!((constant.per_layer_s, constant.per_weight_s), (0.0, 0.0));
        let weights = Overhead::fit(OverheadForm::Weights, &samples);
        assert_eq!(weights.per_layer_s, 0.0);
        assert!(weights.per_weight_s > 0.0);
        // A shrinking overhead is not extrapolated: the slope stays ≥ 0.
        let shrinking = [sample(10.0, 0.0, 3.0), sample(20.0, 0.0, 1.0)];
        let fit = Overhead::fit(OverheadForm::Layers, &shrinking);
        assert_eq!((fit.per_network_s, fit.per_layer_s), (2.0, 0.0));
        assert_eq!(
            Overhead::fit(OverheadForm::Layers, &[]),
            Overhead {
                form: OverheadForm::Layers,
                ..Overhead::default()
            }
        );
    }

    #[test]
    fn the_validation_networks_choose_the_form() {
        // The overhead grows with the weights, not the layer count.
        let of = |layers: f64, weights: f64| sample(layers, weights, 0.05 + 1e-6 * weights);
        let train = [of(4.0, 1e4), of(8.0, 5e4), of(5.0, 2e5), of(12.0, 1e5)];
        let validation = [of(6.0, 4e5), of(30.0, 1e3)];
        let chosen = Overhead::choose(&train, &validation);
        assert_eq!(chosen.form, OverheadForm::Weights);
        assert!((chosen.seconds(10, 3e5) - 0.35).abs() < 1e-9, "{chosen:?}");
        // A constant overhead keeps the constant (the simplest form wins ties).
        let flat = |layers: f64| sample(layers, layers * 1e3, 0.068);
        let chosen = Overhead::choose(&[flat(3.0), flat(9.0)], &[flat(50.0)]);
        assert_eq!(chosen.form, OverheadForm::Constant);
        assert!((chosen.per_network_s - 0.068).abs() < 1e-12);
    }

    #[test]
    fn overheads_stored_before_the_forms_read_as_per_layer() {
        let stored = serde_json::json!({"per_network_s": 0.5, "per_layer_s": 0.1});
        let overhead: Overhead = serde_json::from_value(stored).unwrap();
        assert_eq!(overhead.form, OverheadForm::Layers);
        assert!((overhead.seconds(10, 1e9) - 1.5).abs() < 1e-12);
    }

    #[test]
    fn setup_traffic_costs_nothing_unshaped() {
        let setup = SetupTraffic {
            bytes: 1_000_000.0,
            rounds: 4.0,
        };
        assert_eq!(setup.seconds(0.0, 0.0), 0.0);
        assert!((setup.seconds(8_000_000.0, 10_000.0) - 1.04).abs() < 1e-12);
    }
}
