//! Assigning sides: [`by_network`] (per family, a seeded shuffle of the family's networks)
//! and [`by_row`] (a seeded shuffle of all row keys, the leaky split).
//!
//! Every shuffle has its own ChaCha8 stream, seeded from the stage seed and a label (the
//! family name, or `rows`), so adding networks to one family never moves another's.

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::layers::{LayerRows, NetworkInfo};

/// Where a network or row falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// Trained on.
    Train,
    /// Tuning and early stopping.
    Validation,
    /// Choosing the recommended method: never trained on, and unseen by the searches and
    /// early stopping that tune the learned models on the validation networks.
    Selection,
    /// Tested on, layer by layer and as whole networks.
    Test,
    /// A held-out (reference) network: never trained on, the whole-network test set.
    Reference,
    /// A network whose rows are on several sides (`by: row`).
    Mixed,
}

impl Side {
    /// The side's name in the tables and the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Train => "train",
            Side::Validation => "validation",
            Side::Selection => "selection",
            Side::Test => "test",
            Side::Reference => "reference",
            Side::Mixed => "mixed",
        }
    }
}

/// The test fraction, the validation fraction of what remains, and the selection fraction
/// of what remains after that.
#[derive(Debug, Clone, Copy)]
pub struct Fractions {
    /// Of all networks (rows).
    pub test: f64,
    /// Of the networks (rows) that are not tested on.
    pub validation: f64,
    /// Of the networks (rows) that are neither tested nor validated on.
    pub selection: f64,
}

/// How many of `n` items take a `fraction`: rounded, at least 1 when `n >= min_n` (and the
/// fraction is not 0), and never all of them (a lone item stays in training).
fn take(n: usize, fraction: f64, min_n: usize) -> usize {
    let mut count = (n as f64 * fraction).round() as usize;
    if fraction > 0.0 && n >= min_n {
        count = count.max(1);
    }
    count.min(n.saturating_sub(1))
}

/// A random stream for the stage seed and a label.
fn rng(seed: u64, label: &str) -> ChaCha8Rng {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"snni-split\0");
    hasher.update(&seed.to_le_bytes());
    hasher.update(label.as_bytes());
    ChaCha8Rng::from_seed(*hasher.finalize().as_bytes())
}

/// Sides for items in shuffled order: test first, then validation, then selection, then
/// train. Items are shuffled after sorting, so the result depends only on the set of items
/// (and a selection fraction of 0 deals exactly as before the selection side existed).
fn deal<T: Ord>(
    items: &mut [T],
    fractions: Fractions,
    min_test: usize,
    min_validation: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Side> {
    items.sort();
    items.shuffle(rng);
    let n = items.len();
    let test = take(n, fractions.test, min_test);
    let validation = take(n - test, fractions.validation, min_validation);
    let selection = take(n - test - validation, fractions.selection, min_validation);
    let mut sides = vec![Side::Test; test];
    sides.resize(test + validation, Side::Validation);
    sides.resize(test + validation + selection, Side::Selection);
    sides.resize(n, Side::Train);
    sides
}

/// The side of every network: `reference` for the networks of held-out stages; per family
/// (a family with one network trains) test, validation and train.
pub fn by_network(
    networks: &[NetworkInfo],
    held_out: &BTreeSet<&str>,
    fractions: Fractions,
    seed: u64,
) -> BTreeMap<String, Side> {
    let mut sides = BTreeMap::new();
    let mut families: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for info in networks {
        if held_out.contains(info.source_stage.as_str()) {
            sides.insert(info.network.clone(), Side::Reference);
        } else {
            families
                .entry(&info.family)
                .or_default()
                .push(&info.network);
        }
    }
    for (family, mut members) in families {
        let dealt = deal(&mut members, fractions, 2, 3, &mut rng(seed, family));
        for (network, side) in members.into_iter().zip(dealt) {
            sides.insert(network.to_string(), side);
        }
    }
    sides
}

/// The side of every row (`by: row`): `reference` for the rows of held-out networks, and a
/// seeded shuffle of all other row keys, dealt like networks.
pub fn by_row(
    rows: &LayerRows,
    held_out: &BTreeSet<&str>,
    fractions: Fractions,
    seed: u64,
) -> Vec<Side> {
    let mut sides = vec![Side::Reference; rows.len()];
    let mut keys: Vec<(&str, &str, u64, &str, u64, &str, usize)> = (0..rows.len())
        .filter(|&i| !held_out.contains(rows.source_stage[i].as_str()))
        .map(|i| {
            (
                rows.network[i].as_str(),
                rows.setting[i].as_str(),
                rows.run[i],
                rows.party[i].as_str(),
                rows.layer[i],
                rows.kind[i].as_str(),
                i,
            )
        })
        .collect();
    let dealt = deal(&mut keys, fractions, 2, 3, &mut rng(seed, "rows"));
    for (key, side) in keys.into_iter().zip(dealt) {
        sides[key.6] = side;
    }
    sides
}

/// The network sides of a row-wise split: `reference` for held-out networks, else `mixed`.
pub fn mixed(networks: &[NetworkInfo], held_out: &BTreeSet<&str>) -> BTreeMap<String, Side> {
    networks
        .iter()
        .map(|info| {
            let side = if held_out.contains(info.source_stage.as_str()) {
                Side::Reference
            } else {
                Side::Mixed
            };
            (info.network.clone(), side)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_rounds_and_keeps_one_on_each_side() {
        assert_eq!(take(5, 0.2, 2), 1);
        assert_eq!(take(10, 0.2, 2), 2);
        assert_eq!(take(2, 0.2, 2), 1);
        assert_eq!(take(1, 0.2, 2), 0);
        assert_eq!(take(2, 0.2, 3), 0);
        assert_eq!(take(3, 0.2, 3), 1);
        assert_eq!(take(2, 0.9, 2), 1);
        assert_eq!(take(5, 0.0, 2), 0);
        assert_eq!(take(1, 0.9, 3), 0);
    }
}
