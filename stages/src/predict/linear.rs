//! The analytical predictor: a non-negative linear model of a layer's time in its features
//! (raw parameters, FLOPs, sizes and the engine's protocol counts).
//!
//! Non-negative because every feature counts work that can only add time; the constraint
//! keeps collinear counts from cancelling each other with huge opposite coefficients.

use serde::{Deserialize, Serialize};

use super::nnls::nnls;

/// A linear model `intercept + Σ coef[i] · row[i] / scale[i]` with `coef ≥ 0`,
/// `intercept ≥ 0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    /// Feature names, in the order rows give their values.
    pub features: Vec<String>,
    /// Divisor of each feature before it meets its coefficient: the largest |value| seen
    /// in training (1 for an all-zero column).
    pub scale: Vec<f64>,
    /// Coefficient of each scaled feature.
    pub coef: Vec<f64>,
    /// Constant term.
    pub intercept: f64,
}

impl LinearModel {
    /// NNLS fit of y on the columns (rows × features), with a non-negative intercept;
    /// columns are divided by their max |value| (scale; 1 for all-zero columns) before
    /// fitting for conditioning, coefficients stored for the scaled columns.
    ///
    /// # Panics
    /// If `rows` and `y` differ in length or a row does not have one value per feature.
    pub fn fit(features: Vec<String>, rows: &[Vec<f64>], y: &[f64]) -> LinearModel {
        LinearModel::fit_fixed(features, rows, y, &[])
    }

    /// [`LinearModel::fit`] with the coefficients of some features given rather than
    /// fitted: each `(i, c)` of `fixed` takes `c · row[i]` (c per unscaled unit, ≥ 0) off
    /// every target, the other features are fitted to what is left, and `c` is stored for
    /// feature `i`. For costs estimated from more rows than these (a Ferret refill and the
    /// pool memory it grows, shared by every layer kind, fitted across them).
    ///
    /// # Panics
    /// As [`LinearModel::fit`]; also if an `i` is not a feature or a `c` is negative or
    /// not finite.
    pub fn fit_fixed(
        features: Vec<String>,
        rows: &[Vec<f64>],
        y: &[f64],
        fixed: &[(usize, f64)],
    ) -> LinearModel {
        assert_eq!(rows.len(), y.len(), "linear fit: one target per row");
        for &(i, c) in fixed {
            assert!(
                i < features.len(),
                "linear fit: fixed feature {i} is not a feature"
            );
            assert!(
                c >= 0.0 && c.is_finite(),
                "linear fit: fixed coefficient {c}"
            );
        }
        let n = features.len();
        let mut scale = vec![0.0_f64; n];
        for row in rows {
            assert_eq!(
                row.len(),
                n,
                "linear fit: one value per feature in every row"
            );
            for (s, v) in scale.iter_mut().zip(row) {
                *s = s.max(v.abs());
            }
        }
        for s in &mut scale {
            if *s == 0.0 || !s.is_finite() {
                *s = 1.0;
            }
        }
        let design: Vec<Vec<f64>> = rows
            .iter()
            .map(|row| {
                let mut scaled: Vec<f64> = row.iter().zip(&scale).map(|(v, s)| v / s).collect();
                for &(i, _) in fixed {
                    // An all-zero column never enters NNLS's passive set: coefficient 0.
                    scaled[i] = 0.0;
                }
                scaled.push(1.0);
                scaled
            })
            .collect();
        let rest: Vec<f64> = rows
            .iter()
            .zip(y)
            .map(|(row, y)| y - fixed.iter().map(|&(i, c)| c * row[i]).sum::<f64>())
            .collect();
        let mut coef = nnls(&design, &rest);
        let intercept = coef.pop().unwrap_or(0.0);
        // With no rows nnls returns nothing to pop but the intercept; keep one per feature.
        coef.resize(n, 0.0);
        for &(i, c) in fixed {
            coef[i] = c * scale[i];
        }
        LinearModel {
            features,
            scale,
            coef,
            intercept,
        }
    }

    /// Prediction for one row (same feature order); allocation-free.
    pub fn predict(&self, row: &[f64]) -> f64 {
        debug_assert_eq!(row.len(), self.coef.len(), "one value per feature");
        // A plain indexed loop: as fast as the iterator form when optimised, and several
        // times faster in the unoptimised builds our own crates get in tests.
        let n = row.len().min(self.coef.len()).min(self.scale.len());
        let (row, coef, scale) = (&row[..n], &self.coef[..n], &self.scale[..n]);
        let mut sum = self.intercept;
        for i in 0..n {
            sum += coef[i] * (row[i] / scale[i]);
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("f{i}")).collect()
    }

    fn random_rows(rows: usize, cols: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..rows)
            .map(|_| {
                (0..cols)
                    .map(|c| rng.random::<f64>() * 10f64.powi(c as i32))
                    .collect()
            })
            .collect()
    }

    /// Coefficients on the unscaled features.
    fn raw(model: &LinearModel) -> Vec<f64> {
        model
            .coef
            .iter()
            .zip(&model.scale)
            .map(|(c, s)| c / s)
            .collect()
    }

    #[test]
    fn recovers_known_non_negative_coefficients() {
        let truth = [2.0, 0.5, 0.0, 3e-3];
        let rows = random_rows(500, 4, 1);
        let y: Vec<f64> = rows
            .iter()
            .map(|r| 7.0 + r.iter().zip(&truth).map(|(a, b)| a * b).sum::<f64>())
            .collect();
        let model = LinearModel::fit(names(4), &rows, &y);
        for (got, want) in raw(&model).iter().zip(&truth) {
            assert!(
                (got - want).abs() <= 1e-9 * want.max(1.0),
                "{got} vs {want}"
            );
        }
        assert!((model.intercept - 7.0).abs() < 1e-8, "{}", model.intercept);
        for (row, target) in rows.iter().zip(&y) {
            assert!((model.predict(row) - target).abs() < 1e-8);
        }
    }

    #[test]
    fn a_fixed_coefficient_is_kept_and_the_rest_fitted_to_what_it_leaves() {
        let truth = [2.0, 0.5, 3e-3];
        let mut rows = random_rows(300, 3, 4);
        // Feature 1 is zero on every training row: a fit alone would give it nothing.
        for row in &mut rows {
            row[1] = 0.0;
        }
        let y: Vec<f64> = rows
            .iter()
            .map(|r| 1.5 + r.iter().zip(&truth).map(|(a, b)| a * b).sum::<f64>())
            .collect();
        let model = LinearModel::fit_fixed(names(3), &rows, &y, &[(1, 0.25)]);
        let got = raw(&model);
        assert!(
            (got[0] - 2.0).abs() < 1e-9 && (got[2] - 3e-3).abs() < 1e-9,
            "{got:?}"
        );
        assert_eq!(got[1], 0.25, "the given coefficient, per unscaled unit");
        assert!((model.intercept - 1.5).abs() < 1e-8, "{}", model.intercept);
        // A row with the feature set pays it at the given rate.
        let row = [1.0, 4.0, 100.0];
        assert!((model.predict(&row) - (1.5 + 2.0 + 1.0 + 0.3)).abs() < 1e-9);
    }

    #[test]
    fn clamps_a_negative_coefficient_and_fits_the_rest() {
        let rows = random_rows(400, 2, 2);
        let y: Vec<f64> = rows
            .iter()
            .map(|r| 10.0 + 2.0 * r[0] - 0.3 * r[1])
            .collect();
        let model = LinearModel::fit(names(2), &rows, &y);
        assert_eq!(model.coef[1], 0.0);
        assert!(model.intercept > 0.0);
        // The rest is the least-squares fit without the clamped column.
        let alone: Vec<Vec<f64>> = rows.iter().map(|r| vec![r[0]]).collect();
        let reference = LinearModel::fit(names(1), &alone, &y);
        assert!((raw(&model)[0] - raw(&reference)[0]).abs() < 1e-9);
        assert!((model.intercept - reference.intercept).abs() < 1e-9);
    }

    #[test]
    fn zero_and_collinear_columns_give_finite_coefficients() {
        let base = random_rows(200, 1, 3);
        // Columns: x, 0, 2x (collinear with x), x again.
        let rows: Vec<Vec<f64>> = base
            .iter()
            .map(|r| vec![r[0], 0.0, 2.0 * r[0], r[0]])
            .collect();
        let y: Vec<f64> = base.iter().map(|r| 1.0 + 4.0 * r[0]).collect();
        let model = LinearModel::fit(names(4), &rows, &y);
        assert_eq!(model.scale[1], 1.0);
        assert_eq!(model.coef[1], 0.0);
        assert!(model.coef.iter().all(|c| c.is_finite() && *c >= 0.0));
        for (row, target) in rows.iter().zip(&y) {
            assert!((model.predict(row) - target).abs() < 1e-8);
        }
    }

    #[test]
    fn no_rows_gives_a_zero_model() {
        let model = LinearModel::fit(names(3), &[], &[]);
        assert_eq!(model.coef, vec![0.0; 3]);
        assert_eq!(model.predict(&[1.0, 2.0, 3.0]), 0.0);
    }

    #[test]
    fn serde_round_trip() {
        let rows = random_rows(50, 3, 4);
        let y: Vec<f64> = rows.iter().map(|r| 1.0 + r[0] + r[2]).collect();
        let model = LinearModel::fit(names(3), &rows, &y);
        // Through a JSON value the floats are kept bit for bit.
        let value = serde_json::to_value(&model).unwrap();
        assert_eq!(serde_json::from_value::<LinearModel>(value).unwrap(), model);
        // Through text, serde_json without `float_roundtrip` may move the last digit.
        let text = serde_json::to_string(&model).unwrap();
        let back: LinearModel = serde_json::from_str(&text).unwrap();
        assert_eq!(back.features, model.features);
        let pairs = back
            .scale
            .iter()
            .zip(&model.scale)
            .chain(back.coef.iter().zip(&model.coef));
        for (a, b) in pairs.chain([(&back.intercept, &model.intercept)]) {
            assert!((a - b).abs() <= 4.0 * f64::EPSILON * b.abs(), "{a} vs {b}");
        }
    }
}
