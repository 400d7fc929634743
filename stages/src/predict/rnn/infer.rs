//! Prediction without candle: the weights of a recurrent model as plain `Vec<f32>`, and the
//! cell equations of candle-nn's `GRU::step` and `LSTM::step` one step at a time. Over
//! ~180 small steps per network, candle's per-operation overhead would dominate; the test
//! `the_plain_path_agrees_with_candle` holds this path to [`super::model`].

use candle_core::Tensor;

use super::spec::{Cell, RnnSpec};
use crate::predict::activation::Activation;
use crate::predict::dense::{Affine, Dense, PlainDense};
use crate::predict::error::ModelError;

/// The weights as plain floats.
pub(super) struct PlainRnn {
    cell: Cell,
    units: usize,
    input: Affine,
    recurrent: Affine,
    dense: PlainDense,
}

impl PlainRnn {
    /// The plain copy of tensors in [`RnnSpec::parameters`] order.
    pub fn new(spec: &RnnSpec, tensors: &[Tensor]) -> Result<PlainRnn, ModelError> {
        Ok(PlainRnn {
            cell: spec.cell,
            units: spec.units,
            input: Affine::new(&tensors[0], &tensors[2])?,
            recurrent: Affine::new(&tensors[1], &tensors[3])?,
            dense: PlainDense::new(spec.units, &Dense::from_pairs(&tensors[4..]))?,
        })
    }

    /// One output per step of `x`, with every buffer allocated once per sequence.
    pub fn predict(&self, activation: Activation, x: &[Vec<f32>]) -> Vec<f32> {
        let u = self.units;
        let gated = self.cell.gates() * u;
        let mut h = vec![0.0_f32; u];
        let mut c = vec![0.0_f32; u];
        let mut from_input = vec![0.0_f32; gated];
        let mut from_state = vec![0.0_f32; gated];
        let (mut a, mut b) = self.dense.buffers();
        let mut outputs = Vec::with_capacity(x.len());
        for step in x {
            self.input.apply(step, &mut from_input);
            self.recurrent.apply(&h, &mut from_state);
            let (gi, gh) = (&from_input, &from_state);
            match self.cell {
                Cell::Gru => {
                    for j in 0..u {
                        let r = sigmoid(gi[j] + gh[j]);
                        let z = sigmoid(gi[u + j] + gh[u + j]);
                        let n = (gi[2 * u + j] + r * gh[2 * u + j]).tanh();
                        h[j] = z * h[j] + (1.0 - z) * n;
                    }
                }
                Cell::Lstm => {
                    for j in 0..u {
                        let i = sigmoid(gi[j] + gh[j]);
                        let f = sigmoid(gi[u + j] + gh[u + j]);
                        let g = (gi[2 * u + j] + gh[2 * u + j]).tanh();
                        let o = sigmoid(gi[3 * u + j] + gh[3 * u + j]);
                        c[j] = f * c[j] + i * g;
                        h[j] = o * c[j].tanh();
                    }
                }
            }
            outputs.push(self.dense.output(activation, &h, &mut a, &mut b));
        }
        outputs
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}
