//! What Ferret's refills cost, fitted once per party × setting across every layer kind.
//!
//! A refill is one iteration of Ferret's LPN extension (engine `ot::ferret`): it runs
//! inside whichever layer happens to empty a COT pool, and it costs the same whichever
//! kind that layer is. So does the memory a refill grows a pool by when a draw needs more
//! COTs than the pool ever held (the first refill of each direction: ~100 MB allocated and
//! zero-filled at each party). The per-kind linear models carry both as features
//! (`ot_refills`, `ot_pool_growth`), but fitted per kind they can only learn their prices
//! from their own training rows. On the mid study no training AVG-pool or FC layer and only
//! 2 batch-norm layers refilled, so those models priced a 0.25 s refill at 0: a network
//! whose first refill fell into its first pooling layer was predicted 5–7 % short. Fitting
//! the prices jointly over every kind's training rows (each kind keeping its own
//! coefficients for everything else) and then holding them fixed in every per-kind fit
//! gives every kind the same, well-measured prices.

use super::features::{self, Feature};
use super::frame::{Side, ViewRows};
use super::models::targets;
use crate::predict::nnls::nnls;
use crate::schema::dataset::{OT_POOL_GROWTH, OT_REFILLS};
use crate::{view_of_kind, StageError, VIEW_NAMES};

/// The columns whose price every kind shares.
const SHARED: [&str; 2] = [OT_REFILLS.name, OT_POOL_GROWTH.name];

/// Seconds per unit of each shared column (per refill, per grown COT) for one party ×
/// setting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SharedPrices {
    prices: Vec<(&'static str, f64)>,
}

impl SharedPrices {
    /// The price of `column` (0 when it was not fitted).
    pub fn price(&self, column: &str) -> f64 {
        self.prices
            .iter()
            .find(|(name, _)| *name == column)
            .map_or(0.0, |&(_, price)| price)
    }

    /// The fixed coefficients of a model over `features`: (index, price) of every shared
    /// column among them.
    pub fn fixed(&self, features: &[Feature]) -> Vec<(usize, f64)> {
        features
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match f {
                Feature::Column(name) if SHARED.contains(name) => Some((i, self.price(name))),
                _ => None,
            })
            .collect()
    }
}

/// The shared prices for `party` in `setting`, from the training rows of the dataset's
/// `layers` table: the shared columns among `features` once for all kinds, each kind's
/// other `features` (and an intercept) in a block of their own, by non-negative least
/// squares. A column no training row has is priced 0 (nothing to price it from). Kinds
/// without a per-layer model (`flatten`) are left out, as the per-kind fits leave them out.
pub fn shared_prices(
    layers: &ViewRows,
    party: &str,
    setting: &str,
    features: &[Feature],
) -> Result<SharedPrices, StageError> {
    let rows = layers.select(party, setting, &[Side::Train]);
    let (shared, others): (Vec<Feature>, Vec<Feature>) = features
        .iter()
        .partition(|f| matches!(f, Feature::Column(name) if SHARED.contains(name)));
    let shared_values = features::matrix(layers, &rows, &shared)?;
    let values = features::matrix(layers, &rows, &others)?;
    let y = targets(layers, &rows)?;
    let block_of = |i: usize| {
        view_of_kind(&layers.kind[i]).and_then(|v| VIEW_NAMES.iter().position(|n| *n == v))
    };
    // Every column scaled by its largest |value| (per kind for the blocks, as
    // `LinearModel::fit` scales them); a column of zeros keeps scale 0 and is left 0.
    let width = others.len() + 1;
    let mut scale = vec![vec![0.0_f64; others.len()]; VIEW_NAMES.len()];
    let mut shared_scale = vec![0.0_f64; shared.len()];
    for (r, &i) in rows.iter().enumerate() {
        if let Some(b) = block_of(i) {
            for (s, v) in scale[b].iter_mut().zip(&values[r]) {
                *s = s.max(v.abs());
            }
            for (s, v) in shared_scale.iter_mut().zip(&shared_values[r]) {
                *s = s.max(v.abs());
            }
        }
    }
    let scaled = |v: f64, s: f64| if s > 0.0 { v / s } else { 0.0 };
    let mut design = Vec::with_capacity(rows.len());
    let mut target = Vec::with_capacity(rows.len());
    for (r, &i) in rows.iter().enumerate() {
        let Some(b) = block_of(i) else { continue };
        let mut line = vec![0.0; VIEW_NAMES.len() * width + shared.len()];
        let block = &mut line[b * width..(b + 1) * width];
        for ((cell, v), s) in block.iter_mut().zip(&values[r]).zip(&scale[b]) {
            *cell = scaled(*v, *s);
        }
        block[others.len()] = 1.0;
        let tail = &mut line[VIEW_NAMES.len() * width..];
        for ((cell, v), s) in tail.iter_mut().zip(&shared_values[r]).zip(&shared_scale) {
            *cell = scaled(*v, *s);
        }
        design.push(line);
        target.push(y[r]);
    }
    let coef = if design.is_empty() {
        Vec::new()
    } else {
        nnls(&design, &target)
    };
    let tail = coef.get(VIEW_NAMES.len() * width..).unwrap_or_default();
    let prices = shared
        .iter()
        .enumerate()
        .filter_map(|(k, f)| match f {
            Feature::Column(name) => {
                let c = tail.get(k).copied().unwrap_or(0.0);
                let s = shared_scale[k];
                Some((*name, if s > 0.0 { c / s } else { 0.0 }))
            }
            _ => None,
        })
        .collect();
    Ok(SharedPrices { prices })
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::learn::models::fit_protocol;
    use crate::schema::dataset::{OTS, WALL_S};

    const REFILL_S: f64 = 0.25;
    const GROWN_S: f64 = 5e-9;

    /// A `layers` table of two kinds whose time is their own rate per OT plus 0.25 s per
    /// refill and 5 ns per grown pool entry: ReLU refills (and grows its pool on some of
    /// those) on training rows, AVG pool never does in training, and one AVG-pool row
    /// outside training refills and grows.
    fn layers() -> ViewRows {
        let mut rng = ChaCha8Rng::seed_from_u64(18);
        let mut rows = ViewRows::default();
        let push = |rows: &mut ViewRows, kind: &str, side: Side, ots: f64, refill: (f64, f64)| {
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
                        n if n == OT_REFILLS.name => refill.0,
                        n if n == OT_POOL_GROWTH.name => refill.1,
                        _ => 0.0,
                    };
                    rows.numbers
                        .entry(name.to_string())
                        .or_default()
                        .push(value);
                }
            }
            let wall = 1e-3 + rate * ots + REFILL_S * refill.0 + GROWN_S * refill.1;
            for (name, value) in [("bandwidth_bps", 0.0), ("rtt_us", 0.0), (WALL_S.name, wall)] {
                rows.numbers
                    .entry(name.to_string())
                    .or_default()
                    .push(value);
            }
        };
        for k in 0..60 {
            let ots = rng.random_range(1e4..2e6);
            let refill = match k % 8 {
                0 => (1.0, 6e6),
                4 => (2.0, 1e6 * rng.random_range(0.0..8.0)),
                _ => (0.0, 0.0),
            };
            push(&mut rows, "relu", Side::Train, ots, refill);
            push(&mut rows, "avg_pool", Side::Train, ots, (0.0, 0.0));
        }
        // A flatten layer (no per-layer model) that would pull the prices if counted.
        push(&mut rows, "flatten", Side::Train, 0.0, (1.0, 6e6));
        push(&mut rows, "avg_pool", Side::Validation, 1e6, (1.0, 6e6));
        rows
    }

    #[test]
    fn prices_fitted_across_kinds_reach_a_kind_that_never_refilled() {
        let rows = layers();
        let features = features::protocol();
        let prices = shared_prices(&rows, "server", "local", &features).unwrap();
        let refill = prices.price(OT_REFILLS.name);
        let grown = prices.price(OT_POOL_GROWTH.name);
        assert!((refill - REFILL_S).abs() < 1e-9, "{refill}");
        assert!((grown - GROWN_S).abs() < 1e-15, "{grown}");
        let pool: Vec<usize> = (0..rows.len())
            .filter(|&i| rows.kind[i] == "avg_pool" && rows.side[i] == Side::Train)
            .collect();
        let x = features::matrix(&rows, &[rows.len() - 1], &features).unwrap();
        let want = 1e-3 + 1e-7 * 1e6 + REFILL_S + GROWN_S * 6e6;
        // Fitted on its own rows (none refills) the pool model prices both at 0 ...
        let none = SharedPrices::default();
        let alone = fit_protocol(&rows, &pool, &none).unwrap().predict(&x[0]);
        assert!((alone - 1.01e-1).abs() < 1e-6, "{alone}");
        // ... with the shared prices it predicts the refilling layer.
        let shared = fit_protocol(&rows, &pool, &prices).unwrap().predict(&x[0]);
        assert!((shared - want).abs() < 1e-6, "{shared} vs {want}");
        // Another party or setting with no training rows has nothing to price from.
        assert_eq!(
            shared_prices(&rows, "client", "local", &features).unwrap(),
            SharedPrices {
                prices: vec![(OT_REFILLS.name, 0.0), (OT_POOL_GROWTH.name, 0.0)]
            }
        );
    }
}
