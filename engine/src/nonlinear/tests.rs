//! Two-party tests of the non-linear layers: both parties on two threads over `mem_pair()`
//! (one TCP loopback case per layer kind), outputs reconstructed and compared with
//! [`super::reference`], and the metered bytes compared with [`super::plan`].

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::cost::Cost;
use super::fixed::{from_signed, ring_mask, signed};
use super::plan::{self, OtPlanner};
use super::truncate::RangeCheck;
use super::*;
use crate::channel::{mem_pair_with, Channel, ChannelConfig, Meter, TcpChannel};
use crate::network::Shape;
use crate::ot::ferret::FerretParams;
use crate::ot::{FerretPair, IknpPair, OtBackend, OtPair, OtReceiver, OtSender, Role};

/// One party's run of a protocol on its shares.
type Party<'a> = &'a (dyn Fn(
    Role,
    &mut dyn OtSender,
    &mut dyn OtReceiver,
    &mut dyn Channel,
    &[u64],
    &mut ChaCha20Rng,
) -> Vec<u64>
         + Sync);

/// Shares `xs`, runs `f` on both parties (after the OT setup) with each backend and
/// returns, per backend, the reconstructed output with the server's and client's meters of
/// the call alone. Ferret runs with tiny parameters, so that calls refill its pools.
fn runs(
    seed: u64,
    xs: &[u64],
    ell: u32,
    tcp: bool,
    f: Party,
) -> Vec<(OtBackend, Vec<u64>, Metered, Metered)> {
    OtBackend::ALL
        .into_iter()
        .map(|backend| {
            let (y, ms, mc) = run(seed, xs, ell, tcp, backend, f);
            (backend, y, ms, mc)
        })
        .collect()
}

/// The planner that matches [`runs`]' setup of `backend`.
fn planner(backend: OtBackend) -> OtPlanner {
    OtPlanner::with_params(backend, FerretParams::TOY)
}

/// [`runs`] for one backend.
fn run(
    seed: u64,
    xs: &[u64],
    ell: u32,
    tcp: bool,
    backend: OtBackend,
    f: Party,
) -> (Vec<u64>, Metered, Metered) {
    let mask = ring_mask(ell);
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x5eed);
    let xs_s: Vec<u64> = xs.iter().map(|_| rng.random::<u64>() & mask).collect();
    let xs_c: Vec<u64> = xs
        .iter()
        .zip(&xs_s)
        .map(|(x, s)| x.wrapping_sub(*s) & mask)
        .collect();
    let party = |role: Role, shares: Vec<u64>| {
        move |ch: &mut dyn Channel| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed * 2 + role as u64);
            let mut pair = match backend {
                OtBackend::Iknp => {
                    OtPair::Iknp(Box::new(IknpPair::setup(role, ch, 3, &mut rng).unwrap()))
                }
                OtBackend::Ferret => OtPair::Ferret(Box::new(
                    FerretPair::setup_with(role, ch, 3, FerretParams::TOY, &mut rng).unwrap(),
                )),
            };
            sync(role, ch);
            let before = ch.meter();
            let (s, r) = pair.parts();
            let mut rec = Recording {
                inner: ch,
                largest_sent: 0,
            };
            let y = f(role, s, r, &mut rec, &shares, &mut rng);
            let largest_sent = rec.largest_sent;
            let meter = ch.meter().since(&before);
            (
                y,
                Metered {
                    meter,
                    largest_sent,
                },
            )
        }
    };
    let config = ChannelConfig {
        read_timeout: Some(Duration::from_secs(300)),
        ..ChannelConfig::default()
    };
    let (server, client) = (party(Role::Server, xs_s), party(Role::Client, xs_c));
    let ((ys, ms), (yc, mc)) = if tcp {
        let (mut a, mut b) = TcpChannel::loopback_pair(config).unwrap();
        on_threads(&mut a, &mut b, server, client)
    } else {
        let (mut a, mut b) = mem_pair_with(config);
        on_threads(&mut a, &mut b, server, client)
    };
    assert_eq!(ms.bytes_sent, mc.bytes_received);
    assert_eq!(mc.bytes_sent, ms.bytes_received);
    let y = ys
        .iter()
        .zip(&yc)
        .map(|(a, b)| a.wrapping_add(*b) & mask)
        .collect();
    (y, ms, mc)
}

/// One party's traffic during the call.
#[derive(Debug, Clone, Copy)]
struct Metered {
    meter: Meter,
    /// The largest frame payload it sent.
    largest_sent: u64,
}

impl std::ops::Deref for Metered {
    type Target = Meter;
    fn deref(&self) -> &Meter {
        &self.meter
    }
}

/// A channel that remembers the largest frame it sent, to check the planned frame sizes
/// (the limits the runtime enforces on what a peer sends).
struct Recording<'a> {
    inner: &'a mut dyn Channel,
    largest_sent: u64,
}

impl Channel for Recording<'_> {
    fn send(&mut self, msg: &[u8]) -> Result<(), crate::channel::ChannelError> {
        self.largest_sent = self.largest_sent.max(msg.len() as u64);
        self.inner.send(msg)
    }
    fn recv(&mut self) -> Result<Vec<u8>, crate::channel::ChannelError> {
        self.inner.recv()
    }
    fn flush(&mut self) -> Result<(), crate::channel::ChannelError> {
        self.inner.flush()
    }
    fn meter(&self) -> Meter {
        self.inner.meter()
    }
}

/// One ping-pong, so the meters' round state before the measured call is known: the server
/// last received, the client last sent.
fn sync(role: Role, ch: &mut dyn Channel) {
    match role {
        Role::Server => {
            ch.send(&[1]).unwrap();
            ch.recv().unwrap();
        }
        Role::Client => {
            ch.recv().unwrap();
            ch.send(&[2]).unwrap();
            ch.flush().unwrap();
        }
    }
}

fn on_threads<A: Send, B: Send>(
    a: &mut (impl Channel + Send),
    b: &mut (impl Channel + Send),
    server: impl FnOnce(&mut dyn Channel) -> A + Send,
    client: impl FnOnce(&mut dyn Channel) -> B + Send,
) -> (A, B) {
    std::thread::scope(|s| {
        let h = s.spawn(move || server(a));
        let y = client(b);
        (h.join().expect("server thread panicked"), y)
    })
}

fn assert_planned(planned: Cost, server: Metered, client: Metered) {
    // The largest frames, which the runtime accepts from a peer and no more.
    assert_eq!(
        (planned.server_frame, planned.client_frame),
        (server.largest_sent, client.largest_sent),
        "largest frames: {planned:?}"
    );
    assert_eq!(
        server.bytes_received, client.bytes_sent,
        "the meters disagree"
    );
    assert_eq!(
        planned.server_sent, server.bytes_sent,
        "server bytes: {planned:?}"
    );
    assert_eq!(
        planned.client_sent, client.bytes_sent,
        "client bytes: {planned:?}"
    );
    // The sync before the call leaves the server after a receive, the client after a send.
    assert_eq!(
        planned.server.rounds, server.rounds,
        "server rounds: {planned:?}"
    );
    assert_eq!(
        planned.client.rounds_after_send(),
        client.rounds,
        "client rounds: {planned:?}"
    );
}

/// Random signed values in `[−limit, limit)` plus the edges.
fn values(seed: u64, n: usize, limit: i64, ell: u32) -> Vec<u64> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut v: Vec<i64> = vec![0, 1, -1, limit - 1, -limit, limit - 2, -limit + 1];
    v.extend((0..n).map(|_| rng.random_range(-limit..limit)));
    v.extend((0..n / 4).map(|_| rng.random_range(-5000..5000).clamp(-limit, limit - 1)));
    v.truncate(n.max(1));
    v.into_iter().map(|x| from_signed(x, ell)).collect()
}

/// `reference − secure` as a signed difference.
fn gap(reference: u64, secure: u64, ell: u32) -> i64 {
    signed(reference.wrapping_sub(secure) & ring_mask(ell), ell)
}

#[test]
fn truncation_is_within_one_ulp_below() {
    for (seed, ell, shift, n) in [
        (1u64, 41u32, 12u32, 3_000),
        (2, 41, 24, 1_000),
        (3, 32, 1, 1_000),
        (4, 64, 12, 1_000),
        (5, 20, 17, 500),
    ] {
        let xs = values(seed, n, 1 << (ell - 2), ell);
        let f = move |role: Role,
                      s: &mut dyn OtSender,
                      r: &mut dyn OtReceiver,
                      ch: &mut dyn Channel,
                      x: &[u64],
                      _: &mut ChaCha20Rng| {
            truncate(role, s, r, ch, x, shift, ell, &mut RangeCheck::default()).unwrap()
        };
        for (backend, y, ms, mc) in runs(seed, &xs, ell, false, &f) {
            let want = reference::truncate(&xs, shift, ell);
            let mut exact = 0;
            for i in 0..xs.len() {
                let d = gap(want[i], y[i], ell);
                assert!(
                    (0..=1).contains(&d),
                    "x {} ell {ell} shift {shift}: gap {d}",
                    signed(xs[i], ell)
                );
                exact += (d == 0) as usize;
            }
            assert!(exact > 0);
            assert_planned(
                plan::truncate_cost(&mut planner(backend), xs.len(), shift),
                ms,
                mc,
            );
        }
    }
}

#[test]
fn truncation_over_tcp() {
    let (ell, shift) = (41, 12);
    let xs = values(7, 2_000, 1 << (ell - 2), ell);
    let f = move |role: Role,
                  s: &mut dyn OtSender,
                  r: &mut dyn OtReceiver,
                  ch: &mut dyn Channel,
                  x: &[u64],
                  _: &mut ChaCha20Rng| {
        truncate(role, s, r, ch, x, shift, ell, &mut RangeCheck::default()).unwrap()
    };
    for (backend, y, ms, mc) in runs(7, &xs, ell, true, &f) {
        let want = reference::truncate(&xs, shift, ell);
        for i in 0..xs.len() {
            assert!((0..=1).contains(&gap(want[i], y[i], ell)));
        }
        assert_planned(
            plan::truncate_cost(&mut planner(backend), xs.len(), shift),
            ms,
            mc,
        );
    }
}

/// (input shape, pool): odd maps, stride 2, padding, kernels 1, 2, 3, 7 and 3×2, channels 1
/// and 13. The pool tests run every case twice, with different seeds.
fn pool_cases() -> Vec<(Shape, Pool2d)> {
    vec![
        (Shape::new(5, 7, 1), Pool2d::square(3, 2, 1)),
        (Shape::new(4, 6, 13), Pool2d::square(2, 2, 0)),
        (Shape::new(3, 5, 2), Pool2d::square(1, 1, 0)),
        (Shape::new(7, 9, 1), Pool2d::square(7, 2, 3)),
        (
            Shape::new(6, 5, 3),
            Pool2d {
                kh: 3,
                kw: 2,
                stride: 1,
                padding: 1,
            },
        ),
    ]
}

#[test]
fn max_pool_is_exact() {
    let ell = 41;
    for (case, (input, pool)) in pool_cases().into_iter().chain(pool_cases()).enumerate() {
        let seed = 100 + case as u64;
        let n = input.h * input.w * input.c;
        let mut xs = values(seed, n, 1 << (ell - 2), ell);
        // Ties and small values too.
        for x in xs.iter_mut().step_by(5) {
            *x = from_signed(3, ell);
        }
        let f = move |role: Role,
                      s: &mut dyn OtSender,
                      r: &mut dyn OtReceiver,
                      ch: &mut dyn Channel,
                      x: &[u64],
                      rng: &mut ChaCha20Rng| {
            max_pool(role, s, r, ch, x, input, pool, ell, rng).unwrap()
        };
        let tcp = case == 0;
        for (backend, y, ms, mc) in runs(seed, &xs, ell, tcp, &f) {
            assert_eq!(
                y,
                reference::max_pool(&xs, input, pool, ell).unwrap(),
                "case {case}"
            );
            assert_planned(
                plan::maxpool_cost(&mut planner(backend), input, pool, ell).unwrap(),
                ms,
                mc,
            );
        }
    }
}

#[test]
fn avg_pool_is_within_one_ulp_below() {
    let (ell, scale) = (41, 12);
    for (case, (input, pool)) in pool_cases().into_iter().chain(pool_cases()).enumerate() {
        let seed = 200 + case as u64;
        let n = input.h * input.w * input.c;
        let xs = values(seed, n, 1 << (ell - 2 - scale - 7), ell);
        let f = move |role: Role,
                      s: &mut dyn OtSender,
                      r: &mut dyn OtReceiver,
                      ch: &mut dyn Channel,
                      x: &[u64],
                      _: &mut ChaCha20Rng| {
            avg_pool(
                role,
                s,
                r,
                ch,
                x,
                input,
                pool,
                scale,
                ell,
                &mut RangeCheck::default(),
            )
            .unwrap()
        };
        for (backend, y, ms, mc) in runs(seed, &xs, ell, case == 1, &f) {
            let want = reference::avg_pool(&xs, input, pool, scale, ell).unwrap();
            assert_eq!(y.len(), want.len());
            for i in 0..y.len() {
                assert!(
                    (0..=1).contains(&gap(want[i], y[i], ell)),
                    "case {case} output {i}"
                );
            }
            assert_planned(
                plan::avgpool_cost(&mut planner(backend), input, pool, scale).unwrap(),
                ms,
                mc,
            );
        }
    }
}

#[test]
fn global_avg_pool_is_within_one_ulp_below() {
    let (ell, scale) = (41, 12);
    for (seed, input) in [(300u64, Shape::new(7, 7, 13)), (301, Shape::new(3, 5, 1))] {
        let xs = values(seed, input.h * input.w * input.c, 1 << 20, ell);
        let f = move |role: Role,
                      s: &mut dyn OtSender,
                      r: &mut dyn OtReceiver,
                      ch: &mut dyn Channel,
                      x: &[u64],
                      _: &mut ChaCha20Rng| {
            global_avg_pool(
                role,
                s,
                r,
                ch,
                x,
                input,
                scale,
                ell,
                &mut RangeCheck::default(),
            )
            .unwrap()
        };
        for (backend, y, ms, mc) in runs(seed, &xs, ell, false, &f) {
            let want = reference::global_avg_pool(&xs, input, scale, ell).unwrap();
            assert_eq!(y.len(), input.c);
            for i in 0..y.len() {
                assert!((0..=1).contains(&gap(want[i], y[i], ell)));
            }
            assert_planned(
                plan::global_avgpool_cost(&mut planner(backend), input, scale),
                ms,
                mc,
            );
        }
    }
}

#[test]
fn beaver_triples_multiply() {
    let ell = 41;
    let n = 300;
    let xs = values(400, 2 * n, 1 << (ell - 2), ell);
    let f = move |role: Role,
                  s: &mut dyn OtSender,
                  r: &mut dyn OtReceiver,
                  ch: &mut dyn Channel,
                  x: &[u64],
                  rng: &mut ChaCha20Rng| {
        let t = beaver_triples(role, s, r, ch, n, ell, rng).unwrap();
        beaver_mul(role, ch, &x[..n], &x[n..], &t, 0, ell).unwrap()
    };
    for (backend, y, ms, mc) in runs(400, &xs, ell, false, &f) {
        for i in 0..n {
            assert_eq!(y[i], xs[i].wrapping_mul(xs[n + i]) & ring_mask(ell));
        }
        let planned =
            plan::triples_cost(&mut planner(backend), n, ell).then(plan::beaver_mul_cost(n, ell));
        assert_planned(planned, ms, mc);
    }
}

#[test]
fn poly_act_is_within_its_bound() {
    let (ell, scale) = (41, 12);
    let cases = [
        (
            500u64,
            Shape::new(3, 5, 13),
            vec![0.375, 0.5, 0.1171875],
            0.3,
        ),
        (501, Shape::new(4, 3, 1), vec![0.1, 0.5, 0.2, -0.03], 0.0),
        (502, Shape::new(2, 3, 13), vec![-0.2, 1.25, 0.3, 0.05], 0.5),
        (503, Shape::new(2, 2, 3), vec![0.375, 0.5, 0.1171875], 1.0),
    ];
    for (seed, input, coefficients, relu_fraction) in cases {
        let params = PolyParams {
            coefficients,
            relu_fraction,
        };
        let n = input.h * input.w * input.c;
        let xs = values(seed, n, 8 << scale, ell);
        let p = params.clone();
        let f = move |role: Role,
                      s: &mut dyn OtSender,
                      r: &mut dyn OtReceiver,
                      ch: &mut dyn Channel,
                      x: &[u64],
                      rng: &mut ChaCha20Rng| {
            poly_act(
                role,
                s,
                r,
                ch,
                x,
                input.c,
                &p,
                scale,
                ell,
                rng,
                &mut RangeCheck::default(),
            )
            .unwrap()
        };
        for (backend, y, ms, mc) in runs(seed, &xs, ell, seed == 502, &f) {
            let want = reference::poly_act(&xs, input.c, &params, scale, ell);
            let a: Vec<i64> = params
                .fixed_coefficients(scale, ell)
                .iter()
                .map(|&v| signed(v, ell))
                .collect();
            let keep = params.relu_channels(input.c);
            let one = 1i64 << scale;
            for i in 0..n {
                let d = gap(want[i], y[i], ell).abs();
                let bound = if i % input.c < keep {
                    0
                } else {
                    let x = signed(xs[i], ell).abs();
                    let a3 = a.get(3).copied().unwrap_or(0).abs();
                    (a[2].abs() + a3 * ((x + one - 1) / one + 1) + one - 1) / one + 1
                };
                assert!(d <= bound, "seed {seed} element {i}: gap {d} > {bound}");
            }
            assert_planned(
                plan::poly_cost(&mut planner(backend), n, input.c, &params, scale, ell),
                ms,
                mc,
            );
        }
    }
}

#[test]
fn relu_cost_matches_the_ot_layer() {
    let ell = 41;
    let xs = values(600, 777, 1 << (ell - 2), ell);
    let f = move |role: Role,
                  s: &mut dyn OtSender,
                  r: &mut dyn OtReceiver,
                  ch: &mut dyn Channel,
                  x: &[u64],
                  rng: &mut ChaCha20Rng| {
        crate::ot::relu(role, s, r, ch, x, ell, rng).unwrap()
    };
    for (backend, y, ms, mc) in runs(600, &xs, ell, false, &f) {
        assert_eq!(y, reference::relu(&xs, ell));
        assert_planned(
            plan::relu_cost(&mut planner(backend), xs.len(), ell),
            ms,
            mc,
        );
    }
}

/// Batches large enough to cross the chunk boundaries of IKNP corrections (65 536 OTs) and
/// 1-of-16 instances (65 536). (Bit-triple groups chunk at 262 144, ~29 000 ReLUs: too slow
/// for a unit test in the dev profile.)
#[test]
fn plans_hold_across_chunk_boundaries() {
    let ell = 41;
    let xs = values(700, 7_300, 1 << (ell - 2), ell);
    let f = move |role: Role,
                  s: &mut dyn OtSender,
                  r: &mut dyn OtReceiver,
                  ch: &mut dyn Channel,
                  x: &[u64],
                  rng: &mut ChaCha20Rng| {
        let y = crate::ot::relu(role, s, r, ch, x, ell, rng).unwrap();
        let big = y.repeat(10);
        truncate(role, s, r, ch, &big, 12, ell, &mut RangeCheck::default()).unwrap()
    };
    for (backend, y, ms, mc) in runs(700, &xs, ell, false, &f) {
        assert_eq!(y.len(), 10 * xs.len());
        let mut p = planner(backend);
        let planned = plan::relu_cost(&mut p, xs.len(), ell).then(plan::truncate_cost(
            &mut p,
            10 * xs.len(),
            12,
        ));
        assert_planned(planned, ms, mc);
    }
}

/// The range check never flags an input in range and flags every input more than 2^{ℓ−3}
/// outside it; the client counts them (the count rides in the last output element here).
#[test]
fn truncation_range_check_counts_inputs_out_of_range() {
    let ell = 41;
    let mut rng = ChaCha20Rng::seed_from_u64(800);
    let mut xs = values(800, 2_000, 1 << (ell - 2), ell);
    let (edge, band) = (1i64 << (ell - 2), 1i64 << (ell - 3));
    let mut far = 0u64;
    for _ in 0..300 {
        let r = rng.random_range(0..band - 1);
        let v = if rng.random() {
            edge + band + r
        } else {
            -edge - band - 1 - r
        };
        xs.push(from_signed(v, ell));
        far += 1;
    }
    let f = move |role: Role,
                  s: &mut dyn OtSender,
                  r: &mut dyn OtReceiver,
                  ch: &mut dyn Channel,
                  x: &[u64],
                  _: &mut ChaCha20Rng| {
        let mut check = RangeCheck::default();
        let mut y = truncate(role, s, r, ch, x, 12, ell, &mut check).unwrap();
        if role == Role::Server {
            assert_eq!(check.out_of_range, 0, "the server learns nothing");
        }
        y.push(check.out_of_range);
        y
    };
    for (backend, y, ms, mc) in runs(800, &xs, ell, false, &f) {
        assert_eq!(*y.last().unwrap(), far, "{backend}: flagged inputs");
        let mut p = planner(backend);
        assert_planned(plan::truncate_cost(&mut p, xs.len(), 12), ms, mc);
    }
}
