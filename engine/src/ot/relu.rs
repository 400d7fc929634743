//! DReLU, multiplexer and ReLU on additive shares in Z_{2^ℓ} (CrypTFlow2 / Cheetah style).
//!
//! - DReLU: `x = a_s + a_c mod 2^ℓ`; its sign bit is `msb(a_s) ⊕ msb(a_c) ⊕ carry`, where
//!   `carry = 1{low(a_s) + low(a_c) ≥ 2^{ℓ−1}} = 1{2^{ℓ−1} − 1 − low(a_c) < low(a_s)}` over the
//!   low ℓ−1 bits — one millionaires' comparison with the client's and server's values.
//!   `DReLU(x) = 1 ⊕ sign`, as XOR shares.
//! - Multiplexer: `b·x` for XOR-shared `b = b_s ⊕ b_c` and additively shared `x`. Since
//!   `b·x_s = b_s·x_s + b_c·(1 − 2b_s)·x_s`, the server offers the correlation
//!   `(1 − 2b_s)·x_s` in one correlated OT that the client receives with choice `b_c`, and
//!   symmetrically for `x_c`: two ℓ-bit correlated OTs per element.
//! - ReLU: `DReLU(x)·x` by the multiplexer.

use rand::CryptoRng;

use super::bits::low_mask;
use super::error::OtError;
use super::millionaire::millionaire;
use super::{OtReceiver, OtSender, Role};
use crate::channel::Channel;

fn check_ring(ell: u32) -> Result<(), OtError> {
    if !(2..=64).contains(&ell) {
        return Err(OtError::InvalidInput(format!(
            "shares need a ring of 2 to 64 bits, got {ell}"
        )));
    }
    Ok(())
}

/// XOR shares of `DReLU(x) = 1{x ≥ 0}` (x read as a signed ℓ-bit value) from additive shares
/// of `x` in Z_{2^ℓ}.
pub fn drelu<R: CryptoRng + ?Sized>(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    shares: &[u64],
    ell: u32,
    rng: &mut R,
) -> Result<Vec<bool>, OtError> {
    check_ring(ell)?;
    let low = low_mask(ell - 1);
    let values: Vec<u64> = shares
        .iter()
        .map(|&a| match role {
            Role::Server => a & low,
            Role::Client => low - (a & low),
        })
        .collect();
    let carry = millionaire(role, sender, receiver, ch, &values, ell - 1, rng)?;
    let server = role == Role::Server;
    Ok(shares
        .iter()
        .zip(carry)
        .map(|(&a, c)| ((a >> (ell - 1)) & 1 == 1) ^ c ^ server)
        .collect())
}

/// Additive shares of `b·x` in Z_{2^ℓ} from XOR shares of `b` and additive shares of `x`.
pub fn mux(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    bits: &[bool],
    shares: &[u64],
    ell: u32,
) -> Result<Vec<u64>, OtError> {
    check_ring(ell)?;
    if bits.len() != shares.len() {
        return Err(OtError::InvalidInput(format!(
            "multiplexer with {} selector bits and {} values",
            bits.len(),
            shares.len()
        )));
    }
    let mask = low_mask(ell);
    // The correlation this party offers: (1 − 2b)·x.
    let deltas: Vec<u64> = bits
        .iter()
        .zip(shares)
        .map(|(&b, &x)| if b { x.wrapping_neg() } else { x } & mask)
        .collect();
    let (mine, got) = match role {
        Role::Server => {
            let mine = sender.send_correlated(ch, &deltas, ell)?;
            (mine, receiver.recv_correlated(ch, bits, ell)?)
        }
        Role::Client => {
            let got = receiver.recv_correlated(ch, bits, ell)?;
            (sender.send_correlated(ch, &deltas, ell)?, got)
        }
    };
    Ok((0..shares.len())
        .map(|i| {
            let own = if bits[i] { shares[i] } else { 0 };
            own.wrapping_sub(mine[i]).wrapping_add(got[i]) & mask
        })
        .collect())
}

/// Additive shares of `ReLU(x) = max(x, 0)` in Z_{2^ℓ}.
pub fn relu<R: CryptoRng + ?Sized>(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    shares: &[u64],
    ell: u32,
    rng: &mut R,
) -> Result<Vec<u64>, OtError> {
    let bits = drelu(role, sender, receiver, ch, shares, ell, rng)?;
    mux(role, sender, receiver, ch, &bits, shares, ell)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ot::test_util::{run_mem, run_tcp};
    use crate::ot::IknpPair;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    /// Signed value of an ℓ-bit ring element.
    fn signed(x: u64, ell: u32) -> i64 {
        ((x << (64 - ell)) as i64) >> (64 - ell)
    }

    fn inputs(seed: u64, ell: u32, n: usize) -> Vec<u64> {
        let mask = low_mask(ell);
        let half = 1u64 << (ell - 1);
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut xs = vec![0, 1, mask, half - 1, half, half + 1, 2, mask - 1];
        xs.extend((0..n).map(|_| rng.random::<u64>() & mask));
        // Small magnitudes, as activations mostly are.
        xs.extend((0..n / 4).map(|_| (rng.random_range(-5000i64..5000) as u64) & mask));
        xs
    }

    fn share(seed: u64, xs: &[u64], ell: u32) -> (Vec<u64>, Vec<u64>) {
        let mask = low_mask(ell);
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0xabc);
        let s: Vec<u64> = xs.iter().map(|_| rng.random::<u64>() & mask).collect();
        let c = xs
            .iter()
            .zip(&s)
            .map(|(x, s)| x.wrapping_sub(*s) & mask)
            .collect();
        (s, c)
    }

    fn secure_relu(seed: u64, xs: &[u64], ell: u32, tcp: bool) -> (Vec<bool>, Vec<u64>) {
        let (xs_s, xs_c) = share(seed, xs, ell);
        let party = |role: Role, shares: Vec<u64>| {
            move |ch: &mut dyn Channel| {
                let mut rng = ChaCha20Rng::seed_from_u64(seed + role as u64);
                let mut p = IknpPair::setup(role, ch, 8, &mut rng).unwrap();
                let (s, r) = (&mut p.sender, &mut p.receiver);
                let d = drelu(role, s, r, ch, &shares, ell, &mut rng).unwrap();
                let y = relu(role, s, r, ch, &shares, ell, &mut rng).unwrap();
                (d, y)
            }
        };
        let (server, client) = (party(Role::Server, xs_s), party(Role::Client, xs_c));
        let ((ds, ys), (dc, yc)) = if tcp {
            run_tcp(server, client)
        } else {
            run_mem(server, client)
        };
        let mask = low_mask(ell);
        (
            ds.iter().zip(&dc).map(|(a, b)| a ^ b).collect(),
            ys.iter()
                .zip(&yc)
                .map(|(a, b)| a.wrapping_add(*b) & mask)
                .collect(),
        )
    }

    #[test]
    fn drelu_and_relu_match_plaintext() {
        for (seed, ell) in [(1u64, 41u32), (2, 37), (3, 64), (4, 2), (5, 13)] {
            let xs = inputs(seed, ell, 3_000);
            let (d, y) = secure_relu(seed, &xs, ell, false);
            for (i, &x) in xs.iter().enumerate() {
                let v = signed(x, ell);
                assert_eq!(d[i], v >= 0, "drelu of {v} (ell {ell})");
                assert_eq!(y[i], if v >= 0 { x } else { 0 }, "relu of {v} (ell {ell})");
            }
        }
    }

    #[test]
    fn relu_over_tcp() {
        let xs = inputs(9, 41, 5_000);
        let (_, y) = secure_relu(9, &xs, 41, true);
        for (i, &x) in xs.iter().enumerate() {
            assert_eq!(y[i], if signed(x, 41) >= 0 { x } else { 0 });
        }
    }

    /// Traffic is deterministic: pin the cost per element so a regression shows up here.
    #[test]
    fn relu_traffic_per_element() {
        let n = 4_096;
        let xs = inputs(20, 41, n);
        let (xs_s, xs_c) = share(20, &xs, 41);
        let party = |role: Role, shares: Vec<u64>| {
            move |ch: &mut dyn Channel| {
                let mut rng = ChaCha20Rng::seed_from_u64(21 + role as u64);
                let mut p = IknpPair::setup(role, ch, 8, &mut rng).unwrap();
                let (s, r) = (&mut p.sender, &mut p.receiver);
                let before = ch.meter();
                relu(role, s, r, ch, &shares, 41, &mut rng).unwrap();
                ch.meter().since(&before)
            }
        };
        let (ms, mc) = run_mem(party(Role::Server, xs_s), party(Role::Client, xs_c));
        assert_eq!(ms.bytes_sent, mc.bytes_received);
        assert_eq!(mc.bytes_sent, ms.bytes_received);
        let per_element = (ms.bytes_sent + mc.bytes_sent) as f64 / xs.len() as f64;
        assert!(per_element < 1_030.0, "{per_element} bytes per relu");
        // Triples (2 one-way OT batches), 1-of-16 OT, 4 tree levels, 2 correlated OTs.
        assert!(ms.rounds <= 6 && mc.rounds <= 6, "{ms:?} {mc:?}");
    }

    #[test]
    fn mux_selects() {
        let ell = 41;
        let mask = low_mask(ell);
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let n = 4_000;
        let xs: Vec<u64> = (0..n).map(|_| rng.random::<u64>() & mask).collect();
        let b: Vec<bool> = (0..n).map(|_| rng.random()).collect();
        let bs: Vec<bool> = (0..n).map(|_| rng.random()).collect();
        let bc: Vec<bool> = b.iter().zip(&bs).map(|(x, y)| x ^ y).collect();
        let (xs_s, xs_c) = share(11, &xs, ell);
        let (ys, yc) = run_mem(
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(12);
                let mut p = IknpPair::setup(Role::Server, ch, 1, &mut rng).unwrap();
                let (s, r) = (&mut p.sender, &mut p.receiver);
                mux(Role::Server, s, r, ch, &bs, &xs_s, ell).unwrap()
            },
            |ch| {
                let mut rng = ChaCha20Rng::seed_from_u64(13);
                let mut p = IknpPair::setup(Role::Client, ch, 1, &mut rng).unwrap();
                let (s, r) = (&mut p.sender, &mut p.receiver);
                mux(Role::Client, s, r, ch, &bc, &xs_c, ell).unwrap()
            },
        );
        for i in 0..n {
            let y = ys[i].wrapping_add(yc[i]) & mask;
            assert_eq!(y, if b[i] { xs[i] } else { 0 });
        }
    }
}
