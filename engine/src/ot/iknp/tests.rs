//! Tests of the IKNP extension: correctness of every OT flavour over many instances and
//! seeds, chunking, state across calls, both directions, and a loopback-TCP run.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::channel::MemChannel;
use crate::ot::bits::low_mask;
use crate::ot::test_util::{run_mem, run_tcp};

fn setup_pair(seed: u64, cs: &mut MemChannel, cr: &mut MemChannel) -> (IknpSender, IknpReceiver) {
    std::thread::scope(|s| {
        let sender = s.spawn(move || {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            IknpSender::setup(cs, 5, &mut rng).unwrap()
        });
        let mut rng = ChaCha20Rng::seed_from_u64(seed + 1000);
        let receiver = IknpReceiver::setup(cr, 5, &mut rng).unwrap();
        (sender.join().unwrap(), receiver)
    })
}

fn random_choices(rng: &mut ChaCha20Rng, n: usize) -> Vec<bool> {
    (0..n).map(|_| rng.random()).collect()
}

#[test]
fn random_ot_receiver_learns_only_its_choice() {
    for seed in [1u64, 2, 3] {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let choices = random_choices(&mut rng, 10_000);
        let (pairs, got) = run_mem(
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                let mut s = IknpSender::setup(ch, 1, &mut rng).unwrap();
                s.send_random(ch, 10_000).unwrap()
            },
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(seed + 1);
                let mut r = IknpReceiver::setup(ch, 1, &mut rng).unwrap();
                r.recv_random(ch, &choices).unwrap()
            },
        );
        assert_eq!(pairs.len(), 10_000);
        for ((pair, got), &c) in pairs.iter().zip(&got).zip(&choices) {
            assert_eq!(*got, pair[c as usize]);
            assert_ne!(*got, pair[1 - c as usize]);
        }
        // The pads look random: no two instances share a key.
        let distinct: std::collections::HashSet<_> = pairs.iter().map(|p| p[0]).collect();
        assert_eq!(distinct.len(), pairs.len());
    }
}

#[test]
fn chosen_ot_delivers_the_chosen_message() {
    for seed in [4u64, 5, 6] {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let n = 10_000;
        let choices = random_choices(&mut rng, n);
        let messages: Vec<[Block; 2]> = (0..n).map(|_| [rng.random(), rng.random()]).collect();
        let ((), got) = run_mem(
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                let mut s = IknpSender::setup(ch, 1, &mut rng).unwrap();
                s.send_chosen(ch, &messages).unwrap()
            },
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(seed + 1);
                let mut r = IknpReceiver::setup(ch, 1, &mut rng).unwrap();
                r.recv_chosen(ch, &choices).unwrap()
            },
        );
        for ((m, got), &c) in messages.iter().zip(&got).zip(&choices) {
            assert_eq!(*got, m[c as usize]);
            assert_ne!(*got, m[1 - c as usize]);
        }
    }
}

#[test]
fn correlated_ot_is_additive_mod_two_to_the_bits() {
    for (seed, bits) in [(7u64, 1u32), (8, 8), (9, 41), (10, 64), (11, 37)] {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let n = 10_000;
        let choices = random_choices(&mut rng, n);
        let deltas: Vec<u64> = (0..n)
            .map(|_| rng.random::<u64>() & low_mask(bits))
            .collect();
        let (xs, ys) = run_mem(
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                let mut s = IknpSender::setup(ch, 1, &mut rng).unwrap();
                s.send_correlated(ch, &deltas, bits).unwrap()
            },
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(seed + 1);
                let mut r = IknpReceiver::setup(ch, 1, &mut rng).unwrap();
                r.recv_correlated(ch, &choices, bits).unwrap()
            },
        );
        let mask = low_mask(bits);
        for i in 0..n {
            assert!(xs[i] <= mask && ys[i] <= mask);
            let expect = if choices[i] {
                xs[i].wrapping_add(deltas[i]) & mask
            } else {
                xs[i]
            };
            assert_eq!(ys[i], expect, "instance {i}, bits {bits}");
        }
    }
}

#[test]
fn correlated_ot_rejects_bad_widths() {
    let (mut cs, mut cr) = crate::channel::mem_pair();
    let (mut s, mut r) = setup_pair(3, &mut cs, &mut cr);
    assert!(matches!(
        s.send_correlated(&mut cs, &[1], 0),
        Err(OtError::InvalidInput(_))
    ));
    assert!(matches!(
        r.recv_correlated(&mut cr, &[true], 65),
        Err(OtError::InvalidInput(_))
    ));
}

/// Several chunks, a length that is not a multiple of 128, an empty batch and calls of
/// every flavour in sequence on the same instances (PRG and tweak state stays in step).
#[test]
fn successive_multi_chunk_calls_over_tcp() {
    let n = 2 * CHUNK_OTS + 1_234;
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let choices = random_choices(&mut rng, n);
    let messages: Vec<[Block; 2]> = (0..n).map(|_| [rng.random(), rng.random()]).collect();
    let deltas: Vec<u64> = (0..n).map(|_| rng.random::<u64>() & low_mask(41)).collect();
    let ((pairs, xs, empty_s), (got_r, got_c, ys, empty_r)) = run_tcp(
        |ch| {
            let mut rng = ChaCha20Rng::seed_from_u64(13);
            let mut s = IknpSender::setup(ch, 77, &mut rng).unwrap();
            let pairs = s.send_random(ch, n).unwrap();
            s.send_chosen(ch, &messages).unwrap();
            let empty = s.send_random(ch, 0).unwrap();
            let xs = s.send_correlated(ch, &deltas, 41).unwrap();
            (pairs, xs, empty)
        },
        |ch| {
            let mut rng = ChaCha20Rng::seed_from_u64(14);
            let mut r = IknpReceiver::setup(ch, 77, &mut rng).unwrap();
            let got_r = r.recv_random(ch, &choices).unwrap();
            let got_c = r.recv_chosen(ch, &choices).unwrap();
            let empty = r.recv_random(ch, &[]).unwrap();
            let ys = r.recv_correlated(ch, &choices, 41).unwrap();
            (got_r, got_c, ys, empty)
        },
    );
    assert!(empty_s.is_empty() && empty_r.is_empty());
    for i in 0..n {
        let c = choices[i] as usize;
        assert_eq!(got_r[i], pairs[i][c]);
        assert_eq!(got_c[i], messages[i][c]);
        let expect = if choices[i] {
            xs[i].wrapping_add(deltas[i]) & low_mask(41)
        } else {
            xs[i]
        };
        assert_eq!(ys[i], expect);
    }
}

#[test]
fn pair_runs_both_directions() {
    let n = 3_000;
    let mut rng = ChaCha20Rng::seed_from_u64(15);
    let server_choices = random_choices(&mut rng, n);
    let client_choices = random_choices(&mut rng, n);
    let ((s_pairs, s_got), (c_got, c_pairs)) = run_mem(
        |ch| {
            let mut rng = ChaCha20Rng::seed_from_u64(16);
            let mut p = IknpPair::setup(Role::Server, ch, 3, &mut rng).unwrap();
            let pairs = p.sender.send_random(ch, n).unwrap();
            let got = p.receiver.recv_random(ch, &server_choices).unwrap();
            (pairs, got)
        },
        |ch| {
            let mut rng = ChaCha20Rng::seed_from_u64(17);
            let mut p = IknpPair::setup(Role::Client, ch, 3, &mut rng).unwrap();
            let got = p.receiver.recv_random(ch, &client_choices).unwrap();
            let pairs = p.sender.send_random(ch, n).unwrap();
            (got, pairs)
        },
    );
    for i in 0..n {
        assert_eq!(c_got[i], s_pairs[i][client_choices[i] as usize]);
        assert_eq!(s_got[i], c_pairs[i][server_choices[i] as usize]);
    }
}

#[test]
fn truncated_columns_are_rejected() {
    let (mut cs, mut cr) = crate::channel::mem_pair();
    let (mut s, _r) = setup_pair(21, &mut cs, &mut cr);
    cr.send(&[0u8; 100]).unwrap();
    cr.flush().unwrap();
    assert!(matches!(
        s.send_random(&mut cs, 10),
        Err(OtError::Malformed(_))
    ));
}
