//! The learning stages: `search` (random search of MLP hyperparameters, one shard per
//! trial), `train` (the final per-layer models of every layer type × party × setting) and
//! `evaluate` (accuracy and prediction time on the held-out test networks). They read the
//! `dataset` stage's per-type views and the `split` stage's sides.

mod data;
mod evaluate;
mod features;
mod frame;
mod method;
#[cfg(test)]
mod missing_tests;
mod models;
mod overhead;
mod predictor;
mod recommend;
mod search;
mod sequence;
mod sequence_search;
mod train;
mod transfer;
mod whole;

pub use evaluate::EvaluateKind;
pub use method::{Method, UnknownMethod};
pub use predictor::{PartyResult, PlannedLayer, Prediction, Predictor};
pub use search::SearchKind;
pub use sequence::{LoadedRnn, PartyModels, RnnMeta};
pub use sequence_search::SequenceSearchKind;
pub use train::TrainKind;
pub use whole::{predict_network, NetworkPrediction, WholeKind, WholeModels};
