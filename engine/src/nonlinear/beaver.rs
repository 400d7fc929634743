//! Arithmetic (Beaver) triples over Z_{2^ℓ} from correlated OT, Gilboa style, and the
//! Beaver multiplication that consumes them.
//!
//! Each party draws random `a_p`, `b_p`; `c = (a_s + a_c)(b_s + b_c)` needs the cross terms
//! `a_s·b_c` and `a_c·b_s`. For `a_s·b_c` the server offers, for every bit `i` of the
//! client's `b_c`, the correlation `Δ_i = a_s·2^i` in one ℓ-bit correlated OT; the client
//! chooses with bit `i` and learns `r_i + b_{c,i}·a_s·2^i`, the server keeps `−r_i`; summed over
//! `i` the shares add to `a_s·b_c`. The other term runs the other way. Cost: 2ℓ correlated
//! OTs of ℓ bits per triple, two round trips (one per direction).

use rand::{CryptoRng, Rng};

use super::fixed::ring_mask;
use crate::channel::Channel;
use crate::ot::bits::{pack, packed_len, unpack};
use crate::ot::{OtError, OtReceiver, OtSender, Role};

/// One party's shares of a batch of arithmetic triples `c = a·b` over Z_{2^ℓ}.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArithTriples {
    /// Shares of the first factors.
    pub a: Vec<u64>,
    /// Shares of the second factors.
    pub b: Vec<u64>,
    /// Shares of the products.
    pub c: Vec<u64>,
}

/// Generates `n` arithmetic triples over Z_{2^ℓ}. The server is OT sender first.
pub fn beaver_triples<R: CryptoRng + ?Sized>(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    n: usize,
    ell: u32,
    rng: &mut R,
) -> Result<ArithTriples, OtError> {
    let mask = ring_mask(ell);
    let a: Vec<u64> = (0..n).map(|_| rng.random::<u64>() & mask).collect();
    let b: Vec<u64> = (0..n).map(|_| rng.random::<u64>() & mask).collect();
    if n == 0 {
        return Ok(ArithTriples::default());
    }
    let w = ell as usize;
    // As sender: own a times the peer's b. As receiver: choose with the bits of own b.
    let as_sender = |sender: &mut dyn OtSender, ch: &mut dyn Channel| {
        let deltas: Vec<u64> = a
            .iter()
            .flat_map(|&x| (0..ell).map(move |i| (x << i) & mask))
            .collect();
        let r = sender.send_correlated(ch, &deltas, ell)?;
        Ok::<Vec<u64>, OtError>(
            r.chunks_exact(w)
                .map(|rs| rs.iter().fold(0u64, |s, &v| s.wrapping_sub(v)))
                .collect(),
        )
    };
    let as_receiver = |receiver: &mut dyn OtReceiver, ch: &mut dyn Channel| {
        let choices: Vec<bool> = b
            .iter()
            .flat_map(|&x| (0..ell).map(move |i| (x >> i) & 1 == 1))
            .collect();
        let got = receiver.recv_correlated(ch, &choices, ell)?;
        Ok::<Vec<u64>, OtError>(
            got.chunks_exact(w)
                .map(|gs| gs.iter().fold(0u64, |s, &v| s.wrapping_add(v)))
                .collect(),
        )
    };
    let (x, y) = match role {
        Role::Server => {
            let x = as_sender(sender, ch)?;
            (x, as_receiver(receiver, ch)?)
        }
        Role::Client => {
            let y = as_receiver(receiver, ch)?;
            (as_sender(sender, ch)?, y)
        }
    };
    let c = (0..n)
        .map(|t| {
            a[t].wrapping_mul(b[t])
                .wrapping_add(x[t])
                .wrapping_add(y[t])
                & mask
        })
        .collect();
    Ok(ArithTriples { a, b, c })
}

/// Shares of `x_i·y_i` mod 2^ℓ (no truncation), consuming triples `offset..offset + n`: one
/// exchange of the masked inputs `x − a`, `y − b`, server first.
pub fn beaver_mul(
    role: Role,
    ch: &mut dyn Channel,
    x: &[u64],
    y: &[u64],
    triples: &ArithTriples,
    offset: usize,
    ell: u32,
) -> Result<Vec<u64>, OtError> {
    let n = x.len();
    if y.len() != n || offset + n > triples.a.len() {
        return Err(OtError::InvalidInput(format!(
            "{n} products with {} second factors and {} triples left",
            y.len(),
            triples.a.len().saturating_sub(offset)
        )));
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    let mask = ring_mask(ell);
    let (a, b, c) = (
        &triples.a[offset..offset + n],
        &triples.b[offset..offset + n],
        &triples.c[offset..offset + n],
    );
    let mut opened: Vec<u64> = x.iter().zip(a).map(|(x, a)| x.wrapping_sub(*a)).collect();
    opened.extend(y.iter().zip(b).map(|(y, b)| y.wrapping_sub(*b)));
    let mine = pack(&opened, ell);
    debug_assert_eq!(mine.len(), packed_len(2 * n, ell));
    let theirs = role.exchange(ch, &mine)?;
    let theirs = unpack(&theirs, ell, 2 * n, "beaver openings")?;
    let server = role == Role::Server;
    Ok((0..n)
        .map(|i| {
            let e = opened[i].wrapping_add(theirs[i]);
            let f = opened[n + i].wrapping_add(theirs[n + i]);
            let mut z = c[i]
                .wrapping_add(e.wrapping_mul(b[i]))
                .wrapping_add(f.wrapping_mul(a[i]));
            if server {
                z = z.wrapping_add(e.wrapping_mul(f));
            }
            z & mask
        })
        .collect())
}
