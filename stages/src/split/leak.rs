//! The leak check: how many test rows have a feature twin in training — a train row with
//! the same kind, party, setting and every feature column ([`FEATURE_COLUMNS`]), nulls
//! equal. A predictor that has seen the twin can recall its time instead of predicting it;
//! the original study's row-wise split leaked nearly every test row this way.
//!
//! [`FEATURE_COLUMNS`]: crate::schema::dataset::FEATURE_COLUMNS

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::assign::Side;
use super::layers::LayerRows;

/// Test rows and those with a twin, for one layer kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindLeak {
    /// Test rows of this kind.
    pub test_rows: u64,
    /// Of those, the ones with a feature twin in training.
    pub with_twin: u64,
}

/// The result of the leak check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeakReport {
    /// Test rows.
    pub test_rows: u64,
    /// Of those, the ones with a feature twin in training.
    pub with_twin_in_train: u64,
    /// `with_twin_in_train / test_rows` (0 without test rows).
    pub fraction: f64,
    /// The same counts per layer kind.
    pub by_kind: BTreeMap<String, KindLeak>,
}

/// What a twin must share with a row.
type TwinKey<'a> = (&'a str, &'a str, &'a str, &'a [Option<u64>]);

fn twin_key(rows: &LayerRows, i: usize) -> TwinKey<'_> {
    (
        rows.kind[i].as_str(),
        rows.party[i].as_str(),
        rows.setting[i].as_str(),
        rows.features[i].as_slice(),
    )
}

/// Counts the test rows with a twin among the train rows.
pub fn check(rows: &LayerRows, sides: &[Side]) -> LeakReport {
    let train: HashSet<TwinKey<'_>> = (0..rows.len())
        .filter(|&i| sides[i] == Side::Train)
        .map(|i| twin_key(rows, i))
        .collect();
    let mut by_kind: BTreeMap<String, KindLeak> = BTreeMap::new();
    let mut test_rows = 0;
    let mut with_twin_in_train = 0;
    for i in (0..rows.len()).filter(|&i| sides[i] == Side::Test) {
        let twin = train.contains(&twin_key(rows, i));
        let kind = by_kind.entry(rows.kind[i].clone()).or_default();
        kind.test_rows += 1;
        test_rows += 1;
        if twin {
            kind.with_twin += 1;
            with_twin_in_train += 1;
        }
    }
    let fraction = if test_rows == 0 {
        0.0
    } else {
        with_twin_in_train as f64 / test_rows as f64
    };
    LeakReport {
        test_rows,
        with_twin_in_train,
        fraction,
        by_kind,
    }
}
