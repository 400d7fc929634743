//! Throughput measurements of the OT layer, run by hand (they assert nothing about time):
//! `cargo test --release -p snni-engine ot::throughput -- --ignored --nocapture`.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::test_util::{run_mem, run_tcp};
use super::{
    bit_triples, recv_one_of_n, relu, send_one_of_n, IknpPair, OtReceiver, OtSender, Role,
};
use crate::channel::Channel;

fn pair(role: Role, ch: &mut dyn Channel) -> IknpPair {
    let mut rng = ChaCha20Rng::seed_from_u64(role as u64);
    IknpPair::setup(role, ch, 1, &mut rng).unwrap()
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat` (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name; 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

fn report(what: &str, n: usize, f: impl FnOnce() -> (f64, u64)) {
    let cpu = cpu_seconds();
    let (secs, bytes) = f();
    let cpu = cpu_seconds() - cpu;
    println!(
        "{what:<24} {n:>8}: wall {secs:>6.2} s = {:>6.2} M/s; both parties' cpu {cpu:>6.2} s = {:>6.2} M per cpu-s; {:>7.1} bytes each",
        n as f64 / secs / 1e6,
        n as f64 / cpu / 1e6,
        bytes as f64 / n as f64
    );
}

fn measure(tcp: bool) {
    let n = 1 << 23;
    let run = |server: &(dyn Fn(&mut dyn Channel, &mut IknpPair) + Sync),
               client: &(dyn Fn(&mut dyn Channel, &mut IknpPair) + Sync)| {
        let s = |ch: &mut dyn Channel| {
            let mut p = pair(Role::Server, ch);
            let before = ch.meter();
            let t = Instant::now();
            server(ch, &mut p);
            (t.elapsed().as_secs_f64(), ch.meter().since(&before))
        };
        let c = |ch: &mut dyn Channel| {
            let mut p = pair(Role::Client, ch);
            let before = ch.meter();
            client(ch, &mut p);
            ch.meter().since(&before)
        };
        let ((secs, ms), mc) = if tcp { run_tcp(s, c) } else { run_mem(s, c) };
        (secs, ms.bytes_sent + mc.bytes_sent)
    };
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let choices: Vec<bool> = (0..n).map(|_| rng.random()).collect();
    let deltas: Vec<u64> = (0..n).map(|_| rng.random::<u64>() >> 23).collect();
    let digits: Vec<u8> = (0..n / 4).map(|_| rng.random_range(0..16)).collect();
    let msgs = vec![1u8; n / 4 * 16];
    let label = if tcp { "tcp" } else { "mem" };
    report(&format!("random ot ({label})"), n, || {
        run(
            &|ch, p| drop(p.sender.send_random(ch, n).unwrap()),
            &|ch, p| drop(p.receiver.recv_random(ch, &choices).unwrap()),
        )
    });
    report(&format!("correlated ot 41b ({label})"), n, || {
        run(
            &|ch, p| drop(p.sender.send_correlated(ch, &deltas, 41).unwrap()),
            &|ch, p| drop(p.receiver.recv_correlated(ch, &choices, 41).unwrap()),
        )
    });
    report(&format!("1-of-16 ot 2b ({label})"), n / 4, || {
        run(
            &|ch, p| send_one_of_n(&mut p.sender, ch, 4, 2, &msgs).unwrap(),
            &|ch, p| drop(recv_one_of_n(&mut p.receiver, ch, 4, 2, &digits).unwrap()),
        )
    });
    report(&format!("bit triples ({label})"), n / 2, || {
        run(
            &|ch, p| {
                let IknpPair { sender, receiver } = p;
                drop(bit_triples(Role::Server, sender, receiver, ch, n / 2, 1).unwrap())
            },
            &|ch, p| {
                let IknpPair { sender, receiver } = p;
                drop(bit_triples(Role::Client, sender, receiver, ch, n / 2, 1).unwrap())
            },
        )
    });
    let m = 1 << 20;
    let xs: Vec<u64> = (0..m).map(|_| rng.random::<u64>() >> 23).collect();
    report(&format!("relu 41b ({label})"), m, || {
        run(
            &|ch, p| {
                let mut rng = ChaCha20Rng::seed_from_u64(5);
                let IknpPair { sender, receiver } = p;
                drop(relu(Role::Server, sender, receiver, ch, &xs, 41, &mut rng).unwrap())
            },
            &|ch, p| {
                let mut rng = ChaCha20Rng::seed_from_u64(6);
                let IknpPair { sender, receiver } = p;
                drop(relu(Role::Client, sender, receiver, ch, &xs, 41, &mut rng).unwrap())
            },
        )
    });
}

#[test]
#[ignore = "measurement, run by hand in release mode"]
fn ot_throughput() {
    measure(false);
    measure(true);
}

#[test]
#[ignore = "measurement, run by hand in release mode"]
fn primitive_throughput() {
    use super::aes_prims::{AesPrg, CrHash};
    use super::transpose::transpose_columns;
    let n = 1 << 22;
    let mut words = vec![0u128; n];
    let mut prg = AesPrg::new(5);
    prg.fill(&mut words); // touch the pages first
    let t = Instant::now();
    prg.fill(&mut words);
    println!(
        "prg    {:>7.1} M blocks/s",
        n as f64 / t.elapsed().as_secs_f64() / 1e6
    );
    let h = CrHash::new();
    let t = Instant::now();
    h.hash_in_place(&mut words, 0, 0);
    println!(
        "hash   {:>7.1} M blocks/s",
        n as f64 / t.elapsed().as_secs_f64() / 1e6
    );
    let blocks = 512;
    let cols = vec![7u128; 128 * blocks];
    let mut rows = vec![0u128; 128 * blocks];
    let t = Instant::now();
    for _ in 0..n / (128 * blocks) {
        transpose_columns(&cols, blocks, &mut rows);
    }
    println!(
        "transp {:>7.1} M rows/s",
        n as f64 / t.elapsed().as_secs_f64() / 1e6
    );
}

/// Ferret alone: bootstrap, then COTs drawn per second and traffic per COT over several
/// main iterations, each direction measured on its own.
#[test]
#[ignore = "measurement, run by hand in release mode"]
fn ferret_throughput() {
    use super::ferret::FerretParams;
    let params = FerretParams::PAPER;
    let iterations = 4;
    let n = params.usable_after_setup() + iterations * params.usable_per_iteration();
    let party = |role: Role| {
        move |ch: &mut dyn Channel| {
            let mut rng = ChaCha20Rng::seed_from_u64(role as u64);
            let t = Instant::now();
            let mut p = super::FerretPair::setup(role, ch, 1, &mut rng).unwrap();
            let setup = t.elapsed().as_secs_f64();
            let cpu = super::super::runtime::thread_cpu_ns().unwrap_or(0);
            let before = ch.meter();
            let t = Instant::now();
            // The server draws as COT sender, the client as receiver, in chunks as the
            // protocols do.
            for _ in 0..n / (1 << 18) {
                match role {
                    Role::Server => drop(p.sender.send_random_choice(ch, 1 << 18).unwrap()),
                    Role::Client => drop(p.receiver.recv_random_choice(ch, 1 << 18).unwrap()),
                }
            }
            ch.flush().unwrap();
            let secs = t.elapsed().as_secs_f64();
            let cpu = super::super::runtime::thread_cpu_ns().unwrap_or(0) - cpu;
            (setup, secs, cpu as f64 * 1e-9, ch.meter().since(&before))
        }
    };
    for tcp in [false, true] {
        let ((s_setup, s_secs, s_cpu, ms), (c_setup, c_secs, c_cpu, mc)) = if tcp {
            run_tcp(party(Role::Server), party(Role::Client))
        } else {
            run_mem(party(Role::Server), party(Role::Client))
        };
        let drawn = (n / (1 << 18) * (1 << 18)) as f64;
        println!(
            "ferret ({}): setup {s_setup:.2}/{c_setup:.2} s; {:.1} M COTs in {s_secs:.2} s (sender cpu {s_cpu:.2} s = {:.1} M/cpu-s, receiver cpu {c_cpu:.2} s = {:.1} M/cpu-s, wall {c_secs:.2} s); {:.3} bits per COT",
            if tcp { "tcp" } else { "mem" },
            drawn / 1e6,
            drawn / s_cpu / 1e6,
            drawn / c_cpu / 1e6,
            (ms.bytes_sent + mc.bytes_sent) as f64 * 8.0 / drawn
        );
    }
}
