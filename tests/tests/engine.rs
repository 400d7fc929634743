//! End to end: `snni infer` and `snni party server|client` run real secure inference
//! between two processes and print per-layer metering.

mod common;

use std::process::Stdio;

use common::Scratch;

/// A SqueezeNet-like network: a strided conv stem, max pooling, one fire module (squeeze,
/// two expands, concat), batch norm, global average pooling and an FC head.
const SQUEEZE_LIKE: &str = "\
name: squeeze-like
input: {h: 16, w: 14, c: 3}
layers:
  - {name: conv1, kind: conv, filters: 8, kernel: 3, stride: 2, padding: 1, bias: true}
  - {name: relu1, kind: relu}
  - {name: pool1, kind: max_pool, kernel: 3, stride: 2, padding: 1}
  - {name: squeeze, kind: conv, filters: 4, kernel: 1}
  - {name: squeeze_relu, kind: relu}
  - {name: expand1, kind: conv, filters: 8, kernel: 1, inputs: [squeeze_relu]}
  - {name: expand3, kind: conv, filters: 8, kernel: 3, padding: 1, inputs: [squeeze_relu]}
  - {name: fire, kind: concat, inputs: [expand1, expand3]}
  - {name: bn, kind: batch_norm}
  - {name: relu2, kind: relu}
  - {name: pool2, kind: avg_pool, kernel: 2, stride: 2}
  - {name: gap, kind: global_avg_pool}
  - {name: flat, kind: flatten}
  - {name: fc, kind: fc, units: 10}
";

const LAYERS: usize = 14;

#[test]
fn infer_runs_both_parties_and_prints_json_lines_per_layer() {
    let scratch = Scratch::new();
    let network = scratch.write("net.yaml", SQUEEZE_LIKE);
    let run = scratch
        .run(&["infer", "--network", network.to_str().unwrap(), "--json"])
        .expect_code(0);
    let lines = run.events();
    for party in ["server", "client"] {
        let layers: Vec<_> = lines
            .iter()
            .filter(|l| l["party"] == party && l["record"] == "layer")
            .collect();
        assert_eq!(layers.len(), LAYERS, "{party}: one line per layer");
        for (i, layer) in layers.iter().enumerate() {
            assert_eq!(layer["index"], i, "{party}: layers in order");
            for field in [
                "name",
                "kind",
                "output",
                "wall_s",
                "cpu_s",
                "bytes_sent",
                "bytes_received",
                "rounds",
                "counts",
            ] {
                assert!(
                    !layer[field].is_null(),
                    "{party} layer {i} lacks `{field}`: {layer}"
                );
            }
            let crypto = !matches!(
                layer["kind"].as_str().unwrap(),
                "concat" | "flatten" | "add"
            );
            let bytes =
                layer["bytes_sent"].as_u64().unwrap() + layer["bytes_received"].as_u64().unwrap();
            assert_eq!(
                bytes > 0,
                crypto,
                "{party} layer {i} ({}) traffic: {bytes} bytes",
                layer["kind"]
            );
        }
        let run_line: Vec<_> = lines
            .iter()
            .filter(|l| l["party"] == party && l["record"] == "run")
            .collect();
        assert_eq!(run_line.len(), 1, "{party}: one run line");
        assert_eq!(run_line[0]["ell"], 41);
        assert!(run_line[0]["setup"]["wall_s"].as_f64().unwrap() > 0.0);
    }
    // What one party sent, the other received.
    let total = |party: &str, key: &str| -> u64 {
        lines
            .iter()
            .filter(|l| l["party"] == party && l["record"] == "layer")
            .map(|l| l[key].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        total("client", "bytes_sent"),
        total("server", "bytes_received")
    );
    assert_eq!(
        total("server", "bytes_sent"),
        total("client", "bytes_received")
    );
}

#[test]
fn infer_prints_a_table_by_default() {
    let scratch = Scratch::new();
    let network = scratch.write("net.yaml", SQUEEZE_LIKE);
    let run = scratch
        .run(&["infer", "--network", network.to_str().unwrap()])
        .expect_code(0);
    assert!(run.stdout.contains("expand3"), "{}", run.stdout);
    assert!(run.stdout.contains("client: setup"), "{}", run.stdout);
}

#[test]
fn parties_with_different_networks_fail_with_a_digest_mismatch_on_both_sides() {
    let scratch = Scratch::new();
    let network = scratch.write("net.yaml", SQUEEZE_LIKE);
    let other = scratch.write(
        "other.yaml",
        &SQUEEZE_LIKE.replace("units: 10", "units: 12"),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let server = scratch
        .snni(&[
            "party",
            "server",
            "--network",
            network.to_str().unwrap(),
            "--listen",
            &address,
            "--timeout",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = scratch
        .run(&[
            "party",
            "client",
            "--network",
            other.to_str().unwrap(),
            "--connect",
            &address,
            "--timeout",
            "30",
        ])
        .expect_code(1);
    let server = common::Run::from(server.wait_with_output().unwrap()).expect_code(1);
    assert!(
        client.stderr.contains("digest mismatch"),
        "{}",
        client.stderr
    );
    assert!(
        server.stderr.contains("digest mismatch"),
        "{}",
        server.stderr
    );
}

/// The server loads its weights before it listens: unreadable weights fail before any
/// client could connect (no "listening" line), so a client's setup never waits for them.
#[test]
fn server_loads_weights_before_it_listens() {
    let scratch = Scratch::new();
    let network = scratch.write("net.yaml", SQUEEZE_LIKE);
    let missing = scratch.path("no-such-weights.json");
    let run = scratch
        .run(&[
            "party",
            "server",
            "--network",
            network.to_str().unwrap(),
            "--weights",
            missing.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .expect_code(1);
    assert!(
        run.stderr.contains("no-such-weights.json"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("listening on"), "{}", run.stderr);
}

/// Both OT backends run end to end, are recorded, and must match between the parties.
#[test]
fn ot_backends_run_and_must_match() {
    let scratch = Scratch::new();
    let network = scratch.write("net.yaml", SQUEEZE_LIKE);
    let network = network.to_str().unwrap();
    for ot in ["iknp", "ferret"] {
        let run = scratch
            .run(&["infer", "--network", network, "--ot", ot, "--json"])
            .expect_code(0);
        let runs: Vec<_> = run
            .events()
            .into_iter()
            .filter(|l| l["record"] == "run")
            .collect();
        assert_eq!(runs.len(), 2);
        assert!(runs.iter().all(|r| r["ot"] == ot), "{runs:?}");
    }
    let run = scratch
        .run(&["infer", "--network", network, "--ot", "silent"])
        .expect_code(2);
    assert!(
        run.stderr.contains("unknown OT backend `silent`"),
        "{}",
        run.stderr
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let server = scratch
        .snni(&[
            "party",
            "server",
            "--network",
            network,
            "--listen",
            &address,
            "--timeout",
            "30",
            "--ot",
            "iknp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = scratch
        .run(&[
            "party",
            "client",
            "--network",
            network,
            "--connect",
            &address,
            "--timeout",
            "30",
        ])
        .expect_code(1);
    let server = common::Run::from(server.wait_with_output().unwrap()).expect_code(1);
    for stderr in [&client.stderr, &server.stderr] {
        assert!(
            stderr.contains("OT backend mismatch: server runs iknp, client ferret"),
            "{stderr}"
        );
    }
}

/// The run line states the flooding margin per revealed coefficient and per inference;
/// `--flooding-bits` raises the per-inference margin to what is asked; a margin beyond the
/// option's range is a usage error before any party starts.
#[test]
fn infer_states_the_flooding_margin_and_honours_flooding_bits() {
    let scratch = Scratch::new();
    let network = scratch.write("net.yaml", SQUEEZE_LIKE);
    let network = network.to_str().unwrap();
    let margins = |extra: &[&str]| -> (f64, f64, u64) {
        let mut args = vec!["infer", "--network", network, "--json"];
        args.extend_from_slice(extra);
        let runs: Vec<_> = (scratch.run(&args).expect_code(0).events().into_iter())
            .filter(|l| l["record"] == "run")
            .collect();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0]["flooding"], runs[1]["flooding"], "{runs:?}");
        let f = &runs[0]["flooding"];
        (
            f["margin_per_coefficient_bits"].as_f64().unwrap(),
            f["margin_per_inference_bits"].as_f64().unwrap(),
            f["revealed_coefficients"].as_u64().unwrap(),
        )
    };
    // conv1 8·7·8, squeeze 4·4·4, expands 2·4·4·8, bn 4·4·16, fc 10.
    let revealed = 8 * 7 * 8 + 4 * 4 * 4 + 2 * 4 * 4 * 8 + 4 * 4 * 16 + 10;
    let (coefficient, inference, n) = margins(&[]);
    assert_eq!(n, revealed);
    assert!(coefficient >= 40.0, "{coefficient}");
    assert!((coefficient - inference - (revealed as f64).log2()).abs() < 1e-6);
    let (_, asked, n) = margins(&["--flooding-bits", "45"]);
    assert_eq!(n, revealed);
    assert!(asked >= 45.0 && inference < 45.0, "{inference} → {asked}");
    let run = scratch
        .run(&["infer", "--network", network, "--flooding-bits", "121"])
        .expect_code(2);
    assert!(run.stderr.contains("--flooding-bits"), "{}", run.stderr);
}

#[test]
fn infer_rejects_an_invalid_network_before_starting_parties() {
    let scratch = Scratch::new();
    let bad = scratch.write(
        "bad.yaml",
        "name: bad\ninput: {h: 8, w: 8, c: 3}\nlayers:\n  - {name: fc, kind: fc, units: 10}\n",
    );
    let run = scratch
        .run(&["infer", "--network", bad.to_str().unwrap()])
        .expect_code(3);
    assert!(run.stderr.contains("layer 0 'fc'"), "{}", run.stderr);
    let run = scratch
        .run(&["infer", "--network", "resnet50", "--weights", "seed:x"])
        .expect_code(2);
    assert!(run.stderr.contains("not a seed"), "{}", run.stderr);
}

#[test]
fn pinned_parties_run_and_impossible_cpus_are_usage_errors() {
    let scratch = Scratch::new();
    let network = scratch.write("net.yaml", SQUEEZE_LIKE);
    let network = network.to_str().unwrap();
    let run = scratch
        .run(&["infer", "--network", network, "--cpus", "0", "--json"])
        .expect_code(0);
    assert!(!run.events().is_empty(), "{}", run.stdout);
    let run = scratch
        .run(&[
            "party",
            "server",
            "--network",
            network,
            "--cpus",
            "4096",
            "--listen",
            "127.0.0.1:0",
        ])
        .expect_code(2);
    assert!(
        run.stderr.contains("CPU 4096 is out of range"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("0 to 1023"), "{}", run.stderr);
}
