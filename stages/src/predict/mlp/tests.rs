//! Tests of the mlp: it learns, is deterministic per seed, stops early with the best epoch's
//! weights, round-trips through safetensors, and its plain path agrees with candle.

use rand::Rng;

use super::*;
use crate::predict::fit::mse;

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
    mlp.tensors
        .iter()
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
    let initial: Vec<Vec<f32>> = initial_tensors(&spec, 9)
        .unwrap()
        .iter()
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
    let initial = initial_tensors(&spec, 4).unwrap();
    let before: Vec<f32> = initial[0].flatten_all().unwrap().to_vec1().unwrap();
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
        Err(ModelError::Weights { .. })
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
