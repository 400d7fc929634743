//! The nonlinearity between dense layers, shared by the [`super::mlp`] and the dense head of
//! the [`super::rnn`]: its candle form, the same function on one `f32` for the plain-vector
//! paths, and the half-width of its seeded uniform initial weights.

use std::fmt;
use std::str::FromStr;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::error::ModelError;

/// The nonlinearity between hidden layers (the output layer is linear).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x); weights drawn He-uniform.
    Relu,
    /// tanh(x); weights drawn Glorot-uniform.
    Tanh,
    /// GELU, tanh approximation (candle's `gelu`); weights drawn He-uniform.
    Gelu,
    /// 1 / (1 + e^-x); weights drawn Glorot-uniform.
    Sigmoid,
}

impl Activation {
    /// Every activation, in declaration order.
    pub const ALL: [Activation; 4] = [Self::Relu, Self::Tanh, Self::Gelu, Self::Sigmoid];

    /// The lowercase name used in manifests and records.
    pub fn name(self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::Tanh => "tanh",
            Self::Gelu => "gelu",
            Self::Sigmoid => "sigmoid",
        }
    }

    pub(crate) fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Relu => x.relu(),
            Self::Tanh => x.tanh(),
            Self::Gelu => x.gelu(),
            Self::Sigmoid => candle_nn::ops::sigmoid(x),
        }
    }

    /// The same function on one value, as candle computes it for f32.
    pub(crate) fn apply_scalar(self, v: f32) -> f32 {
        const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
        match self {
            Self::Relu => v.max(0.0),
            Self::Tanh => v.tanh(),
            Self::Gelu => {
                0.5 * v * (1.0 + (SQRT_TWO_OVER_PI * v * (1.0 + 0.044715 * v * v)).tanh())
            }
            Self::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        }
    }

    /// Half-width of the uniform initial weight distribution of a layer.
    pub(crate) fn init_limit(self, fan_in: usize, fan_out: usize) -> f64 {
        match self {
            Self::Relu | Self::Gelu => (6.0 / fan_in as f64).sqrt(),
            Self::Tanh | Self::Sigmoid => (6.0 / (fan_in + fan_out) as f64).sqrt(),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = ModelError;

    fn from_str(name: &str) -> Result<Self, ModelError> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| ModelError::UnknownActivation {
                name: name.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_parse_from_their_names() {
        for activation in Activation::ALL {
            assert_eq!(activation.name().parse::<Activation>().unwrap(), activation);
            let json = serde_json::to_string(&activation).unwrap();
            assert_eq!(json, format!("\"{activation}\""));
        }
        assert!("swish".parse::<Activation>().is_err());
    }
}
