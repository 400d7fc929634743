//! What a Ferret refill costs, fitted once per party × setting across every layer kind.
//!
//! A refill is one iteration of Ferret's LPN extension (engine `ot::ferret`): it runs
//! inside whichever layer happens to empty the COT pool, and it costs the same whichever
//! kind that layer is. The per-kind linear models each carry `ot_refills` as a feature, but
//! fitted per kind they can only learn its cost from their own training rows. On the mid
//! study no training AVG-pool layer and only 2 batch-norm layers refilled, so those models
//! priced a refill at 0 while it costs ~0.25 s: a network whose one refill fell into its
//! first pooling layer was predicted 5–7 % short. Fitting the refill's cost jointly over
//! every kind's training rows (each kind keeps its own coefficients for everything else)
//! and then holding it fixed in every per-kind fit gives every kind the same, well-measured
//! price.

use super::features::{self, Feature};
use super::frame::{Side, ViewRows};
use super::models::targets;
use crate::predict::nnls::nnls;
use crate::schema::dataset::OT_REFILLS;
use crate::{view_of_kind, StageError, VIEW_NAMES};

/// Seconds per refill for `party` in `setting`, from the training rows of the dataset's
/// `layers` table: the refill column shared by every kind, with each kind's other
/// `features` (and an intercept) in a block of their own, by non-negative least squares.
/// 0 when no training row refills (nothing to price it from). Kinds without a per-layer
/// model (`flatten`) are left out, as the per-kind fits leave them out.
pub fn refill_seconds(
    layers: &ViewRows,
    party: &str,
    setting: &str,
    features: &[Feature],
) -> Result<f64, StageError> {
    let rows = layers.select(party, setting, &[Side::Train]);
    let refills = layers.column(OT_REFILLS.name)?;
    if !rows.iter().any(|&i| refills[i] > 0.0) {
        return Ok(0.0);
    }
    let others: Vec<Feature> = features
        .iter()
        .copied()
        .filter(|f| *f != Feature::Column(OT_REFILLS.name))
        .collect();
    let values = features::matrix(layers, &rows, &others)?;
    let y = targets(layers, &rows)?;
    let block_of = |i: usize| {
        view_of_kind(&layers.kind[i]).and_then(|v| VIEW_NAMES.iter().position(|n| *n == v))
    };
    // Each block: the kind's features scaled by their largest |value| on its rows (as
    // `LinearModel::fit` scales them) and its intercept.
    let width = others.len() + 1;
    let mut scale = vec![vec![0.0_f64; others.len()]; VIEW_NAMES.len()];
    for (r, &i) in rows.iter().enumerate() {
        if let Some(b) = block_of(i) {
            for (s, v) in scale[b].iter_mut().zip(&values[r]) {
                *s = s.max(v.abs());
            }
        }
    }
    let refill_scale = rows.iter().map(|&i| refills[i]).fold(0.0, f64::max);
    let mut design = Vec::with_capacity(rows.len());
    let mut target = Vec::with_capacity(rows.len());
    for (r, &i) in rows.iter().enumerate() {
        let Some(b) = block_of(i) else { continue };
        let mut line = vec![0.0; VIEW_NAMES.len() * width + 1];
        let block = &mut line[b * width..(b + 1) * width];
        for ((cell, v), s) in block.iter_mut().zip(&values[r]).zip(&scale[b]) {
            *cell = if *s > 0.0 { v / s } else { 0.0 };
        }
        block[others.len()] = 1.0;
        line[VIEW_NAMES.len() * width] = refills[i] / refill_scale;
        design.push(line);
        target.push(y[r]);
    }
    let coef = nnls(&design, &target);
    Ok(coef.last().copied().unwrap_or(0.0) / refill_scale)
}

/// Where `ot_refills` is among `features` (every model that sees protocol counts has it).
pub fn refill_index(features: &[Feature]) -> Option<usize> {
    features
        .iter()
        .position(|f| *f == Feature::Column(OT_REFILLS.name))
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::learn::models::fit_protocol;
    use crate::schema::dataset::{OTS, WALL_S};

    const REFILL_S: f64 = 0.25;

    /// A `layers` table of two kinds whose time is their own rate per OT plus 0.25 s per
    /// refill: ReLU refills on some training rows, AVG pool never does in training, and
    /// one AVG-pool row outside training refills.
    fn layers() -> ViewRows {
        let mut rng = ChaCha8Rng::seed_from_u64(18);
        let mut rows = ViewRows::default();
        let push = |rows: &mut ViewRows, kind: &str, side: Side, ots: f64, refills: f64| {
            let rate = if kind == "relu" { 3e-7 } else { 1e-7 };
            rows.network.push(format!("n{}", rows.network.len()));
            rows.setting.push("local".into());
            rows.party.push("server".into());
            rows.run.push(0);
            rows.layer.push(0);
            rows.kind.push(kind.into());
            rows.side.push(side);
            for feature in features::protocol() {
                if let Feature::Column(name) = feature {
                    let value = match name {
                        n if n == OTS.name => ots,
                        n if n == OT_REFILLS.name => refills,
                        _ => 0.0,
                    };
                    rows.numbers
                        .entry(name.to_string())
                        .or_default()
                        .push(value);
                }
            }
            for (name, value) in [
                ("bandwidth_bps", 0.0),
                ("rtt_us", 0.0),
                (WALL_S.name, 1e-3 + rate * ots + REFILL_S * refills),
            ] {
                rows.numbers
                    .entry(name.to_string())
                    .or_default()
                    .push(value);
            }
        };
        for k in 0..60 {
            let ots = rng.random_range(1e4..2e6);
            let refills = f64::from(u8::from(k % 4 == 0));
            push(&mut rows, "relu", Side::Train, ots, refills);
            push(&mut rows, "avg_pool", Side::Train, ots, 0.0);
        }
        // A flatten layer (no per-layer model) that would pull the price if counted.
        push(&mut rows, "flatten", Side::Train, 0.0, 1.0);
        push(&mut rows, "avg_pool", Side::Validation, 1e6, 1.0);
        rows
    }

    #[test]
    fn one_price_for_a_refill_fitted_across_kinds_reaches_a_kind_that_never_refilled() {
        let rows = layers();
        let refill = refill_seconds(&rows, "server", "local", &features::protocol()).unwrap();
        assert!((refill - REFILL_S).abs() < 1e-9, "{refill}");
        let pool: Vec<usize> = (0..rows.len())
            .filter(|&i| rows.kind[i] == "avg_pool" && rows.side[i] == Side::Train)
            .collect();
        let features = features::protocol();
        let x = features::matrix(&rows, &[rows.len() - 1], &features).unwrap();
        let want = 1e-3 + 1e-7 * 1e6 + REFILL_S;
        // Fitted on its own rows (none refills) the pool model prices the refill at 0 ...
        let alone = fit_protocol(&rows, &pool, 0.0).unwrap().predict(&x[0]);
        assert!((alone - (want - REFILL_S)).abs() < 1e-6, "{alone}");
        // ... with the shared price it predicts the refilling layer.
        let shared = fit_protocol(&rows, &pool, refill).unwrap().predict(&x[0]);
        assert!((shared - want).abs() < 1e-6, "{shared} vs {want}");
        // Another party or setting with no training rows has nothing to price from.
        assert_eq!(
            refill_seconds(&rows, "client", "local", &features::protocol()).unwrap(),
            0.0
        );
    }
}
