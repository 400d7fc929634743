//! The one training loop of every candle model: Adam (AdamW with weight decay 0) at exactly
//! the given learning rate, mini-batches in a fresh seeded shuffle every epoch, early
//! stopping when the validation loss has not improved for `patience` epochs, and the best
//! epoch's weights restored.
//!
//! A model says what a mini-batch's loss and the validation loss are by implementing
//! [`Objective`] over its trainable variables; [`fit`] does the rest. The [`super::mlp`]
//! batches rows, the [`super::rnn`] whole sequences.

use candle_core::{Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::error::{Model, ModelError};

/// How a model trains (`Mlp::train`, `Rnn::train`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Adam's learning rate, used as given.
    pub learning_rate: f64,
    /// Examples per mini-batch — rows for the mlp, whole sequences for the rnn (the last
    /// batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Upper bound on epochs.
    pub max_epochs: u32,
    /// Epochs without a better validation loss before training stops.
    pub patience: u32,
    /// Seed of the weight initialisation and of every epoch's shuffle.
    pub seed: u64,
}

impl TrainOptions {
    /// Rejects options no training can run with.
    pub(crate) fn check(&self, model: Model) -> Result<(), ModelError> {
        let reason = if self.batch_size == 0 {
            "the batch size is 0".to_owned()
        } else if self.max_epochs == 0 {
            "max_epochs is 0".to_owned()
        } else if !(self.learning_rate >= 0.0 && self.learning_rate.is_finite()) {
            format!(
                "the learning rate {} is not a finite value ≥ 0",
                self.learning_rate
            )
        } else {
            return Ok(());
        };
        Err(ModelError::Data { model, reason })
    }
}

/// Mean squared losses after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLoss {
    /// Epoch number, from 1.
    pub epoch: u32,
    /// The epoch's training loss: the mean over its examples (rows, or real steps of the
    /// sequences) of the mini-batch losses.
    pub train: f64,
    /// Loss on the validation data with the weights at the end of the epoch.
    pub validation: f64,
}

/// What [`fit`] needs of a model being trained. Its tensors must be clones of the
/// variables given to [`fit`], so that the optimiser's in-place updates show through.
pub(crate) trait Objective {
    /// Which model this is, for errors.
    const MODEL: Model;

    /// Number of training examples the loop shuffles into mini-batches.
    fn examples(&self) -> usize;

    /// The loss to minimise on the training examples `batch` (indices below
    /// [`Objective::examples`]), and what the batch adds to the epoch's training sum.
    fn batch_loss(&self, batch: &[usize]) -> Result<(Tensor, f64), ModelError>;

    /// The epoch's training loss from the sum of its batches' shares.
    fn train_loss(&self, sum: f64) -> f64;

    /// The loss on the validation data with the weights as they are now.
    fn validation_loss(&self) -> Result<f64, ModelError>;
}

/// The outcome of [`fit`].
pub(crate) struct Fitted {
    /// Copies of the variables at the best epoch, in the order given to [`fit`].
    pub best: Vec<Tensor>,
    /// Losses of every epoch run.
    pub history: Vec<EpochLoss>,
    /// The epoch whose weights `best` holds.
    pub best_epoch: u32,
    /// Its validation loss.
    pub best_validation: f64,
    /// Epochs run before early stopping or `max_epochs`.
    pub epochs_run: u32,
}

/// Trains `vars` on `objective` as the module comment says; `options` are checked by the
/// caller, before it builds the objective. Errors with [`ModelError::Diverged`] when no
/// epoch ends with a finite validation loss.
pub(crate) fn fit<O: Objective>(
    objective: &O,
    vars: Vec<Var>,
    options: &TrainOptions,
) -> Result<Fitted, ModelError> {
    let params = ParamsAdamW {
        lr: options.learning_rate,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut optimizer = AdamW::new(vars.clone(), params)?;
    let mut shuffle_rng = ChaCha8Rng::seed_from_u64(options.seed);
    shuffle_rng.set_stream(1);

    let mut order: Vec<usize> = (0..objective.examples()).collect();
    let mut history = Vec::new();
    let mut best: Option<(u32, f64, Vec<Tensor>)> = None;
    let mut since_best = 0;
    for epoch in 1..=options.max_epochs {
        order.shuffle(&mut shuffle_rng);
        let mut train_sum = 0.0;
        for batch in order.chunks(options.batch_size) {
            let (loss, share) = objective.batch_loss(batch)?;
            optimizer.backward_step(&loss)?;
            train_sum += share;
        }
        let loss = EpochLoss {
            epoch,
            train: objective.train_loss(train_sum),
            validation: objective.validation_loss()?,
        };
        let improved = best.as_ref().is_none_or(|(_, v, _)| loss.validation < *v);
        if improved && loss.validation.is_finite() {
            // A `Var` is updated in place, so keep deep copies.
            let snapshot = vars
                .iter()
                .map(|v| v.as_tensor().copy())
                .collect::<Result<_, _>>()?;
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
    let (best_epoch, best_validation, best) = best.ok_or(ModelError::Diverged {
        model: O::MODEL,
        learning_rate: options.learning_rate,
    })?;
    Ok(Fitted {
        best,
        epochs_run: history.len() as u32,
        history,
        best_epoch,
        best_validation,
    })
}

/// Mean squared error in f64.
pub(crate) fn mse(predictions: &[f32], targets: &[f32]) -> f64 {
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

    #[test]
    fn unusable_options_are_rejected_naming_the_model() {
        let good = TrainOptions {
            learning_rate: 1e-3,
            batch_size: 8,
            max_epochs: 3,
            patience: 1,
            seed: 0,
        };
        assert!(good.check(Model::Mlp).is_ok());
        let message = |options: TrainOptions, model| options.check(model).unwrap_err().to_string();
        assert_eq!(
            message(
                TrainOptions {
                    batch_size: 0,
                    ..good.clone()
                },
                Model::Rnn
            ),
            "train the rnn: the batch size is 0"
        );
        assert_eq!(
            message(
                TrainOptions {
                    max_epochs: 0,
                    ..good.clone()
                },
                Model::Mlp
            ),
            "train the mlp: max_epochs is 0"
        );
        assert_eq!(
            message(
                TrainOptions {
                    learning_rate: f64::NAN,
                    ..good
                },
                Model::Mlp
            ),
            "train the mlp: the learning rate NaN is not a finite value ≥ 0"
        );
    }
}
