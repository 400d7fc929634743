//! Benchmark: the profiling overhead beyond the engine itself — process start, shaping
//! setup, reading and checking the metering, storing — as a share of shard time, on the
//! smoke manifest (target: ≤ 5 %).
//!
//! `cargo bench -p snni-pipeline --bench profile_overhead` runs `snni run` on
//! `manifests/smoke.yaml` into a fresh store (a few minutes), then reads every profile
//! shard: the scheduler's wall time for the shard (run and commit) against the longer of
//! the two parties' own total time. Prints the distribution per setting and overall.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use snni_artifacts::{OnLocked, Output, Store};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = root.join("manifests/smoke.yaml");
    let dir = tempfile::tempdir().expect("temp dir");
    let store_dir = dir.path().join("store");
    let status = Command::new(env!("CARGO_BIN_EXE_snni"))
        .arg("run")
        .arg(&manifest)
        .arg("--store")
        .arg(&store_dir)
        .status()
        .expect("run snni");
    assert!(status.success(), "snni run failed");
    let store = Store::open(&store_dir, OnLocked::Fail).expect("open the store");
    // setting → (overhead share, overhead seconds, shard seconds)
    let mut by_setting: BTreeMap<String, Vec<(f64, f64, f64)>> = BTreeMap::new();
    // The part of the overhead inside the shard (processes, shaping, checks) against the
    // scheduler's part (slot hand-off, storing the outputs, committing the record).
    let (mut inside, mut outside) = (0.0, 0.0);
    for record in store.records().expect("read records") {
        if record.stage != "profile" || record.shard.is_none() {
            continue;
        }
        let shard_s = record.meta["ms"].as_f64().expect("shard ms") / 1e3;
        let Some(Output::Blob { digest, .. }) = record.outputs.get("meta") else {
            panic!("profile shard without meta");
        };
        let meta: serde_json::Value =
            serde_json::from_slice(&store.get_blob(digest).expect("meta blob")).expect("meta json");
        let engine_s = meta["timing"]["engine_s"].as_f64().expect("engine_s");
        let overhead = (shard_s - engine_s).max(0.0);
        let in_shard = meta["timing"]["shard_s"].as_f64().expect("shard_s") - engine_s;
        inside += in_shard;
        outside += overhead - in_shard;
        let setting = meta["setting"].as_str().unwrap_or("?").to_string();
        by_setting
            .entry(setting)
            .or_default()
            .push((overhead / shard_s, overhead, shard_s));
    }
    let mut all = Vec::new();
    for (setting, rows) in &by_setting {
        all.extend(rows.iter().copied());
        summarize(setting, rows);
    }
    summarize("all", &all);
    println!(
        "mean overhead per shard: {:.1} ms inside the shard (processes, shaping, checks), {:.1} ms in the scheduler (storing, committing)",
        1e3 * inside / all.len() as f64,
        1e3 * outside / all.len() as f64
    );
}

fn summarize(label: &str, rows: &[(f64, f64, f64)]) {
    let mut shares: Vec<f64> = rows.iter().map(|r| r.0).collect();
    shares.sort_by(f64::total_cmp);
    let overhead: f64 = rows.iter().map(|r| r.1).sum();
    let total: f64 = rows.iter().map(|r| r.2).sum();
    println!(
        "{label:<8} {:>3} shards  overhead/shard time: total {:.2} %  median {:.2} %  p90 {:.2} %  max {:.2} %  (mean overhead {:.0} ms)",
        rows.len(),
        100.0 * overhead / total,
        100.0 * percentile(&shares, 0.5),
        100.0 * percentile(&shares, 0.9),
        100.0 * percentile(&shares, 1.0),
        1e3 * overhead / rows.len() as f64,
    );
}
