//! A recurrent network that predicts every layer's time of a whole network at once.
//!
//! A network is a sequence of layers; the model reads one feature vector per layer through a
//! unidirectional GRU or LSTM, then maps each step's state through dense hidden layers to one
//! output, the layer's (scaled) time. The caller sums the steps' outputs for the network's time.
//!
//! Training follows [`super::mlp`]: candle on the CPU, Adam at exactly the given learning rate,
//! seeded shuffles and early stopping with the best epoch's weights restored. Sequences of a
//! mini-batch are padded to the longest one and a mask keeps the padded steps out of the loss;
//! padding sits after the real steps, so it never reaches a real step's state either. The
//! recurrent layer is candle-nn's own GRU/LSTM, fed our seeded tensors by name. As in the mlp,
//! a plain `Vec<f32>` copy of the weights serves prediction, where candle's per-operation
//! overhead over ~180 small steps would dominate.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use candle_nn::rnn::{GRUConfig, LSTMConfig, GRU, LSTM, RNN};
use candle_nn::VarBuilder;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::mlp::{Activation, EpochLoss};

/// Sequences per forward pass when computing a loss outside training.
const EVAL_BATCH: usize = 64;

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
    fn gates(self) -> usize {
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
    type Err = RnnError;

    fn from_str(name: &str) -> Result<Self, RnnError> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| RnnError::UnknownCell {
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
    fn check(&self) -> Result<(), RnnError> {
        if self.inputs == 0 || self.units == 0 || self.dense.contains(&0) {
            return Err(RnnError::Spec {
                reason: format!(
                    "every layer needs at least one unit (inputs {}, units {}, dense {:?})",
                    self.inputs, self.units, self.dense
                ),
            });
        }
        Ok(())
    }

    /// Every parameter's name and shape, in the order [`Rnn`] keeps them: the recurrent
    /// layer's four (candle-nn's names), then each dense layer's weight (outputs × inputs)
    /// and bias, the linear output layer last.
    fn parameters(&self) -> Vec<(String, Vec<usize>)> {
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
    fn dense_widths(&self) -> Vec<usize> {
        let mut widths = Vec::with_capacity(self.dense.len() + 2);
        widths.push(self.units);
        widths.extend(&self.dense);
        widths.push(1);
        widths
    }
}

/// One network: a feature vector and a target per layer, both already scaled.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// steps × inputs.
    pub x: Vec<Vec<f32>>,
    /// One target per step.
    pub y: Vec<f32>,
}

/// How [`Rnn::train`] trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnOptions {
    /// Adam's learning rate, used as given.
    pub learning_rate: f64,
    /// Sequences per mini-batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Upper bound on epochs.
    pub max_epochs: u32,
    /// Epochs without a better validation loss before training stops.
    pub patience: u32,
    /// Seed of the weight initialisation and of every epoch's shuffle.
    pub seed: u64,
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

/// Why a model could not be built, trained, saved or loaded.
#[derive(Debug, Error)]
pub enum RnnError {
    /// The spec describes no usable model.
    #[error("build an rnn: {reason}")]
    Spec {
        /// What is wrong.
        reason: String,
    },
    /// The training options or sequences are unusable.
    #[error("train the rnn: {reason}")]
    Data {
        /// What is wrong.
        reason: String,
    },
    /// No epoch ended with a finite validation loss.
    #[error("train the rnn: the validation loss was never finite (learning rate {learning_rate})")]
    Diverged {
        /// The learning rate used.
        learning_rate: f64,
    },
    /// A cell name is not one of [`Cell::ALL`].
    #[error("parse recurrent cell `{name}`: expected gru or lstm")]
    UnknownCell {
        /// The name given.
        name: String,
    },
    /// The safetensors bytes could not be parsed.
    #[error("read the rnn weights as safetensors")]
    Read(#[source] candle_core::Error),
    /// The safetensors bytes do not hold the spec's weights.
    #[error("read the rnn weights: {reason}")]
    Weights {
        /// What is missing or misshapen.
        reason: String,
    },
    /// The weights could not be staged as safetensors.
    #[error("write the rnn weights as safetensors")]
    Write(#[source] std::io::Error),
    /// A tensor operation failed.
    #[error("compute with candle")]
    Candle(#[from] candle_core::Error),
}

/// A trained (or freshly initialised, or loaded) model on the CPU.
pub struct Rnn {
    spec: RnnSpec,
    /// The candle tensors, in [`RnnSpec::parameters`] order: the source of truth.
    tensors: Vec<Tensor>,
    model: Model,
    fast: FastWeights,
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
    pub fn new(spec: &RnnSpec, seed: u64) -> Result<Rnn, RnnError> {
        spec.check()?;
        Rnn::from_tensors(spec.clone(), initial_tensors(spec, seed)?)
    }

    /// Trains with the masked mean squared error over real steps and Adam (AdamW with weight
    /// decay 0) at exactly `options.learning_rate`, mini-batches of `batch_size` whole
    /// sequences in a fresh seeded shuffle every epoch, early stopping when the validation
    /// loss has not improved for `patience` epochs, then restores the best epoch's weights.
    pub fn train(
        spec: &RnnSpec,
        options: &RnnOptions,
        train: &[Sequence],
        validation: &[Sequence],
    ) -> Result<TrainedRnn, RnnError> {
        spec.check()?;
        check_options(options)?;
        check_sequences(spec, "training", train)?;
        check_sequences(spec, "validation", validation)?;
        let steps: usize = train.iter().map(|s| s.y.len()).sum();

        let vars = initial_tensors(spec, options.seed)?
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<Vec<_>>>()?;
        let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let model = Model::new(spec, &tensors)?;
        let params = ParamsAdamW {
            lr: options.learning_rate,
            weight_decay: 0.0,
            ..Default::default()
        };
        let mut optimizer = AdamW::new(vars, params)?;
        let mut shuffle_rng = ChaCha8Rng::seed_from_u64(options.seed);
        shuffle_rng.set_stream(1);

        let mut order: Vec<usize> = (0..train.len()).collect();
        let mut history = Vec::new();
        let mut best: Option<(u32, f64, Vec<Tensor>)> = None;
        let mut since_best = 0;
        for epoch in 1..=options.max_epochs {
            order.shuffle(&mut shuffle_rng);
            let mut train_sum = 0.0;
            for chunk in order.chunks(options.batch_size) {
                let sequences: Vec<&Sequence> = chunk.iter().map(|&i| &train[i]).collect();
                let batch = Batch::new(spec.inputs, &sequences)?;
                let squared = model.squared_error(&batch)?;
                let loss = (&squared / batch.steps as f64)?;
                optimizer.backward_step(&loss)?;
                train_sum += f64::from(squared.to_scalar::<f32>()?);
            }
            let loss = EpochLoss {
                epoch,
                train: train_sum / steps as f64,
                validation: model.loss(spec.inputs, validation)?,
            };
            let improved = best.as_ref().is_none_or(|(_, v, _)| loss.validation < *v);
            if improved && loss.validation.is_finite() {
                // A `Var` is updated in place, so keep deep copies.
                let snapshot = tensors.iter().map(Tensor::copy).collect::<Result<_, _>>()?;
                best = Some((epoch, loss.validation, snapshot));
                since_best = 0;
            } else {
                since_best += 1;
            }
            history.push(loss);
            if since_best >= options.patience && since_best > 0 {
                break;
            }
        }
        let (best_epoch, best_validation, tensors) = best.ok_or(RnnError::Diverged {
            learning_rate: options.learning_rate,
        })?;
        Ok(TrainedRnn {
            rnn: Rnn::from_tensors(spec.clone(), tensors)?,
            epochs_run: history.len() as u32,
            history,
            best_epoch,
            best_validation,
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
        self.fast.predict(self.spec.activation, x)
    }

    /// The same as [`Rnn::predict`], computed with candle; slower, and here to check the
    /// plain path against.
    pub fn predict_tensor(&self, x: &[Vec<f32>]) -> Result<Vec<f32>, RnnError> {
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
    pub fn loss(&self, sequences: &[Sequence]) -> Result<f64, RnnError> {
        check_sequences(&self.spec, "evaluation", sequences)?;
        self.model.loss(self.spec.inputs, sequences)
    }

    /// The weights as safetensors bytes: "rnn.weight_ih_l0" (gates·units × inputs),
    /// "rnn.weight_hh_l0" (gates·units × units), "rnn.bias_ih_l0", "rnn.bias_hh_l0" with
    /// gates in PyTorch's order (GRU r, z, n; LSTM i, f, g, o), then "dense{i}.weight"
    /// (outputs × inputs) and "dense{i}.bias", the output layer last.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, RnnError> {
        let tensors: HashMap<String, Tensor> = self
            .spec
            .parameters()
            .into_iter()
            .map(|(name, _)| name)
            .zip(self.tensors.iter().cloned())
            .collect();
        // candle serialises to a file only; stage it in a private temporary file.
        let file = tempfile::NamedTempFile::new().map_err(RnnError::Write)?;
        candle_core::safetensors::save(&tensors, file.path())?;
        std::fs::read(file.path()).map_err(RnnError::Write)
    }

    /// Loads weights written by [`Rnn::to_safetensors`] for a model of shape `spec`.
    pub fn from_safetensors(spec: &RnnSpec, bytes: &[u8]) -> Result<Rnn, RnnError> {
        spec.check()?;
        let mut stored =
            candle_core::safetensors::load_buffer(bytes, &Device::Cpu).map_err(RnnError::Read)?;
        let mut tensors = Vec::new();
        for (name, shape) in spec.parameters() {
            let tensor = stored.remove(&name).ok_or_else(|| RnnError::Weights {
                reason: format!("no tensor `{name}`"),
            })?;
            if tensor.dims() != shape {
                return Err(RnnError::Weights {
                    reason: format!(
                        "`{name}` has shape {:?}, the spec needs {shape:?}",
                        tensor.dims()
                    ),
                });
            }
            tensors.push(tensor.to_dtype(DType::F32)?);
        }
        if let Some(name) = stored.keys().min() {
            return Err(RnnError::Weights {
                reason: format!("unexpected tensor `{name}` for the spec"),
            });
        }
        Rnn::from_tensors(spec.clone(), tensors)
    }

    /// Wraps tensors in [`RnnSpec::parameters`] order and shapes, and makes the plain copy.
    fn from_tensors(spec: RnnSpec, tensors: Vec<Tensor>) -> Result<Rnn, RnnError> {
        let model = Model::new(&spec, &tensors)?;
        let fast = FastWeights::new(&spec, &tensors)?;
        Ok(Rnn {
            spec,
            tensors,
            model,
            fast,
        })
    }
}

fn check_options(options: &RnnOptions) -> Result<(), RnnError> {
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
    Err(RnnError::Data { reason })
}

fn check_sequences(spec: &RnnSpec, what: &str, sequences: &[Sequence]) -> Result<(), RnnError> {
    let data_error = |reason: String| Err(RnnError::Data { reason });
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

/// Sequences padded with zeros after their last step to the longest one.
struct Batch {
    /// sequences × steps × inputs.
    x: Tensor,
    /// sequences × steps; 0 on padded steps.
    y: Tensor,
    /// sequences × steps; 1 on real steps, 0 on padded ones.
    mask: Tensor,
    /// Real steps in the batch.
    steps: usize,
}

impl Batch {
    fn new(inputs: usize, sequences: &[&Sequence]) -> Result<Batch, RnnError> {
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

/// One dense layer's parameters as candle tensors.
struct Layer {
    /// outputs × inputs.
    weight: Tensor,
    /// outputs.
    bias: Tensor,
}

/// The candle forward pass over tensors that may be trainable variables: clones of a
/// `Var`'s tensor share its storage and identity, so the optimiser's in-place updates show
/// through and gradients reach the variables.
struct Model {
    recurrent: Recurrent,
    layers: Vec<Layer>,
    activation: Activation,
}

impl Model {
    fn new(spec: &RnnSpec, tensors: &[Tensor]) -> Result<Model, RnnError> {
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
        let layers = tensors[4..]
            .chunks_exact(2)
            .map(|pair| Layer {
                weight: pair[0].clone(),
                bias: pair[1].clone(),
            })
            .collect();
        Ok(Model {
            recurrent,
            layers,
            activation: spec.activation,
        })
    }

    /// sequences × steps × inputs → sequences × steps outputs.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (sequences, steps, _) = x.dims3()?;
        let states: Vec<Tensor> = match &self.recurrent {
            Recurrent::Gru(gru) => gru.seq(x)?.into_iter().map(|s| s.h).collect(),
            Recurrent::Lstm(lstm) => lstm.seq(x)?.into_iter().map(|s| s.h).collect(),
        };
        let mut h = Tensor::stack(&states, 1)?.reshape((sequences * steps, ()))?;
        for (i, layer) in self.layers.iter().enumerate() {
            h = h.matmul(&layer.weight.t()?)?.broadcast_add(&layer.bias)?;
            if i + 1 != self.layers.len() {
                h = self.activation.apply(&h)?;
            }
        }
        h.reshape((sequences, steps))
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
    fn loss(&self, inputs: usize, sequences: &[Sequence]) -> Result<f64, RnnError> {
        let mut sum = 0.0;
        let mut steps = 0;
        for chunk in sequences.chunks(EVAL_BATCH) {
            let batch = Batch::new(inputs, &chunk.iter().collect::<Vec<_>>())?;
            sum += f64::from(self.squared_error(&batch)?.to_scalar::<f32>()?);
            steps += batch.steps;
        }
        Ok(sum / steps as f64)
    }
}

/// One affine map as plain floats.
struct Affine {
    /// inputs × outputs, row-major (the transpose of the candle weight), so that each input
    /// adds a contiguous row to the outputs.
    weight_t: Vec<f32>,
    bias: Vec<f32>,
}

impl Affine {
    fn new(weight: &Tensor, bias: &Tensor) -> Result<Affine, RnnError> {
        Ok(Affine {
            weight_t: weight.t()?.contiguous()?.flatten_all()?.to_vec1()?,
            bias: bias.to_vec1()?,
        })
    }

    /// `out = bias + W · x`, one contiguous row of `W`ᵀ per input.
    fn apply(&self, x: &[f32], out: &mut [f32]) {
        out.copy_from_slice(&self.bias);
        for (&v, row) in x.iter().zip(self.weight_t.chunks_exact(out.len())) {
            if v != 0.0 {
                out.iter_mut().zip(row).for_each(|(o, &w)| *o += v * w);
            }
        }
    }
}

/// The weights as plain floats, for prediction without candle.
struct FastWeights {
    cell: Cell,
    units: usize,
    input: Affine,
    recurrent: Affine,
    dense: Vec<Affine>,
    widest: usize,
}

impl FastWeights {
    fn new(spec: &RnnSpec, tensors: &[Tensor]) -> Result<FastWeights, RnnError> {
        let dense = tensors[4..]
            .chunks_exact(2)
            .map(|pair| Affine::new(&pair[0], &pair[1]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FastWeights {
            cell: spec.cell,
            units: spec.units,
            input: Affine::new(&tensors[0], &tensors[2])?,
            recurrent: Affine::new(&tensors[1], &tensors[3])?,
            dense,
            widest: spec.dense_widths().into_iter().max().unwrap_or(1),
        })
    }

    /// The cell equations of candle-nn's `GRU::step` and `LSTM::step`, one step at a time,
    /// with every buffer allocated once per sequence.
    fn predict(&self, activation: Activation, x: &[Vec<f32>]) -> Vec<f32> {
        let u = self.units;
        let gated = self.cell.gates() * u;
        let mut h = vec![0.0_f32; u];
        let mut c = vec![0.0_f32; u];
        let mut from_input = vec![0.0_f32; gated];
        let mut from_state = vec![0.0_f32; gated];
        let mut a = vec![0.0_f32; self.widest];
        let mut b = vec![0.0_f32; self.widest];
        let mut outputs = Vec::with_capacity(x.len());
        let last = self.dense.len() - 1;
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
            a[..u].copy_from_slice(&h);
            let mut width = u;
            for (k, layer) in self.dense.iter().enumerate() {
                let out = layer.bias.len();
                layer.apply(&a[..width], &mut b[..out]);
                if k != last {
                    b[..out]
                        .iter_mut()
                        .for_each(|v| *v = activation.apply_scalar(*v));
                }
                std::mem::swap(&mut a, &mut b);
                width = out;
            }
            outputs.push(a[0]);
        }
        outputs
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Seeded initial tensors in [`RnnSpec::parameters`] order.
fn initial_tensors(spec: &RnnSpec, seed: u64) -> Result<Vec<Tensor>, RnnError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (u, gates) = (spec.units, spec.cell.gates());
    let mut uniform = |n: usize, limit: f64| -> Vec<f32> {
        (0..n)
            .map(|_| rng.random_range(-limit..limit) as f32)
            .collect()
    };
    let glorot = (6.0 / (spec.inputs + gates * u) as f64).sqrt();
    let w_ih = uniform(gates * u * spec.inputs, glorot);
    let w_hh: Vec<f32> = (0..gates)
        .flat_map(|_| orthogonal(uniform(u * u, 1.0), u))
        .collect();
    let mut b_ih = vec![0.0_f32; gates * u];
    if spec.cell == Cell::Lstm {
        b_ih[u..2 * u].fill(1.0);
    }
    let mut values = vec![w_ih, w_hh, b_ih, vec![0.0; gates * u]];
    let widths = spec.dense_widths();
    let last = widths.len() - 2;
    for (i, pair) in widths.windows(2).enumerate() {
        let (fan_in, fan_out) = (pair[0], pair[1]);
        // The linear output layer is drawn Glorot-uniform whatever the activation.
        let activation = if i == last {
            Activation::Tanh
        } else {
            spec.activation
        };
        values.push(uniform(
            fan_in * fan_out,
            activation.init_limit(fan_in, fan_out),
        ));
        values.push(vec![0.0; fan_out]);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cell: Cell, inputs: usize, units: usize, dense: &[usize]) -> RnnSpec {
        RnnSpec {
            inputs,
            cell,
            units,
            dense: dense.to_vec(),
            activation: Activation::Tanh,
        }
    }

    fn options(learning_rate: f64, max_epochs: u32, patience: u32, seed: u64) -> RnnOptions {
        RnnOptions {
            learning_rate,
            batch_size: 16,
            max_epochs,
            patience,
            seed,
        }
    }

    /// Sequences of 4..16 steps with `inputs` values uniform in [-1, 1) per step; each
    /// step's target is the previous step's first input (0 on the first step), which no
    /// function of the step's own inputs can predict.
    fn previous_input(count: usize, inputs: usize, seed: u64) -> Vec<Sequence> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..count)
            .map(|_| {
                let steps = rng.random_range(4..16);
                let x: Vec<Vec<f32>> = (0..steps)
                    .map(|_| (0..inputs).map(|_| rng.random_range(-1.0..1.0)).collect())
                    .collect();
                let y = (0..steps)
                    .map(|t| if t == 0 { 0.0 } else { x[t - 1][0] })
                    .collect();
                Sequence { x, y }
            })
            .collect()
    }

    fn weights(rnn: &Rnn) -> Vec<Vec<f32>> {
        rnn.tensors
            .iter()
            .map(|t| t.flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    }

    #[test]
    fn learns_a_target_that_needs_the_previous_step() {
        for cell in Cell::ALL {
            let spec = spec(cell, 2, 16, &[16]);
            let train = previous_input(128, 2, 1);
            let validation = previous_input(32, 2, 2);
            let trained =
                Rnn::train(&spec, &options(1e-2, 20, 20, 3), &train, &validation).unwrap();
            let first = &trained.history[0];
            // Targets have variance about 1/3; a per-step model cannot beat that.
            assert!(
                trained.best_validation < 0.02 && trained.best_validation < first.validation,
                "{cell}: validation mse {} (first epoch {})",
                trained.best_validation,
                first.validation
            );
            let last = trained.history.last().unwrap();
            assert!(last.train < first.train, "{cell}: {:?}", trained.history);
        }
    }

    #[test]
    fn padded_steps_do_not_change_the_loss() {
        let rnn = Rnn::new(&spec(Cell::Lstm, 3, 8, &[8]), 4).unwrap();
        let sequences = previous_input(5, 3, 9);
        assert!(sequences.iter().any(|s| s.y.len() != sequences[0].y.len()));
        let together = rnn.loss(&sequences).unwrap();
        let (sum, steps) = sequences.iter().fold((0.0, 0), |(sum, steps), s| {
            let alone = rnn.loss(std::slice::from_ref(s)).unwrap();
            (sum + alone * s.y.len() as f64, steps + s.y.len())
        });
        let separately = sum / steps as f64;
        assert!(
            (together - separately).abs() < 1e-6,
            "{together} vs {separately}"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_weights_and_history() {
        let spec = spec(Cell::Gru, 2, 8, &[8, 4]);
        let train = previous_input(32, 2, 1);
        let validation = previous_input(8, 2, 2);
        let run = |seed| Rnn::train(&spec, &options(1e-2, 3, 3, seed), &train, &validation);
        let (a, b, c) = (run(11).unwrap(), run(11).unwrap(), run(12).unwrap());
        assert_eq!(weights(&a.rnn), weights(&b.rnn));
        assert_eq!(a.history, b.history);
        assert_ne!(weights(&a.rnn), weights(&c.rnn));
        assert_ne!(a.history, c.history);
        assert_eq!(
            weights(&Rnn::new(&spec, 5).unwrap()),
            weights(&Rnn::new(&spec, 5).unwrap())
        );
    }

    #[test]
    fn stops_early_on_a_plateau_and_restores_the_best_epoch() {
        // Targets are noise: validation loss cannot keep improving.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut noise = |count| {
            let mut sequences = previous_input(count, 2, rng.random());
            for s in &mut sequences {
                s.y.iter_mut()
                    .for_each(|y| *y = rng.random_range(-1.0..1.0));
            }
            sequences
        };
        let (train, validation) = (noise(32), noise(8));
        let spec = spec(Cell::Gru, 2, 32, &[32]);
        let trained = Rnn::train(&spec, &options(3e-2, 200, 3, 1), &train, &validation).unwrap();
        assert!(
            trained.epochs_run < 200,
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
        let reevaluated = trained.rnn.loss(&validation).unwrap();
        assert!(
            (reevaluated - trained.best_validation).abs() < 1e-6,
            "{reevaluated} vs {}",
            trained.best_validation
        );
    }

    #[test]
    fn one_adam_step_moves_each_weight_by_the_learning_rate() {
        // Adam's first step is lr · g / |g| per parameter: exactly the rate given.
        let spec = spec(Cell::Lstm, 2, 4, &[4]);
        let train = previous_input(8, 2, 1);
        let options = RnnOptions {
            batch_size: 8,
            ..options(1e-3, 1, 1, 4)
        };
        let trained = Rnn::train(&spec, &options, &train, &train).unwrap();
        let before = weights(&Rnn::new(&spec, 4).unwrap());
        for (name, (a, b)) in ["input", "recurrent"]
            .iter()
            .zip(before.iter().zip(weights(&trained.rnn)))
        {
            let largest = a
                .iter()
                .zip(&b)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0_f32, f32::max);
            assert!(
                (largest - 1e-3).abs() < 1e-5,
                "{name}: largest step {largest}"
            );
        }
    }

    #[test]
    fn safetensors_round_trip_gives_identical_predictions() {
        for cell in Cell::ALL {
            let spec = spec(cell, 3, 8, &[6, 5]);
            let rnn = Rnn::new(&spec, 2).unwrap();
            let bytes = rnn.to_safetensors().unwrap();
            let loaded = Rnn::from_safetensors(&spec, &bytes).unwrap();
            let x = &previous_input(1, 3, 8)[0].x;
            assert_eq!(loaded.predict(x), rnn.predict(x));
            assert_eq!(
                loaded.predict_tensor(x).unwrap(),
                rnn.predict_tensor(x).unwrap()
            );
            assert_eq!(weights(&loaded), weights(&rnn));
            let wrong = RnnSpec {
                dense: vec![6, 4],
                ..spec.clone()
            };
            assert!(matches!(
                Rnn::from_safetensors(&wrong, &bytes),
                Err(RnnError::Weights { .. })
            ));
        }
    }

    #[test]
    fn the_plain_path_agrees_with_candle() {
        for cell in Cell::ALL {
            for activation in Activation::ALL {
                let spec = RnnSpec {
                    activation,
                    ..spec(cell, 5, 16, &[12, 8])
                };
                let rnn = Rnn::new(&spec, 6).unwrap();
                let x = &previous_input(1, 5, 3)[0].x;
                let long: Vec<Vec<f32>> = x.iter().cycle().take(180).cloned().collect();
                for x in [x, &long] {
                    let plain = rnn.predict(x);
                    let candle = rnn.predict_tensor(x).unwrap();
                    assert_eq!(plain.len(), x.len());
                    for (p, c) in plain.iter().zip(&candle) {
                        assert!(
                            (p - c).abs() <= 1e-4 * (1.0 + c.abs()),
                            "{cell} {activation}: {p} vs {c}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn cells_parse_from_their_names() {
        for cell in Cell::ALL {
            assert_eq!(cell.name().parse::<Cell>().unwrap(), cell);
            let json = serde_json::to_string(&cell).unwrap();
            assert_eq!(json, format!("\"{cell}\""));
        }
        assert_eq!(
            "rnn".parse::<Cell>().unwrap_err().to_string(),
            "parse recurrent cell `rnn`: expected gru or lstm"
        );
    }

    #[test]
    fn rejects_unusable_data() {
        let spec = spec(Cell::Gru, 2, 4, &[4]);
        let good = previous_input(2, 2, 1);
        let error = |train: &[Sequence]| {
            Rnn::train(&spec, &options(1e-2, 1, 1, 0), train, &good)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(error(&[]), "train the rnn: no training sequences");
        let mut narrow = good.clone();
        narrow[1].x[2] = vec![1.0];
        assert_eq!(
            error(&narrow),
            "train the rnn: training sequence 1 step 2 has 1 values, the spec has 2 inputs"
        );
        let rnn = Rnn::new(&spec, 0).unwrap();
        assert!(matches!(
            rnn.predict_tensor(&narrow[1].x),
            Err(RnnError::Data { .. })
        ));
        assert!(matches!(
            Rnn::new(&RnnSpec { units: 0, ..spec }, 0),
            Err(RnnError::Spec { .. })
        ));
    }

    /// Run with `cargo test -p snni-stages --lib predict::rnn::tests::timings -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a test"]
    fn timings() {
        let spec = RnnSpec {
            activation: Activation::Relu,
            ..spec(Cell::Lstm, 20, 64, &[64, 64])
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x: Vec<Vec<f32>> = (0..180)
            .map(|_| (0..20).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        for cell in Cell::ALL {
            let rnn = Rnn::new(
                &RnnSpec {
                    cell,
                    ..spec.clone()
                },
                1,
            )
            .unwrap();
            let reps = 200;
            let start = std::time::Instant::now();
            let mut total = 0.0;
            for _ in 0..reps {
                total += rnn.predict(std::hint::black_box(&x)).iter().sum::<f32>();
            }
            let plain = start.elapsed() / reps;
            let start = std::time::Instant::now();
            let candle = rnn.predict_tensor(&x).unwrap();
            println!(
                "{cell}, 180 steps x 20 inputs, units 64, dense [64, 64]: predict {plain:?}, \
                 predict_tensor {:?} (checksum {total}, {} outputs)",
                start.elapsed(),
                candle.len()
            );
        }
        let sequences: Vec<Sequence> = (0..32)
            .map(|_| Sequence {
                x: x.clone(),
                y: vec![0.5; x.len()],
            })
            .collect();
        let one = RnnOptions {
            learning_rate: 1e-3,
            batch_size: 16,
            max_epochs: 1,
            patience: 1,
            seed: 1,
        };
        let start = std::time::Instant::now();
        Rnn::train(&spec, &one, &sequences, &sequences[..8]).unwrap();
        println!(
            "train one epoch, 32 sequences x 180 steps, batch 16, lstm 64, dense [64, 64]: {:?}",
            start.elapsed()
        );
    }
}
