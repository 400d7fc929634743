//! The seeded initial weights a recurrent model starts from (Keras' defaults):
//! Glorot-uniform input weights, orthogonal recurrent weights per gate, zero biases but an
//! LSTM forget gate's 1, and the dense head drawn as in the mlp ([`initial_dense`]).

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::spec::{Cell, RnnSpec};
use crate::predict::dense::{initial_dense, uniform};
use crate::predict::error::ModelError;

/// Seeded initial tensors in [`RnnSpec::parameters`] order.
pub(super) fn initial_tensors(spec: &RnnSpec, seed: u64) -> Result<Vec<Tensor>, ModelError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (u, gates) = (spec.units, spec.cell.gates());
    let glorot = (6.0 / (spec.inputs + gates * u) as f64).sqrt();
    let w_ih = uniform(&mut rng, gates * u * spec.inputs, glorot);
    let w_hh: Vec<f32> = (0..gates)
        .flat_map(|_| orthogonal(uniform(&mut rng, u * u, 1.0), u))
        .collect();
    let mut b_ih = vec![0.0_f32; gates * u];
    if spec.cell == Cell::Lstm {
        b_ih[u..2 * u].fill(1.0);
    }
    let mut values = vec![w_ih, w_hh, b_ih, vec![0.0; gates * u]];
    for (weight, bias) in initial_dense(&spec.dense_widths(), spec.activation, &mut rng) {
        values.push(weight);
        values.push(bias);
    }
    spec.parameters()
        .into_iter()
        .zip(values)
        .map(|((_, shape), v)| Ok(Tensor::from_vec(v, shape, &Device::Cpu)?))
        .collect()
}

/// The rows of an n × n matrix made orthonormal by modified Gram–Schmidt.
fn orthogonal(mut m: Vec<f32>, n: usize) -> Vec<f32> {
    for i in 0..n {
        let (done, rest) = m.split_at_mut(i * n);
        let row = &mut rest[..n];
        for prev in done.chunks_exact(n) {
            let dot: f32 = prev.iter().zip(row.iter()).map(|(a, b)| a * b).sum();
            row.iter_mut().zip(prev).for_each(|(r, &p)| *r -= dot * p);
        }
        let norm = row
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
            .max(f32::EPSILON);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    m
}
