//! Benchmark: how faithfully the link shapers reproduce a setting — the relay's round trip
//! and rate against the configured ones, the relay's ceiling, and tc's rate where tc works.
//! The tests only check one-sided bounds (a shaped link is never faster than configured);
//! the error against the target is measured here and written into BENCHMARKS.md
//! ("Shaping fidelity"), with the machine's load.
//!
//! ```sh
//! cargo bench --profile dev --workspace --bench shaping_fidelity
//! ```
//!
//! Each RTT reading is the median of several fresh relays' medians of round trips (a fresh
//! relay calibrates its own path again); each rate reading the median of three transfers of
//! half a second after a short warm-up.

use std::time::Duration;

use snni_stages::shaping::measure;
use snni_stages::shaping::tc::{self, TcLink};
use snni_stages::shaping::LinkSpec;

fn spec(bandwidth_bps: Option<u64>, rtt: Option<Duration>) -> LinkSpec {
    LinkSpec {
        bandwidth_bps,
        rtt,
        loss_percent: None,
    }
}

fn error_percent(measured: f64, target: f64) -> f64 {
    (measured - target) / target * 100.0
}

fn bandwidth_label(bandwidth: Option<u64>) -> String {
    bandwidth.map_or("unlimited".to_string(), |bps| {
        format!("{} Mbit/s", bps / 1_000_000)
    })
}

fn rtt_row(rtt: Duration, bandwidth: Option<u64>, trials: usize, rounds: usize) {
    let link = spec(bandwidth, Some(rtt));
    let medians: Vec<f64> = (0..trials)
        .map(|_| {
            measure::relay_ping(&link, rounds)
                .expect("ping through the relay")
                .0
                .as_secs_f64()
        })
        .collect();
    let reading = measure::median(medians.clone());
    println!(
        "relay rtt   {:>9.3} ms  {:>12}  measured {:>9.3} ms  error {:+6.2} %  (trial medians {:.3?} ms)",
        rtt.as_secs_f64() * 1e3,
        bandwidth_label(bandwidth),
        reading * 1e3,
        error_percent(reading, rtt.as_secs_f64()),
        medians.iter().map(|s| s * 1e3).collect::<Vec<_>>()
    );
}

fn rate_row(bandwidth: u64, rtt: Duration) {
    let link = spec(Some(bandwidth), Some(rtt));
    let bytes = (bandwidth / 16) as usize;
    measure::relay_rate(&link, bytes / 10).expect("warm-up transfer");
    let rates: Vec<f64> = (0..3)
        .map(|_| measure::relay_rate(&link, bytes).expect("transfer through the relay"))
        .collect();
    let reading = measure::median(rates);
    println!(
        "relay rate  {:>9} Mbit/s at rtt {:>6.3} ms  measured {:>9.1} Mbit/s  error {:+6.2} %",
        bandwidth / 1_000_000,
        rtt.as_secs_f64() * 1e3,
        reading / 1e6,
        error_percent(reading, bandwidth as f64)
    );
}

fn ceiling_row(bandwidth: Option<u64>) {
    let link = spec(bandwidth, None);
    measure::relay_rate(&link, 50 << 20).expect("warm-up transfer");
    let rates = (0..3)
        .map(|_| measure::relay_rate(&link, 400 << 20).expect("transfer through the relay"))
        .collect();
    println!(
        "relay ceiling, configured {:>12}: {:.3e} bit/s",
        bandwidth_label(bandwidth),
        measure::median(rates)
    );
}

fn tc_rows() {
    let missing = tc::probe().missing(false);
    if !missing.is_empty() {
        println!(
            "tc rate: not measured, rate shaping unavailable here: {}",
            missing.join(", ")
        );
        return;
    }
    for bandwidth in [100_000_000u64, 1_000_000_000] {
        let link =
            TcLink::create(&spec(Some(bandwidth), None), "snnibench").expect("create a tc link");
        let bytes = (bandwidth / 16) as usize;
        let rates = (0..3)
            .map(|_| measure::tc_rate(&link, bytes).expect("transfer over tc"))
            .collect();
        let reading = measure::median(rates);
        println!(
            "tc rate     {:>9} Mbit/s                  measured {:>9.1} Mbit/s  error {:+6.2} %",
            bandwidth / 1_000_000,
            reading / 1e6,
            error_percent(reading, bandwidth as f64)
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    println!(
        "bare loopback rtt {:.1?}",
        measure::bare_ping(40).expect("ping loopback")
    );
    rtt_row(Duration::from_micros(500), None, 9, 40);
    rtt_row(Duration::from_micros(500), Some(7_000_000_000), 9, 40);
    rtt_row(Duration::from_millis(10), None, 5, 20);
    rtt_row(Duration::from_millis(10), Some(380_000_000), 5, 20);
    rate_row(100_000_000, Duration::from_millis(10));
    rate_row(1_000_000_000, Duration::from_micros(500));
    ceiling_row(None);
    ceiling_row(Some(7_000_000_000));
    tc_rows();
}
