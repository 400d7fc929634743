//! Benchmark: do shaped shards side by side on disjoint CPUs measure what they measure alone?
//!
//! `cargo bench -p snni-pipeline --bench shaped_side_by_side` profiles the same WAN shards
//! (relay backend, `shaped_cpus: 1`: both parties and the relay of a shard pinned to one
//! CPU) twice in fresh stores: alone (`--jobs 1`, one shard at a time) and side by side
//! (`--jobs 2`, two shards at once on CPUs of their own), alternating `SNNI_SBS_ROUNDS`
//! times (default 2). It compares each layer's mean time over runs (per network, layer and
//! party) and each network's total, side by side against alone. Target: per-layer times
//! within 2 % on the mean, totals within 2 %. `SNNI_SBS_NETWORKS` (default 4) and
//! `SNNI_SBS_RUNS` (default 3) size the study.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use polars::prelude::DataFrame;
use snni_artifacts::{OnLocked, Output, Store};
use snni_stages::schema::dataset::{LAYER, NETWORK, PARTY, TOTAL_S, WALL_S};
use snni_stages::schema::TableReader;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn manifest(networks: usize, runs: usize) -> String {
    format!(
        "name: sbs\nseed: 21\nstore: store\nsettings:\n  wan: {{bandwidth: 380mbit, rtt: 10ms}}\nstages:\n  synth:\n    kind: synthesize\n    params:\n      count: {networks}\n      families: [conv, conv_maxpool]\n      input: {{h: 32, w: 32, c: 3}}\n      layers: {{min: 4, max: 6}}\n      filters: [16, 32, 64]\n  profile:\n    kind: profile\n    needs: [synth]\n    params:\n      settings: [wan]\n      backend: relay\n      runs: {runs}\n      retries: 0\n      shaped_cpus: 1\n  dataset:\n    kind: dataset\n    needs: [profile]\n"
    )
}

/// Per (network, party, layer): wall times over runs; per (network, party): totals.
type Times = (
    BTreeMap<(String, String, u64), Vec<f64>>,
    BTreeMap<(String, String), Vec<f64>>,
);

fn run_study(jobs: usize, networks: usize, runs: usize) -> (Times, f64) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sbs.yaml"), manifest(networks, runs)).unwrap();
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_snni"))
        .args(["run", "sbs.yaml", "--jobs", &jobs.to_string()])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "snni run --jobs {jobs} failed");
    let wall = started.elapsed().as_secs_f64();
    (read_times(&dir.path().join("store")), wall)
}

fn table(store: &Store, name: &str) -> DataFrame {
    let state = store.stage_state("dataset").unwrap().unwrap();
    let record = store.get(&state.fingerprint).unwrap().unwrap();
    // The dataset stage has one shard; its outputs are keyed `<shard>/<table>`.
    let Some(Output::Table(table)) = record
        .outputs
        .iter()
        .find(|(key, _)| key.rsplit('/').next() == Some(name))
        .map(|(_, output)| output)
    else {
        let keys: Vec<&String> = record.outputs.keys().collect();
        panic!("no table {name} among {keys:?}");
    };
    store.read_table(table).unwrap()
}

fn read_times(store: &Path) -> Times {
    let store = Store::open(store, OnLocked::Fail).unwrap();
    let layers = table(&store, "layers");
    let reader = TableReader::new("layers", &layers);
    let (network, party, wall, layer) = (
        reader.text(NETWORK).unwrap(),
        reader.text(PARTY).unwrap(),
        reader.numbers(WALL_S).unwrap(),
        reader.counts(LAYER).unwrap(),
    );
    let mut per_layer: BTreeMap<(String, String, u64), Vec<f64>> = BTreeMap::new();
    for i in 0..layers.height() {
        per_layer
            .entry((network[i].clone(), party[i].clone(), layer[i]))
            .or_default()
            .push(wall[i]);
    }
    let totals_df = table(&store, "networks");
    let reader = TableReader::new("networks", &totals_df);
    let (network, party, total) = (
        reader.text(NETWORK).unwrap(),
        reader.text(PARTY).unwrap(),
        reader.numbers(TOTAL_S).unwrap(),
    );
    let mut totals: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for i in 0..totals_df.height() {
        totals
            .entry((network[i].clone(), party[i].clone()))
            .or_default()
            .push(total[i]);
    }
    (per_layer, totals)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn merge(into: &mut Times, from: Times) {
    for (k, v) in from.0 {
        into.0.entry(k).or_default().extend(v);
    }
    for (k, v) in from.1 {
        into.1.entry(k).or_default().extend(v);
    }
}

fn main() {
    let (networks, runs, rounds) = (
        env("SNNI_SBS_NETWORKS", 4),
        env("SNNI_SBS_RUNS", 3),
        env("SNNI_SBS_ROUNDS", 2),
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("{networks} networks x {runs} runs over WAN (relay, shaped_cpus: 1), {rounds} rounds; load at start: {}", load.trim());
    let mut alone: Times = Default::default();
    let mut side: Times = Default::default();
    for round in 0..rounds {
        let (a, wall_a) = run_study(1, networks, runs);
        let (b, wall_b) = run_study(2, networks, runs);
        println!("round {round}: alone {wall_a:.1} s, side by side {wall_b:.1} s");
        merge(&mut alone, a);
        merge(&mut side, b);
    }
    // Per layer: side-by-side mean over alone mean.
    let mut ratios = Vec::new();
    let (mut sum_a, mut sum_b) = (0.0, 0.0);
    for (key, a) in &alone.0 {
        let Some(b) = side.0.get(key) else { continue };
        let (ma, mb) = (mean(a), mean(b));
        sum_a += ma;
        sum_b += mb;
        if ma > 0.0 {
            ratios.push(mb / ma - 1.0);
        }
    }
    ratios.sort_by(f64::total_cmp);
    let pct = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize] * 100.0;
    let abs_mean = ratios.iter().map(|r| r.abs()).sum::<f64>() / ratios.len() as f64 * 100.0;
    println!("per layer ({} layer x party cells): sum of means side/alone {:+.2} %; mean |diff| {abs_mean:.2} %; median {:+.2} %; 10th {:+.2} %; 90th {:+.2} %",
        ratios.len(), (sum_b / sum_a - 1.0) * 100.0, pct(0.5), pct(0.1), pct(0.9));
    for (key, a) in &alone.1 {
        let Some(b) = side.1.get(key) else { continue };
        println!(
            "total {:<12} {:<6} alone {:>7.3} s  side by side {:>7.3} s  {:+.2} %",
            key.0,
            key.1,
            mean(a),
            mean(b),
            (mean(b) / mean(a) - 1.0) * 100.0
        );
    }
}
