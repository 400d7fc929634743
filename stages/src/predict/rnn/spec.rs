//! The shape of a recurrent model: the [`Cell`], the [`RnnSpec`], and the names and shapes
//! of its parameters in the order every other part of [`super`] keeps them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::predict::activation::Activation;
use crate::predict::error::{Model, ModelError};
use crate::predict::weights::Parameter;

/// The recurrent cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    /// Gated recurrent unit (reset gate applied after the recurrent product, as in PyTorch
    /// and Keras' `reset_after`).
    Gru,
    /// Long short-term memory, forget-gate bias initialised to 1.
    Lstm,
}

impl Cell {
    /// Every cell, in declaration order.
    pub const ALL: [Cell; 2] = [Self::Gru, Self::Lstm];

    /// The lowercase name used in manifests and records.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gru => "gru",
            Self::Lstm => "lstm",
        }
    }

    /// Gate blocks stacked in the recurrent weights (GRU r, z, n; LSTM i, f, g, o).
    pub(crate) fn gates(self) -> usize {
        match self {
            Self::Gru => 3,
            Self::Lstm => 4,
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cell {
    type Err = ModelError;

    fn from_str(name: &str) -> Result<Self, ModelError> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| ModelError::UnknownCell {
                name: name.to_owned(),
            })
    }
}

/// The shape of a model: `inputs` per step → `cell` of `units` → each of `dense` (with
/// `activation`) → 1 linear output per step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnSpec {
    /// Features per step.
    pub inputs: usize,
    /// The recurrent cell.
    pub cell: Cell,
    /// Width of the recurrent state.
    pub units: usize,
    /// Width of each dense hidden layer after the recurrent one, first to last.
    pub dense: Vec<usize>,
    /// Nonlinearity after each dense hidden layer.
    pub activation: Activation,
}

impl RnnSpec {
    pub(crate) fn check(&self) -> Result<(), ModelError> {
        if self.inputs == 0 || self.units == 0 || self.dense.contains(&0) {
            return Err(ModelError::Spec {
                model: Model::Rnn,
                reason: format!(
                    "every layer needs at least one unit (inputs {}, units {}, dense {:?})",
                    self.inputs, self.units, self.dense
                ),
            });
        }
        Ok(())
    }

    /// Every parameter's name and shape, in the order [`super::Rnn`] keeps them: the recurrent
    /// layer's four (candle-nn's names), then each dense layer's weight (outputs × inputs)
    /// and bias, the linear output layer last.
    pub(crate) fn parameters(&self) -> Vec<Parameter> {
        let gated = self.cell.gates() * self.units;
        let mut parameters = vec![
            ("rnn.weight_ih_l0".to_owned(), vec![gated, self.inputs]),
            ("rnn.weight_hh_l0".to_owned(), vec![gated, self.units]),
            ("rnn.bias_ih_l0".to_owned(), vec![gated]),
            ("rnn.bias_hh_l0".to_owned(), vec![gated]),
        ];
        for (i, pair) in self.dense_widths().windows(2).enumerate() {
            parameters.push((format!("dense{i}.weight"), vec![pair[1], pair[0]]));
            parameters.push((format!("dense{i}.bias"), vec![pair[1]]));
        }
        parameters
    }

    /// Widths from the recurrent state through the dense layers to the single output.
    pub(crate) fn dense_widths(&self) -> Vec<usize> {
        let mut widths = Vec::with_capacity(self.dense.len() + 2);
        widths.push(self.units);
        widths.extend(&self.dense);
        widths.push(1);
        widths
    }
}
