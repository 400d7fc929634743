//! The recommended method of a party × setting (whole networks) or of a layer type ×
//! party × setting (per layer): the simplest one within a standard error of the least mean
//! error on the **validation** networks, or on the split's **selection** networks when it
//! has them. Every model is
//! fitted on the training networks, so validation errors are out of sample; but the
//! searches also tune the learned models (hyperparameters, early stopping) on the
//! validation networks, which flatters them against the linear models there. Selection
//! networks are seen by nothing before the choice. The test and reference networks only
//! report how the choice does.

use std::collections::BTreeMap;

use super::frame::Side;
use super::method::Method;

/// One prediction's error, for choosing: the method, the side of the network it was made
/// for, and the error a method is judged by (the squared error % of a whole network, the
/// squared error of a layer). Squared, so that a method whose mean is good but which misses
/// one network by far loses to one that is steadily close: the study's targets bound the
/// largest error as well as the mean, and a dozen validation networks' mean |error| barely
/// moves for one bad network (the mid study's LAN client: `mlp` at 1.7 % mean |error| with
/// one validation network at 6.8 %, `rnn` at 1.6 % with none above 3 %, were within a
/// standard error of each other by |error %|, and `mlp`, the simpler, was chosen).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The method.
    pub method: Method,
    /// The predicted network's side of the split.
    pub side: Side,
    /// The error (smaller is better).
    pub error: f64,
}

/// The error a whole network's prediction is judged by when choosing: its squared
/// percentage error ([`Scored`] says why squared).
pub fn network_error(predicted_s: f64, measured_s: f64) -> f64 {
    (100.0 * (predicted_s - measured_s) / measured_s).powi(2)
}

/// The side the choice is made on: [`Side::Selection`] when `scored` has selection rows,
/// else [`Side::Validation`].
pub fn choosing_side(scored: &[Scored]) -> Side {
    if scored.iter().any(|s| s.side == Side::Selection) {
        Side::Selection
    } else {
        Side::Validation
    }
}

/// The method recommended by the rows of `scored` on the [`choosing_side`] (every other
/// side ignored), by the one-standard-error rule (Breiman, Friedman, Olshen and Stone 1984;
/// Hastie, Tibshirani and Friedman, *The Elements of Statistical Learning*, §7.10): the
/// simplest method whose mean error is within one standard error of the least mean error,
/// the standard error being that of the best method's mean. Methods are taken as simpler
/// in [`Method::NETWORK`] order (analytical, protocol, transfer, mlp, rnn: from a handful of
/// coefficients to a trained network). A dozen validation networks cannot tell apart
/// methods whose mean errors differ by less than their scatter, and the learned models'
/// searches were tuned on those networks, so a near-tie goes to the method with less to
/// overfit. A method with a non-finite error there (a total it could not give) is not
/// eligible. `None` when no method has a row on that side.
pub fn recommend(scored: &[Scored]) -> Option<Method> {
    let side = choosing_side(scored);
    let mut errors: BTreeMap<Method, Vec<f64>> = BTreeMap::new();
    for s in scored.iter().filter(|s| s.side == side) {
        errors.entry(s.method).or_default().push(s.error);
    }
    let means: Vec<(Method, f64)> = errors
        .iter()
        .map(|(method, e)| (*method, e.iter().sum::<f64>() / e.len() as f64))
        .filter(|(_, mean)| mean.is_finite())
        .collect();
    let (best, best_mean) = means
        .iter()
        .copied()
        .reduce(|a, b| if b.1 < a.1 { b } else { a })?;
    let threshold = best_mean + standard_error(&errors[&best]);
    means
        .iter()
        .find(|(_, mean)| *mean <= threshold)
        .map(|(method, _)| *method)
}

/// The standard error of the mean of `values` (sample standard deviation over √n); 0 for
/// fewer than two values.
fn standard_error(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (variance / n as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(method: Method, side: Side, error: f64) -> Scored {
        Scored {
            method,
            side,
            error,
        }
    }

    #[test]
    fn the_recommendation_follows_validation_even_when_test_disagrees() {
        // On the test and reference networks mlp is far better; on validation protocol is.
        let rows = [
            scored(Method::Protocol, Side::Validation, 2.0),
            scored(Method::Protocol, Side::Validation, 4.0),
            scored(Method::Mlp, Side::Validation, 3.5),
            scored(Method::Mlp, Side::Validation, 3.0),
            scored(Method::Protocol, Side::Test, 9.0),
            scored(Method::Mlp, Side::Test, 0.5),
            scored(Method::Protocol, Side::Reference, 8.0),
            scored(Method::Mlp, Side::Reference, 0.1),
            scored(Method::Rnn, Side::Test, 0.0),
        ];
        let best_on_test = [Method::Protocol, Method::Mlp, Method::Rnn]
            .into_iter()
            .min_by(|a, b| {
                let mean = |m: Method| {
                    let e: Vec<f64> = rows
                        .iter()
                        .filter(|s| s.method == m && s.side == Side::Test)
                        .map(|s| s.error)
                        .collect();
                    e.iter().sum::<f64>() / e.len() as f64
                };
                mean(*a).total_cmp(&mean(*b))
            })
            .unwrap();
        assert_eq!(best_on_test, Method::Rnn);
        assert_eq!(recommend(&rows), Some(Method::Protocol));
    }

    #[test]
    fn non_finite_errors_are_not_eligible_and_ties_keep_table_order() {
        let rows = [
            scored(Method::Analytical, Side::Validation, f64::NAN),
            scored(Method::Transfer, Side::Validation, 1.0),
            scored(Method::Protocol, Side::Validation, 1.0),
        ];
        assert_eq!(recommend(&rows), Some(Method::Protocol));
        assert_eq!(recommend(&[scored(Method::Mlp, Side::Test, 1.0)]), None);
        assert_eq!(recommend(&[]), None);
    }

    #[test]
    fn a_method_within_one_standard_error_of_the_best_loses_to_a_simpler_one() {
        // The MLP's mean (3.0) beats protocol's (3.4) by less than the MLP's standard error
        // (sample sd √(16/3) over √4 networks: 1.155): protocol, the simpler, is recommended.
        let noisy = [
            scored(Method::Protocol, Side::Validation, 3.4),
            scored(Method::Protocol, Side::Validation, 3.4),
            scored(Method::Mlp, Side::Validation, 1.0),
            scored(Method::Mlp, Side::Validation, 5.0),
            scored(Method::Mlp, Side::Validation, 1.0),
            scored(Method::Mlp, Side::Validation, 5.0),
        ];
        assert!(
            (standard_error(&[1.0, 5.0, 1.0, 5.0]) - (16.0_f64 / 3.0).sqrt() / 2.0).abs() < 1e-12
        );
        assert_eq!(recommend(&noisy), Some(Method::Protocol));
        // The same means with little scatter: the MLP is better beyond doubt.
        let clear = [
            scored(Method::Protocol, Side::Validation, 3.4),
            scored(Method::Protocol, Side::Validation, 3.4),
            scored(Method::Mlp, Side::Validation, 2.9),
            scored(Method::Mlp, Side::Validation, 3.1),
        ];
        assert_eq!(recommend(&clear), Some(Method::Mlp));
        // A method worse than the best is never chosen for being simple when it is far off.
        let far = [
            scored(Method::Analytical, Side::Validation, 9.0),
            scored(Method::Analytical, Side::Validation, 11.0),
            scored(Method::Rnn, Side::Validation, 1.0),
            scored(Method::Rnn, Side::Validation, 2.0),
        ];
        assert_eq!(recommend(&far), Some(Method::Rnn));
    }

    #[test]
    fn a_method_that_misses_one_network_by_far_loses_to_a_steady_one() {
        // Over 11 networks `rnn` is off by 1.6 % on each, `mlp` by 1.0 % on ten and 6 % on
        // one: the lower mean |error| (1.45), the heavier tail.
        let measured = 10.0;
        let mut rows = Vec::new();
        for i in 0..11 {
            let mlp_pct = if i == 0 { 6.0 } else { 1.0 };
            for (method, pct) in [(Method::Mlp, mlp_pct), (Method::Rnn, 1.6)] {
                let predicted = measured * (1.0 + pct / 100.0);
                rows.push(scored(
                    method,
                    Side::Validation,
                    network_error(predicted, measured),
                ));
            }
        }
        assert!((network_error(10.6, 10.0) - 36.0).abs() < 1e-9);
        assert_eq!(recommend(&rows), Some(Method::Rnn));
        // By |error %| `mlp` is the best and would be chosen.
        let absolute: Vec<Scored> = rows
            .iter()
            .map(|s| Scored {
                error: s.error.sqrt(),
                ..*s
            })
            .collect();
        assert_eq!(recommend(&absolute), Some(Method::Mlp));
    }

    #[test]
    fn selection_networks_choose_when_the_split_has_them() {
        // The MLP wins on the validation networks its search was tuned on, protocol on the
        // selection networks nothing has seen: the selection networks decide.
        let rows = [
            scored(Method::Protocol, Side::Validation, 6.0),
            scored(Method::Mlp, Side::Validation, 3.0),
            scored(Method::Protocol, Side::Selection, 4.0),
            scored(Method::Mlp, Side::Selection, 8.0),
            scored(Method::Mlp, Side::Test, 0.1),
        ];
        assert_eq!(choosing_side(&rows), Side::Selection);
        assert_eq!(recommend(&rows), Some(Method::Protocol));
        // Without selection rows, validation chooses as before.
        assert_eq!(choosing_side(&rows[..2]), Side::Validation);
        assert_eq!(recommend(&rows[..2]), Some(Method::Mlp));
    }
}
