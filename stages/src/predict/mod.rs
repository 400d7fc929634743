//! Predictors of secure-inference time and how they are judged.
//!
//! [`linear`] is the analytical and protocol models' regression (non-negative least
//! squares, solved in [`nnls`]) on per-layer features; [`mlp`] is the neural predictor
//! (candle) with its input and target [`scaler`]s; [`search`] is the random
//! hyperparameter search of the neural predictors; [`metrics`] holds the error measures of
//! the result tables. This is library code: the stage kinds that train and evaluate
//! predictors (`crate::learn`) build on it.

pub mod linear;
pub mod metrics;
pub mod mlp;
pub mod nnls;
pub mod rnn;
pub mod scaler;
pub mod search;

pub use linear::LinearModel;
pub use metrics::{mae, mape, r2};
pub use mlp::{Activation, EpochLoss, Mlp, MlpError, MlpSpec, TrainOptions, Trained};
pub use nnls::nnls;
pub use rnn::{Cell, Rnn, RnnError, RnnOptions, RnnSpec, Sequence, TrainedRnn};
pub use scaler::{Scaler, TargetScaler};
pub use search::{Hyperparams, Param, SearchSpace};
