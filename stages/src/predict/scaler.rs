//! Feature and target scaling for the neural predictors.
//!
//! Layer features span many orders of magnitude (a FLOP count next to a kernel size), so a
//! [`Scaler`] log-scales the wide non-negative columns and then standardises every column;
//! a [`TargetScaler`] does the same for the measured time, always in log space, so that the
//! network's squared error weighs relative rather than absolute error. Both are fitted on the
//! training rows only and stored beside the weights.

use serde::{Deserialize, Serialize};

/// Positive values of a column must span more than this ratio for it to be log-scaled.
const LOG_SPAN: f64 = 100.0;

/// Measured times are clamped here before the logarithm.
const MIN_TARGET: f64 = 1e-9;

/// How far (in standard deviations) a scaled value may lie past its column's training range
/// and still count as within it. A stored scaler comes back from JSON, whose float parsing
/// may move a mean or a standard deviation by an ulp, and many training rows sit exactly on
/// a range's edge (the largest kernel, the widest layer): without this margin they would
/// read as just outside the data they came from.
const RANGE_MARGIN: f64 = 1e-9;

/// Per-column scaling of feature rows: optional `ln(1 + x)`, then `(x - mean) / std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// Whether each column is log-scaled before standardising.
    pub log: Vec<bool>,
    /// Mean of each column after the optional logarithm.
    pub mean: Vec<f64>,
    /// Standard deviation of each column after the optional logarithm (1 where it was 0).
    pub std: Vec<f64>,
    /// Per column, the (min, max) of the scaled training values. Inputs are clamped into
    /// it, so a layer beyond the training range reaches the network as the nearest trained
    /// value of each feature instead of as a point the network never saw: a learned model
    /// then predicts what it learned at the edge of its data (a residual model's ratio to
    /// the protocol prediction), where its unconstrained output could be anything. Empty
    /// in models stored before it existed, which are not clamped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub range: Vec<(f64, f64)>,
}

impl Scaler {
    /// Fits on training rows (rows × columns): a column is log-scaled (ln(1 + x)) when all
    /// its values are ≥ 0 and its positive values span more than two orders of magnitude;
    /// then standardised (std 0 → 1), and the range of the scaled values is kept for
    /// clamping. The column count is that of the first row; no rows give a scaler of no
    /// columns.
    ///
    /// # Panics
    ///
    /// If the rows do not all have the same length.
    pub fn fit(rows: &[Vec<f64>]) -> Scaler {
        let columns = rows.first().map_or(0, Vec::len);
        assert!(
            rows.iter().all(|row| row.len() == columns),
            "scaler rows must all have {columns} columns"
        );
        let mut scaler = Scaler {
            log: Vec::with_capacity(columns),
            mean: Vec::with_capacity(columns),
            std: Vec::with_capacity(columns),
            range: Vec::with_capacity(columns),
        };
        let mut values = Vec::with_capacity(rows.len());
        for column in 0..columns {
            values.clear();
            values.extend(rows.iter().map(|row| row[column]));
            let log = spans_orders_of_magnitude(&values);
            if log {
                values.iter_mut().for_each(|v| *v = v.ln_1p());
            }
            let (mean, std) = mean_std(&values);
            let range = values
                .iter()
                .map(|v| (v - mean) / std)
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
            scaler.log.push(log);
            scaler.mean.push(mean);
            scaler.std.push(std);
            scaler.range.push(range);
        }
        scaler
    }

    /// The number of columns this scaler expects.
    pub fn columns(&self) -> usize {
        self.mean.len()
    }

    /// Scales one row.
    ///
    /// # Panics
    ///
    /// If the row's length is not [`Scaler::columns`].
    pub fn transform(&self, row: &[f64]) -> Vec<f32> {
        let mut out = vec![0.0; row.len()];
        self.transform_into(row, &mut out);
        out
    }

    /// Scales one row into `out` without allocating, and says whether the row was within
    /// the training range (no value had to be clamped). A log-scaled column clamps negative
    /// values at 0 first; every scaled value is then clamped into the column's training
    /// range (when the scaler has one).
    ///
    /// # Panics
    ///
    /// If `row` or `out` does not have [`Scaler::columns`] entries.
    pub fn transform_into(&self, row: &[f64], out: &mut [f32]) -> bool {
        assert_eq!(
            row.len(),
            self.columns(),
            "row width differs from the scaler's"
        );
        assert_eq!(
            out.len(),
            self.columns(),
            "output width differs from the scaler's"
        );
        let mut within = true;
        for (column, (&value, slot)) in row.iter().zip(out.iter_mut()).enumerate() {
            let value = if self.log[column] {
                value.max(0.0).ln_1p()
            } else {
                value
            };
            let mut scaled = (value - self.mean[column]) / self.std[column];
            if let Some(&(lo, hi)) = self.range.get(column) {
                if lo <= hi {
                    within &= (lo - RANGE_MARGIN..=hi + RANGE_MARGIN).contains(&scaled);
                    scaled = scaled.clamp(lo, hi);
                }
            }
            *slot = scaled as f32;
        }
        within
    }
}

/// The target: ln(y) (y > 0 clamped at 1e-9) standardised; inverse maps back to seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetScaler {
    /// Mean of ln(y) over the training targets.
    pub mean: f64,
    /// Standard deviation of ln(y) over the training targets (1 where it was 0).
    pub std: f64,
}

impl TargetScaler {
    /// Fits on training targets in seconds. No targets give the identity on ln(y).
    pub fn fit(y: &[f64]) -> Self {
        let logs: Vec<f64> = y.iter().map(|&v| ln_target(v)).collect();
        let (mean, std) = mean_std(&logs);
        TargetScaler { mean, std }
    }

    /// Scales one target in seconds.
    pub fn transform(&self, y: f64) -> f32 {
        ((ln_target(y) - self.mean) / self.std) as f32
    }

    /// Maps a scaled value (a network output) back to seconds.
    pub fn inverse(&self, z: f32) -> f64 {
        (f64::from(z) * self.std + self.mean).exp()
    }
}

fn ln_target(y: f64) -> f64 {
    y.max(MIN_TARGET).ln()
}

/// Whether all values are ≥ 0 and the positive ones span more than [`LOG_SPAN`].
fn spans_orders_of_magnitude(values: &[f64]) -> bool {
    if values.iter().any(|&v| v < 0.0 || !v.is_finite()) {
        return false;
    }
    let positive = values.iter().copied().filter(|&v| v > 0.0);
    let (min, max) = positive.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    min.is_finite() && max / min > LOG_SPAN
}

/// Population mean and standard deviation; a zero, empty or non-finite spread gives 1.
fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 1.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let std = variance.sqrt();
    let std = if std > 0.0 && std.is_finite() {
        std
    } else {
        1.0
    };
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[f64]) -> Vec<Vec<f64>> {
        values.iter().map(|&v| vec![v]).collect()
    }

    #[test]
    fn log_scales_a_column_spanning_six_orders_of_magnitude() {
        let scaler = Scaler::fit(&column(&[1.0, 1e2, 1e4, 1e6]));
        assert_eq!(scaler.log, vec![true]);
    }

    #[test]
    fn keeps_a_column_spanning_one_order_of_magnitude_linear() {
        let scaler = Scaler::fit(&column(&[1.0, 3.0, 5.0, 10.0]));
        assert_eq!(scaler.log, vec![false]);
    }

    #[test]
    fn keeps_a_column_with_negative_values_linear() {
        let scaler = Scaler::fit(&column(&[-1.0, 1.0, 1e6]));
        assert_eq!(scaler.log, vec![false]);
    }

    #[test]
    fn standardises_to_zero_mean_and_unit_variance() {
        let rows = vec![
            vec![1.0, 1.0],
            vec![1e3, 2.0],
            vec![1e6, 3.0],
            vec![10.0, 4.0],
        ];
        let scaler = Scaler::fit(&rows);
        assert_eq!(scaler.log, vec![true, false]);
        let scaled: Vec<Vec<f32>> = rows.iter().map(|r| scaler.transform(r)).collect();
        for c in 0..2 {
            let mean = scaled.iter().map(|r| f64::from(r[c])).sum::<f64>() / 4.0;
            let var = scaled
                .iter()
                .map(|r| (f64::from(r[c]) - mean).powi(2))
                .sum::<f64>()
                / 4.0;
            assert!(mean.abs() < 1e-6, "column {c} mean {mean}");
            assert!((var - 1.0).abs() < 1e-5, "column {c} variance {var}");
        }
    }

    #[test]
    fn a_constant_column_gets_unit_std() {
        let scaler = Scaler::fit(&column(&[7.0, 7.0, 7.0]));
        assert_eq!(scaler.std, vec![1.0]);
        assert_eq!(scaler.transform(&[7.0]), vec![0.0]);
    }

    #[test]
    fn transform_into_matches_transform() {
        let rows = vec![vec![1.0, -2.0], vec![1e5, 4.0]];
        let scaler = Scaler::fit(&rows);
        let mut out = [0.0_f32; 2];
        scaler.transform_into(&rows[1], &mut out);
        assert_eq!(out.to_vec(), scaler.transform(&rows[1]));
    }

    #[test]
    fn values_beyond_the_training_range_are_clamped_to_its_edge() {
        let rows = column(&[1.0, 10.0, 100.0, 1e3]);
        let scaler = Scaler::fit(&rows);
        let edge = scaler.transform(&[1e3]);
        assert_eq!(scaler.transform(&[1e6]), edge, "far above the range");
        assert_eq!(
            scaler.transform(&[0.5]),
            scaler.transform(&[1.0]),
            "below it"
        );
        // Inside the range nothing is clamped: the scaled values keep their order.
        let inside = scaler.transform(&[50.0]);
        assert!(scaler.transform(&[10.0])[0] < inside[0] && inside[0] < edge[0]);
        // transform_into says which rows were within the range, its edges included.
        let mut out = [0.0_f32];
        for (value, within) in [
            (1e6, false),
            (0.5, false),
            (1e3, true),
            (1.0, true),
            (50.0, true),
        ] {
            assert_eq!(scaler.transform_into(&[value], &mut out), within, "{value}");
        }
    }

    #[test]
    fn training_rows_are_within_the_range_of_a_scaler_read_back_from_json() {
        // Discrete features with many rows on the edges, and wide ones that are log-scaled.
        let rows: Vec<Vec<f64>> = (0..400)
            .map(|i| {
                let i = i as f64;
                vec![
                    [1.0, 3.0, 5.0][(i as usize) % 3],
                    [16.0, 32.0, 64.0, 128.0][(i as usize) % 4],
                    (i * 0.37).sin() * 1e3 + 1e3,
                    (1.0 + i).powf(2.7) * 13.1,
                    i / 7.0 - 11.3,
                ]
            })
            .collect();
        let fitted = Scaler::fit(&rows);
        let stored: Scaler =
            serde_json::from_str(&serde_json::to_string(&fitted).unwrap()).unwrap();
        let mut out = vec![0.0_f32; 5];
        for (i, row) in rows.iter().enumerate() {
            assert!(fitted.transform_into(row, &mut out), "row {i}, as fitted");
            assert!(stored.transform_into(row, &mut out), "row {i}, read back");
        }
        let mut beyond = rows[0].clone();
        beyond[1] = 129.0;
        assert!(!stored.transform_into(&beyond, &mut out));
    }

    #[test]
    fn a_scaler_stored_without_ranges_does_not_clamp() {
        let mut scaler = Scaler::fit(&column(&[1.0, 2.0, 3.0]));
        let json = serde_json::to_string(&scaler).unwrap();
        assert!(json.contains("range"), "{json}");
        scaler.range.clear();
        let old: Scaler = serde_json::from_str(&serde_json::to_string(&scaler).unwrap()).unwrap();
        assert!(old.range.is_empty());
        assert!(
            old.transform(&[30.0])[0] > 10.0,
            "{:?}",
            old.transform(&[30.0])
        );
    }

    #[test]
    fn target_inverse_undoes_transform() {
        let y = [1e-6, 3e-4, 0.02, 1.5, 40.0];
        let scaler = TargetScaler::fit(&y);
        for &v in &y {
            let back = scaler.inverse(scaler.transform(v));
            assert!((back - v).abs() / v < 1e-5, "{v} came back as {back}");
        }
    }

    #[test]
    fn target_clamps_non_positive_times() {
        let scaler = TargetScaler::fit(&[0.0, 1.0]);
        assert_eq!(scaler.transform(0.0), scaler.transform(-5.0));
        assert!((scaler.inverse(scaler.transform(0.0)) - MIN_TARGET).abs() < 1e-12);
    }
}
