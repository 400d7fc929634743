//! A recurrent network that predicts every layer's time of a whole network at once.
//!
//! A network is a sequence of layers; the model reads one feature vector per layer through a
//! unidirectional GRU or LSTM, then maps each step's state through dense hidden layers to one
//! output, the layer's (scaled) time. The caller sums the steps' outputs for the network's time.
//!
//! One concept per file, as candle keeps one layer per file: [`spec`] (the cell and the
//! shape), [`model`] (the candle form, the source of truth, and its padded, masked loss),
//! [`infer`] (the same model on plain `Vec<f32>`, for fast prediction) and [`init`] (the
//! seeded initial weights). Training is the shared loop of [`crate::predict::fit`]: Adam at
//! exactly the given learning rate, seeded shuffles of whole sequences and early stopping
//! with the best epoch's weights restored.

mod infer;
mod init;
mod model;
mod spec;

#[cfg(test)]
mod tests;

use std::fmt;

use candle_core::{Tensor, Var};

use self::infer::PlainRnn;
use self::init::initial_tensors;
use self::model::{Batch, Model, Sequences};
use crate::predict::error::{Model as ModelKind, ModelError};
use crate::predict::fit::{fit, EpochLoss, TrainOptions};
use crate::predict::weights;

pub use self::spec::{Cell, RnnSpec};

/// How [`Rnn::train`] trains: the shared options, with `batch_size` counting whole
/// sequences.
pub type RnnOptions = TrainOptions;

/// One network: a feature vector and a target per layer, both already scaled.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// steps × inputs.
    pub x: Vec<Vec<f32>>,
    /// One target per step.
    pub y: Vec<f32>,
}

/// The outcome of [`Rnn::train`].
#[derive(Debug)]
pub struct TrainedRnn {
    /// The model with the best epoch's weights.
    pub rnn: Rnn,
    /// Losses of every epoch run (means over real steps, not sequences).
    pub history: Vec<EpochLoss>,
    /// The epoch whose weights `rnn` holds.
    pub best_epoch: u32,
    /// Its validation loss.
    pub best_validation: f64,
    /// Epochs run before early stopping or `max_epochs`.
    pub epochs_run: u32,
}

/// A trained (or freshly initialised, or loaded) model on the CPU.
pub struct Rnn {
    spec: RnnSpec,
    /// The candle tensors, in [`RnnSpec::parameters`] order: the source of truth.
    tensors: Vec<Tensor>,
    model: Model,
    plain: PlainRnn,
}

impl fmt::Debug for Rnn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rnn")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Rnn {
    /// An untrained model with the seeded initial weights [`Rnn::train`] starts from:
    /// Glorot-uniform input weights, orthogonal recurrent weights per gate, zero biases but
    /// an LSTM forget gate's 1 (Keras' defaults), and dense layers drawn as in the mlp.
    pub fn new(spec: &RnnSpec, seed: u64) -> Result<Rnn, ModelError> {
        spec.check()?;
        Rnn::from_tensors(spec.clone(), initial_tensors(spec, seed)?)
    }

    /// Trains with the masked mean squared error over real steps in the loop of
    /// [`crate::predict::fit`] (mini-batches of `batch_size` whole sequences).
    pub fn train(
        spec: &RnnSpec,
        options: &RnnOptions,
        train: &[Sequence],
        validation: &[Sequence],
    ) -> Result<TrainedRnn, ModelError> {
        spec.check()?;
        options.check(ModelKind::Rnn)?;
        check_sequences(spec, "training", train)?;
        check_sequences(spec, "validation", validation)?;
        let vars = initial_tensors(spec, options.seed)?
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<Vec<_>>>()?;
        let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let objective = Sequences {
            model: Model::new(spec, &tensors)?,
            train,
            validation,
            steps: train.iter().map(|s| s.y.len()).sum(),
        };
        let fitted = fit(&objective, vars, options)?;
        Ok(TrainedRnn {
            rnn: Rnn::from_tensors(spec.clone(), fitted.best)?,
            history: fitted.history,
            best_epoch: fitted.best_epoch,
            best_validation: fitted.best_validation,
            epochs_run: fitted.epochs_run,
        })
    }

    /// The model's shape.
    pub fn spec(&self) -> &RnnSpec {
        &self.spec
    }

    /// One network's steps → one output per step (scaled), computed on the plain copy of the
    /// weights.
    ///
    /// # Panics
    ///
    /// If a step does not have `spec().inputs` values.
    pub fn predict(&self, x: &[Vec<f32>]) -> Vec<f32> {
        assert!(
            x.iter().all(|step| step.len() == self.spec.inputs),
            "step width differs from the rnn's inputs"
        );
        self.plain.predict(self.spec.activation, x)
    }

    /// The same as [`Rnn::predict`], computed with candle; slower, and here to check the
    /// plain path against.
    pub fn predict_tensor(&self, x: &[Vec<f32>]) -> Result<Vec<f32>, ModelError> {
        if x.is_empty() {
            return Ok(Vec::new());
        }
        let sequence = Sequence {
            x: x.to_vec(),
            y: vec![0.0; x.len()],
        };
        check_sequences(&self.spec, "prediction", std::slice::from_ref(&sequence))?;
        let batch = Batch::new(self.spec.inputs, &[&sequence])?;
        Ok(self.model.forward(&batch.x)?.flatten_all()?.to_vec1()?)
    }

    /// The masked mean squared error over every real step of `sequences`, computed with
    /// candle in padded batches; the loss [`Rnn::train`] reports for validation.
    pub fn loss(&self, sequences: &[Sequence]) -> Result<f64, ModelError> {
        check_sequences(&self.spec, "evaluation", sequences)?;
        self.model.loss(sequences)
    }

    /// The weights as safetensors bytes: "rnn.weight_ih_l0" (gates·units × inputs),
    /// "rnn.weight_hh_l0" (gates·units × units), "rnn.bias_ih_l0", "rnn.bias_hh_l0" with
    /// gates in PyTorch's order (GRU r, z, n; LSTM i, f, g, o), then "dense{i}.weight"
    /// (outputs × inputs) and "dense{i}.bias", the output layer last.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, ModelError> {
        weights::to_safetensors(ModelKind::Rnn, self.spec.parameters(), &self.tensors)
    }

    /// Loads weights written by [`Rnn::to_safetensors`] for a model of shape `spec`.
    pub fn from_safetensors(spec: &RnnSpec, bytes: &[u8]) -> Result<Rnn, ModelError> {
        spec.check()?;
        let tensors = weights::from_safetensors(ModelKind::Rnn, spec.parameters(), bytes)?;
        Rnn::from_tensors(spec.clone(), tensors)
    }

    /// Wraps tensors in [`RnnSpec::parameters`] order and shapes, and makes the plain copy.
    fn from_tensors(spec: RnnSpec, tensors: Vec<Tensor>) -> Result<Rnn, ModelError> {
        let model = Model::new(&spec, &tensors)?;
        let plain = PlainRnn::new(&spec, &tensors)?;
        Ok(Rnn {
            spec,
            tensors,
            model,
            plain,
        })
    }
}

fn check_sequences(spec: &RnnSpec, what: &str, sequences: &[Sequence]) -> Result<(), ModelError> {
    let data_error = |reason: String| {
        Err(ModelError::Data {
            model: ModelKind::Rnn,
            reason,
        })
    };
    if sequences.is_empty() {
        return data_error(format!("no {what} sequences"));
    }
    for (i, sequence) in sequences.iter().enumerate() {
        if sequence.x.is_empty() {
            return data_error(format!("{what} sequence {i} has no steps"));
        }
        if sequence.x.len() != sequence.y.len() {
            return data_error(format!(
                "{what} sequence {i} has {} steps but {} targets",
                sequence.x.len(),
                sequence.y.len()
            ));
        }
        if let Some(step) = sequence.x.iter().position(|s| s.len() != spec.inputs) {
            return data_error(format!(
                "{what} sequence {i} step {step} has {} values, the spec has {} inputs",
                sequence.x[step].len(),
                spec.inputs
            ));
        }
    }
    Ok(())
}
