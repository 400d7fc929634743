//! Tests of the Ferret backend: the Δ-correlation of every COT the pools hand out (many
//! seeds, draws of every size across refills), every OT flavour on top of them, and the
//! traffic of an iteration.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::pool::{ReceiverPool, SenderPool};
use super::spcot::CHOICE_BIT;
use super::*;
use crate::channel::Meter;
use crate::ot::bits::low_mask;
use crate::ot::test_util::{run_mem, run_tcp};
use crate::ot::{Block, OtReceiver, OtSender};

/// Draw sizes that cross refills at every offset: small, odd, and larger than a whole
/// toy iteration.
const DRAWS: [usize; 9] = [1, 7, 1000, 2999, 128, 5000, 1, 9000, 333];

/// Bootstraps one direction's pools with `params` and draws `sizes` on both sides; returns
/// Δ, the sender's keys and the receiver's blocks of every draw.
fn draw_all(
    seed: u64,
    params: FerretParams,
    sizes: &[usize],
    tcp: bool,
) -> (u128, Vec<Vec<u128>>, Vec<Vec<u128>>) {
    let sender = |ch: &mut dyn Channel| {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut pool = SenderPool::bootstrap(ch, params, seed, &mut rng).unwrap();
        let draws = sizes
            .iter()
            .map(|&n| pool.draw(ch, n).unwrap().0.to_vec())
            .collect::<Vec<_>>();
        ch.flush().unwrap();
        (pool.delta(), draws)
    };
    let receiver = |ch: &mut dyn Channel| {
        let mut rng = ChaCha20Rng::seed_from_u64(seed + 1_000);
        let mut pool = ReceiverPool::bootstrap(ch, params, seed, &mut rng).unwrap();
        sizes
            .iter()
            .map(|&n| pool.draw(ch, n).unwrap().0)
            .collect::<Vec<_>>()
    };
    let ((delta, keys), blocks) = if tcp {
        run_tcp(sender, receiver)
    } else {
        run_mem(sender, receiver)
    };
    (delta, keys, blocks)
}

/// Every COT satisfies `m = k ⊕ b·Δ` with `b` the low bit of `m`; keys are distinct and
/// the choice bits balanced.
fn check_correlation(delta: u128, keys: &[Vec<u128>], blocks: &[Vec<u128>]) {
    assert_eq!(delta & CHOICE_BIT, 1);
    let mut ones = 0usize;
    let mut total = 0usize;
    let mut distinct = std::collections::HashSet::new();
    for (d, (ks, ms)) in keys.iter().zip(blocks).enumerate() {
        assert_eq!(ks.len(), ms.len());
        for (i, (&k, &m)) in ks.iter().zip(ms).enumerate() {
            let b = m & CHOICE_BIT;
            assert_eq!(k & CHOICE_BIT, 0, "draw {d}, cot {i}: key low bit");
            assert_eq!(m, k ^ (b * delta), "draw {d}, cot {i}: Δ-correlation");
            ones += b as usize;
            total += 1;
            distinct.insert(k);
        }
    }
    assert_eq!(distinct.len(), total, "keys repeat");
    let share = ones as f64 / total as f64;
    assert!(
        (0.45..0.55).contains(&share),
        "{ones} of {total} choice bits set"
    );
}

#[test]
fn every_cot_is_delta_correlated_across_refills() {
    let params = FerretParams::TOY;
    // The draws span several main iterations.
    let needed: usize = DRAWS.iter().sum();
    assert!(needed > 4 * params.usable_per_iteration());
    for seed in 0..12 {
        let (delta, keys, blocks) = draw_all(seed, params, &DRAWS, false);
        check_correlation(delta, &keys, &blocks);
    }
    let (delta, keys, blocks) = draw_all(99, params, &DRAWS, true);
    check_correlation(delta, &keys, &blocks);
}

/// The OT planner's pool growth (what the predictors price as newly allocated memory) is
/// what the pools' buffers really grow by, draw after draw, at both parties.
#[test]
fn the_planned_pool_growth_is_the_buffers_growth() {
    use crate::nonlinear::plan::{OtDir, OtPlanner};
    use crate::ot::OtBackend;
    let params = FerretParams::TOY;
    let sizes = [1, 7, 1000, 2999, 128, 5000, 1, 9000, 333, 9000, 9001, 20];
    /// The buffer's length before the draws (`first`) and after each.
    fn lens_after(sizes: &[usize], first: usize, draw: impl FnMut(usize) -> usize) -> Vec<usize> {
        std::iter::once(first)
            .chain(sizes.iter().copied().map(draw))
            .collect()
    }
    let sender = |ch: &mut dyn Channel| {
        let mut pool =
            SenderPool::bootstrap(ch, params, 3, &mut ChaCha20Rng::seed_from_u64(3)).unwrap();
        let first = pool.buffer_len();
        let lens = lens_after(&sizes, first, |n| {
            pool.draw(ch, n).unwrap();
            pool.buffer_len()
        });
        ch.flush().unwrap();
        lens
    };
    let receiver = |ch: &mut dyn Channel| {
        let mut pool =
            ReceiverPool::bootstrap(ch, params, 3, &mut ChaCha20Rng::seed_from_u64(4)).unwrap();
        let first = pool.buffer_len();
        lens_after(&sizes, first, |n| {
            pool.draw(ch, n).map(|_| pool.buffer_len()).unwrap()
        })
    };
    let (sent, received) = run_mem(sender, receiver);
    assert_eq!(sent, received);
    assert_eq!(sent[0], params.usable_after_setup());
    let mut planner = OtPlanner::with_params(OtBackend::Ferret, params);
    let planned: Vec<u64> = sizes
        .iter()
        .map(|&n| {
            planner
                .random_choice(OtDir::FromServer, n as u64)
                .pool_growth
        })
        .collect();
    let real: Vec<u64> = sent.windows(2).map(|w| (w[1] - w[0]) as u64).collect();
    assert_eq!(planned, real);
    assert!(real.iter().filter(|&&g| g > 0).count() >= 3, "{real:?}");
}

/// The sessions' parameters and the paper's: the bootstrap and one main iteration, every
/// COT checked.
#[test]
fn full_size_parameters_bootstrap_and_refill() {
    for params in [FerretParams::DEFAULT, FerretParams::PAPER] {
        let first = params.usable_after_setup();
        let sizes = [first - 5, 10, params.usable_per_iteration() - 5];
        let (delta, keys, blocks) = draw_all(7, params, &sizes, false);
        check_correlation(delta, &keys, &blocks);
    }
}

/// Both directions set up as in a session; each party runs `f` on its pair.
fn pair_run<A: Send, B: Send>(
    seed: u64,
    server: impl FnOnce(&mut dyn Channel, &mut FerretPair) -> A + Send,
    client: impl FnOnce(&mut dyn Channel, &mut FerretPair) -> B + Send,
) -> ((A, Meter), (B, Meter)) {
    let party = |role: Role| {
        move |ch: &mut dyn Channel| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed + role as u64);
            FerretPair::setup_with(role, ch, 3, FerretParams::TOY, &mut rng).unwrap()
        }
    };
    let (s, c) = (party(Role::Server), party(Role::Client));
    run_mem(
        move |ch| {
            let mut p = s(ch);
            let before = ch.meter();
            let a = server(ch, &mut p);
            (a, ch.meter().since(&before))
        },
        move |ch| {
            let mut p = c(ch);
            let before = ch.meter();
            let b = client(ch, &mut p);
            (b, ch.meter().since(&before))
        },
    )
}

#[test]
fn flavours_deliver_across_refills() {
    for seed in [1u64, 2, 3] {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let n = 6_000; // more than a toy iteration yields: every call refills
        let choices: Vec<bool> = (0..n).map(|_| rng.random()).collect();
        let deltas: Vec<u64> = (0..n).map(|_| rng.random::<u64>() & low_mask(41)).collect();
        let msgs: Vec<[Block; 2]> = (0..n).map(|_| [rng.random(), rng.random()]).collect();
        let ((s, _), (c, _)) = pair_run(
            seed,
            |ch, p| {
                let random = p.sender.send_random(ch, n).unwrap();
                let free = p.sender.send_random_choice(ch, n).unwrap();
                let xs = p.sender.send_correlated(ch, &deltas, 41).unwrap();
                p.sender.send_chosen(ch, &msgs).unwrap();
                // The other direction too: the server receives.
                let back = p.receiver.recv_random(ch, &choices).unwrap();
                (random, free, xs, back)
            },
            |ch, p| {
                let random = p.receiver.recv_random(ch, &choices).unwrap();
                let free = p.receiver.recv_random_choice(ch, n).unwrap();
                let ys = p.receiver.recv_correlated(ch, &choices, 41).unwrap();
                let chosen = p.receiver.recv_chosen(ch, &choices).unwrap();
                let back = p.sender.send_random(ch, n).unwrap();
                (random, free, ys, chosen, back)
            },
        );
        let (random, free, xs, back_got) = s;
        let (got, (free_choices, free_got), ys, chosen, back_pairs) = c;
        let mask = low_mask(41);
        for i in 0..n {
            let ch = choices[i] as usize;
            assert_eq!(got[i], random[i][ch], "random ot {i}");
            assert_ne!(got[i], random[i][1 - ch]);
            let fc = free_choices[i] as usize;
            assert_eq!(free_got[i], free[i][fc], "random-choice ot {i}");
            assert_ne!(free_got[i], free[i][1 - fc]);
            let expected = if choices[i] { xs[i] + deltas[i] } else { xs[i] } & mask;
            assert_eq!(ys[i], expected, "correlated ot {i}");
            assert_eq!(chosen[i], msgs[i][ch], "chosen ot {i}");
            assert_eq!(back_got[i], back_pairs[i][ch], "reverse direction {i}");
        }
        let ones = free_choices.iter().filter(|&&b| b).count();
        assert!(ones > n * 45 / 100 && ones < n * 55 / 100, "{ones}");
    }
}

/// Random-choice OT costs nothing once the pool holds enough; a chosen choice costs one bit
/// per OT from the receiver; a refill costs the sender one multi-point COT message.
#[test]
fn traffic_per_ot() {
    let params = FerretParams::TOY;
    let small = 500; // below what the bootstrap leaves
    assert!(small < params.usable_after_setup());
    let ((_, ms), (_, mc)) = pair_run(
        5,
        |ch, p| drop(p.sender.send_random_choice(ch, small).unwrap()),
        |ch, p| drop(p.receiver.recv_random_choice(ch, small).unwrap()),
    );
    assert_eq!((ms.bytes_sent, mc.bytes_sent), (0, 0));
    let ((_, ms), (_, mc)) = pair_run(
        6,
        |ch, p| drop(p.sender.send_random(ch, small).unwrap()),
        |ch, p| drop(p.receiver.recv_random(ch, &vec![true; small]).unwrap()),
    );
    assert_eq!(ms.bytes_sent, 0);
    assert_eq!(mc.bytes_sent, (small.div_ceil(8) + 4) as u64);
    let big = params.usable_after_setup() + 1;
    let ((_, ms), (_, mc)) = pair_run(
        7,
        |ch, p| drop(p.sender.send_random_choice(ch, big).unwrap()),
        |ch, p| drop(p.receiver.recv_random_choice(ch, big).unwrap()),
    );
    assert_eq!(
        ms.bytes_sent,
        (params.main.message_bytes() + 4 * params.main.frames()) as u64
    );
    assert_eq!(mc.bytes_sent, 0);
}
