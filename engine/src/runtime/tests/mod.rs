//! End-to-end tests of the runtime: server and client on two threads over loopback TCP.
//!
//! - `layers.rs`: every layer kind against the plaintext reference within the propagated
//!   truncation bound, with IKNP and with Ferret (tiny parameters that refill inside layers,
//!   and the paper's), a SqueezeNet-like network with its JSON lines, weight and input files;
//! - `failures.rs`: mismatched sessions, garbage, truncated and oversized frames, dropped,
//!   stalled and corrupted connections, weights over the HE bound.

mod failures;
mod layers;

use std::net::TcpListener;
use std::time::Duration;

use super::reference::{max_distance, run_with_bound};
use super::*;
use crate::he::HeParamsDesc;
use crate::network::{Network, NetworkBuilder, Op, Shape};
use crate::ot::ferret::FerretParams;
use crate::ot::OtBackend;

/// Small, insecure HE parameters (N = 256) for ℓ = 32; scale 10.
pub(super) fn config() -> EngineConfig {
    EngineConfig {
        ell: 32,
        scale: 10,
        timeout: Duration::from_secs(120),
        he: Some(HeParamsDesc::custom(32, 256, &[60, 60], 20).unwrap()),
        protocol_seed: Some(7),
        ..EngineConfig::default()
    }
}

/// Runs server and client on two threads; returns (server, client) results.
pub(super) fn run_pair(
    server_net: &Network,
    client_net: &Network,
    server_config: &EngineConfig,
    client_config: &EngineConfig,
) -> (Result<RunReport>, Result<RunReport>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::scope(|s| {
        let server =
            s.spawn(|| run_server(server_net, &WeightSource::Seed(1), server_config, &listener));
        let client = run_client(client_net, &InputSource::Seed(2), client_config, addr);
        (server.join().expect("server thread panicked"), client)
    })
}

/// The OT variants every correctness test runs: IKNP, Ferret with tiny parameters (pool
/// refills inside the layers) and Ferret with the paper's parameters (the default).
pub(super) fn variants(config: &EngineConfig) -> Vec<EngineConfig> {
    vec![
        EngineConfig {
            ot: OtBackend::Iknp,
            ..config.clone()
        },
        EngineConfig {
            ot: OtBackend::Ferret,
            ferret: Some(FerretParams::TOY),
            ..config.clone()
        },
        EngineConfig {
            ot: OtBackend::Ferret,
            ..config.clone()
        },
    ]
}

/// A checked run: the configuration, both parties' reports and the error bound.
pub(super) type Checked = (EngineConfig, RunReport, RunReport, u64);

/// Runs `network` securely with every OT variant of `config` and checks the output against
/// the reference within the bound each time.
pub(super) fn check_all(network: &Network, config: &EngineConfig) -> Vec<Checked> {
    variants(config)
        .into_iter()
        .map(|config| {
            let (server, client, bound) = check_with(network, &config);
            (config, server, client, bound)
        })
        .collect()
}

/// [`check_all`] with the test configuration.
pub(super) fn check(network: &Network) -> Vec<Checked> {
    check_all(network, &config())
}

/// [`check`] with `config` for both parties.
pub(super) fn check_with(network: &Network, config: &EngineConfig) -> (RunReport, RunReport, u64) {
    let (server, client) = run_pair(network, network, config, config);
    let (server, client) = (server.unwrap(), client.unwrap());
    let weights = Weights::load(&WeightSource::Seed(1), network, config).unwrap();
    let input = Input::load(&InputSource::Seed(2), network, config).unwrap();
    let (expected, bound) =
        run_with_bound(network, &weights, &input.values, config.ell, config.scale).unwrap();
    let got = client.output.clone().expect("the client learns the output");
    let distance = max_distance(&got, &expected, config.ell);
    assert!(
        distance <= bound,
        "{}: secure output off by {distance} ulps, bound {bound}",
        network.name
    );
    assert!(server.output.is_none());
    assert_eq!((server.run.ot, client.run.ot), (config.ot, config.ot));
    assert!(client.warnings().is_empty(), "{:?}", client.warnings());
    // The flooding line counts one revealed coefficient per output value of an HE layer.
    let revealed: u64 = (client.layers.iter())
        .filter(|l| l.linear.is_some())
        .map(|l| l.output.elements())
        .sum();
    let flooding = client.run.flooding;
    assert_eq!(flooding, server.run.flooding);
    assert_eq!(flooding.revealed_coefficients, revealed);
    let desc = config.he_desc().unwrap();
    assert_eq!(
        flooding.margin_per_coefficient_bits,
        desc.flood_margin_bits.floor()
    );
    let lost = flooding.margin_per_coefficient_bits - flooding.margin_per_inference_bits;
    assert!(
        (lost - (revealed.max(1) as f64).log2()).abs() < 1e-9,
        "{flooding:?}"
    );
    eprintln!(
        "{} ({}): off by {distance} ulps, bound {bound}",
        network.name, config.ot
    );
    (server, client, bound)
}

pub(super) fn net(name: &str, input: Shape, build: impl FnOnce(&mut NetworkBuilder)) -> Network {
    let mut b = NetworkBuilder::new(name, "test", input);
    build(&mut b);
    b.build()
}

/// A SqueezeNet-like network: stem, max pool, two fire modules (squeeze, expand 1×1 and
/// 3×3, concat), a 1×1 classifier, global average pool.
pub(super) fn squeezenet_like() -> Network {
    net("squeeze-tiny", Shape::new(12, 12, 3), |b| {
        b.push("stem", Op::conv(8, 3, 2, 1, true));
        b.push("stem_relu", Op::Relu {});
        b.push("pool", Op::max_pool(3, 2, 1));
        for f in 0..2 {
            let sq = b.push(format!("fire{f}_squeeze"), Op::conv(4, 1, 1, 0, true));
            let sq = b.push_from(format!("fire{f}_squeeze_relu"), Op::Relu {}, &[&sq]);
            let e1 = b.push_from(format!("fire{f}_e1"), Op::conv(4, 1, 1, 0, true), &[&sq]);
            let r1 = b.push(format!("fire{f}_e1_relu"), Op::Relu {});
            let e3 = b.push_from(format!("fire{f}_e3"), Op::conv(4, 3, 1, 1, true), &[&sq]);
            let r3 = b.push(format!("fire{f}_e3_relu"), Op::Relu {});
            let _ = (e1, e3);
            b.push_from(format!("fire{f}_cat"), Op::Concat {}, &[&r1, &r3]);
        }
        b.push("classifier", Op::conv(5, 1, 1, 0, true));
        b.push("gap", Op::GlobalAvgPool {});
        b.push("flat", Op::Flatten {});
    })
}
