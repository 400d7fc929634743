//! Why a candle model (the [`super::mlp`] or the [`super::rnn`]) could not be built,
//! trained, saved or loaded.
//!
//! Both models fail in the same ways, so they share one error type; [`Model`] says which one
//! failed, and the messages read as before the two were merged ("train the mlp: …",
//! "read the rnn weights: …").

use std::fmt;

use thiserror::Error;

/// Which candle model an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// The per-layer multi-layer perceptron ([`super::Mlp`]).
    Mlp,
    /// The whole-network recurrent model ([`super::Rnn`]).
    Rnn,
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mlp => "mlp",
            Self::Rnn => "rnn",
        })
    }
}

/// Why a model could not be built, trained, saved or loaded.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The spec describes no usable model.
    #[error("build an {model}: {reason}")]
    Spec {
        /// The model.
        model: Model,
        /// What is wrong.
        reason: String,
    },
    /// The training options, rows or sequences are unusable.
    #[error("train the {model}: {reason}")]
    Data {
        /// The model.
        model: Model,
        /// What is wrong.
        reason: String,
    },
    /// No epoch ended with a finite validation loss.
    #[error(
        "train the {model}: the validation loss was never finite (learning rate {learning_rate})"
    )]
    Diverged {
        /// The model.
        model: Model,
        /// The learning rate used.
        learning_rate: f64,
    },
    /// An activation name is not one of [`super::Activation::ALL`].
    #[error("parse activation `{name}`: expected relu, tanh, gelu or sigmoid")]
    UnknownActivation {
        /// The name given.
        name: String,
    },
    /// A cell name is not one of [`super::Cell::ALL`].
    #[error("parse recurrent cell `{name}`: expected gru or lstm")]
    UnknownCell {
        /// The name given.
        name: String,
    },
    /// The safetensors bytes could not be parsed.
    #[error("read the {model} weights as safetensors")]
    Read {
        /// The model.
        model: Model,
        /// What candle said.
        #[source]
        source: candle_core::Error,
    },
    /// The safetensors bytes do not hold the spec's weights.
    #[error("read the {model} weights: {reason}")]
    Weights {
        /// The model.
        model: Model,
        /// What is missing or misshapen.
        reason: String,
    },
    /// The weights could not be staged as safetensors.
    #[error("write the {model} weights as safetensors")]
    Write {
        /// The model.
        model: Model,
        /// The temporary file's error.
        #[source]
        source: std::io::Error,
    },
    /// A tensor operation failed.
    #[error("compute with candle")]
    Candle(#[from] candle_core::Error),
}
