//! Every layer kind, a SqueezeNet-like network and the JSON records against the plaintext
//! reference; weight and input files. (The figures at the default parameters are in
//! `benches/blocks.rs zoo` and `benches/engine.rs`.)

use super::super::*;
use super::{check, check_all, config, net, squeezenet_like};
use crate::network::{Op, Shape};

#[test]
fn convolutions_match_reference() {
    // Stride 2 with padding and bias, 1×1, then 7×7 stride 2 padding 3: three truncations of
    // 1 ulp each, each earlier one amplified by the later layers' weight L1 norms / 2^s
    // (93 ulps at scale 10 with these seeded weights; the measured error is far smaller).
    let network = net("convs", Shape::new(9, 9, 3), |b| {
        b.push("c3s2", Op::conv(4, 3, 2, 1, true));
        b.push("c1", Op::conv(4, 1, 1, 0, false));
        b.push("c7", Op::conv(3, 7, 2, 3, true));
    });
    for (_, _, client, bound) in check(&network) {
        assert_eq!(bound, 93);
        assert_eq!(client.layers.len(), 3);
    }
}

#[test]
fn two_threads_per_party_match_reference() {
    // Several ciphertexts each way in every linear layer (N = 256), split over two workers.
    let network = net("threads", Shape::new(12, 12, 3), |b| {
        b.push("conv", Op::conv(6, 3, 1, 1, true));
        b.push("relu", Op::Relu {});
        b.push("bn", Op::BatchNorm {});
        b.push("flat", Op::Flatten {});
        b.push("fc", Op::fc(5, true));
    });
    let config = EngineConfig {
        threads: 2,
        ..config()
    };
    for (_, server, client, _) in check_all(&network, &config) {
        assert_eq!((server.run.threads, client.run.threads), (2, 2));
    }
}

#[test]
fn fc_bn_relu_match_reference() {
    // One truncation per linear layer; ReLU is exact and passes the bound through.
    let network = net("fc", Shape::new(3, 3, 2), |b| {
        b.push("bn", Op::BatchNorm {});
        b.push("relu", Op::Relu {});
        b.push("flat", Op::Flatten {});
        b.push("fc1", Op::fc(6, true));
        b.push("relu2", Op::Relu {});
        b.push("fc2", Op::fc(3, false));
    });
    check(&network);
}

#[test]
fn pools_match_reference() {
    // Max pooling is exact; each average pool adds at most 1 ulp (plus its input's error).
    let network = net("pools", Shape::new(8, 8, 2), |b| {
        b.push("max", Op::max_pool(3, 2, 1));
        b.push("avg", Op::avg_pool(3, 1, 1));
        b.push("gap", Op::GlobalAvgPool {});
    });
    for (_, _, _, bound) in check(&network) {
        assert_eq!(bound, 2);
    }
}

#[test]
fn add_concat_poly_match_reference() {
    // Add sums the two inputs' bounds; the polynomial bounds follow nonlinear's analysis.
    let network = net("branches", Shape::new(4, 4, 4), |b| {
        let a = b.push("a", Op::conv(4, 3, 1, 1, false));
        let p = b.push_from("p", Op::poly_act(2, 0.5), &[&a]);
        let q = b.push_from("q", Op::poly_act(3, 0.25), &["input"]);
        let s = b.push_from("sum", Op::Add {}, &[&p, &q]);
        b.push_from("cat", Op::Concat {}, &[&s, &a, "input"]);
    });
    check(&network);
}

#[test]
fn squeezenet_like_runs_end_to_end_and_writes_json_lines() {
    let network = squeezenet_like();
    for (config, server, client, _) in check(&network) {
        json_lines_are_complete(&network, &config, &server, &client);
    }
}

/// The checks of one run of [`squeezenet_like_runs_end_to_end_and_writes_json_lines`].
fn json_lines_are_complete(
    network: &crate::network::Network,
    config: &EngineConfig,
    server: &RunReport,
    client: &RunReport,
) {
    for report in [server, client] {
        let mut out = Vec::new();
        report.write_json_lines(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), network.layers.len() + 1);
        for (i, line) in lines[..network.layers.len()].iter().enumerate() {
            assert_eq!(line["record"], "layer");
            assert_eq!(line["index"], i);
            assert_eq!(line["name"], network.layers[i].name);
            for field in [
                "party",
                "kind",
                "inputs",
                "output",
                "wall_s",
                "cpu_s",
                "bytes_sent",
                "bytes_received",
                "messages_sent",
                "messages_received",
                "rounds",
                "counts",
                "linear",
            ] {
                assert!(line.get(field).is_some(), "layer {i} lacks {field}");
            }
            let kind = line["kind"].as_str().unwrap();
            let crypto = !matches!(kind, "concat" | "flatten" | "add");
            let bytes = line["bytes_sent"].as_u64().unwrap();
            assert_eq!(bytes > 0, crypto, "layer {i} ({kind}) sent {bytes} bytes");
            assert_eq!(line["linear"].is_null(), kind != "conv");
        }
        let run = &lines[network.layers.len()];
        assert_eq!(run["record"], "run");
        assert_eq!(run["ot"], config.ot.as_str());
        assert_eq!(run["digest"], network.digest());
        assert_eq!(run["ell"], 32);
        assert_eq!(run["he"]["degree"], 256);
        assert!(run["setup"]["bytes_sent"].as_u64().unwrap() > 0);
        assert!(
            run["total"]["wall_s"].as_f64().unwrap() >= run["setup"]["wall_s"].as_f64().unwrap()
        );
    }
    // OT-based layers send exactly the planned bytes plus the 4-byte step tag per frame.
    for (report, party) in [(server, Party::Server), (client, Party::Client)] {
        for layer in &report.layers {
            if matches!(layer.kind.as_str(), "relu" | "max_pool" | "global_avg_pool") {
                let planned = match party {
                    Party::Server => layer.counts.ot_bytes_server,
                    Party::Client => layer.counts.ot_bytes_client,
                };
                let m = &layer.measured;
                assert_eq!(
                    m.bytes_sent,
                    planned + 4 * m.messages_sent,
                    "{}",
                    layer.name
                );
            }
        }
    }
    // What one side sends the other receives.
    let sent: u64 = server.layers.iter().map(|l| l.measured.bytes_sent).sum();
    let received: u64 = client
        .layers
        .iter()
        .map(|l| l.measured.bytes_received)
        .sum();
    assert_eq!(sent, received);
}

#[test]
fn planned_rounds_are_what_the_meters_count() {
    // Every layer kind, in an order that puts each after senders and receivers alike.
    let network = net("rounds", Shape::new(6, 6, 3), |b| {
        let c = b.push("conv", Op::conv(4, 3, 1, 1, true));
        b.push("bn", Op::BatchNorm {});
        b.push("relu", Op::Relu {});
        b.push("max", Op::max_pool(2, 2, 0));
        let p = b.push("poly", Op::poly_act(2, 0.5));
        b.push("relu2", Op::Relu {});
        let a = b.push("avg", Op::avg_pool(1, 1, 0));
        let s = b.push_from("sum", Op::Add {}, &[&a, &p]);
        b.push_from("cat", Op::Concat {}, &[&s, &p]);
        b.push("poly3", Op::poly_act(3, 0.25));
        b.push("gap", Op::GlobalAvgPool {});
        b.push("flat", Op::Flatten {});
        b.push("fc", Op::fc(3, true));
        b.push("relu3", Op::Relu {});
        let _ = c;
    });
    let mut refills = 0;
    for (config, server, client, _) in check(&network) {
        let desc = config.he.clone().unwrap();
        let plan = ExecPlan::planned(
            &network,
            &desc,
            config.scale,
            config.ot,
            config.ferret_params(),
        )
        .unwrap();
        for (report, planned) in [
            (
                &server,
                plan.rounds.iter().map(|r| r.server).collect::<Vec<_>>(),
            ),
            (&client, plan.rounds.iter().map(|r| r.client).collect()),
        ] {
            let measured: Vec<u64> = report.layers.iter().map(|l| l.measured.rounds).collect();
            assert!(
                measured.iter().filter(|&&r| r > 0).count() >= 8,
                "{measured:?}"
            );
            assert_eq!(measured, planned, "{:?} ({})", report.run.party, config.ot);
            // Planned bytes too, exactly: every layer sends its planned OT bytes plus the
            // 4-byte step tag per frame; an HE layer also its ciphertexts' planned bytes and
            // a 4-byte count frame, each of these frames with its 4-byte length header.
            for (layer, counts) in report.layers.iter().zip(&plan.counts) {
                let he_frames = |bytes: u64, cts: usize| bytes + 4 + 4 * (1 + cts as u64);
                let (ot, he) = match report.run.party {
                    Party::Server => (
                        counts.ot_bytes_server,
                        layer
                            .linear
                            .map_or(0, |l| he_frames(l.bytes_server_to_client, l.output_cts)),
                    ),
                    Party::Client => (
                        counts.ot_bytes_client,
                        layer
                            .linear
                            .map_or(0, |l| he_frames(l.bytes_client_to_server, l.input_cts)),
                    ),
                };
                let m = &layer.measured;
                let tags = 4 * m.messages_sent;
                assert_eq!(
                    m.bytes_sent,
                    ot + he + tags,
                    "{} ({})",
                    layer.name,
                    config.ot
                );
            }
        }
        refills += plan.counts.iter().map(|c| c.ot_refills).sum::<u64>();
    }
    assert!(
        refills > 0,
        "the tiny Ferret parameters refill inside layers"
    );
}

#[test]
fn weight_and_input_files_round_trip() {
    let network = net("files", Shape::new(4, 4, 2), |b| {
        b.push("conv", Op::conv(3, 3, 1, 1, true));
        b.push("bn", Op::BatchNorm {});
        b.push("flat", Op::Flatten {});
        b.push("fc", Op::fc(2, true));
    });
    let config = config();
    let shapes = network.validate().unwrap();
    let (ell, scale) = (config.ell, config.scale);
    let weights = Weights::load(&WeightSource::Seed(1), &network, &config).unwrap();
    let text = weights.to_json(&network, scale, ell);
    assert_eq!(
        Weights::from_json(&text, &network, &shapes, scale, ell).unwrap(),
        weights
    );
    let input = Input::random(network.input, 2, scale, ell);
    let text = input.to_json(network.input, scale, ell);
    assert_eq!(
        Input::from_json(&text, network.input, scale, ell).unwrap(),
        input
    );

    let bad = weights
        .to_json(&network, scale, ell)
        .replace("\"bn\"", "\"bn2\"");
    let err = Weights::from_json(&bad, &network, &shapes, scale, ell).unwrap_err();
    assert_eq!(err.to_string(), "read weight file: layer 'bn' has no entry");
    let mut short = weights.clone();
    short.layers[3].bias.pop();
    let err = Weights::from_json(
        &short.to_json(&network, scale, ell),
        &network,
        &shapes,
        scale,
        ell,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "read weight file: layer 'fc' needs 96 weights and 2 bias values, the file has 96 and 1"
    );
    let err = Input::from_json(&text, Shape::new(4, 4, 3), scale, ell).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("read input file: the network takes 4x4x3"),
        "{err}"
    );
    let path = std::env::temp_dir().join("snni-runtime-missing-weights.json");
    let err = Weights::load(&WeightSource::File(path), &network, &config).unwrap_err();
    assert!(err.to_string().starts_with("read weight file '"), "{err}");
}
