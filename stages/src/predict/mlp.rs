//! A small fully connected network (multi-layer perceptron) that predicts one layer's time.
//!
//! The network is trained with candle on the CPU: mean squared error, Adam, seeded
//! mini-batches and early stopping on validation loss, like a Keras `Sequential` of `Dense`
//! layers. Everything random is drawn from `rand_chacha` with the caller's seed, so the same
//! data, spec and options give the same weights. The candle tensors are the source of truth;
//! a copy of the weights as plain `Vec<f32>` serves single-row prediction, where candle's
//! per-operation overhead would dominate.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

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
    type Err = MlpError;

    fn from_str(name: &str) -> Result<Self, MlpError> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| MlpError::UnknownActivation {
                name: name.to_owned(),
            })
    }
}

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

    fn check(&self) -> Result<(), MlpError> {
        if self.inputs == 0 || self.hidden.contains(&0) {
            return Err(MlpError::Spec {
                reason: format!(
                    "every layer needs at least one unit (inputs {}, hidden {:?})",
                    self.inputs, self.hidden
                ),
            });
        }
        Ok(())
    }
}

/// How [`Mlp::train`] trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Adam's learning rate, used as given.
    pub learning_rate: f64,
    /// Rows per mini-batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Upper bound on epochs.
    pub max_epochs: u32,
    /// Epochs without a better validation loss before training stops.
    pub patience: u32,
    /// Seed of the weight initialisation and of every epoch's shuffle.
    pub seed: u64,
}

/// Mean squared losses after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLoss {
    /// Epoch number, from 1.
    pub epoch: u32,
    /// Mean of the epoch's mini-batch losses, weighted by batch size.
    pub train: f64,
    /// Loss on the validation rows with the weights at the end of the epoch.
    pub validation: f64,
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

/// Why a network could not be built, trained, saved or loaded.
#[derive(Debug, Error)]
pub enum MlpError {
    /// The spec describes no usable network.
    #[error("build an mlp: {reason}")]
    Spec {
        /// What is wrong.
        reason: String,
    },
    /// The training options or rows are unusable.
    #[error("train the mlp: {reason}")]
    Data {
        /// What is wrong.
        reason: String,
    },
    /// No epoch ended with a finite validation loss.
    #[error("train the mlp: the validation loss was never finite (learning rate {learning_rate})")]
    Diverged {
        /// The learning rate used.
        learning_rate: f64,
    },
    /// An activation name is not one of [`Activation::ALL`].
    #[error("parse activation `{name}`: expected relu, tanh, gelu or sigmoid")]
    UnknownActivation {
        /// The name given.
        name: String,
    },
    /// The safetensors bytes could not be parsed.
    #[error("read the mlp weights as safetensors")]
    Read(#[source] candle_core::Error),
    /// The safetensors bytes do not hold the spec's weights.
    #[error("read the mlp weights: {reason}")]
    Weights {
        /// What is missing or misshapen.
        reason: String,
    },
    /// The weights could not be staged as safetensors.
    #[error("write the mlp weights as safetensors")]
    Write(#[source] std::io::Error),
    /// A tensor operation failed.
    #[error("compute with candle")]
    Candle(#[from] candle_core::Error),
}

/// One dense layer's parameters as candle tensors.
#[derive(Clone)]
struct Layer {
    /// outputs × inputs.
    weight: Tensor,
    /// outputs.
    bias: Tensor,
}

/// One dense layer's parameters as plain floats, for single-row prediction.
struct DenseLayer {
    /// inputs × outputs, row-major (the transpose of the candle weight), so that each
    /// input adds a contiguous row to the outputs.
    weight_t: Vec<f32>,
    bias: Vec<f32>,
}

/// A trained (or loaded) network on the CPU.
pub struct Mlp {
    spec: MlpSpec,
    layers: Vec<Layer>,
    dense: Vec<DenseLayer>,
    widest: usize,
}

impl fmt::Debug for Mlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mlp")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Mlp {
    /// Trains with MSE loss and Adam (AdamW with weight decay 0) at exactly
    /// `options.learning_rate`, mini-batches of `batch_size` in a fresh seeded shuffle every
    /// epoch, early stopping when validation loss has not improved for `patience` epochs,
    /// then restores the best epoch's weights. Weight init (He-uniform for relu/gelu,
    /// Glorot-uniform for tanh/sigmoid, zero biases) is seeded from `options.seed`; f32 on
    /// CPU. `x` rows are already scaled; `y` is already scaled.
    pub fn train(
        spec: &MlpSpec,
        options: &TrainOptions,
        train: (&[Vec<f32>], &[f32]),
        validation: (&[Vec<f32>], &[f32]),
    ) -> Result<Trained, MlpError> {
        spec.check()?;
        check_options(options)?;
        let (train_x, train_y) = rows_tensors(spec, "training", train)?;
        let (val_x, _) = rows_tensors(spec, "validation", validation)?;
        let val_y = validation.1;
        let rows = train.1.len();

        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let vars = initial_vars(spec, &mut rng)?;
        let layers: Vec<Layer> = vars
            .iter()
            .map(|(w, b)| Layer {
                weight: w.as_tensor().clone(),
                bias: b.as_tensor().clone(),
            })
            .collect();
        let params = ParamsAdamW {
            lr: options.learning_rate,
            weight_decay: 0.0,
            ..Default::default()
        };
        let all_vars = vars
            .iter()
            .flat_map(|(w, b)| [w.clone(), b.clone()])
            .collect();
        let mut optimizer = AdamW::new(all_vars, params)?;
        let mut shuffle_rng = ChaCha8Rng::seed_from_u64(options.seed);
        shuffle_rng.set_stream(1);

        let mut order: Vec<u32> = (0..rows as u32).collect();
        let mut history = Vec::new();
        let mut best: Option<(u32, f64, Vec<Layer>)> = None;
        let mut since_best = 0;
        for epoch in 1..=options.max_epochs {
            order.shuffle(&mut shuffle_rng);
            let mut train_sum = 0.0;
            for batch in order.chunks(options.batch_size) {
                let index = Tensor::from_slice(batch, batch.len(), &Device::Cpu)?;
                let x = train_x.index_select(&index, 0)?;
                let y = train_y.index_select(&index, 0)?;
                let loss = forward(&layers, spec.activation, &x)?
                    .sub(&y)?
                    .sqr()?
                    .mean_all()?;
                optimizer.backward_step(&loss)?;
                train_sum += f64::from(loss.to_scalar::<f32>()?) * batch.len() as f64;
            }
            let predictions = forward(&layers, spec.activation, &val_x)?
                .flatten_all()?
                .to_vec1()?;
            let loss = EpochLoss {
                epoch,
                train: train_sum / rows as f64,
                validation: mse(&predictions, val_y),
            };
            let improved = best.as_ref().is_none_or(|(_, v, _)| loss.validation < *v);
            if improved && loss.validation.is_finite() {
                best = Some((epoch, loss.validation, snapshot(&layers)?));
                since_best = 0;
            } else {
                since_best += 1;
            }
            history.push(loss);
            if since_best >= options.patience && since_best > 0 {
                break;
            }
        }
        let (best_epoch, best_validation, layers) = best.ok_or(MlpError::Diverged {
            learning_rate: options.learning_rate,
        })?;
        Ok(Trained {
            mlp: Mlp::from_layers(spec.clone(), layers)?,
            epochs_run: history.len() as u32,
            history,
            best_epoch,
            best_validation,
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
        let mut input = Vec::with_capacity(self.widest);
        let mut output = Vec::with_capacity(self.widest);
        input.extend_from_slice(row);
        let last = self.dense.len() - 1;
        for (i, layer) in self.dense.iter().enumerate() {
            output.clear();
            output.extend_from_slice(&layer.bias);
            let width = layer.bias.len();
            for (&x, weights) in input.iter().zip(layer.weight_t.chunks_exact(width)) {
                if x != 0.0 {
                    output
                        .iter_mut()
                        .zip(weights)
                        .for_each(|(o, &w)| *o += x * w);
                }
            }
            if i != last {
                output
                    .iter_mut()
                    .for_each(|v| *v = self.spec.activation.apply_scalar(*v));
            }
            std::mem::swap(&mut input, &mut output);
        }
        input[0]
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
            .and_then(|x| forward(&self.layers, self.spec.activation, &x))
            .and_then(|y| y.flatten_all()?.to_vec1())
            .expect("a forward pass on f32 CPU tensors of checked shapes cannot fail")
    }

    /// The weights as safetensors bytes (tensor names "layer{i}.weight" of shape
    /// outputs × inputs and "layer{i}.bias", i from 0).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, MlpError> {
        let mut tensors = HashMap::new();
        for (i, layer) in self.layers.iter().enumerate() {
            tensors.insert(format!("layer{i}.weight"), layer.weight.clone());
            tensors.insert(format!("layer{i}.bias"), layer.bias.clone());
        }
        // candle serialises to a file only; stage it in a private temporary file.
        let file = tempfile::NamedTempFile::new().map_err(MlpError::Write)?;
        candle_core::safetensors::save(&tensors, file.path())?;
        std::fs::read(file.path()).map_err(MlpError::Write)
    }

    /// Loads weights written by [`Mlp::to_safetensors`] for a network of shape `spec`.
    pub fn from_safetensors(spec: &MlpSpec, bytes: &[u8]) -> Result<Mlp, MlpError> {
        spec.check()?;
        let mut tensors =
            candle_core::safetensors::load_buffer(bytes, &Device::Cpu).map_err(MlpError::Read)?;
        let widths = spec.widths();
        let mut layers = Vec::with_capacity(widths.len() - 1);
        for (i, pair) in widths.windows(2).enumerate() {
            let mut take = |name: String, shape: &[usize]| -> Result<Tensor, MlpError> {
                let tensor = tensors.remove(&name).ok_or_else(|| MlpError::Weights {
                    reason: format!("no tensor `{name}`"),
                })?;
                if tensor.dims() != shape {
                    return Err(MlpError::Weights {
                        reason: format!(
                            "`{name}` has shape {:?}, the spec needs {shape:?}",
                            tensor.dims()
                        ),
                    });
                }
                Ok(tensor.to_dtype(DType::F32)?)
            };
            let weight = take(format!("layer{i}.weight"), &[pair[1], pair[0]])?;
            let bias = take(format!("layer{i}.bias"), &[pair[1]])?;
            layers.push(Layer { weight, bias });
        }
        if let Some(name) = tensors.keys().min() {
            return Err(MlpError::Weights {
                reason: format!(
                    "unexpected tensor `{name}` for a network of {} layers",
                    layers.len()
                ),
            });
        }
        Mlp::from_layers(spec.clone(), layers)
    }

    /// Wraps candle layers whose shapes match `spec`, and makes the plain copy.
    fn from_layers(spec: MlpSpec, layers: Vec<Layer>) -> Result<Mlp, MlpError> {
        let dense = layers
            .iter()
            .map(|layer| {
                Ok(DenseLayer {
                    weight_t: layer.weight.t()?.contiguous()?.flatten_all()?.to_vec1()?,
                    bias: layer.bias.to_vec1()?,
                })
            })
            .collect::<Result<Vec<_>, MlpError>>()?;
        let widest = spec.widths().into_iter().max().unwrap_or(1);
        Ok(Mlp {
            spec,
            layers,
            dense,
            widest,
        })
    }
}

fn check_options(options: &TrainOptions) -> Result<(), MlpError> {
    let reason = if options.batch_size == 0 {
        "the batch size is 0".to_owned()
    } else if options.max_epochs == 0 {
        "max_epochs is 0".to_owned()
    } else if !(options.learning_rate >= 0.0 && options.learning_rate.is_finite()) {
        format!(
            "the learning rate {} is not a finite value ≥ 0",
            options.learning_rate
        )
    } else {
        return Ok(());
    };
    Err(MlpError::Data { reason })
}

/// The rows as an n × inputs tensor and the targets as an n × 1 tensor.
fn rows_tensors(
    spec: &MlpSpec,
    what: &str,
    (x, y): (&[Vec<f32>], &[f32]),
) -> Result<(Tensor, Tensor), MlpError> {
    let data_error = |reason: String| MlpError::Data { reason };
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

/// Seeded initial weights as trainable variables, one (weight, bias) pair per layer.
fn initial_vars(spec: &MlpSpec, rng: &mut ChaCha8Rng) -> Result<Vec<(Var, Var)>, MlpError> {
    let widths = spec.widths();
    let last = widths.len() - 2;
    widths
        .windows(2)
        .enumerate()
        .map(|(i, pair)| {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            // The linear output layer is drawn Glorot-uniform whatever the activation.
            let activation = if i == last {
                Activation::Tanh
            } else {
                spec.activation
            };
            let limit = activation.init_limit(fan_in, fan_out);
            let weights: Vec<f32> = (0..fan_in * fan_out)
                .map(|_| rng.random_range(-limit..limit) as f32)
                .collect();
            let weight = Var::from_vec(weights, (fan_out, fan_in), &Device::Cpu)?;
            let bias = Var::zeros(fan_out, DType::F32, &Device::Cpu)?;
            Ok((weight, bias))
        })
        .collect()
}

fn forward(layers: &[Layer], activation: Activation, x: &Tensor) -> candle_core::Result<Tensor> {
    let mut h = x.clone();
    for (i, layer) in layers.iter().enumerate() {
        h = h.matmul(&layer.weight.t()?)?.broadcast_add(&layer.bias)?;
        if i + 1 != layers.len() {
            h = activation.apply(&h)?;
        }
    }
    Ok(h)
}

/// Deep copies of the layers (a `Var` is updated in place, so clones would follow it).
fn snapshot(layers: &[Layer]) -> Result<Vec<Layer>, MlpError> {
    layers
        .iter()
        .map(|layer| {
            Ok(Layer {
                weight: layer.weight.copy()?,
                bias: layer.bias.copy()?,
            })
        })
        .collect()
}

/// Mean squared error in f64.
fn mse(predictions: &[f32], targets: &[f32]) -> f64 {
    let sum: f64 = predictions
        .iter()
        .zip(targets)
        .map(|(&p, &t)| (f64::from(p) - f64::from(t)).powi(2))
        .sum();
    sum / targets.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of `inputs` values uniform in [-1, 1) and their targets under `f`.
    fn data(
        rows: usize,
        inputs: usize,
        seed: u64,
        mut f: impl FnMut(&[f32]) -> f32,
    ) -> (Vec<Vec<f32>>, Vec<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x: Vec<Vec<f32>> = (0..rows)
            .map(|_| (0..inputs).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let y = x.iter().map(|row| f(row)).collect();
        (x, y)
    }

    fn sum(row: &[f32]) -> f32 {
        row.iter().sum::<f32>() / 2.0
    }

    fn spec(inputs: usize, hidden: &[usize], activation: Activation) -> MlpSpec {
        MlpSpec {
            inputs,
            hidden: hidden.to_vec(),
            activation,
        }
    }

    fn options(learning_rate: f64, max_epochs: u32, patience: u32, seed: u64) -> TrainOptions {
        TrainOptions {
            learning_rate,
            batch_size: 32,
            max_epochs,
            patience,
            seed,
        }
    }

    fn train(spec: &MlpSpec, options: &TrainOptions, f: impl Fn(&[f32]) -> f32 + Copy) -> Trained {
        let (x, y) = data(512, spec.inputs, 1, f);
        let (vx, vy) = data(128, spec.inputs, 2, f);
        Mlp::train(spec, options, (&x, &y), (&vx, &vy)).unwrap()
    }

    fn weights(mlp: &Mlp) -> Vec<Vec<f32>> {
        mlp.layers
            .iter()
            .flat_map(|l| [&l.weight, &l.bias])
            .map(|t| t.flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    }

    #[test]
    fn learns_the_sum_of_its_inputs() {
        let trained = train(
            &spec(4, &[32, 32], Activation::Relu),
            &options(1e-2, 100, 10, 7),
            sum,
        );
        assert!(
            trained.best_validation < 0.01,
            "validation mse {}",
            trained.best_validation
        );
    }

    #[test]
    fn learns_a_smooth_nonlinear_function() {
        let f = |r: &[f32]| (2.0 * r[0]).sin() + r[1] * r[2];
        for activation in Activation::ALL {
            let trained = train(
                &spec(3, &[32, 32], activation),
                &options(1e-2, 150, 15, 3),
                f,
            );
            assert!(
                trained.best_validation < 0.05,
                "{activation}: validation mse {}",
                trained.best_validation
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_weights_and_history() {
        let spec = spec(4, &[16], Activation::Tanh);
        let a = train(&spec, &options(1e-2, 5, 5, 11), sum);
        let b = train(&spec, &options(1e-2, 5, 5, 11), sum);
        let c = train(&spec, &options(1e-2, 5, 5, 12), sum);
        assert_eq!(weights(&a.mlp), weights(&b.mlp));
        assert_eq!(a.history, b.history);
        assert_ne!(weights(&a.mlp), weights(&c.mlp));
        assert_ne!(a.history, c.history);
    }

    #[test]
    fn stops_early_on_a_plateau_and_restores_the_best_epoch() {
        // Targets are noise: validation loss cannot keep improving.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut noise = |_: &[f32]| -> f32 { rng.random_range(-1.0..1.0) };
        let (x, y) = data(256, 4, 1, &mut noise);
        let (vx, vy) = data(64, 4, 2, &mut noise);
        let spec = spec(4, &[64, 64], Activation::Relu);
        let trained = Mlp::train(&spec, &options(1e-2, 500, 3, 1), (&x, &y), (&vx, &vy)).unwrap();
        assert!(
            trained.epochs_run < 500,
            "ran {} epochs",
            trained.epochs_run
        );
        assert_eq!(trained.epochs_run, trained.best_epoch + 3);
        assert_eq!(trained.history.len() as u32, trained.epochs_run);
        let best = &trained.history[trained.best_epoch as usize - 1];
        assert_eq!(best.validation, trained.best_validation);
        assert!(trained
            .history
            .iter()
            .all(|e| e.validation >= trained.best_validation));
        let reevaluated = mse(&trained.mlp.predict_batch(&vx), &vy);
        assert!(
            (reevaluated - trained.best_validation).abs() < 1e-6,
            "{reevaluated} vs {}",
            trained.best_validation
        );
    }

    #[test]
    fn a_zero_learning_rate_leaves_the_initial_weights() {
        let spec = spec(4, &[8, 8], Activation::Gelu);
        let trained = train(&spec, &options(0.0, 3, 10, 9), sum);
        let initial = initial_vars(&spec, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
        let initial: Vec<Vec<f32>> = initial
            .iter()
            .flat_map(|(w, b)| [w, b])
            .map(|v| v.flatten_all().unwrap().to_vec1().unwrap())
            .collect();
        assert_eq!(weights(&trained.mlp), initial);
        assert_eq!(trained.best_epoch, 1);
    }

    #[test]
    fn one_adam_step_moves_each_weight_by_the_learning_rate() {
        // Adam's first step is lr · g / |g| per parameter: exactly the rate given.
        let spec = spec(4, &[8], Activation::Tanh);
        let (x, y) = data(64, 4, 1, sum);
        let options = TrainOptions {
            learning_rate: 1e-3,
            batch_size: 64,
            max_epochs: 1,
            patience: 1,
            seed: 4,
        };
        let trained = Mlp::train(&spec, &options, (&x, &y), (&x, &y)).unwrap();
        let initial = initial_vars(&spec, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
        let (w, _) = &initial[0];
        let before: Vec<f32> = w.flatten_all().unwrap().to_vec1().unwrap();
        let after = &weights(&trained.mlp)[0];
        let largest = before
            .iter()
            .zip(after)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0_f32, f32::max);
        assert!((largest - 1e-3).abs() < 1e-5, "largest step {largest}");
    }

    #[test]
    fn safetensors_round_trip_gives_identical_predictions() {
        let spec = spec(4, &[16, 8], Activation::Sigmoid);
        let trained = train(&spec, &options(1e-2, 3, 3, 2), sum);
        let bytes = trained.mlp.to_safetensors().unwrap();
        let loaded = Mlp::from_safetensors(&spec, &bytes).unwrap();
        let (x, _) = data(32, 4, 8, sum);
        assert_eq!(loaded.predict_batch(&x), trained.mlp.predict_batch(&x));
        assert_eq!(weights(&loaded), weights(&trained.mlp));
        let wrong = MlpSpec {
            hidden: vec![16, 9],
            ..spec
        };
        assert!(matches!(
            Mlp::from_safetensors(&wrong, &bytes),
            Err(MlpError::Weights { .. })
        ));
    }

    #[test]
    fn predict_one_agrees_with_predict_batch() {
        for activation in Activation::ALL {
            let spec = spec(5, &[32, 16], activation);
            let trained = train(&spec, &options(1e-2, 3, 3, 6), sum);
            let (x, _) = data(50, 5, 3, sum);
            let batch = trained.mlp.predict_batch(&x);
            for (row, b) in x.iter().zip(batch) {
                let one = trained.mlp.predict_one(row);
                assert!(
                    (one - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{activation}: {one} vs {b}"
                );
            }
        }
    }

    #[test]
    fn activations_parse_from_their_names() {
        for activation in Activation::ALL {
            assert_eq!(activation.name().parse::<Activation>().unwrap(), activation);
            let json = serde_json::to_string(&activation).unwrap();
            assert_eq!(json, format!("\"{activation}\""));
        }
        assert!("swish".parse::<Activation>().is_err());
    }

    #[test]
    fn rejects_unusable_data() {
        let spec = spec(2, &[4], Activation::Relu);
        let x = vec![vec![0.0, 1.0], vec![1.0]];
        let y = vec![0.0, 1.0];
        let error = Mlp::train(&spec, &options(1e-2, 1, 1, 0), (&x, &y), (&x, &y)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "train the mlp: training row 1 has 1 values, the spec has 2 inputs"
        );
    }

    /// Run with `cargo test -p snni-stages --release predict::mlp::tests::timings -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a test"]
    fn timings() {
        let big = spec(20, &[256, 256, 256, 256], Activation::Relu);
        let (x, y) = data(64, 20, 1, sum);
        let short = TrainOptions {
            learning_rate: 1e-3,
            batch_size: 64,
            max_epochs: 1,
            patience: 1,
            seed: 1,
        };
        let mlp = Mlp::train(&big, &short, (&x, &y), (&x, &y)).unwrap().mlp;
        let reps = 2_000;
        let start = std::time::Instant::now();
        let mut total = 0.0;
        for row in x.iter().cycle().take(reps) {
            total += mlp.predict_one(std::hint::black_box(row));
        }
        let one = start.elapsed() / reps as u32;
        let start = std::time::Instant::now();
        let batch = mlp.predict_batch(&x);
        let batch_time = start.elapsed();
        println!("predict_one, 20 inputs, hidden 4x256: {one:?} per row (checksum {total})");
        println!(
            "predict_batch, 64 rows, same network: {batch_time:?} ({} outputs)",
            batch.len()
        );

        let small = spec(20, &[64, 64], Activation::Relu);
        let (x, y) = data(2_000, 20, 1, sum);
        let (vx, vy) = data(500, 20, 2, sum);
        let fifty = TrainOptions {
            learning_rate: 1e-3,
            batch_size: 64,
            max_epochs: 50,
            patience: 50,
            seed: 1,
        };
        let start = std::time::Instant::now();
        let trained = Mlp::train(&small, &fifty, (&x, &y), (&vx, &vy)).unwrap();
        println!(
            "train, 2000 rows x 20 features, hidden [64, 64], batch 64, {} epochs: {:?} (best validation mse {:.2e})",
            trained.epochs_run,
            start.elapsed(),
            trained.best_validation
        );
    }
}
