//! The candle form of a recurrent model, the source of truth: candle-nn's own GRU/LSTM fed
//! our tensors by name, then the dense head ([`crate::predict::dense::forward`]).
//!
//! Sequences of a batch are padded to the longest one and a mask keeps the padded steps out
//! of the loss; padding sits after the real steps, so it never reaches a real step's state
//! either. [`Sequences`] is the model's objective in the shared training loop.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::rnn::{GRUConfig, LSTMConfig, GRU, LSTM, RNN};
use candle_nn::VarBuilder;

use super::spec::{Cell, RnnSpec};
use super::Sequence;
use crate::predict::activation::Activation;
use crate::predict::dense::{self, Dense};
use crate::predict::error::{Model as ModelKind, ModelError};
use crate::predict::fit::Objective;

/// Sequences per forward pass when computing a loss outside training.
const EVAL_BATCH: usize = 64;

/// Sequences padded with zeros after their last step to the longest one.
pub(super) struct Batch {
    /// sequences × steps × inputs.
    pub x: Tensor,
    /// sequences × steps; 0 on padded steps.
    y: Tensor,
    /// sequences × steps; 1 on real steps, 0 on padded ones.
    mask: Tensor,
    /// Real steps in the batch.
    steps: usize,
}

impl Batch {
    pub fn new(inputs: usize, sequences: &[&Sequence]) -> Result<Batch, ModelError> {
        let longest = sequences.iter().map(|s| s.y.len()).max().unwrap_or(0);
        let n = sequences.len();
        let mut x = vec![0.0_f32; n * longest * inputs];
        let mut y = vec![0.0_f32; n * longest];
        let mut mask = vec![0.0_f32; n * longest];
        for (i, sequence) in sequences.iter().enumerate() {
            for (t, (step, &target)) in sequence.x.iter().zip(&sequence.y).enumerate() {
                let at = i * longest + t;
                x[at * inputs..(at + 1) * inputs].copy_from_slice(step);
                y[at] = target;
                mask[at] = 1.0;
            }
        }
        Ok(Batch {
            x: Tensor::from_vec(x, (n, longest, inputs), &Device::Cpu)?,
            y: Tensor::from_vec(y, (n, longest), &Device::Cpu)?,
            mask: Tensor::from_vec(mask, (n, longest), &Device::Cpu)?,
            steps: sequences.iter().map(|s| s.y.len()).sum(),
        })
    }
}

/// candle-nn's recurrent layer, built on our tensors.
enum Recurrent {
    Gru(GRU),
    Lstm(LSTM),
}

/// The candle forward pass over tensors that may be trainable variables: clones of a
/// `Var`'s tensor share its storage and identity, so the optimiser's in-place updates show
/// through and gradients reach the variables.
pub(super) struct Model {
    inputs: usize,
    recurrent: Recurrent,
    layers: Vec<Dense>,
    activation: Activation,
}

impl Model {
    /// The model over tensors in [`RnnSpec::parameters`] order.
    pub fn new(spec: &RnnSpec, tensors: &[Tensor]) -> Result<Model, ModelError> {
        let named: HashMap<String, Tensor> = spec
            .parameters()
            .into_iter()
            .map(|(name, _)| name)
            .zip(tensors.iter().cloned())
            .collect();
        let vb = VarBuilder::from_tensors(named, DType::F32, &Device::Cpu).pp("rnn");
        let recurrent = match spec.cell {
            Cell::Gru => {
                Recurrent::Gru(GRU::new(spec.inputs, spec.units, GRUConfig::default(), vb)?)
            }
            Cell::Lstm => Recurrent::Lstm(LSTM::new(
                spec.inputs,
                spec.units,
                LSTMConfig::default(),
                vb,
            )?),
        };
        Ok(Model {
            inputs: spec.inputs,
            recurrent,
            layers: Dense::from_pairs(&tensors[4..]),
            activation: spec.activation,
        })
    }

    /// sequences × steps × inputs → sequences × steps outputs.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (sequences, steps, _) = x.dims3()?;
        let states: Vec<Tensor> = match &self.recurrent {
            Recurrent::Gru(gru) => gru.seq(x)?.into_iter().map(|s| s.h).collect(),
            Recurrent::Lstm(lstm) => lstm.seq(x)?.into_iter().map(|s| s.h).collect(),
        };
        let h = Tensor::stack(&states, 1)?.reshape((sequences * steps, ()))?;
        dense::forward(&self.layers, self.activation, &h)?.reshape((sequences, steps))
    }

    /// The sum of squared errors over the batch's real steps, as a scalar tensor.
    fn squared_error(&self, batch: &Batch) -> candle_core::Result<Tensor> {
        self.forward(&batch.x)?
            .sub(&batch.y)?
            .sqr()?
            .mul(&batch.mask)?
            .sum_all()
    }

    /// The mean squared error over every real step of `sequences`.
    pub fn loss(&self, sequences: &[Sequence]) -> Result<f64, ModelError> {
        let mut sum = 0.0;
        let mut steps = 0;
        for chunk in sequences.chunks(EVAL_BATCH) {
            let batch = Batch::new(self.inputs, &chunk.iter().collect::<Vec<_>>())?;
            sum += f64::from(self.squared_error(&batch)?.to_scalar::<f32>()?);
            steps += batch.steps;
        }
        Ok(sum / steps as f64)
    }
}

/// The rnn's objective in the shared training loop: the masked mean squared error over the
/// real steps of a mini-batch of whole sequences.
pub(super) struct Sequences<'a> {
    /// Built on clones of the trainable variables.
    pub model: Model,
    pub train: &'a [Sequence],
    pub validation: &'a [Sequence],
    /// Real steps of all training sequences.
    pub steps: usize,
}

impl Objective for Sequences<'_> {
    const MODEL: ModelKind = ModelKind::Rnn;

    fn examples(&self) -> usize {
        self.train.len()
    }

    fn batch_loss(&self, batch: &[usize]) -> Result<(Tensor, f64), ModelError> {
        let sequences: Vec<&Sequence> = batch.iter().map(|&i| &self.train[i]).collect();
        let batch = Batch::new(self.model.inputs, &sequences)?;
        let squared = self.model.squared_error(&batch)?;
        let loss = (&squared / batch.steps as f64)?;
        Ok((loss, f64::from(squared.to_scalar::<f32>()?)))
    }

    fn train_loss(&self, sum: f64) -> f64 {
        sum / self.steps as f64
    }

    fn validation_loss(&self) -> Result<f64, ModelError> {
        self.model.loss(self.validation)
    }
}
