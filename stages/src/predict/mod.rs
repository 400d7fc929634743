//! Predictors of layer and network times: feature scaling and the neural network model.

pub mod mlp;
pub mod scaler;

pub use mlp::{Activation, EpochLoss, Mlp, MlpError, MlpSpec, TrainOptions, Trained};
pub use scaler::{Scaler, TargetScaler};
