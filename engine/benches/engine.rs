//! Engine benchmarks (issue 3): single layers and SqueezeNet 1.1 run securely on loopback,
//! server and client on one thread each, at the default parameters (ℓ = 41, scale 12).
//!
//! `cargo bench -p snni-engine --bench engine -- [FILTER…] [--quick] [--repeat N] [--side S]
//! [--ot iknp|ferret|both] [--flooding-bits B]`
//!
//! - `FILTER`: run only the cases whose name contains one of the words (default: all);
//! - `--quick`: smaller shapes, for a smoke run in seconds;
//! - `--repeat N`: run each case N times and report the median of each figure (default 1);
//! - `--side S`: the SqueezeNet input side (default 224, 32 with `--quick`);
//! - `--ot B`: the OT extension (default ferret); `both` runs every case with IKNP and with
//!   Ferret, alternating run by run, and reports the two side by side;
//! - `--flooding-bits B`: HE parameters chosen per case for a flooding margin of `B` bits
//!   per inference (as `snni infer --flooding-bits`); default 40 bits per coefficient.
//!
//! Per case the table gives each party's wall and CPU time and the traffic summed over the
//! network's layers (the final output exchange and the setup excluded), then the setup
//! (handshake, HE public key, base OTs) on its own line, then derived figures.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use snni_engine::network::{Network, NetworkBuilder, Op, OpKind, Shape};
use snni_engine::ot::OtBackend;
use snni_engine::runtime::{
    he_params_for_inference_margin, run_client, run_server, EngineConfig, InputSource, Measured,
    RunReport, WeightSource,
};
use snni_engine::zoo;

const MIB: f64 = 1024.0 * 1024.0;

/// The command line, parsed.
struct Args {
    filters: Vec<String>,
    quick: bool,
    repeat: usize,
    side: Option<usize>,
    backends: Vec<OtBackend>,
    flooding_bits: Option<u32>,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut args = Args {
            filters: Vec::new(),
            quick: false,
            repeat: 1,
            side: None,
            backends: vec![OtBackend::Ferret],
            flooding_bits: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                // cargo bench passes `--bench` to harness-less benches.
                "--bench" => {}
                "--quick" => args.quick = true,
                "--ot" => {
                    let value = it.next().ok_or("--ot needs a value")?;
                    args.backends = match value.as_str() {
                        "both" => vec![OtBackend::Iknp, OtBackend::Ferret],
                        one => vec![one.parse()?],
                    };
                }
                "--flooding-bits" => {
                    let value = it.next().ok_or("--flooding-bits needs a value")?;
                    let bits = value
                        .parse()
                        .map_err(|_| format!("--flooding-bits takes bits, not '{value}'"))?;
                    args.flooding_bits = Some(bits);
                }
                "--repeat" | "--side" => {
                    let value = it.next().ok_or(format!("{arg} needs a value"))?;
                    let n: usize = value
                        .parse()
                        .map_err(|_| format!("{arg} takes a positive integer, not '{value}'"))?;
                    if n == 0 {
                        return Err(format!("{arg} must be at least 1"));
                    }
                    if arg == "--repeat" {
                        args.repeat = n;
                    } else {
                        args.side = Some(n);
                    }
                }
                flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
                _ => args.filters.push(arg),
            }
        }
        Ok(args)
    }

    fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }
}

/// One benchmark: a network and, for element-wise cases, the element count to rate.
struct Case {
    name: String,
    network: Network,
    /// Elements of the measured non-linearity (ReLU), for ReLU/s and bytes per element.
    elements: Option<u64>,
}

fn one_layer(name: &str, input: Shape, op: Op) -> Network {
    let mut b = NetworkBuilder::new(name, "bench", input);
    b.push(name, op);
    b.build()
}

fn cases(args: &Args) -> Vec<Case> {
    let q = args.quick;
    let pick = |full: usize, quick: usize| if q { quick } else { full };
    let (s56, s224, s112, s7) = (pick(56, 14), pick(224, 56), pick(112, 28), pick(7, 7));
    let (fc_in, fc_out, gap_c) = (pick(2048, 256), pick(1000, 100), pick(2048, 256));
    let relu_side = pick(128, 16); // 128×128×64 = 2^20 elements
    let side = args.side.unwrap_or(pick(224, 32));
    let relu_shape = Shape::new(relu_side, relu_side, 64);
    let mut all = vec![
        Case {
            name: format!("conv {s56}x{s56}x64->64 3x3 s1"),
            network: one_layer(
                "conv3x3",
                Shape::new(s56, s56, 64),
                Op::conv(64, 3, 1, 1, true),
            ),
            elements: None,
        },
        Case {
            name: format!("conv {s224}x{s224}x3->64 7x7 s2"),
            network: one_layer(
                "conv7x7",
                Shape::new(s224, s224, 3),
                Op::conv(64, 7, 2, 3, true),
            ),
            elements: None,
        },
        Case {
            name: format!("fc {fc_in}->{fc_out}"),
            network: one_layer("fc", Shape::flat(fc_in), Op::fc(fc_out, true)),
            elements: None,
        },
        Case {
            name: format!("bn {s56}x{s56}x64"),
            network: one_layer("bn", Shape::new(s56, s56, 64), Op::BatchNorm {}),
            elements: None,
        },
        Case {
            name: format!("relu {} elements", relu_shape.elements()),
            network: one_layer("relu", relu_shape, Op::Relu {}),
            elements: Some(relu_shape.elements()),
        },
        Case {
            name: format!("maxpool 3x3 s2 {s112}x{s112}x64"),
            network: one_layer("maxpool", Shape::new(s112, s112, 64), Op::max_pool(3, 2, 1)),
            elements: None,
        },
        Case {
            name: format!("avgpool 3x3 s2 {s112}x{s112}x64"),
            network: one_layer("avgpool", Shape::new(s112, s112, 64), Op::avg_pool(3, 2, 1)),
            elements: None,
        },
        Case {
            name: format!("avgpool global {s7}x{s7}x{gap_c}"),
            network: one_layer("gap", Shape::new(s7, s7, gap_c), Op::GlobalAvgPool {}),
            elements: None,
        },
        Case {
            name: format!("squeezenet 1.1 {side}x{side}x3"),
            network: zoo::squeezenet(Shape::new(side, side, 3)),
            elements: None,
        },
    ];
    all.retain(|case| args.selects(&case.name));
    all
}

/// One run's figures: each party's layer sums and setup, and the time and traffic per layer
/// kind.
#[derive(Clone)]
struct Figures {
    server: Measured,
    client: Measured,
    server_setup: Measured,
    client_setup: Measured,
    by_kind: Vec<KindShare>,
}

/// The layers of one kind in a run: the slower party's wall time, each party's CPU time and
/// the bytes each way.
#[derive(Clone, Copy)]
struct KindShare {
    kind: OpKind,
    layers: usize,
    wall_s: f64,
    server_cpu_s: f64,
    client_cpu_s: f64,
    client_sent: u64,
    server_sent: u64,
}

fn by_kind(server: &RunReport, client: &RunReport) -> Vec<KindShare> {
    let mut shares: Vec<KindShare> = Vec::new();
    for (s, c) in server.layers.iter().zip(&client.layers) {
        let share = match shares.iter_mut().find(|k| k.kind == s.kind) {
            Some(share) => share,
            None => {
                shares.push(KindShare {
                    kind: s.kind,
                    layers: 0,
                    wall_s: 0.0,
                    server_cpu_s: 0.0,
                    client_cpu_s: 0.0,
                    client_sent: 0,
                    server_sent: 0,
                });
                shares.last_mut().expect("just pushed")
            }
        };
        share.layers += 1;
        share.wall_s += s.measured.wall_s.max(c.measured.wall_s);
        share.server_cpu_s += s.measured.cpu_s;
        share.client_cpu_s += c.measured.cpu_s;
        share.client_sent += c.measured.bytes_sent;
        share.server_sent += s.measured.bytes_sent;
    }
    shares.sort_by(|a, b| b.wall_s.total_cmp(&a.wall_s));
    shares
}

fn layer_sum(report: &RunReport) -> Measured {
    let mut sum = Measured {
        wall_s: 0.0,
        cpu_s: 0.0,
        bytes_sent: 0,
        bytes_received: 0,
        messages_sent: 0,
        messages_received: 0,
        rounds: 0,
    };
    for layer in &report.layers {
        let m = &layer.measured;
        sum.wall_s += m.wall_s;
        sum.cpu_s += m.cpu_s;
        sum.bytes_sent += m.bytes_sent;
        sum.bytes_received += m.bytes_received;
        sum.messages_sent += m.messages_sent;
        sum.messages_received += m.messages_received;
        sum.rounds += m.rounds;
    }
    sum
}

fn run_once(network: &Network, config: &EngineConfig) -> Result<Figures, String> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("bind: {e}"))?;
    let (server, client) = std::thread::scope(|s| {
        let server = s.spawn(|| run_server(network, &WeightSource::Seed(1), config, &listener));
        let client = run_client(network, &InputSource::Seed(2), config, addr);
        (server.join(), client)
    });
    let server = server
        .map_err(|_| "server thread panicked".to_string())?
        .map_err(|e| format!("server: {e}"))?;
    let client = client.map_err(|e| format!("client: {e}"))?;
    Ok(Figures {
        server: layer_sum(&server),
        client: layer_sum(&client),
        server_setup: server.run.setup,
        client_setup: client.run.setup,
        by_kind: by_kind(&server, &client),
    })
}

/// The median of `f` over the runs (the upper median for an even count).
fn median(runs: &[Figures], f: impl Fn(&Figures) -> f64) -> f64 {
    let mut values: Vec<f64> = runs.iter().map(f).collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |m| m.trim().to_string());
    format!("{model}, nproc {cores}")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Prints the case's table row and returns its derived figure.
fn report(case: &Case, runs: &[Figures]) -> String {
    let m = |f: fn(&Figures) -> f64| median(runs, f);
    let server_wall = m(|r| r.server.wall_s);
    let client_wall = m(|r| r.client.wall_s);
    let c2s = m(|r| r.client.bytes_sent as f64);
    let s2c = m(|r| r.server.bytes_sent as f64);
    println!(
        "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} | {} | {:.3} / {:.2} |",
        case.name,
        server_wall,
        m(|r| r.server.cpu_s),
        client_wall,
        m(|r| r.client.cpu_s),
        c2s / MIB,
        s2c / MIB,
        m(|r| r.client.rounds.max(r.server.rounds) as f64),
        m(|r| r.client_setup.wall_s.max(r.server_setup.wall_s)),
        m(|r| (r.client_setup.bytes_sent + r.server_setup.bytes_sent) as f64) / MIB,
    );
    let wall = server_wall.max(client_wall);
    let walls: Vec<f64> = runs
        .iter()
        .map(|r| r.server.wall_s.max(r.client.wall_s))
        .collect();
    let lo = walls.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = walls.iter().copied().fold(0.0, f64::max);
    let range = format!("runs {lo:.3}..{hi:.3} s");
    // Both parties at once (issue 15): CPU of both parties over the slower party's wall;
    // 1.0 means they take turns, 2.0 that both are busy all the time.
    let cpu = m(|r| r.server.cpu_s + r.client.cpu_s);
    let busy = format!(
        "server + client CPU {cpu:.3} s = {:.2}× the wall",
        cpu / wall
    );
    let mut line = if let Some(n) = case.elements {
        format!(
            "{}: {:.0} ReLU/s, {:.1} B per element ({:.1} c->s + {:.1} s->c); {busy}; {range}",
            case.name,
            n as f64 / wall,
            (c2s + s2c) / n as f64,
            c2s / n as f64,
            s2c / n as f64
        )
    } else {
        format!(
            "{}: {wall:.3} s wall (slower party); {busy}; {range}",
            case.name
        )
    };
    if case.network.layers.len() > 1 {
        // The per-kind breakdown of the last run.
        for k in &runs[runs.len() - 1].by_kind {
            line.push_str(&format!(
                "\n  - {}: {} layers, {:.3} s wall, CPU server {:.3} s + client {:.3} s = {:.2}× the wall, {:.2} MiB c->s, {:.2} MiB s->c",
                k.kind,
                k.layers,
                k.wall_s,
                k.server_cpu_s,
                k.client_cpu_s,
                (k.server_cpu_s + k.client_cpu_s) / k.wall_s.max(1e-9),
                k.client_sent as f64 / MIB,
                k.server_sent as f64 / MIB
            ));
        }
    }
    line
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let base = EngineConfig {
        // One frame may wait on the peer's whole layer; SqueezeNet at 224 needs headroom.
        timeout: Duration::from_secs(3600),
        // One core per party, whatever the default becomes.
        threads: 1,
        ..EngineConfig::default()
    };
    let n = base.he_desc().map_or(0, |d| d.degree);
    println!("machine: {}", machine());
    println!("load average at start: {}", loadavg());
    println!(
        "ℓ = {}, scale {}, N = {n}, one thread per party, loopback TCP, {} run(s) per case (median){}",
        base.ell,
        base.scale,
        args.repeat,
        if args.quick { ", QUICK shapes" } else { "" }
    );
    println!();
    println!("| case | server wall s | server CPU s | client wall s | client CPU s | MiB c->s | MiB s->c | rounds | setup wall s / MiB |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut failed = false;
    let mut derived = Vec::new();
    for mut case in cases(&args) {
        // Runs per backend, alternating backends run by run so that load drifts hit both.
        let mut runs: Vec<Vec<Figures>> =
            vec![Vec::with_capacity(args.repeat); args.backends.len()];
        let he = match args.flooding_bits {
            None => None,
            Some(bits) => match he_params_for_inference_margin(&case.network, base.ell, bits) {
                Ok(desc) => {
                    derived.push(format!(
                        "{}: N = {}, moduli of {:?} bits for {bits} bits per inference",
                        case.name, desc.degree, desc.moduli_bits
                    ));
                    Some(desc)
                }
                Err(err) => {
                    eprintln!("{}: --flooding-bits {bits}: {err}", case.name);
                    failed = true;
                    continue;
                }
            },
        };
        'repeat: for _ in 0..args.repeat {
            for (b, &ot) in args.backends.iter().enumerate() {
                let config = EngineConfig {
                    ot,
                    he: he.clone(),
                    ..base.clone()
                };
                match run_once(&case.network, &config) {
                    Ok(figures) => runs[b].push(figures),
                    Err(err) => {
                        eprintln!("{} ({ot}): {err}", case.name);
                        failed = true;
                        break 'repeat;
                    }
                }
            }
        }
        let name = case.name.clone();
        for (&ot, runs) in args.backends.iter().zip(&runs) {
            if !runs.is_empty() {
                case.name = format!("{name} [{ot}]");
                derived.push(report(&case, runs));
            }
        }
    }
    println!();
    for line in derived {
        println!("- {line}");
    }
    println!();
    println!("load average at end: {}", loadavg());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
