//! [`TransferModel`]: a shaped setting's layer time from the unshaped (Local) setting's
//! counts model and the link alone — compute, wire time and round trips, with the part of
//! the wire time that overlaps computing taken off.
//!
//! A layer's parties compute and send at the same time in part (OT extension streams while
//! it computes; a ciphertext leaves while the next is made), so adding the wire time to the
//! compute time over-predicts wire-heavy layers. The model takes off a fraction `f` of
//! `min(compute, wire)`: `f = 0` adds them, `f = 1` is `max(compute, wire)`. Per layer
//! type × party × setting, `f` is fitted on the training rows (least squares, clamped to
//! 0…1) and the form — additive, fitted or max — chosen on the validation rows.

use serde::{Deserialize, Serialize};

use crate::predict::linear::LinearModel;

/// How a [`TransferModel`] combines compute and wire time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapForm {
    /// compute + wire + round trips (models stored before the overlap existed).
    #[default]
    Additive,
    /// A fraction of min(compute, wire) fitted on the training rows is hidden.
    Fitted,
    /// max(compute, wire) + round trips.
    Max,
}

/// The Local counts model plus a setting's link terms, with overlap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferModel {
    /// The counts model, fitted on the unshaped setting's training rows.
    #[serde(flatten)]
    pub counts: LinearModel,
    /// The unshaped setting it was fitted on.
    #[serde(default)]
    pub from_setting: String,
    /// The fraction of min(compute, wire) hidden by overlap (0…1).
    #[serde(default)]
    pub overlap: f64,
    /// Which form the validation rows chose.
    #[serde(default)]
    pub overlap_form: OverlapForm,
}

/// A layer's parts as `transfer` sees them, from a row of [`super::features::protocol`]
/// (the counts, then wire seconds, then round-trip seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Parts {
    compute: f64,
    wire: f64,
    round_trips: f64,
}

impl Parts {
    fn of(counts: &LinearModel, protocol_row: &[f64]) -> Parts {
        let n = protocol_row.len();
        Parts {
            compute: counts.predict(&protocol_row[..n - 2]),
            wire: protocol_row[n - 2],
            round_trips: protocol_row[n - 1],
        }
    }

    /// The time with a fraction `overlap` of min(compute, wire) hidden.
    fn seconds(self, overlap: f64) -> f64 {
        let hidden = self.compute.max(0.0).min(self.wire);
        self.compute + self.wire + self.round_trips - overlap * hidden
    }
}

impl TransferModel {
    /// A model that adds compute and wire time (no overlap yet).
    pub fn additive(counts: LinearModel, from_setting: &str) -> TransferModel {
        TransferModel {
            counts,
            from_setting: from_setting.to_string(),
            overlap: 0.0,
            overlap_form: OverlapForm::Additive,
        }
    }

    /// Seconds for a row of [`super::features::protocol`] of the target setting.
    pub fn predict(&self, protocol_row: &[f64]) -> f64 {
        Parts::of(&self.counts, protocol_row).seconds(self.overlap)
    }

    /// Fits the overlap fraction on the training rows (`train`: protocol rows and measured
    /// seconds) and keeps the form — additive, fitted or max — with the least squared error
    /// on the validation rows; ties keep the earlier form in that order. Without wire time
    /// (an unshaped setting) nothing changes.
    pub fn fit_overlap(&mut self, train: (&[Vec<f64>], &[f64]), validation: (&[Vec<f64>], &[f64])) {
        let parts = |rows: &[Vec<f64>]| -> Vec<Parts> {
            rows.iter().map(|r| Parts::of(&self.counts, r)).collect()
        };
        let (train_parts, validation_parts) = (parts(train.0), parts(validation.0));
        // y − (c + w + r) = −f · min(c, w): least squares in f.
        let (mut zm, mut mm) = (0.0, 0.0);
        for (p, &y) in train_parts.iter().zip(train.1) {
            let hidden = p.compute.max(0.0).min(p.wire);
            zm += (y - p.seconds(0.0)) * hidden;
            mm += hidden * hidden;
        }
        if mm <= 0.0 || !zm.is_finite() {
            return;
        }
        let fitted = (-zm / mm).clamp(0.0, 1.0);
        let error = |f: f64| -> f64 {
            validation_parts
                .iter()
                .zip(validation.1)
                .map(|(p, &y)| (p.seconds(f) - y).powi(2))
                .sum()
        };
        // A fit clamped to 0 or 1 is the additive or the max form, and named so.
        let mut candidates = vec![(OverlapForm::Additive, 0.0)];
        if fitted > 0.0 && fitted < 1.0 {
            candidates.push((OverlapForm::Fitted, fitted));
        }
        candidates.push((OverlapForm::Max, 1.0));
        let mut best = candidates[0];
        let mut best_error = error(best.1);
        for candidate in &candidates[1..] {
            let e = error(candidate.1);
            if e < best_error {
                (best, best_error) = (*candidate, e);
            }
        }
        (self.overlap_form, self.overlap) = best;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> LinearModel {
        // compute = 2·a (one count feature; the row's last two values are the link terms).
        LinearModel {
            features: vec!["a".into()],
            scale: vec![1.0],
            coef: vec![2.0],
            intercept: 0.0,
        }
    }

    #[test]
    fn additive_adds_the_link_seconds_to_the_counts_model() {
        let model = TransferModel::additive(counts(), "local");
        // compute 2, wire 0.5, round trips 0.125.
        assert_eq!(model.predict(&[1.0, 0.5, 0.125]), 2.0 + 0.5 + 0.125);
    }

    #[test]
    fn overlap_is_fitted_on_training_rows_and_chosen_on_validation_rows() {
        // Measured: max(compute, wire) + round trips, i.e. the wire hides fully.
        let rows: Vec<Vec<f64>> = (1..=8)
            .map(|i| vec![f64::from(i), f64::from(9 - i), 0.01])
            .collect();
        let measured: Vec<f64> = rows.iter().map(|r| (2.0 * r[0]).max(r[1]) + r[2]).collect();
        let mut model = TransferModel::additive(counts(), "local");
        model.fit_overlap((&rows[..5], &measured[..5]), (&rows[5..], &measured[5..]));
        assert_eq!(model.overlap_form, OverlapForm::Max, "{model:?}");
        assert_eq!(model.overlap, 1.0);
        for (row, y) in rows.iter().zip(&measured) {
            let additive = TransferModel::additive(counts(), "local").predict(row);
            assert!((model.predict(row) - y).abs() <= (additive - y).abs() + 1e-12);
        }
        // Additive data keeps the additive form.
        let additive: Vec<f64> = rows.iter().map(|r| 2.0 * r[0] + r[1] + r[2]).collect();
        let mut model = TransferModel::additive(counts(), "local");
        model.fit_overlap((&rows[..5], &additive[..5]), (&rows[5..], &additive[5..]));
        assert_eq!(model.overlap_form, OverlapForm::Additive);
        assert_eq!(model.overlap, 0.0);
    }

    #[test]
    fn a_partial_overlap_is_fitted() {
        // Half of min(compute, wire) hides.
        let rows: Vec<Vec<f64>> = (1..=8)
            .map(|i| vec![f64::from(i), f64::from(9 - i), 0.0])
            .collect();
        let measured: Vec<f64> = rows
            .iter()
            .map(|r| 2.0 * r[0] + r[1] - 0.5 * (2.0 * r[0]).min(r[1]))
            .collect();
        let mut model = TransferModel::additive(counts(), "local");
        model.fit_overlap((&rows[..5], &measured[..5]), (&rows[5..], &measured[5..]));
        assert_eq!(model.overlap_form, OverlapForm::Fitted, "{model:?}");
        assert!((model.overlap - 0.5).abs() < 1e-12, "{model:?}");
    }

    #[test]
    fn no_wire_time_leaves_the_model_additive() {
        let rows = vec![vec![1.0, 0.0, 0.0], vec![2.0, 0.0, 0.0]];
        let mut model = TransferModel::additive(counts(), "local");
        model.fit_overlap((&rows, &[1.0, 3.0]), (&rows, &[1.0, 3.0]));
        assert_eq!(model.overlap_form, OverlapForm::Additive);
    }

    #[test]
    fn models_stored_before_the_overlap_read_as_additive() {
        let stored = serde_json::json!({
            "features": ["a"], "scale": [1.0], "coef": [2.0], "intercept": 0.0,
            "from_setting": "local"
        });
        let model: TransferModel = serde_json::from_value(stored).unwrap();
        assert_eq!(model.overlap_form, OverlapForm::Additive);
        assert_eq!(model.overlap, 0.0);
        assert_eq!(model.counts, counts());
        let round: TransferModel =
            serde_json::from_value(serde_json::to_value(&model).unwrap()).unwrap();
        assert_eq!(round, model);
    }
}
