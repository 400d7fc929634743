//! Benchmark: the per-layer and whole-network predictors on their own — prediction time per
//! row or network, and training time — on seeded synthetic data, without a store.
//!
//! ```sh
//! cargo bench --workspace --bench predictors                  # every group
//! cargo bench --workspace --bench predictors -- rnn nnls      # only these groups
//! ```
//!
//! Groups: `mlp` (one row on the plain path and 64 rows with candle, a 4×256 network; 50
//! epochs of training), `rnn` (one 180-step network, GRU and LSTM, plain path and candle;
//! one epoch of training), `linear` (fit on 2,000 × 20, one prediction) and `nnls`
//! (200,000 × 30). `snni-stages` is built at opt-level 3 in every profile, so
//! `--profile dev` gives the same figures as the release profile. Each figure is the median
//! of a few repeats; figures go into BENCHMARKS.md with the machine's load.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use snni_stages::predict::{
    nnls, Activation, Cell, LinearModel, Mlp, MlpSpec, Rnn, RnnSpec, Sequence, TrainOptions,
};

/// Repeats of each timed section; the median is printed.
const REPEATS: usize = 5;

/// The median of `REPEATS` runs of `f`, each returning the time it measured.
fn median(mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..REPEATS).map(|_| f()).collect();
    times.sort();
    times[REPEATS / 2]
}

/// The time `f` takes.
fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let started = Instant::now();
    let value = f();
    (started.elapsed(), value)
}

/// `rows` rows of `inputs` values uniform in [-1, 1).
fn rows(rows: usize, inputs: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..rows)
        .map(|_| (0..inputs).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect()
}

/// Half the sum of each row: a target the mlp can learn.
fn targets(x: &[Vec<f32>]) -> Vec<f32> {
    x.iter().map(|row| row.iter().sum::<f32>() / 2.0).collect()
}

fn mlp() {
    let big = MlpSpec {
        inputs: 20,
        hidden: vec![256; 4],
        activation: Activation::Relu,
    };
    let x = rows(64, 20, 1);
    let y = targets(&x);
    let one_epoch = TrainOptions {
        learning_rate: 1e-3,
        batch_size: 64,
        max_epochs: 1,
        patience: 1,
        seed: 1,
    };
    let mlp = Mlp::train(&big, &one_epoch, (&x, &y), (&x, &y))
        .expect("train the benchmark mlp")
        .mlp;
    let calls = 2_000;
    let one = median(|| {
        let (elapsed, total) = time(|| {
            x.iter()
                .cycle()
                .take(calls)
                .map(|row| mlp.predict_one(black_box(row)))
                .sum::<f32>()
        });
        black_box(total);
        elapsed / calls as u32
    });
    let batch = median(|| time(|| black_box(mlp.predict_batch(black_box(&x)))).0);
    println!("mlp   predict_one, 20 inputs, hidden 4×256: {one:?} per row");
    println!("mlp   predict_batch, 64 rows, same network: {batch:?}");

    let small = MlpSpec {
        inputs: 20,
        hidden: vec![64, 64],
        activation: Activation::Relu,
    };
    let (x, vx) = (rows(2_000, 20, 1), rows(500, 20, 2));
    let (y, vy) = (targets(&x), targets(&vx));
    let fifty = TrainOptions {
        max_epochs: 50,
        patience: 50,
        ..one_epoch
    };
    let (elapsed, trained) =
        time(|| Mlp::train(&small, &fifty, (&x, &y), (&vx, &vy)).expect("train the mlp"));
    println!(
        "mlp   train, 2000 rows × 20 features, hidden [64, 64], batch 64, {} epochs: {elapsed:?} \
         (best validation mse {:.2e})",
        trained.epochs_run, trained.best_validation
    );
}

fn rnn() {
    let spec = RnnSpec {
        inputs: 20,
        cell: Cell::Lstm,
        units: 64,
        dense: vec![64, 64],
        activation: Activation::Relu,
    };
    let x = rows(180, 20, 1);
    for cell in Cell::ALL {
        let rnn = Rnn::new(
            &RnnSpec {
                cell,
                ..spec.clone()
            },
            1,
        )
        .expect("build the benchmark rnn");
        let plain = median(|| time(|| black_box(rnn.predict(black_box(&x)))).0);
        let candle = median(|| {
            time(|| {
                black_box(
                    rnn.predict_tensor(black_box(&x))
                        .expect("predict with candle"),
                )
            })
            .0
        });
        println!(
            "rnn   {cell}, 180 steps × 20 inputs, units 64, dense [64, 64]: predict {plain:?}, \
             predict_tensor {candle:?}"
        );
    }
    let sequences: Vec<Sequence> = (0..32)
        .map(|_| Sequence {
            x: x.clone(),
            y: vec![0.5; x.len()],
        })
        .collect();
    let one_epoch = TrainOptions {
        learning_rate: 1e-3,
        batch_size: 16,
        max_epochs: 1,
        patience: 1,
        seed: 1,
    };
    let (elapsed, _) =
        time(|| Rnn::train(&spec, &one_epoch, &sequences, &sequences[..8]).expect("train the rnn"));
    println!(
        "rnn   train one epoch, 32 sequences × 180 steps, batch 16, lstm 64, dense [64, 64]: \
         {elapsed:?}"
    );
}

/// `rows` rows of `cols` features spanning orders of magnitude (column c up to 10^c).
fn wide_rows(rows: usize, cols: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..rows)
        .map(|_| {
            (0..cols)
                .map(|c| rng.random::<f64>() * 10f64.powi(c as i32))
                .collect()
        })
        .collect()
}

fn linear() {
    let rows = wide_rows(2_000, 20, 5);
    let y: Vec<f64> = rows.iter().map(|r| r.iter().sum()).collect();
    let names: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    let fit = median(|| time(|| black_box(LinearModel::fit(names.clone(), &rows, &y))).0);
    let model = LinearModel::fit(names, &rows, &y);
    let calls = 1_000_000;
    let per_call = median(|| {
        let (elapsed, total) = time(|| {
            (0..calls)
                .map(|i| model.predict(black_box(&rows[i % rows.len()])))
                .sum::<f64>()
        });
        black_box(total);
        elapsed / calls as u32
    });
    println!("linear fit 2000 × 20: {fit:?}; predict: {per_call:?} per call");
}

fn nnls_large() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let a: Vec<Vec<f64>> = (0..200_000)
        .map(|_| (0..30).map(|_| rng.random::<f64>() - 0.3).collect())
        .collect();
    let b: Vec<f64> = (0..200_000)
        .map(|_| rng.random::<f64>() * 4.0 - 1.0)
        .collect();
    let (elapsed, x) = time(|| nnls(&a, &b));
    println!(
        "nnls  200000 × 30: {elapsed:?} ({} non-zero coefficients)",
        x.iter().filter(|v| **v > 0.0).count()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument names the groups to run.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let groups: [(&str, fn()); 4] = [
        ("mlp", mlp),
        ("rnn", rnn),
        ("linear", linear),
        ("nnls", nnls_large),
    ];
    if let Some(unknown) = wanted
        .iter()
        .find(|w| !groups.iter().any(|(name, _)| name == w))
    {
        eprintln!("unknown group `{unknown}`: the groups are mlp, rnn, linear and nnls");
        std::process::exit(2);
    }
    for (name, run) in groups {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            run();
        }
    }
}
