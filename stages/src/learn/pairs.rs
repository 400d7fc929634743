//! The party × setting pairs of the whole-network methods (`sequence_search`, `whole`):
//! which pairs have enough networks to fit a sequence model, their keys, and their training
//! and validation sequences, read from the dataset's `layers` table ([`LAYERS`]).

use std::collections::{BTreeMap, BTreeSet};

use super::frame::{Side, ViewRows};
use super::sequence::{networks, PartyModels, SequenceData};
use crate::StageError;

/// The dataset table the sequence model reads.
pub const LAYERS: &str = "layers";

/// [`pairs`], or — when no party × setting has enough networks — an error naming the
/// minimum and the best pair there is.
pub fn pairs_or_explain(
    rows: &ViewRows,
    min_networks: usize,
) -> Result<Vec<(String, String)>, StageError> {
    let pairs = pairs(rows, min_networks);
    if !pairs.is_empty() {
        return Ok(pairs);
    }
    let best = network_counts(rows)
        .into_iter()
        .max_by_key(|(_, counts)| *counts);
    let best = match best {
        Some(((party, setting), (train, validation))) => format!(
            "the most any has is {train} training and {validation} validation networks ({party} in `{setting}`)"
        ),
        None => "the dataset has no layers".to_string(),
    };
    Err(StageError::Learn {
        message: format!(
            "too little data: a whole-network model needs at least {min_networks} training \
             networks (`min_networks`) and 1 validation network per party and setting, and \
             {best}; add networks (raise `count` of the synthesize stage) or lower `min_networks`"
        ),
    })
}

/// Per party × setting, the training and validation networks.
fn network_counts(rows: &ViewRows) -> BTreeMap<(String, String), (usize, usize)> {
    let mut networks: BTreeSet<(&str, &str, &str, bool)> = BTreeSet::new();
    for i in 0..rows.len() {
        let train = match rows.side[i] {
            Side::Train => true,
            Side::Validation => false,
            _ => continue,
        };
        networks.insert((
            rows.party[i].as_str(),
            rows.setting[i].as_str(),
            rows.network[i].as_str(),
            train,
        ));
    }
    let mut counts: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for (party, setting, _, train) in networks {
        let entry = counts
            .entry((party.to_string(), setting.to_string()))
            .or_default();
        if train {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    counts
}

/// The party × setting pairs with at least `min_networks` training networks and one
/// validation network, in order.
pub fn pairs(rows: &ViewRows, min_networks: usize) -> Vec<(String, String)> {
    let mut train: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    let mut validation: BTreeSet<(&str, &str)> = BTreeSet::new();
    for i in 0..rows.len() {
        let pair = (rows.party[i].as_str(), rows.setting[i].as_str());
        match rows.side[i] {
            Side::Train => {
                train.insert((pair.0, pair.1, rows.network[i].as_str()));
            }
            Side::Validation => {
                validation.insert(pair);
            }
            _ => {}
        }
    }
    let mut counts: BTreeMap<(&str, &str), usize> = Default::default();
    for (party, setting, _) in &train {
        *counts.entry((party, setting)).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(pair, n)| *n >= min_networks && validation.contains(pair))
        .map(|((party, setting), _)| (party.to_string(), setting.to_string()))
        .collect()
}

/// `rnn.<party>.<setting>`.
pub fn pair_key(party: &str, setting: &str) -> String {
    format!("rnn.{party}.{setting}")
}

/// The training and validation sequences of a pair, over the pair's per-layer `models`'
/// `protocol` predictions (the sequence model learns the ratio to them).
pub fn pair_data(
    rows: &ViewRows,
    party: &str,
    setting: &str,
    models: &PartyModels,
) -> Result<(SequenceData, SequenceData, usize, usize), StageError> {
    let train = networks(rows, party, setting, &[Side::Train])?;
    let validation = networks(rows, party, setting, &[Side::Validation])?;
    Ok((
        SequenceData::of(rows, &train, models)?,
        SequenceData::of(rows, &validation, models)?,
        train.len(),
        validation.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_few_networks_is_an_error_naming_the_minimum_and_the_best_pair() {
        let mut rows = ViewRows::default();
        // Two training networks of two layers each and one validation network.
        for (network, side) in [
            ("a", Side::Train),
            ("b", Side::Train),
            ("c", Side::Validation),
        ] {
            for layer in 0..2 {
                rows.network.push(network.into());
                rows.setting.push("wan".into());
                rows.party.push("client".into());
                rows.run.push(0);
                rows.layer.push(layer);
                rows.kind.push("conv".into());
                rows.side.push(side);
            }
        }
        let error = pairs_or_explain(&rows, 5).unwrap_err().to_string();
        assert!(
            error.contains("at least 5 training networks (`min_networks`)"),
            "{error}"
        );
        assert!(
            error.contains("2 training and 1 validation networks (client in `wan`)"),
            "{error}"
        );
        assert_eq!(
            pairs_or_explain(&rows, 2).unwrap(),
            vec![("client".to_string(), "wan".to_string())]
        );
        let error = pairs_or_explain(&ViewRows::default(), 1)
            .unwrap_err()
            .to_string();
        assert!(error.contains("the dataset has no layers"), "{error}");
    }
}
