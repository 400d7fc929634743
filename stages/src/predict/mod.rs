//! Predictors of secure-inference time and how they are judged.
//!
//! [`linear`] is the analytical and protocol models' regression (non-negative least
//! squares, solved in [`nnls`]) on per-layer features. The neural predictors are candle
//! models: [`mlp`] (one layer at a time) and [`rnn`] (a whole network's layers as a
//! sequence). They share one training loop ([`fit`]), one error type ([`error`]), their
//! dense layers ([`dense`]) with [`activation`], and their safetensors format
//! ([`weights`]); their inputs and targets are scaled by [`scaler`]. [`search_space`] is
//! the random hyperparameter search space of the neural predictors; [`metrics`] holds the
//! error measures of the result tables. This is library code: the stage kinds that train
//! and evaluate predictors (`search`, `train`, `evaluate`, `sequence_search`, `whole`,
//! over what they share in `crate::learn`) build on it.

pub mod activation;
mod dense;
pub mod error;
pub mod fit;
pub mod linear;
pub mod metrics;
pub mod mlp;
pub mod nnls;
pub mod rnn;
pub mod scaler;
pub mod search_space;
mod weights;

pub use activation::Activation;
pub use error::{Model, ModelError};
pub use fit::{EpochLoss, TrainOptions};
pub use linear::LinearModel;
pub use metrics::{mae, mape, r2};
pub use mlp::{Mlp, MlpSpec, Trained};
pub use nnls::nnls;
pub use rnn::{Cell, Rnn, RnnOptions, RnnSpec, Sequence, TrainedRnn};
pub use scaler::{Scaler, TargetScaler};
pub use search_space::{Hyperparams, Param, SearchSpace};
