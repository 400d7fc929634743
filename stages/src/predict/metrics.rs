//! Error metrics of a predictor against measured values: MAE, R² and MAPE, as the study's
//! result tables report them.
//!
//! Each takes the measured values `y` and the predictions `p`, in the same order.

/// Mean absolute error; NaN for empty input.
///
/// # Panics
/// If `y` and `p` differ in length.
pub fn mae(y: &[f64], p: &[f64]) -> f64 {
    assert_eq!(y.len(), p.len(), "mae: one prediction per value");
    if y.is_empty() {
        return f64::NAN;
    }
    y.iter().zip(p).map(|(a, b)| (a - b).abs()).sum::<f64>() / y.len() as f64
}

/// Coefficient of determination, 1 − SS_res/SS_tot.
///
/// When the measured values are constant (SS_tot = 0) R² is undefined: this returns 1.0
/// if the predictions are exact (SS_res = 0) and NaN otherwise. NaN for empty input.
///
/// # Panics
/// If `y` and `p` differ in length.
pub fn r2(y: &[f64], p: &[f64]) -> f64 {
    assert_eq!(y.len(), p.len(), "r2: one prediction per value");
    if y.is_empty() {
        return f64::NAN;
    }
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let ss_tot: f64 = y.iter().map(|a| (a - mean).powi(2)).sum();
    let ss_res: f64 = y.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum();
    if ss_tot == 0.0 {
        return if ss_res == 0.0 { 1.0 } else { f64::NAN };
    }
    1.0 - ss_res / ss_tot
}

/// Mean absolute percentage error, in percent: mean of 100·|y − p|/|y| over the rows with
/// y ≠ 0 (rows with y = 0 are skipped); NaN when no row is left.
///
/// # Panics
/// If `y` and `p` differ in length.
pub fn mape(y: &[f64], p: &[f64]) -> f64 {
    assert_eq!(y.len(), p.len(), "mape: one prediction per value");
    let (sum, count) = y
        .iter()
        .zip(p)
        .filter(|(a, _)| **a != 0.0)
        .fold((0.0, 0usize), |(sum, count), (a, b)| {
            (sum + ((a - b) / a).abs(), count + 1)
        });
    if count == 0 {
        return f64::NAN;
    }
    100.0 * sum / count as f64
}

/// The group of every row (groups numbered by first appearance of their key) and the
/// number of groups.
fn group_of<K: Ord>(keys: &[K]) -> (Vec<usize>, usize) {
    let mut index: std::collections::BTreeMap<&K, usize> = std::collections::BTreeMap::new();
    let rows = keys
        .iter()
        .map(|key| {
            let next = index.len();
            *index.entry(key).or_insert(next)
        })
        .collect();
    (rows, index.len())
}

/// The mean of `values` within each group.
fn means(groups: &[usize], count: usize, values: &[f64]) -> Vec<f64> {
    let mut sums = vec![(0.0, 0usize); count];
    for (&g, value) in groups.iter().zip(values) {
        sums[g].0 += value;
        sums[g].1 += 1;
    }
    sums.iter().map(|(s, n)| s / *n as f64).collect()
}

/// The mean of `values` within each group of equal `keys`, in group order (first
/// appearance): the run mean of each layer when `keys` name the network and layer.
///
/// # Panics
/// If `keys` and `values` differ in length.
pub fn group_means<K: Ord + Clone>(keys: &[K], values: &[f64]) -> (Vec<K>, Vec<f64>) {
    assert_eq!(keys.len(), values.len(), "group_means: one value per key");
    let (groups, count) = group_of(keys);
    let mut order = Vec::with_capacity(count);
    for (&g, key) in groups.iter().zip(keys) {
        if g == order.len() {
            order.push(key.clone());
        }
    }
    (order, means(&groups, count, values))
}

/// R² against repeated measurements, per group of equal `keys` (one layer's runs):
/// `(run_mean, ceiling)`.
///
/// - `run_mean` scores the mean prediction of each group against the mean measurement of
///   that group: how well a model predicts a layer's expected time, with the run-to-run
///   noise averaged out.
/// - `ceiling` scores each group's mean measurement as a prediction of its single runs:
///   the best R² any model of the layer's features can reach on single runs, since the
///   runs of one layer share their features. It is 1 when no layer was run twice.
pub fn repeated_r2<K: Ord>(keys: &[K], y: &[f64], p: &[f64]) -> (f64, f64) {
    assert_eq!(y.len(), p.len(), "repeated_r2: one prediction per value");
    let (groups, count) = group_of(keys);
    let y_mean = means(&groups, count, y);
    let p_mean = means(&groups, count, p);
    let y_of_row: Vec<f64> = groups.iter().map(|&g| y_mean[g]).collect();
    (r2(&y_mean, &p_mean), r2(y, &y_of_row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mae_averages_absolute_errors() {
        assert_eq!(mae(&[1.0, 2.0, 3.0], &[2.0, 2.0, 1.0]), 1.0);
        assert!(mae(&[], &[]).is_nan());
    }

    #[test]
    fn r2_of_perfect_mean_and_worse_predictions() {
        let y = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(r2(&y, &y), 1.0);
        assert_eq!(r2(&y, &[2.5; 4]), 0.0);
        assert!(r2(&y, &[4.0, 3.0, 2.0, 1.0]) < 0.0);
        assert!((r2(&y, &[1.1, 1.9, 3.1, 3.9]) - (1.0 - 0.04 / 5.0)).abs() < 1e-12);
    }

    #[test]
    fn r2_of_constant_values() {
        assert_eq!(r2(&[2.0, 2.0], &[2.0, 2.0]), 1.0);
        assert!(r2(&[2.0, 2.0], &[2.0, 3.0]).is_nan());
    }

    #[test]
    fn mape_is_in_percent_and_skips_zeros() {
        assert!((mape(&[2.0, 0.0, 4.0], &[1.0, 5.0, 5.0]) - 37.5).abs() < 1e-12);
        assert!(mape(&[0.0], &[1.0]).is_nan());
    }

    #[test]
    fn group_means_keep_first_appearance_order() {
        let (keys, means) = group_means(&["b", "a", "b", "a", "c"], &[1.0, 2.0, 3.0, 6.0, 5.0]);
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(means, [2.0, 4.0, 5.0]);
    }

    #[test]
    fn repeated_r2_separates_model_error_from_run_noise() {
        // Two layers, two runs each: the runs scatter ±1 around 10 and 20.
        let keys = [0, 0, 1, 1];
        let y = [9.0, 11.0, 19.0, 21.0];
        // Predicting each layer's run mean exactly: perfect on the means, and exactly as
        // good as the ceiling on single runs.
        let p = [10.0, 10.0, 20.0, 20.0];
        let (run_mean, ceiling) = repeated_r2(&keys, &y, &p);
        assert_eq!(run_mean, 1.0);
        assert!((ceiling - r2(&y, &p)).abs() < 1e-12);
        assert!((ceiling - (1.0 - 4.0 / 104.0)).abs() < 1e-12);
        // A model off by 1 on the second layer loses on the means as well.
        let (worse, same_ceiling) = repeated_r2(&keys, &y, &[10.0, 10.0, 21.0, 21.0]);
        assert!((worse - (1.0 - 1.0 / 50.0)).abs() < 1e-12);
        assert_eq!(same_ceiling, ceiling);
        // One run per layer: the ceiling is 1 and the run-mean R² is the plain R².
        let (plain, one) = repeated_r2(&[0, 1], &[1.0, 3.0], &[1.5, 2.5]);
        assert_eq!(one, 1.0);
        assert_eq!(plain, r2(&[1.0, 3.0], &[1.5, 2.5]));
    }
}
