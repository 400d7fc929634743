//! Tests of the recurrent model: it learns what needs the previous step, padding does not
//! change the loss, it is deterministic per seed, stops early with the best weights,
//! round-trips through safetensors, and the plain path agrees with candle.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::predict::activation::Activation;

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
        let trained = Rnn::train(&spec, &options(1e-2, 20, 20, 3), &train, &validation).unwrap();
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
            Err(ModelError::Weights { .. })
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
        Err(ModelError::Data { .. })
    ));
    assert!(matches!(
        Rnn::new(&RnnSpec { units: 0, ..spec }, 0),
        Err(ModelError::Spec { .. })
    ));
}
