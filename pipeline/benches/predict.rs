//! Benchmark: whole-network prediction from a trained store, as `snni predict` runs it —
//! models loaded once, then ResNet-50 (and the other reference networks) predicted by every
//! method, for every trained setting and by transfer to the WAN link; then the whole
//! `snni predict` process (start, store, models, planning, output) for ResNet-50.
//! Targets (issue 6): ResNet-50 well under 1 ms with analytical/protocol, ≤ 5 ms with rnn.
//! Targets (issue 18, item 7): ResNet-50 at 224 with protocol ≤ 5 ms in-process including
//! planning, ≤ 100 ms for the whole `snni predict` process.
//!
//! ```sh
//! cargo run -p snni-pipeline -- run manifests/smoke.yaml      # a trained store, once
//! cargo bench -p snni-pipeline --bench predict                # reads ./.snni-store
//! SNNI_BENCH_STORE=/path/to/store SNNI_BENCH_INPUT=64x64x3 cargo bench -p snni-pipeline --bench predict
//! ```
//!
//! Prints, per network × setting × method, min / median / max of the time both parties'
//! predictions take (planning excluded, as `snni predict` reports it) and of the whole
//! call (planning the network included), and of the `snni` process (the binary built with
//! this bench, in the same profile). The figures go into BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use snni_artifacts::{OnLocked, Store};
use snni_engine::zoo;
use snni_pipeline::commands::parse_shape;
use snni_stages::{Method, Predictor, Setting};

/// Predictions timed per network × setting × method.
const REPEATS: usize = 51;

fn summary(mut seconds: Vec<f64>) -> String {
    seconds.sort_by(f64::total_cmp);
    let ms = |s: f64| s * 1e3;
    format!(
        "min {:>8.3} ms  median {:>8.3} ms  max {:>8.3} ms",
        ms(seconds[0]),
        ms(seconds[seconds.len() / 2]),
        ms(seconds[seconds.len() - 1])
    )
}

fn main() {
    let store_dir = std::env::var_os("SNNI_BENCH_STORE").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.snni-store"),
        PathBuf::from,
    );
    let input_text = std::env::var("SNNI_BENCH_INPUT").unwrap_or("224x224x3".into());
    let input =
        parse_shape(&input_text).unwrap_or_else(|e| panic!("SNNI_BENCH_INPUT: {}", e.message));
    if !store_dir.join("db").is_dir() {
        eprintln!(
            "no trained store at {}: run `cargo run -p snni-pipeline -- run manifests/smoke.yaml` \
             first, or set SNNI_BENCH_STORE",
            store_dir.display()
        );
        std::process::exit(2);
    }
    let store = Store::open_read_only(&store_dir, OnLocked::Wait).expect("open the store");
    let settings = Predictor::trained_settings(&store).expect("the store has a whole stage");
    println!(
        "store {} · settings {} · input {}x{}x{} · {REPEATS} predictions each",
        store_dir.display(),
        settings.join(", "),
        input.h,
        input.w,
        input.c
    );
    for setting in &settings {
        let started = Instant::now();
        let predictor = Predictor::load(&store, setting).expect("load the models");
        println!(
            "\nsetting {setting}: models loaded in {:.2} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        let trained = predictor.trained_link();
        let mut targets = vec![(setting.clone(), trained.clone(), Method::NETWORK.to_vec())];
        if setting == "local" {
            let wan = Setting::builtin("wan").expect("wan is built in");
            let mut link = trained.clone();
            link.bandwidth_bps = wan.bandwidth_bps;
            link.rtt_us = wan.rtt_us;
            targets.push((
                "wan (transfer from local)".into(),
                link,
                vec![Method::Transfer],
            ));
        }
        for name in zoo::NAMES {
            let network = zoo::by_name(name, input).expect("a reference network");
            for (label, link, methods) in &targets {
                for method in methods {
                    let mut predict = Vec::with_capacity(REPEATS);
                    let mut call = Vec::with_capacity(REPEATS);
                    for _ in 0..REPEATS {
                        let started = Instant::now();
                        let prediction = predictor
                            .predict(&network, link, &[*method])
                            .expect("predict");
                        call.push(started.elapsed().as_secs_f64());
                        predict.push(prediction.predict_seconds[method.name()]);
                    }
                    println!(
                        "{name:<12} {label:<26} {method:<10} predict {}  | with planning {}",
                        summary(predict),
                        summary(call)
                    );
                }
            }
        }
    }
    process(&store_dir, &settings[0], &input_text);
}

/// The whole `snni predict` process for ResNet-50 with `protocol`, [`REPEATS`] times.
fn process(store_dir: &Path, setting: &str, input: &str) {
    let mut seconds = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_snni"))
            .args(["predict", "--network", "resnet50", "--input", input])
            .args(["--setting", setting, "--method", "protocol", "--store"])
            .arg(store_dir)
            .output()
            .expect("run snni predict");
        seconds.push(started.elapsed().as_secs_f64());
        assert!(
            output.status.success(),
            "snni predict failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    println!(
        "\nsnni predict process, resnet50 {input} {setting} protocol: {}",
        summary(seconds)
    );
}
