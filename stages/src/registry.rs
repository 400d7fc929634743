//! The registry of stage kinds a manifest may name.

use crate::{
    DatasetKind, EvaluateKind, ProfileKind, ReferenceKind, SearchKind, SequenceSearchKind,
    SplitKind, StageKind, SynthesizeKind, TrainKind, WholeKind,
};

/// Every stage kind, in the order `snni` lists them.
pub static KINDS: &[&dyn StageKind] = &[
    &SynthesizeKind,
    &ReferenceKind,
    &ProfileKind,
    &DatasetKind,
    &SplitKind,
    &SearchKind,
    &TrainKind,
    &EvaluateKind,
    &SequenceSearchKind,
    &WholeKind,
];

/// Looks a kind up by its manifest name.
pub fn kind_by_name(name: &str) -> Option<&'static dyn StageKind> {
    KINDS.iter().copied().find(|kind| kind.name() == name)
}

/// The names of all kinds, for error hints.
pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|kind| kind.name()).collect()
}
