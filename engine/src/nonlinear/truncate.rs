//! Secure truncation by `s` bits with at most 1 ulp error (Cheetah's one-bit-error variant,
//! using a known most significant bit).
//!
//! The input `x` is a signed ℓ-bit value with `|x| < 2^{ℓ−2}` (more precisely
//! `x ∈ [−2^{ℓ−2}, 2^{ℓ−2})`). The server adds the public bias `B = 2^{ℓ−2}`, so
//! `y = x + B ∈ [0, 2^{ℓ−1})` has most significant bit 0. With shares `y = y_s + y_c − w·2^ℓ`:
//!
//! - `y >> s = (y_s >> s) + (y_c >> s) + c − w·2^{ℓ−s}`, where `c ∈ {0, 1}` is the carry out
//!   of the low `s` bits. The protocol drops `c`, hence the error of at most one ulp.
//! - Since `msb(y) = 0`, the wrap bit is `w = msb(y_s) ∨ msb(y_c) = a + b − a·b` for the
//!   parties' own top bits `a`, `b`. The product `a·b` takes one correlated OT over
//!   Z_{2^s}: the server offers `Δ = a`, the client chooses with `b` and learns `r + a·b`
//!   (the server keeps `−r`). Only `w mod 2^s` matters, because it is multiplied by `2^{ℓ−s}`.
//!
//! The output is `floor(x / 2^s) − c`, i.e. the reference [`super::reference::truncate`] or
//! one less: `0 ≤ reference − secure ≤ 1`. Cost: one s-bit correlated OT per element, one
//! round trip (the client sends its OT choices, the server the corrections).
//!
//! **Range check.** An input outside `[−2^{ℓ−2}, 2^{ℓ−2})` breaks the known-MSB assumption
//! and the result can be off by up to 2^{ℓ−s}. So that this never passes silently, a 1-of-8
//! OT on the top three bits of the parties' `y` shares tells the client, per element, whether
//! `s = (top3(y_s) + top3(y_c)) mod 8` lies in `{4, 5, 6}`. Since `top3(y)` is `s` or `s + 1`
//! (the carry from below), an input in range is never flagged, and every input more than
//! 2^{ℓ−3} outside the range is (a band of that width just past each edge may slip by).
//! The client counts the flags ([`RangeCheck`]) and the runtime warns naming the layer. What
//! the client learns is that one bit per element, which is 0 for every input in range.
//! Cost: three random OTs and one byte per element, one more round trip.

use super::fixed::{check_ring, ring_mask};
use crate::channel::Channel;
use crate::ot::{recv_one_of_n, send_one_of_n_with, OtError, OtReceiver, OtSender, Role};

/// Top bits of `y` the range check reads (a 1-of-2^CHECK_BITS OT).
pub(crate) const CHECK_BITS: u32 = 3;

/// Whether the top-digit sum `s` of an element flags it as out of range.
fn flagged(s: u8) -> bool {
    (4..7).contains(&s)
}

/// What the range check of the truncations found (the client counts; the server learns
/// nothing and keeps 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RangeCheck {
    /// Truncation inputs found outside `[−2^{ℓ−2}, 2^{ℓ−2})`.
    pub out_of_range: u64,
}

/// Additive shares of `floor(x / 2^shift)` (or one less) from shares of a signed `x` with
/// `x ∈ [−2^{ℓ−2}, 2^{ℓ−2})`; `1 ≤ shift ≤ ℓ − 3`. The server is the OT sender. Inputs far
/// outside the range are counted in the client's `check`.
#[allow(clippy::too_many_arguments)]
pub fn truncate(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    shares: &[u64],
    shift: u32,
    ell: u32,
    check: &mut RangeCheck,
) -> Result<Vec<u64>, OtError> {
    check_ring(ell)?;
    if !(1..=ell - 3).contains(&shift) {
        return Err(OtError::InvalidInput(format!(
            "truncation by {shift} bits in a {ell}-bit ring (needs 1 to {})",
            ell - 3
        )));
    }
    if shares.is_empty() {
        return Ok(Vec::new());
    }
    let mask = ring_mask(ell);
    let bias = 1u64 << (ell - 2);
    let server = role == Role::Server;
    let ys: Vec<u64> = shares
        .iter()
        .map(|&x| if server { x.wrapping_add(bias) } else { x } & mask)
        .collect();
    let digit = |y: u64| ((y >> (ell - CHECK_BITS)) & 7) as u8;
    match role {
        Role::Server => {
            let tables = |j: usize, out: &mut [u8]| {
                let a = digit(ys[j]);
                for (v, m) in out.iter_mut().enumerate() {
                    *m = flagged((a + v as u8) & 7) as u8;
                }
            };
            send_one_of_n_with(sender, ch, CHECK_BITS, 1, ys.len(), tables)?;
        }
        Role::Client => {
            let digits: Vec<u8> = ys.iter().map(|&y| digit(y)).collect();
            let flags = recv_one_of_n(receiver, ch, CHECK_BITS, 1, &digits)?;
            check.out_of_range += flags.iter().filter(|&&f| f == 1).count() as u64;
        }
    }
    let top: Vec<bool> = ys.iter().map(|&y| (y >> (ell - 1)) & 1 == 1).collect();
    // Shares of w = a + b − a·b over Z_{2^shift}.
    let wrap: Vec<u64> = match role {
        Role::Server => {
            let deltas: Vec<u64> = top.iter().map(|&a| a as u64).collect();
            let r = sender.send_correlated(ch, &deltas, shift)?;
            top.iter()
                .zip(r)
                .map(|(&a, r)| (a as u64).wrapping_add(r))
                .collect()
        }
        Role::Client => {
            let got = receiver.recv_correlated(ch, &top, shift)?;
            top.iter()
                .zip(got)
                .map(|(&b, g)| (b as u64).wrapping_sub(g))
                .collect()
        }
    };
    let unbias = if server { bias >> shift } else { 0 };
    Ok(ys
        .iter()
        .zip(wrap)
        .map(|(&y, w)| {
            (y >> shift)
                .wrapping_sub(w << (ell - shift))
                .wrapping_sub(unbias)
                & mask
        })
        .collect())
}
