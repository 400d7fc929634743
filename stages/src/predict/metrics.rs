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
}
