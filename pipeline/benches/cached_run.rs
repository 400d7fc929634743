//! Benchmark: planning and a fully cached `snni run` of a generated study with 1,000 and
//! 10,000 shards (targets: ≤ 150 ms and ≤ 1 s wall for the no-op run).
//!
//! `cargo bench -p snni-pipeline --bench cached_run` — populates a store once per size
//! (slow: every shard is committed durably), then times each command several times and
//! prints min / median / max wall time. The figures go into BENCHMARKS.md.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn manifest(shards: usize) -> String {
    // One synthesize stage fans out into `shards` shards; a reference stage adds three.
    format!(
        "name: bench\nseed: 1\nstore: store\nstages:\n  synth:\n    kind: synthesize\n    params:\n      count: {}\n      input: {{h: 16, w: 16, c: 3}}\n      layers: {{min: 2, max: 3}}\n  reference:\n    kind: reference\n    params: {{input: {{h: 32, w: 32, c: 3}}}}\n",
        shards - 3
    )
}

fn snni(dir: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_snni"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run snni");
    let elapsed = started.elapsed();
    assert!(status.success(), "snni {args:?} failed");
    elapsed
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{label:<40} min {:>8.1} ms  median {:>8.1} ms  max {:>8.1} ms",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::var("SNNI_BENCH_SHARDS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000]);
    let repeats = 9;
    for shards in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("bench.yaml"), manifest(shards)).expect("write manifest");
        let populate = snni(dir.path(), &["run", "bench.yaml"]);
        println!(
            "{shards} shards: first run (populating the store) {:.1} s",
            populate.as_secs_f64()
        );
        report(
            &format!("{shards} shards: snni plan"),
            (0..repeats)
                .map(|_| snni(dir.path(), &["plan", "bench.yaml"]))
                .collect(),
        );
        report(
            &format!("{shards} shards: snni run (all cached)"),
            (0..repeats)
                .map(|_| snni(dir.path(), &["run", "bench.yaml"]))
                .collect(),
        );
    }
}
