//! The recommended method of a party × setting (whole networks) or of a layer type ×
//! party × setting (per layer): the one with the least mean error on the **validation**
//! networks, or on the split's **selection** networks when it has them. Every model is
//! fitted on the training networks, so validation errors are out of sample; but the
//! searches also tune the learned models (hyperparameters, early stopping) on the
//! validation networks, which flatters them against the linear models there. Selection
//! networks are seen by nothing before the choice. The test and reference networks only
//! report how the choice does.

use std::collections::BTreeMap;

use super::frame::Side;
use super::method::Method;

/// One prediction's error, for choosing: the method, the side of the network it was made
/// for, and the error a method is judged by (|error %| of a whole network, the squared
/// error of a layer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The method.
    pub method: Method,
    /// The predicted network's side of the split.
    pub side: Side,
    /// The error (smaller is better).
    pub error: f64,
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

/// The method with the least mean error over the rows of `scored` on the
/// [`choosing_side`], ignoring every other side. A method with a non-finite error there (a
/// total it could not give) is not eligible; ties keep the earlier method in
/// [`Method::NETWORK`] order. `None` when no method has a row on that side.
pub fn recommend(scored: &[Scored]) -> Option<Method> {
    let side = choosing_side(scored);
    let mut sums: BTreeMap<Method, (f64, usize)> = BTreeMap::new();
    for s in scored.iter().filter(|s| s.side == side) {
        let entry = sums.entry(s.method).or_default();
        entry.0 += s.error;
        entry.1 += 1;
    }
    let mut best: Option<(Method, f64)> = None;
    for (method, (sum, n)) in sums {
        let mean = sum / n as f64;
        if !mean.is_finite() {
            continue;
        }
        if best.is_none_or(|(_, b)| mean < b) {
            best = Some((method, mean));
        }
    }
    best.map(|(method, _)| method)
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
