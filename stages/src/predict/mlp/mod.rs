//! A small fully connected network (multi-layer perceptron) that predicts one layer's time.
//!
//! The network is trained with candle on the CPU by the shared loop of [`super::fit`]: mean
//! squared error, Adam, seeded mini-batches of rows and early stopping on validation loss,
//! like a Keras `Sequential` of `Dense` layers. Everything random is drawn from
//! `rand_chacha` with the caller's seed, so the same data, spec and options give the same
//! weights. The candle tensors are the source of truth; a copy of the weights as plain
//! `Vec<f32>` ([`super::dense::PlainDense`]) serves single-row prediction, where candle's
//! per-operation overhead would dominate.

use std::fmt;

use candle_core::{Device, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::dense::{self, initial_dense, Dense, PlainDense};
use super::error::{Model, ModelError};
use super::fit::{fit, mse, Objective};
use super::weights::{self, Parameter};

pub use super::activation::Activation;
pub use super::fit::{EpochLoss, TrainOptions};

#[cfg(test)]
mod tests;

/// The shape of a network: `inputs` → each of `hidden` (with `activation`) → 1 linear output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpSpec {
    /// Number of input features.
    pub inputs: usize,
    /// Width of each hidden layer, first to last.
    pub hidden: Vec<usize>,
    /// Nonlinearity after each hidden layer.
    pub activation: Activation,
}

impl MlpSpec {
    /// Every layer's width, inputs first, the single output last.
    fn widths(&self) -> Vec<usize> {
        let mut widths = Vec::with_capacity(self.hidden.len() + 2);
        widths.push(self.inputs);
        widths.extend(&self.hidden);
        widths.push(1);
        widths
    }

    fn check(&self) -> Result<(), ModelError> {
        if self.inputs == 0 || self.hidden.contains(&0) {
            return Err(ModelError::Spec {
                model: Model::Mlp,
                reason: format!(
                    "every layer needs at least one unit (inputs {}, hidden {:?})",
                    self.inputs, self.hidden
                ),
            });
        }
        Ok(())
    }

    /// Every parameter's name and shape, in the order [`Mlp`] keeps them: per layer
    /// "layer{i}.weight" (outputs × inputs) and "layer{i}.bias", i from 0.
    fn parameters(&self) -> Vec<Parameter> {
        self.widths()
            .windows(2)
            .enumerate()
            .flat_map(|(i, pair)| {
                [
                    (format!("layer{i}.weight"), vec![pair[1], pair[0]]),
                    (format!("layer{i}.bias"), vec![pair[1]]),
                ]
            })
            .collect()
    }
}

/// The outcome of [`Mlp::train`].
#[derive(Debug)]
pub struct Trained {
    /// The network with the best epoch's weights.
    pub mlp: Mlp,
    /// Losses of every epoch run.
    pub history: Vec<EpochLoss>,
    /// The epoch whose weights `mlp` holds.
    pub best_epoch: u32,
    /// Its validation loss.
    pub best_validation: f64,
    /// Epochs run before early stopping or `max_epochs`.
    pub epochs_run: u32,
}

/// A trained (or loaded) network on the CPU.
pub struct Mlp {
    spec: MlpSpec,
    /// The candle tensors, in [`MlpSpec::parameters`] order: the source of truth.
    tensors: Vec<Tensor>,
    layers: Vec<Dense>,
    plain: PlainDense,
}

impl fmt::Debug for Mlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mlp")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Mlp {
    /// Trains with MSE loss in the loop of [`super::fit`] (mini-batches of `batch_size`
    /// rows). Weight init (He-uniform for relu/gelu, Glorot-uniform for tanh/sigmoid, zero
    /// biases) is seeded from `options.seed`; f32 on CPU. `x` rows are already scaled; `y`
    /// is already scaled.
    pub fn train(
        spec: &MlpSpec,
        options: &TrainOptions,
        train: (&[Vec<f32>], &[f32]),
        validation: (&[Vec<f32>], &[f32]),
    ) -> Result<Trained, ModelError> {
        spec.check()?;
        options.check(Model::Mlp)?;
        let (train_x, train_y) = rows_tensors(spec, "training", train)?;
        let (validation_x, _) = rows_tensors(spec, "validation", validation)?;
        let vars = initial_tensors(spec, options.seed)?
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<Vec<_>>>()?;
        let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let objective = Rows {
            layers: Dense::from_pairs(&tensors),
            activation: spec.activation,
            train_x,
            train_y,
            validation_x,
            validation_y: validation.1,
        };
        let fitted = fit(&objective, vars, options)?;
        Ok(Trained {
            mlp: Mlp::from_tensors(spec.clone(), fitted.best)?,
            history: fitted.history,
            best_epoch: fitted.best_epoch,
            best_validation: fitted.best_validation,
            epochs_run: fitted.epochs_run,
        })
    }

    /// The network's shape.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// One row → one output (scaled), computed on the plain copy of the weights.
    ///
    /// # Panics
    ///
    /// If the row does not have `spec().inputs` values.
    pub fn predict_one(&self, row: &[f32]) -> f32 {
        assert_eq!(
            row.len(),
            self.spec.inputs,
            "row width differs from the mlp's inputs"
        );
        let (mut a, mut b) = self.plain.buffers();
        self.plain.output(self.spec.activation, row, &mut a, &mut b)
    }

    /// Many rows → one output each (scaled), computed with candle.
    ///
    /// # Panics
    ///
    /// If a row does not have `spec().inputs` values.
    pub fn predict_batch(&self, rows: &[Vec<f32>]) -> Vec<f32> {
        if rows.is_empty() {
            return Vec::new();
        }
        assert!(
            rows.iter().all(|row| row.len() == self.spec.inputs),
            "row width differs from the mlp's inputs"
        );
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (rows.len(), self.spec.inputs), &Device::Cpu)
            .and_then(|x| dense::forward(&self.layers, self.spec.activation, &x))
            .and_then(|y| y.flatten_all()?.to_vec1())
            .expect("a forward pass on f32 CPU tensors of checked shapes cannot fail")
    }

    /// The weights as safetensors bytes (tensor names "layer{i}.weight" of shape
    /// outputs × inputs and "layer{i}.bias", i from 0).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, ModelError> {
        weights::to_safetensors(Model::Mlp, self.spec.parameters(), &self.tensors)
    }

    /// Loads weights written by [`Mlp::to_safetensors`] for a network of shape `spec`.
    pub fn from_safetensors(spec: &MlpSpec, bytes: &[u8]) -> Result<Mlp, ModelError> {
        spec.check()?;
        let tensors = weights::from_safetensors(Model::Mlp, spec.parameters(), bytes)?;
        Mlp::from_tensors(spec.clone(), tensors)
    }

    /// Wraps tensors in [`MlpSpec::parameters`] order and shapes, and makes the plain copy.
    fn from_tensors(spec: MlpSpec, tensors: Vec<Tensor>) -> Result<Mlp, ModelError> {
        let layers = Dense::from_pairs(&tensors);
        let plain = PlainDense::new(spec.inputs, &layers)?;
        Ok(Mlp {
            spec,
            tensors,
            layers,
            plain,
        })
    }
}

/// The mlp's objective in [`fit`]: the mean squared error of a mini-batch of rows.
struct Rows<'a> {
    /// Clones of the trainable variables.
    layers: Vec<Dense>,
    activation: Activation,
    /// rows × inputs.
    train_x: Tensor,
    /// rows × 1.
    train_y: Tensor,
    validation_x: Tensor,
    validation_y: &'a [f32],
}

impl Objective for Rows<'_> {
    const MODEL: Model = Model::Mlp;

    fn examples(&self) -> usize {
        self.train_y.dims()[0]
    }

    fn batch_loss(&self, batch: &[usize]) -> Result<(Tensor, f64), ModelError> {
        let index: Vec<u32> = batch.iter().map(|&i| i as u32).collect();
        let index = Tensor::from_vec(index, batch.len(), &Device::Cpu)?;
        let x = self.train_x.index_select(&index, 0)?;
        let y = self.train_y.index_select(&index, 0)?;
        let loss = dense::forward(&self.layers, self.activation, &x)?
            .sub(&y)?
            .sqr()?
            .mean_all()?;
        let share = f64::from(loss.to_scalar::<f32>()?) * batch.len() as f64;
        Ok((loss, share))
    }

    fn train_loss(&self, sum: f64) -> f64 {
        sum / self.examples() as f64
    }

    fn validation_loss(&self) -> Result<f64, ModelError> {
        let predictions = dense::forward(&self.layers, self.activation, &self.validation_x)?
            .flatten_all()?
            .to_vec1()?;
        Ok(mse(&predictions, self.validation_y))
    }
}

/// The rows as an n × inputs tensor and the targets as an n × 1 tensor.
fn rows_tensors(
    spec: &MlpSpec,
    what: &str,
    (x, y): (&[Vec<f32>], &[f32]),
) -> Result<(Tensor, Tensor), ModelError> {
    let data_error = |reason: String| ModelError::Data {
        model: Model::Mlp,
        reason,
    };
    if x.is_empty() {
        return Err(data_error(format!("no {what} rows")));
    }
    if x.len() != y.len() {
        return Err(data_error(format!(
            "{} {what} rows but {} targets",
            x.len(),
            y.len()
        )));
    }
    if let Some(row) = x.iter().position(|row| row.len() != spec.inputs) {
        return Err(data_error(format!(
            "{what} row {row} has {} values, the spec has {} inputs",
            x[row].len(),
            spec.inputs
        )));
    }
    let flat: Vec<f32> = x.iter().flatten().copied().collect();
    let x = Tensor::from_vec(flat, (y.len(), spec.inputs), &Device::Cpu)?;
    let y = Tensor::from_slice(y, (y.len(), 1), &Device::Cpu)?;
    Ok((x, y))
}

/// Seeded initial tensors in [`MlpSpec::parameters`] order ([`initial_dense`]).
fn initial_tensors(spec: &MlpSpec, seed: u64) -> Result<Vec<Tensor>, ModelError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values = initial_dense(&spec.widths(), spec.activation, &mut rng)
        .into_iter()
        .flat_map(|(weight, bias)| [weight, bias]);
    spec.parameters()
        .into_iter()
        .zip(values)
        .map(|((_, shape), v)| Ok(Tensor::from_vec(v, shape, &Device::Cpu)?))
        .collect()
}
