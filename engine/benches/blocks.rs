//! Building-block benchmarks of the engine (issues 3, 15 and 17): the OT extensions and the
//! protocols on them, Ferret alone, one HE convolution per side, and a zoo network end to
//! end against the fixed-point reference. These were `#[ignore]`d tests; measurements
//! live in benchmarks, and the tests keep only what they check.
//!
//! `cargo bench -p snni-engine --bench blocks -- [ot] [ferret] [he] [zoo] [--threads 1,2]
//! [--zoo NAME] [--side S]`
//!
//! - `ot`: IKNP random, correlated (41-bit) and 1-of-16 OT, bit triples and ReLU over an
//!   in-memory and a loopback TCP channel, wall and CPU rates and bytes per instance;
//! - `ferret`: Ferret after its bootstrap, one direction, 4 main iterations' worth of COTs;
//! - `he`: conv 56×56×64 → 64, 3×3 at ℓ = 41: client encrypt, server evaluate, client
//!   decrypt, for each `--threads` count (default 1,2);
//! - `zoo`: `--zoo NAME` (default squeezenet) at `--side S` (default 64) end to end, with the
//!   output's distance from the plaintext reference.
//!
//! No selection runs everything but `zoo`.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use snni_engine::channel::{mem_pair, Channel, ChannelConfig, Meter, TcpChannel};
use snni_engine::he::{ConvShape, HeClient, HeParams, HeServer, LinearLayer, LinearPlan, Padding};
use snni_engine::network::Shape;
use snni_engine::ot::ferret::FerretParams;
use snni_engine::ot::{
    bit_triples, recv_one_of_n, relu, send_one_of_n, FerretPair, IknpPair, OtReceiver, OtSender,
    Role,
};
use snni_engine::runtime::{
    reference, run_client, run_server, thread_cpu_ns, EngineConfig, Input, InputSource,
    WeightSource, Weights,
};
use snni_engine::zoo;

/// Runs `server` and `client` on two threads joined by an in-memory or a loopback TCP
/// channel.
fn run_pair<A: Send, B: Send>(
    tcp: bool,
    server: impl FnOnce(&mut dyn Channel) -> A + Send,
    client: impl FnOnce(&mut dyn Channel) -> B + Send,
) -> (A, B) {
    if tcp {
        let (mut a, mut b) =
            TcpChannel::loopback_pair(ChannelConfig::default()).expect("a loopback pair");
        std::thread::scope(|s| {
            let h = s.spawn(move || client(&mut b));
            (server(&mut a), h.join().expect("client thread"))
        })
    } else {
        let (mut a, mut b) = mem_pair();
        std::thread::scope(|s| {
            let h = s.spawn(move || client(&mut b));
            (server(&mut a), h.join().expect("client thread"))
        })
    }
}

/// CPU seconds of the calling thread.
fn cpu_s() -> f64 {
    thread_cpu_ns().unwrap_or(0) as f64 * 1e-9
}

/// What one party measured around a call: wall, its thread's CPU, its traffic.
struct Side {
    wall: f64,
    cpu: f64,
    meter: Meter,
}

/// Times `f` on one party's channel.
fn timed(ch: &mut dyn Channel, f: impl FnOnce(&mut dyn Channel)) -> Side {
    let (before, t, cpu) = (ch.meter(), Instant::now(), cpu_s());
    f(ch);
    ch.flush().expect("flush");
    Side {
        wall: t.elapsed().as_secs_f64(),
        cpu: cpu_s() - cpu,
        meter: ch.meter().since(&before),
    }
}

fn print_rate(what: &str, n: usize, s: &Side, c: &Side) {
    let wall = s.wall.max(c.wall);
    let bytes = s.meter.bytes_sent + c.meter.bytes_sent;
    println!(
        "| {what} | {n} | {wall:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
        n as f64 / wall / 1e6,
        s.cpu,
        c.cpu,
        n as f64 / (s.cpu + c.cpu) / 1e6,
        bytes as f64 / n as f64
    );
}

fn iknp(role: Role, ch: &mut dyn Channel) -> IknpPair {
    let mut rng = ChaCha20Rng::seed_from_u64(role as u64);
    IknpPair::setup(role, ch, 1, &mut rng).expect("iknp setup")
}

/// One IKNP measurement: setup outside the timing, then `server`/`client` on the pair.
fn measure_iknp(
    tcp: bool,
    what: &str,
    n: usize,
    server: impl FnOnce(&mut dyn Channel, &mut IknpPair) + Send,
    client: impl FnOnce(&mut dyn Channel, &mut IknpPair) + Send,
) {
    let (s, c) = run_pair(
        tcp,
        |ch| {
            let mut p = iknp(Role::Server, ch);
            timed(ch, |ch| server(ch, &mut p))
        },
        |ch| {
            let mut p = iknp(Role::Client, ch);
            timed(ch, |ch| client(ch, &mut p))
        },
    );
    print_rate(
        &format!("{what} ({})", if tcp { "tcp" } else { "mem" }),
        n,
        &s,
        &c,
    );
}

fn bench_ot() {
    println!("## IKNP OT and the protocols on it (one thread per party)\n");
    println!("| protocol | instances | wall s | M/s wall | server CPU s | client CPU s | M per CPU-s (both) | bytes each |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let n = 1 << 23;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let choices: Vec<bool> = (0..n).map(|_| rng.random()).collect();
    let deltas: Vec<u64> = (0..n).map(|_| rng.random::<u64>() >> 23).collect();
    let digits: Vec<u8> = (0..n / 4).map(|_| rng.random_range(0..16)).collect();
    let msgs = vec![1u8; n / 4 * 16];
    let xs: Vec<u64> = (0..1 << 20).map(|_| rng.random::<u64>() >> 23).collect();
    for tcp in [false, true] {
        measure_iknp(
            tcp,
            "random OT",
            n,
            |ch, p| drop(p.sender.send_random(ch, n).expect("send")),
            |ch, p| drop(p.receiver.recv_random(ch, &choices).expect("recv")),
        );
        measure_iknp(
            tcp,
            "correlated OT, 41-bit",
            n,
            |ch, p| drop(p.sender.send_correlated(ch, &deltas, 41).expect("send")),
            |ch, p| drop(p.receiver.recv_correlated(ch, &choices, 41).expect("recv")),
        );
        measure_iknp(
            tcp,
            "1-of-16 OT, 2-bit",
            n / 4,
            |ch, p| send_one_of_n(&mut p.sender, ch, 4, 2, &msgs).expect("send"),
            |ch, p| drop(recv_one_of_n(&mut p.receiver, ch, 4, 2, &digits).expect("recv")),
        );
        measure_iknp(
            tcp,
            "bit triples",
            n / 2,
            |ch, p| {
                let IknpPair { sender, receiver } = p;
                drop(bit_triples(Role::Server, sender, receiver, ch, n / 2, 1).expect("triples"))
            },
            |ch, p| {
                let IknpPair { sender, receiver } = p;
                drop(bit_triples(Role::Client, sender, receiver, ch, n / 2, 1).expect("triples"))
            },
        );
        let relu_party = |role: Role| {
            let xs = &xs;
            move |ch: &mut dyn Channel, p: &mut IknpPair| {
                let mut rng = ChaCha20Rng::seed_from_u64(5 + role as u64);
                let IknpPair { sender, receiver } = p;
                drop(relu(role, sender, receiver, ch, xs, 41, &mut rng).expect("relu"))
            }
        };
        measure_iknp(
            tcp,
            "ReLU, ℓ = 41",
            xs.len(),
            relu_party(Role::Server),
            relu_party(Role::Client),
        );
    }
    println!();
}

fn bench_ferret() {
    println!("## Ferret alone (one direction, after the bootstrap, 4 main iterations)\n");
    println!("| link | setup s (server / client) | COTs | wall s | M COTs/s | sender M per CPU-s | receiver M per CPU-s | bits per COT |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let params = FerretParams::PAPER;
    let chunk = 1 << 18;
    let n = (params.usable_after_setup() + 4 * params.usable_per_iteration()) / chunk * chunk;
    let party = |role: Role| {
        move |ch: &mut dyn Channel| {
            let mut rng = ChaCha20Rng::seed_from_u64(role as u64);
            let t = Instant::now();
            let mut p = FerretPair::setup(role, ch, 1, &mut rng).expect("ferret setup");
            let setup = t.elapsed().as_secs_f64();
            // The server draws as COT sender, the client as receiver, in chunks as the
            // protocols do.
            let side = timed(ch, |ch| {
                for _ in 0..n / chunk {
                    match role {
                        Role::Server => drop(p.sender.send_random_choice(ch, chunk).expect("draw")),
                        Role::Client => {
                            drop(p.receiver.recv_random_choice(ch, chunk).expect("draw"))
                        }
                    }
                }
            });
            (setup, side)
        }
    };
    for tcp in [false, true] {
        let ((s_setup, s), (c_setup, c)) = run_pair(tcp, party(Role::Server), party(Role::Client));
        let bytes = s.meter.bytes_sent + c.meter.bytes_sent;
        println!(
            "| {} | {s_setup:.2} / {c_setup:.2} | {:.1} M | {:.2} | {:.1} | {:.1} | {:.1} | {:.3} |",
            if tcp { "loopback TCP" } else { "in-memory" },
            n as f64 / 1e6,
            s.wall.max(c.wall),
            n as f64 / s.wall.max(c.wall) / 1e6,
            n as f64 / s.cpu / 1e6,
            n as f64 / c.cpu / 1e6,
            bytes as f64 * 8.0 / n as f64
        );
    }
    println!();
}

fn bench_he(threads: &[usize]) {
    println!("## HE conv 56×56×64 → 64, 3×3, ℓ = 41\n");
    let params = HeParams::for_bitlen(41).expect("parameters for ℓ = 41");
    let layer = LinearLayer::Conv(ConvShape {
        h: 56,
        w: 56,
        c: 64,
        kh: 3,
        kw: 3,
        m: 64,
        stride: 1,
        pad: Padding::same(1),
    });
    let plan = LinearPlan::new(layer, params.desc()).expect("a plan");
    println!(
        "{} input ciphertexts, {} answers; {} B up, {} B down\n",
        plan.input_cts, plan.output_cts, plan.bytes_client_to_server, plan.bytes_server_to_client
    );
    println!("| threads | step | wall s | calling thread's CPU s |");
    println!("|---:|---|---:|---:|");
    let mask = (1u64 << 41) - 1;
    let mut rng = ChaCha20Rng::seed_from_u64(800);
    let x_c: Vec<u64> = (0..layer.input_len())
        .map(|_| rng.next_u64() & mask)
        .collect();
    let x_s: Vec<u64> = (0..layer.input_len())
        .map(|_| rng.next_u64() & mask)
        .collect();
    let w: Vec<u64> = (0..layer.weight_len())
        .map(|_| rng.random_range(-4096i64..4096) as u64 & mask)
        .collect();
    let mut first: Option<Vec<u64>> = None;
    for &t in threads {
        let mut client =
            HeClient::new(params.clone(), ChaCha20Rng::seed_from_u64(801)).with_threads(t);
        let pk = client.public_key().expect("public key");
        let mut server = HeServer::new(params.clone(), &pk, ChaCha20Rng::seed_from_u64(802))
            .expect("server")
            .with_threads(t);
        let step = |what: &str, f: &mut dyn FnMut()| {
            let (wall, cpu) = (Instant::now(), cpu_s());
            f();
            println!(
                "| {t} | {what} | {:.3} | {:.3} |",
                wall.elapsed().as_secs_f64(),
                cpu_s() - cpu
            );
        };
        let mut cts = Vec::new();
        step("client encrypt", &mut || {
            cts = client.encrypt_input(&plan, &x_c).expect("encrypt")
        });
        let mut out = None;
        step("server evaluate", &mut || {
            out = Some(server.evaluate(&plan, &w, &x_s, &cts).expect("evaluate"))
        });
        let out = out.expect("evaluated");
        let mut y = Vec::new();
        step("client decrypt", &mut || {
            y = client.decrypt_output(&plan, &out.cts).expect("decrypt")
        });
        let sum: Vec<u64> = y
            .iter()
            .zip(&out.share)
            .map(|(a, b)| a.wrapping_add(*b) & mask)
            .collect();
        // Every thread count computes the same layer output.
        assert_eq!(first.get_or_insert_with(|| sum.clone()), &sum);
    }
    println!();
}

fn bench_zoo(name: &str, side: usize) -> Result<(), String> {
    println!("## {name} at {side}×{side}×3 end to end\n");
    let network = zoo::by_name(name, Shape::new(side, side, 3))
        .ok_or_else(|| format!("no zoo network called '{name}'"))?;
    let config = EngineConfig {
        timeout: Duration::from_secs(3600),
        threads: 1,
        ..EngineConfig::default()
    };
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("bind: {e}"))?;
    let (server, client) = std::thread::scope(|s| {
        let server = s.spawn(|| run_server(&network, &WeightSource::Seed(1), &config, &listener));
        let client = run_client(&network, &InputSource::Seed(2), &config, addr);
        (server.join(), client)
    });
    let server = server
        .map_err(|_| "server thread panicked".to_string())?
        .map_err(|e| format!("server: {e}"))?;
    let client = client.map_err(|e| format!("client: {e}"))?;
    let weights = Weights::load(&WeightSource::Seed(1), &network, &config)
        .map_err(|e| format!("weights: {e}"))?;
    let input =
        Input::load(&InputSource::Seed(2), &network, &config).map_err(|e| format!("input: {e}"))?;
    let expected = reference::run(&network, &weights, &input.values, config.ell, config.scale)
        .map_err(|e| format!("reference: {e}"))?;
    let output = client.output.as_ref().ok_or("the client has no output")?;
    let distance = reference::max_distance(output, &expected, config.ell);
    let magnitude = reference::max_distance(&expected, &vec![0; expected.len()], config.ell);
    for report in [&server, &client] {
        let r = &report.run;
        println!(
            "- {:?}: setup {:.2} s, inference {:.2} s wall / {:.2} s CPU, sent {:.1} MB, received {:.1} MB, {} rounds",
            r.party,
            r.setup.wall_s,
            r.inference.wall_s,
            r.inference.cpu_s,
            r.inference.bytes_sent as f64 / 1e6,
            r.inference.bytes_received as f64 / 1e6,
            r.inference.rounds
        );
    }
    println!(
        "- output off by {distance} ulps from the reference (largest output {magnitude} ulps)\n"
    );
    Ok(())
}

fn main() -> ExitCode {
    let mut picks = Vec::new();
    let mut threads = vec![1, 2];
    let mut zoo_name = "squeezenet".to_string();
    let mut side = 64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().ok_or_else(|| format!("{what} needs a value"));
        let parsed = match arg.as_str() {
            "--bench" => Ok(()),
            "--threads" => value("--threads").and_then(|v| {
                threads = v
                    .split(',')
                    .map(|t| {
                        t.trim()
                            .parse::<usize>()
                            .map_err(|_| format!("bad thread count '{t}'"))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(())
            }),
            "--zoo" => value("--zoo").map(|v| zoo_name = v),
            "--side" => value("--side").and_then(|v| {
                side = v
                    .parse()
                    .map_err(|_| format!("--side takes a number, not '{v}'"))?;
                Ok(())
            }),
            "ot" | "ferret" | "he" | "zoo" => {
                picks.push(arg);
                Ok(())
            }
            other => Err(format!("unknown argument '{other}'")),
        };
        if let Err(err) = parsed {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    }
    if picks.is_empty() {
        picks = vec!["ot".into(), "ferret".into(), "he".into()];
    }
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", load().trim());
    for pick in &picks {
        match pick.as_str() {
            "ot" => bench_ot(),
            "ferret" => bench_ferret(),
            "he" => bench_he(&threads),
            _ => {
                if let Err(err) = bench_zoo(&zoo_name, side) {
                    eprintln!("error: {err}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    println!("load average at end: {}", load().trim());
    ExitCode::SUCCESS
}
