//! Predictors of layer and network times: feature scaling and the neural network model.

pub mod scaler;

pub use scaler::{Scaler, TargetScaler};
