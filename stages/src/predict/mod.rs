//! Predictors of secure-inference time and how they are judged.
//!
//! [`linear`] is the analytical model (non-negative least squares, solved in [`nnls`]) on
//! per-layer features; [`search`] is the random hyperparameter search of the neural
//! predictors; [`metrics`] holds the error measures of the result tables. This is library
//! code: the stage kinds that train and evaluate predictors build on it.

pub mod linear;
pub mod metrics;
pub mod nnls;
pub mod search;

pub use linear::LinearModel;
pub use metrics::{mae, mape, r2};
pub use nnls::nnls;
pub use search::{Hyperparams, Param, SearchSpace};
