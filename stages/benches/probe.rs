//! Benchmark: how repeatable the machine-speed probe is (`stages/src/profile/probe.rs`).
//!
//! The profile stage measures a shard again when the probes before and after it differ by
//! more than `probe.tolerance` (20 % by default). If two probes with nothing between them
//! already differ that much, a rerun measures the probe's own scatter, not the machine.
//! This bench runs probes in pairs, as the profile stage does, with nothing between the two
//! or both cores busy for a while (as during a shard), and prints each pair's deviation
//! (the figure the profile stage compares with its tolerance: the HE part's change), the
//! change of both parts' geometric mean (the rule before profile version 6) and the OT
//! part's change alone.
//!
//! ```sh
//! cargo bench --workspace --bench probe                 # 0.5 s probes, 12 pairs each way
//! cargo bench --workspace --bench probe -- 0.5 30 3     # probe seconds, pairs, busy seconds
//! ```
//!
//! Figures go into BENCHMARKS.md with the machine's load.

use std::hint::black_box;
use std::time::{Duration, Instant};

use snni_stages::profile::probe::SpeedProbe;

/// Keeps both cores busy for `seconds` (a stand-in for a shard: two parties computing).
fn busy(seconds: f64) {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    std::thread::scope(|scope| {
        for seed in 0..2u64 {
            scope.spawn(move || {
                let mut x = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut buffer = vec![0u64; 1 << 20];
                while Instant::now() < until {
                    for slot in buffer.iter_mut() {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        *slot = slot.wrapping_add(x);
                    }
                }
                black_box(buffer);
            });
        }
    });
}

/// How far a pair's probes are apart: the profile stage's deviation (the HE part), the
/// change of both parts' geometric mean, and the OT part's change alone.
struct Apart {
    stage: f64,
    score: f64,
    ot: f64,
}

/// How far `count` probe pairs are apart, `between` running between the two of a pair.
fn pairs(budget: Duration, count: usize, between: impl Fn()) -> Vec<Apart> {
    let mut apart_pairs = Vec::with_capacity(count);
    for pair in 0..count {
        let before = SpeedProbe::run(budget).expect("the probe runs");
        between();
        let after = SpeedProbe::run(budget).expect("the probe runs");
        let apart = Apart {
            stage: before.deviation(&after),
            score: (after.score() / before.score() - 1.0).abs(),
            ot: (after.ot_per_s / before.ot_per_s - 1.0).abs(),
        };
        println!(
            "  pair {pair:2}: before HE {:7.2}/s OT {:5.2} M/s, after HE {:7.2}/s OT {:5.2} M/s, \
             deviation {:5.1} %",
            before.he_per_s,
            before.ot_per_s / 1e6,
            after.he_per_s,
            after.ot_per_s / 1e6,
            apart.stage * 100.0
        );
        apart_pairs.push(apart);
    }
    apart_pairs
}

/// One line per measure: median and largest change, and how many pairs exceed 10, 20 and
/// 30 %.
fn summary(label: &str, pairs: &[Apart]) {
    println!("{label}:");
    type Measure = (&'static str, fn(&Apart) -> f64);
    let measures: [Measure; 3] = [
        ("deviation (HE part)", |a| a.stage),
        ("HE and OT together", |a| a.score),
        ("OT part alone", |a| a.ot),
    ];
    for (name, of) in measures {
        let mut values: Vec<f64> = pairs.iter().map(of).collect();
        values.sort_by(f64::total_cmp);
        let beyond = |limit: f64| values.iter().filter(|&&v| v > limit).count();
        println!(
            "  {name:18} median {:5.1} %, max {:5.1} %; pairs beyond 10 % {}/{n}, 20 % {}/{n}, \
             30 % {}/{n}",
            values[values.len() / 2] * 100.0,
            values.last().copied().unwrap_or(0.0) * 100.0,
            beyond(0.10),
            beyond(0.20),
            beyond(0.30),
            n = values.len()
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the numbers are ours.
    let numbers: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = numbers.first().copied().unwrap_or(0.5);
    let count = (numbers.get(1).copied().unwrap_or(12.0) as usize).max(1);
    let busy_seconds = numbers.get(2).copied().unwrap_or(3.0);
    let budget = Duration::from_secs_f64(seconds);
    println!("probe pairs of {seconds} s each, {count} pairs per case");
    println!("nothing between the probes:");
    let idle = pairs(budget, count, || {});
    println!("both cores busy for {busy_seconds} s between the probes:");
    let loaded = pairs(budget, count, || busy(busy_seconds));
    summary("nothing between", &idle);
    summary(
        &format!("both cores busy {busy_seconds} s between"),
        &loaded,
    );
}
