//! A stack of dense layers ending in one linear output: the whole [`super::mlp`], and the
//! head of the [`super::rnn`] after its recurrent layer.
//!
//! Three forms of the same layers live here: [`Dense`], the candle tensors (the source of
//! truth, trainable when they are a `Var`'s); [`PlainDense`], a copy as plain `Vec<f32>` for
//! single-row prediction, where candle's per-operation overhead would dominate; and
//! [`initial_dense`], the seeded initial weights both models start from.

use candle_core::Tensor;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::activation::Activation;
use super::error::ModelError;

/// One dense layer's parameters as candle tensors.
#[derive(Clone)]
pub(crate) struct Dense {
    /// outputs × inputs.
    pub weight: Tensor,
    /// outputs.
    pub bias: Tensor,
}

impl Dense {
    /// Layers from tensors in (weight, bias) pairs, first layer first.
    pub fn from_pairs(tensors: &[Tensor]) -> Vec<Dense> {
        tensors
            .chunks_exact(2)
            .map(|pair| Dense {
                weight: pair[0].clone(),
                bias: pair[1].clone(),
            })
            .collect()
    }
}

/// `layers` applied to the rows of `x` (rows × inputs → rows × 1), with `activation` after
/// every layer but the last.
pub(crate) fn forward(
    layers: &[Dense],
    activation: Activation,
    x: &Tensor,
) -> candle_core::Result<Tensor> {
    let mut h = x.clone();
    for (i, layer) in layers.iter().enumerate() {
        h = h.matmul(&layer.weight.t()?)?.broadcast_add(&layer.bias)?;
        if i + 1 != layers.len() {
            h = activation.apply(&h)?;
        }
    }
    Ok(h)
}

/// One affine map as plain floats.
pub(crate) struct Affine {
    /// inputs × outputs, row-major (the transpose of the candle weight), so that each input
    /// adds a contiguous row to the outputs.
    weight_t: Vec<f32>,
    bias: Vec<f32>,
}

impl Affine {
    /// The plain copy of a candle weight (outputs × inputs) and bias.
    pub fn new(weight: &Tensor, bias: &Tensor) -> Result<Affine, ModelError> {
        Ok(Affine {
            weight_t: weight.t()?.contiguous()?.flatten_all()?.to_vec1()?,
            bias: bias.to_vec1()?,
        })
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.bias.len()
    }

    /// `out = bias + W · x`, one contiguous row of `W`ᵀ per input.
    pub fn apply(&self, x: &[f32], out: &mut [f32]) {
        out.copy_from_slice(&self.bias);
        for (&v, row) in x.iter().zip(self.weight_t.chunks_exact(out.len())) {
            if v != 0.0 {
                out.iter_mut().zip(row).for_each(|(o, &w)| *o += v * w);
            }
        }
    }
}

/// The dense stack as plain floats, for prediction without candle.
pub(crate) struct PlainDense {
    layers: Vec<Affine>,
    /// The widest of the inputs and every layer's outputs.
    widest: usize,
}

impl PlainDense {
    /// The plain copy of candle layers whose first layer takes `inputs` values.
    pub fn new(inputs: usize, layers: &[Dense]) -> Result<PlainDense, ModelError> {
        let layers = layers
            .iter()
            .map(|layer| Affine::new(&layer.weight, &layer.bias))
            .collect::<Result<Vec<_>, _>>()?;
        let widest = layers.iter().map(Affine::outputs).fold(inputs, usize::max);
        Ok(PlainDense { layers, widest })
    }

    /// Two buffers wide enough for [`PlainDense::output`], to allocate once per sequence.
    pub fn buffers(&self) -> (Vec<f32>, Vec<f32>) {
        (vec![0.0; self.widest], vec![0.0; self.widest])
    }

    /// The single output for the input `x`, computed in the two buffers `a` and `b` (from
    /// [`PlainDense::buffers`]); the same arithmetic as [`forward`] on one row.
    pub fn output(&self, activation: Activation, x: &[f32], a: &mut [f32], b: &mut [f32]) -> f32 {
        let (mut input, mut output) = (a, b);
        input[..x.len()].copy_from_slice(x);
        let mut width = x.len();
        let last = self.layers.len() - 1;
        for (k, layer) in self.layers.iter().enumerate() {
            let out = layer.outputs();
            layer.apply(&input[..width], &mut output[..out]);
            if k != last {
                output[..out]
                    .iter_mut()
                    .for_each(|v| *v = activation.apply_scalar(*v));
            }
            std::mem::swap(&mut input, &mut output);
            width = out;
        }
        input[0]
    }
}

/// Seeded initial weights of the dense layers between `widths` (inputs first, 1 output
/// last): per layer the weight (outputs × inputs, row-major) drawn uniform within
/// [`Activation::init_limit`] — the linear output layer Glorot-uniform whatever the
/// activation — and a zero bias, drawn from `rng` in layer order.
pub(crate) fn initial_dense(
    widths: &[usize],
    activation: Activation,
    rng: &mut ChaCha8Rng,
) -> Vec<(Vec<f32>, Vec<f32>)> {
    let last = widths.len() - 2;
    widths
        .windows(2)
        .enumerate()
        .map(|(i, pair)| {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let activation = if i == last {
                Activation::Tanh
            } else {
                activation
            };
            let limit = activation.init_limit(fan_in, fan_out);
            let weight = uniform(rng, fan_in * fan_out, limit);
            (weight, vec![0.0; fan_out])
        })
        .collect()
}

/// `n` values drawn uniform in (-limit, limit) as f32.
pub(crate) fn uniform(rng: &mut ChaCha8Rng, n: usize, limit: f64) -> Vec<f32> {
    (0..n)
        .map(|_| rng.random_range(-limit..limit) as f32)
        .collect()
}
