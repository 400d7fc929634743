//! The seeds of the learning stages' random streams, in one place because stages share
//! them: `train` fits its default MLP with the seed of `search`'s first trial, and `whole`
//! reproduces the best `sequence_search` trial with that trial's own seed.

use super::data::Group;
use super::pairs::pair_key;
use crate::seed::derived_seed;

/// The seed of a layer group's search stream (`search`).
pub fn group_seed(seed: u64, group: &Group) -> u64 {
    derived_seed(seed, &["search", &group.key()])
}

/// The seed of one execution of one trial of a layer group (`search`; `train` without a
/// search upstream uses trial 0, execution 0).
pub fn execution_seed(seed: u64, group: &Group, trial: u32, execution: u32) -> u64 {
    derived_seed(
        seed,
        &[
            "trial",
            &group.key(),
            &trial.to_string(),
            &execution.to_string(),
        ],
    )
}

/// The seed of a party × setting's search stream (`sequence_search`).
pub fn pair_seed(seed: u64, party: &str, setting: &str) -> u64 {
    derived_seed(seed, &["sequence_search", &pair_key(party, setting)])
}

/// The seed of one execution of one sequence-model trial (`sequence_search`; `whole`
/// without a search upstream uses trial `u32::MAX`, one no search draws).
pub fn sequence_seed(seed: u64, party: &str, setting: &str, trial: u32, run: u32) -> u64 {
    derived_seed(
        seed,
        &[
            "sequence_trial",
            &pair_key(party, setting),
            &trial.to_string(),
            &run.to_string(),
        ],
    )
}
