//! End-to-end tests of the HE linear layers: shares reconstruct the plaintext reference
//! exactly, every returned coefficient is masked, and the noise stays decryptable.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::*;

/// Small, insecure parameters (N = 256, ℓ = 20) so multi-block partitions appear on tiny
/// layers.
fn small_params() -> HeParams {
    HeParams::new(HeParamsDesc::custom(20, 256, &[50, 50], 24).unwrap()).unwrap()
}

struct Run {
    client_share: Vec<u64>,
    server_share: Vec<u64>,
    expected: Vec<u64>,
    answer: Vec<Vec<u8>>,
    client: HeClient,
    plan: LinearPlan,
}

/// `n` values uniform under `mask` (ring elements mod 2^ℓ).
fn ring_values(rng: &mut ChaCha20Rng, n: usize, mask: u64) -> Vec<u64> {
    (0..n).map(|_| rng.next_u64() & mask).collect()
}

/// Run one layer with random shares and weights |w| ≤ 2^weight_bits, seeded.
fn run(params: &HeParams, layer: LinearLayer, weight_bits: u32, seed: u64) -> Run {
    run_threaded(params, layer, weight_bits, seed, 1)
}

/// [`run`] with `threads` workers on each side.
fn run_threaded(
    params: &HeParams,
    layer: LinearLayer,
    weight_bits: u32,
    seed: u64,
    threads: usize,
) -> Run {
    let ell = params.ell();
    let mask = (1u64 << ell) - 1;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let x: Vec<u64> = (0..layer.input_len())
        .map(|_| rng.next_u64() & mask)
        .collect();
    let x_c: Vec<u64> = (0..x.len()).map(|_| rng.next_u64() & mask).collect();
    let x_s: Vec<u64> = x
        .iter()
        .zip(&x_c)
        .map(|(a, b)| a.wrapping_sub(*b) & mask)
        .collect();
    let bound = 1i64 << weight_bits;
    let w: Vec<u64> = (0..layer.weight_len())
        .map(|_| rng.random_range(-bound..=bound) as u64 & mask)
        .collect();

    let plan = LinearPlan::new(layer, params.desc()).unwrap();
    let mut client =
        HeClient::new(params.clone(), ChaCha20Rng::seed_from_u64(seed + 1)).with_threads(threads);
    let pk = client.public_key().unwrap();
    let mut server = HeServer::new(params.clone(), &pk, ChaCha20Rng::seed_from_u64(seed + 2))
        .unwrap()
        .with_threads(threads);
    let cts = client.encrypt_input(&plan, &x_c).unwrap();
    let out = server.evaluate(&plan, &w, &x_s, &cts).unwrap();
    let client_share = client.decrypt_output(&plan, &out.cts).unwrap();
    Run {
        client_share,
        server_share: out.share,
        expected: reference::linear(&layer, &x, &w, ell),
        answer: out.cts,
        client,
        plan,
    }
}

fn assert_exact(params: &HeParams, layer: LinearLayer, seed: u64) -> LinearPlan {
    assert_reconstructs(params, &run(params, layer, 10, seed))
}

/// Checks that the shares of `r` add up to the reference; returns its plan.
fn assert_reconstructs(params: &HeParams, r: &Run) -> LinearPlan {
    let mask = (1u64 << params.ell()) - 1;
    let sum: Vec<u64> = r
        .client_share
        .iter()
        .zip(&r.server_share)
        .map(|(a, b)| a.wrapping_add(*b) & mask)
        .collect();
    assert_eq!(
        sum, r.expected,
        "layer {:?}, plan {:?}",
        r.plan.layer, r.plan
    );
    r.plan
}

fn conv(
    h: usize,
    w: usize,
    c: usize,
    k: (usize, usize),
    m: usize,
    stride: usize,
    pad: usize,
) -> LinearLayer {
    LinearLayer::Conv(ConvShape {
        h,
        w,
        c,
        kh: k.0,
        kw: k.1,
        m,
        stride,
        pad: Padding::same(pad),
    })
}

/// (spatial blocks, filters per polynomial, filter groups) of a CONV plan.
fn conv_blocks(plan: &LinearPlan) -> (usize, usize, usize) {
    match plan.packing {
        Packing::Conv {
            row_blocks,
            col_blocks,
            mn,
            filter_groups,
            ..
        } => (row_blocks * col_blocks, mn, filter_groups),
        _ => panic!("not a conv plan"),
    }
}

#[test]
fn conv_shares_match_reference() {
    let params = small_params();
    let cases = [
        conv(7, 5, 3, (3, 3), 4, 1, 1),   // non-square input, padding
        conv(9, 8, 5, (3, 3), 3, 2, 1),   // stride 2
        conv(6, 6, 7, (1, 1), 3, 1, 0),   // 1×1
        conv(12, 11, 2, (7, 7), 2, 2, 3), // 7×7, stride 2, multi-block
        conv(4, 4, 13, (3, 3), 2, 1, 1),  // channels that do not divide N
        conv(12, 12, 1, (11, 11), 2, 1, 0),
        conv(10, 9, 2, (3, 5), 2, 1, 2),  // rectangular kernel
        conv(30, 20, 1, (3, 3), 2, 1, 1), // spatial blocks with overlap
        conv(3, 3, 5, (3, 3), 7, 1, 1),   // several filters per polynomial, ragged
        conv(2, 2, 3, (1, 1), 40, 2, 0),  // many filters, stride 2
        conv(20, 17, 1, (3, 3), 1, 1, 1), // one filter, spatial blocks
        conv(33, 30, 2, (5, 5), 2, 2, 2), // strided with spatial blocks
        conv(15, 16, 3, (4, 3), 2, 3, 1), // stride 3, even kernel height
    ];
    let (mut multi_block, mut multi_filter) = (0, 0);
    for (i, layer) in cases.into_iter().enumerate() {
        let plan = assert_exact(&params, layer, 100 + i as u64);
        let (blocks, mn, filter_groups) = conv_blocks(&plan);
        multi_block += usize::from(blocks > 1);
        multi_filter += usize::from(mn > 1 && filter_groups > 1);
    }
    assert!(multi_block >= 2, "cases should exercise spatial blocks");
    assert!(multi_filter >= 1, "cases should exercise filter groups");
}

/// Streamed evaluation (issue 15): answers leave in [`answer_order`] on one thread and on
/// several, each decrypts on its own as it arrives, and the shares still reconstruct the
/// reference, on layers whose order is not the index order.
#[test]
fn streamed_answers_follow_the_wire_order() {
    let params = small_params();
    let mut reordered = 0;
    for (i, layer) in [
        conv(30, 20, 1, (3, 3), 2, 1, 1),
        conv(33, 30, 2, (5, 5), 3, 2, 2),
        conv(2, 2, 3, (1, 1), 40, 2, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 300 + i as u64;
        let reference = run(&params, layer, 10, seed);
        let order = answer_order(&reference.plan);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..reference.plan.output_cts).collect::<Vec<_>>());
        reordered += usize::from(order != sorted);
        for threads in [1, 2] {
            let ell = params.ell();
            let mask = (1u64 << ell) - 1;
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let x_c = ring_values(&mut rng, layer.input_len(), mask);
            let x_s = ring_values(&mut rng, layer.input_len(), mask);
            let w: Vec<u64> = (0..layer.weight_len())
                .map(|_| rng.random_range(-1000i64..=1000) as u64 & mask)
                .collect();
            let plan = &reference.plan;
            let mut client = HeClient::new(params.clone(), ChaCha20Rng::seed_from_u64(seed + 1));
            let pk = client.public_key().unwrap();
            let mut server =
                HeServer::new(params.clone(), &pk, ChaCha20Rng::seed_from_u64(seed + 2))
                    .unwrap()
                    .with_threads(threads);
            let cts = client.encrypt_input(plan, &x_c).unwrap();
            let positions = answer_positions(plan);
            let mut emitted = Vec::new();
            let mut values = vec![Vec::new(); plan.output_cts];
            let server_share = server
                .evaluate_streaming(plan, &w, &x_s, &cts, |output, bytes| {
                    emitted.push(output);
                    values[output] = client.decrypt_answer(plan, &bytes, &positions[output])?;
                    Ok::<(), HeError>(())
                })
                .unwrap();
            assert_eq!(emitted, order, "threads {threads}");
            let client_share = output_share(plan, &values);
            let x: Vec<u64> = x_c
                .iter()
                .zip(&x_s)
                .map(|(a, b)| a.wrapping_add(*b) & mask)
                .collect();
            let expected = reference::linear(&layer, &x, &w, ell);
            let got: Vec<u64> = client_share
                .iter()
                .zip(&server_share)
                .map(|(a, b)| a.wrapping_add(*b) & mask)
                .collect();
            assert_eq!(got, expected, "layer {i}, threads {threads}");
        }
    }
    assert!(
        reordered >= 1,
        "a case should finish its answers out of index order"
    );
}

#[test]
fn fc_shares_match_reference() {
    let params = small_params();
    for (i, (n_in, n_out)) in [(20, 7), (300, 50), (1, 1), (256, 3), (5, 400)]
        .into_iter()
        .enumerate()
    {
        let plan = assert_exact(
            &params,
            LinearLayer::Fc(FcShape { n_in, n_out }),
            200 + i as u64,
        );
        assert!(plan.ct_pt_products >= (n_in * n_out).div_ceil(256));
    }
}

#[test]
fn bn_shares_match_reference() {
    let params = small_params();
    // (1, 1, 300) and (2, 3, 100): many channels per ciphertext, so cross products pile up
    // in shared blocks, and a last group with fewer channels.
    for (i, (h, w, c)) in [
        (5, 5, 9),
        (20, 20, 3),
        (1, 1, 40),
        (3, 7, 2),
        (1, 1, 300),
        (2, 3, 100),
    ]
    .into_iter()
    .enumerate()
    {
        assert_exact(
            &params,
            LinearLayer::Bn(BnShape { h, w, c }),
            300 + i as u64,
        );
    }
}

#[test]
fn bn_split_layouts_match_reference() {
    // Channels of 99–100 positions at N = 256 (between N/3 and N/2): a whole channel and a
    // half of another per ciphertext, in sets of three; 5 and 7 channels leave units over.
    let params = small_params();
    for (i, (h, w, c, cts)) in [(10, 10, 5, 4), (9, 11, 3, 2), (10, 10, 7, 5)]
        .into_iter()
        .enumerate()
    {
        let layer = LinearLayer::Bn(BnShape { h, w, c });
        let plan = LinearPlan::new(layer, params.desc()).unwrap();
        assert!(
            matches!(plan.packing, Packing::BnSplit { pieces: 2, .. }),
            "{plan:?}"
        );
        assert_eq!(plan.input_cts, cts, "{plan:?}");
        assert_exact(&params, layer, 350 + i as u64);
    }
}

#[test]
fn every_thread_count_reconstructs_the_reference() {
    let params = small_params();
    let layers = [
        conv(20, 17, 3, (3, 3), 5, 1, 1), // spatial blocks × filter groups
        conv(9, 8, 5, (3, 3), 9, 2, 1),   // stride 2, filter groups
        LinearLayer::Fc(FcShape {
            n_in: 300,
            n_out: 50,
        }),
        LinearLayer::Bn(BnShape { h: 20, w: 20, c: 3 }),
    ];
    for (i, layer) in layers.into_iter().enumerate() {
        let seed = 900 + 10 * i as u64;
        let mut masks = Vec::new();
        for threads in [1, 2, 3] {
            let r = run_threaded(&params, layer, 10, seed, threads);
            assert!(
                r.plan.input_cts >= 2 && r.plan.output_cts >= 3,
                "{layer:?} should have several ciphertexts each way: {:?}",
                r.plan
            );
            assert_reconstructs(&params, &r);
            masks.push(r.server_share);
        }
        // The server's masks come from its seeded RNG alone (the client's ciphertexts do
        // not: the `fhe` crate seeds each one's `a` from the OS). One thread keeps the
        // sequential draws, more threads draw other masks, reproducibly for a given count.
        assert_eq!(masks[0], run(&params, layer, 10, seed).server_share);
        assert_ne!(masks[0], masks[1]);
        assert_ne!(masks[1], masks[2]);
        assert_eq!(
            masks[1],
            run_threaded(&params, layer, 10, seed, 2).server_share
        );
    }
}

#[test]
fn default_parameters_at_ell_41_are_exact() {
    let params = HeParams::for_bitlen(41).unwrap();
    assert_eq!(params.degree(), 8192);
    assert_exact(&params, conv(16, 14, 8, (3, 3), 4, 1, 1), 400);
    assert_exact(&params, conv(20, 20, 3, (5, 5), 2, 2, 2), 401);
    assert_exact(
        &params,
        LinearLayer::Fc(FcShape {
            n_in: 1000,
            n_out: 10,
        }),
        402,
    );
    assert_exact(&params, LinearLayer::Bn(BnShape { h: 7, w: 7, c: 64 }), 403);
}

#[test]
fn other_bitlengths_are_exact() {
    // ℓ = 24: N = 4096; ℓ = 48: three moduli, two kept; ℓ = 60: Q mod 2^ℓ ≠ 1.
    for ell in [24, 48, 60] {
        let params = HeParams::for_bitlen(ell).unwrap();
        assert_exact(
            &params,
            conv(9, 7, 3, (3, 3), 5, 2, 1),
            450 + u64::from(ell),
        );
        assert_exact(
            &params,
            LinearLayer::Fc(FcShape {
                n_in: 300,
                n_out: 20,
            }),
            460 + u64::from(ell),
        );
    }
}

#[test]
fn every_returned_coefficient_is_masked() {
    let params = HeParams::for_bitlen(41).unwrap();
    let layer = conv(6, 6, 4, (3, 3), 2, 1, 1);
    let plan = LinearPlan::new(layer, params.desc()).unwrap();
    let mask = (1u64 << 41) - 1;
    let mut rng = ChaCha20Rng::seed_from_u64(500);
    let x_c: Vec<u64> = (0..layer.input_len())
        .map(|_| rng.next_u64() & mask)
        .collect();
    let x_s: Vec<u64> = (0..layer.input_len())
        .map(|_| rng.next_u64() & mask)
        .collect();
    let w: Vec<u64> = (0..layer.weight_len())
        .map(|i| (i as u64 % 7) + 1)
        .collect();
    let mut client = HeClient::new(params.clone(), ChaCha20Rng::seed_from_u64(501));
    let pk = client.public_key().unwrap();
    let cts = client.encrypt_input(&plan, &x_c).unwrap();
    // The same client ciphertexts, two server seeds.
    let answers: Vec<ServerOutput> = [9999, 10_000]
        .into_iter()
        .map(|seed| {
            let mut server =
                HeServer::new(params.clone(), &pk, ChaCha20Rng::seed_from_u64(seed)).unwrap();
            server.evaluate(&plan, &w, &x_s, &cts).unwrap()
        })
        .collect();
    let seen: Vec<Vec<Vec<u64>>> = answers
        .iter()
        .map(|a| client.decrypt_answers(&plan, &a.cts).unwrap())
        .collect();
    let mut compared = 0;
    for (p, q) in seen[0].iter().zip(&seen[1]) {
        for (u, v) in p.iter().zip(q) {
            assert_ne!(
                u, v,
                "a decrypted coefficient does not depend on the server's mask"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, layer.output_len());
    // Both answers reconstruct the same output.
    let sums: Vec<Vec<u64>> = answers
        .iter()
        .map(|a| {
            let y_c = client.decrypt_output(&plan, &a.cts).unwrap();
            y_c.iter()
                .zip(&a.share)
                .map(|(p, q)| p.wrapping_add(*q) & mask)
                .collect()
        })
        .collect();
    assert_eq!(sums[0], sums[1]);
}

#[test]
fn worst_case_weight_norm_still_decrypts_with_budget() {
    let params = HeParams::for_bitlen(41).unwrap();
    let desc = params.desc().clone();
    // The largest fan-in the engine plans (7×7×1024 kernels, or an FC over 50 176 inputs)
    // with |w| < 2^16 stays inside the weight bound the flooding was sized for.
    assert!((7 * 7 * 1024u64 * (1 << 16)) <= 1 << desc.weight_l1_bits);
    let n = params.degree();
    let mask = (1u64 << 41) - 1;
    // Each layer's answers at its own weight bound, with the low bits its wire form drops:
    // an FC row over N inputs, batch norms in both layouts, a convolution.
    let layers = [
        LinearLayer::Fc(FcShape { n_in: n, n_out: 1 }),
        LinearLayer::Bn(BnShape { h: 56, w: 56, c: 3 }),
        LinearLayer::Bn(BnShape { h: 7, w: 7, c: 40 }),
        conv(14, 14, 16, (3, 3), 8, 1, 1),
    ];
    for (k, layer) in layers.into_iter().enumerate() {
        let plan = LinearPlan::new(layer, &desc).unwrap();
        let bits = plan.wire;
        assert!(bits.weight_l1_bits <= desc.weight_l1_bits, "{bits:?}");
        // Saturate the layer's bound: |w| = 2^l1 / (weights per answer), signs alternating.
        let big = (1u64 << bits.weight_l1_bits) / plan.weights_per_answer();
        let w: Vec<u64> = (0..layer.weight_len())
            .map(|i| {
                if i % 2 == 0 {
                    big
                } else {
                    big.wrapping_neg() & mask
                }
            })
            .collect();
        let mut rng = ChaCha20Rng::seed_from_u64(600 + k as u64);
        let x = ring_values(&mut rng, layer.input_len(), mask);
        let x_c = ring_values(&mut rng, layer.input_len(), mask);
        let x_s: Vec<u64> = x
            .iter()
            .zip(&x_c)
            .map(|(p, q)| p.wrapping_sub(*q) & mask)
            .collect();
        let mut client = HeClient::new(params.clone(), ChaCha20Rng::seed_from_u64(601));
        let mut server = HeServer::new(
            params.clone(),
            &client.public_key().unwrap(),
            ChaCha20Rng::seed_from_u64(602),
        )
        .unwrap();
        let cts = client.encrypt_input(&plan, &x_c).unwrap();
        let out = server.evaluate(&plan, &w, &x_s, &cts).unwrap();
        let y_c = client.decrypt_output(&plan, &out.cts).unwrap();
        let y: Vec<u64> = y_c
            .iter()
            .zip(&out.share)
            .map(|(p, q)| p.wrapping_add(*q) & mask)
            .collect();
        assert_eq!(
            y,
            reference::linear(&layer, &x, &w, 41),
            "{layer:?} {bits:?}"
        );
        // Remaining budget at the last level before the wire rounding: log2(q_last / 2t) −
        // noise bits, over every coefficient of the whole answer, not only the ones sent.
        let q_last_bits: f64 = desc.moduli[..desc.final_moduli]
            .iter()
            .map(|&p| (p as f64).log2())
            .sum();
        let noise = client.noise_bits(&server.full_answers[0]).unwrap() as f64;
        let budget = q_last_bits - 1.0 - 41.0 - noise;
        println!("{layer:?}: {bits:?}, noise {noise} bits, budget {budget:.2} bits");
        assert!(budget > 0.0, "noise {noise} bits leaves {budget} bits");
        // One more unit of L1 is refused rather than risking a wrong or leaky answer.
        let mut heavier = w.clone();
        heavier[0] = (1u64 << bits.weight_l1_bits) + 1;
        assert!(matches!(
            server.evaluate(&plan, &heavier, &x_s, &cts),
            Err(HeError::WeightNorm { .. })
        ));
    }
}

#[test]
fn planned_bytes_are_the_serialized_ciphertexts() {
    for params in [small_params(), HeParams::for_bitlen(41).unwrap()] {
        for layer in [
            conv(6, 6, 3, (3, 3), 2, 1, 1),
            LinearLayer::Bn(BnShape { h: 5, w: 5, c: 7 }),
            LinearLayer::Fc(FcShape { n_in: 40, n_out: 9 }),
        ] {
            let r = run(&params, layer, 10, 700);
            let down: u64 = r.answer.iter().map(|c| c.len() as u64).sum();
            assert_eq!(down, r.plan.bytes_server_to_client, "{layer:?}");
            let mut client = r.client;
            let mut rng = ChaCha20Rng::seed_from_u64(701);
            let x_c: Vec<u64> = (0..r.plan.layer.input_len())
                .map(|_| rng.random::<u64>() >> 30)
                .collect();
            let up: u64 = client
                .encrypt_input(&r.plan, &x_c)
                .unwrap()
                .iter()
                .map(|c| c.len() as u64)
                .sum();
            assert_eq!(up, r.plan.bytes_client_to_server, "{layer:?}");
        }
        let mut client = HeClient::new(params.clone(), ChaCha20Rng::seed_from_u64(702));
        let pk = client.public_key().unwrap().len() as u64;
        let planned = params.desc().public_key_bytes();
        assert!(
            pk <= planned && planned - pk <= planned / 100,
            "{pk} vs {planned}"
        );
    }
}
