//! What the learning stage kinds share (`search`, `train`, `evaluate`, `sequence_search`,
//! `whole`, each in a module of its own named after it, none importing another): the
//! training data — the `dataset` stage's per-type views with the `split` stage's sides
//! ([`data`], [`frame`]) and the party × setting pairs of the whole-network methods
//! ([`pairs`]) — their parameter checks ([`params`]), the seeds of their random streams
//! ([`seeds`]), the searches' finished trials ([`trials`]), the prediction methods
//! ([`method`]), the per-layer models ([`models`], [`features`]) and the sequence model
//! over a whole network ([`sequence`]). The predictors themselves are in
//! [`crate::predict`].

pub(crate) mod data;
pub(crate) mod features;
pub(crate) mod frame;
pub(crate) mod method;
#[cfg(test)]
mod missing_tests;
pub(crate) mod models;
pub(crate) mod overhead;
pub(crate) mod pairs;
pub(crate) mod params;
pub(crate) mod recommend;
pub(crate) mod refill;
pub(crate) mod seeds;
pub(crate) mod sequence;
pub(crate) mod transfer;
pub(crate) mod trials;

pub use method::{Method, UnknownMethod};
pub use sequence::{LoadedRnn, PartyModels, RnnMeta};
